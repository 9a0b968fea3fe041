#![allow(clippy::unwrap_used, clippy::expect_used)]
//! No secret in any log line or alert mail (docs/security.md, "Secrets never logged").
//!
//! Every service runs in this process, so one subscriber sees every service's log: it writes
//! each event in the JSON format and in the text format, at `trace` for every target (the
//! `RUST_LOG=trace` case, with `log` records of reqwest, hyper, rustls, lapin and the rest),
//! with every span's fields at its creation and its close (what a trace exporter would send).
//! The run creates integrations (the admin exchanges the short-lived WhatsApp token: the
//! app secret travels in that URL), talks over the API and WhatsApp, has a token refused and
//! refreshed (a second exchange), refuses signatures and sends alert mails. Then every secret
//! it used is looked for in the logs and the mails, in clear, base64 (both alphabets, at every
//! byte alignment) and URL-encoded.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use diesel::sql_types::Bytea;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use e2e::{PlatformOptions, WhatsappOptions, WhatsappPlatform, WhatsappSetup, BOOTSTRAP_TOKEN};
use meta_emulator::api::{DeliverRequest, FaultSpec, RetryPolicy};
use meta_emulator::client::user_text;
use serde_json::json;
use testkit::smtp::SmtpServer;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

const OPS: &str = "ops@example.com";
const USER: &str = "4915112345678";

/// Everything written to it, in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// Installs the capturing subscriber (before any service starts: the harness's own
/// `init_for_tests` then finds one installed and leaves it).
fn capture_logs() -> (Capture, Capture) {
    let json = Capture::default();
    let text = Capture::default();
    let spans = FmtSpan::NEW | FmtSpan::CLOSE;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .with_span_events(spans.clone())
                .with_writer(json.clone())
                .with_filter(tracing_subscriber::filter::LevelFilter::TRACE),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_span_events(spans)
                .with_writer(text.clone())
                .with_filter(tracing_subscriber::filter::LevelFilter::TRACE),
        )
        // Also bridges the `log` crate (reqwest, hyper-util, rustls, lapin ...).
        .try_init()
        .expect("the capturing subscriber is the first");
    (json, text)
}

/// The forms a secret could take in a log line or a mail.
fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    // URL-encoded (form and path encodings agree for what matters: every byte outside the
    // unreserved set as %XX, both cases).
    let encoded: String = secret
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    forms.push(encoded);
    forms.push(secret.replace(' ', "+"));
    // Base64 at the three byte alignments a secret can have inside a longer encoded value
    // (`user:secret`, a JSON blob ...): the characters that depend only on the secret.
    for engine in [&STANDARD, &URL_SAFE] {
        for offset in 0..3 {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = engine.encode(&bytes);
            let skip = (8 * offset).div_ceil(6);
            let core = &encoded[skip..encoded.len().saturating_sub(4)];
            if core.len() >= 8 {
                forms.push(core.to_owned());
            }
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

#[derive(QueryableByName)]
struct Sealed {
    #[diesel(sql_type = Bytea)]
    access_token_sealed: Vec<u8>,
}

async fn access_token(wp: &WhatsappPlatform, integration: i64) -> String {
    let mut conn = wp.db().await;
    let row: Sealed = diesel::sql_query(
        "SELECT access_token_sealed FROM whatsapp_integrations WHERE integration_id = $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(integration)
    .get_result(&mut conn)
    .await
    .unwrap();
    let aad = store::integrations::secret_aad(
        contracts::IntegrationId::new(integration).unwrap(),
        "access_token",
    );
    wp.platform
        .admin
        .deployment_key
        .open_string(&row.access_token_sealed, &aad)
        .unwrap()
        .expose()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_or_a_mail() {
    let (json_logs, text_logs) = capture_logs();
    let smtp = SmtpServer::start().await.unwrap();
    let mut alerts = alerts::AlertConfig::with_smtp_url(smtp.url());
    alerts.throttle_window = Duration::from_secs(900);
    let wp = WhatsappPlatform::start_with(WhatsappOptions {
        platform: PlatformOptions {
            alerts,
            ..PlatformOptions::default()
        },
        ..WhatsappOptions::default()
    })
    .await;
    let admin = &wp.platform.admin;
    let mut secrets: Vec<(String, String)> = vec![
        ("bootstrap operator token".into(), BOOTSTRAP_TOKEN.into()),
        (
            "deployment key".into(),
            admin.deployment_key_base64.expose().clone(),
        ),
    ];

    // Operator tokens: a second account's, and one made by the API.
    let tenant = admin.new_account("tenant").await;
    secrets.push(("tenant operator token".into(), tenant.clone()));
    let (status, created) = admin
        .post("/v1/tokens", BOOTSTRAP_TOKEN, &json!({"name": "ci"}))
        .await;
    assert_eq!(status, 201, "{created}");
    secrets.push((
        "created operator token".into(),
        created["token"].as_str().unwrap().to_owned(),
    ));
    let (status, _) = admin.get("/v1/account", "op_not_a_real_token").await;
    assert_eq!(status, 401);

    // An API integration: a conversation with the key in both headers, and a wrong key.
    let api = wp.platform.demo_integration("Logged API", false).await;
    secrets.push(("API key".into(), api.key.clone()));
    let (status, body) = wp
        .platform
        .api(
            &format!("/{}/session/", api.id),
            &api.key,
            &json!({"session_id": "s1"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let bearer = format!("Bearer {}", api.key);
    let (status, body) = wp
        .platform
        .api_with(
            &format!("/{}/session/s1/message/", api.id),
            &[("Authorization", &bearer)],
            &json!({"message": "Ada"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = wp
        .platform
        .api(
            &format!("/{}/session/", api.id),
            "wrong-key-0123456789abcdef",
            &json!({}),
        )
        .await;
    assert_eq!(status, 401);

    // A WhatsApp integration: created with a token exchange, verified, talked to.
    let shop = wp
        .demo_integration(
            "Logged shop",
            WhatsappSetup {
                alert_email: Some(OPS.into()),
                ..WhatsappSetup::default()
            },
        )
        .await;
    secrets.push(("app secret".into(), shop.webhook.app_secret.clone()));
    // The harness's first integration: `EAAshortlived1`, `verify-token-1`.
    secrets.push(("short-lived access token".into(), "EAAshortlived1".into()));
    secrets.push(("verify token".into(), "verify-token-1".into()));
    let first_token = access_token(&wp, shop.id).await;
    secrets.push(("long-lived access token".into(), first_token.clone()));
    for token in ["verify-token-1", "not-the-verify-token"] {
        let response = admin
            .client
            .get(format!(
                "{}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=7",
                shop.webhook.url
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status() == 200, token == "verify-token-1");
    }
    let mut chat = wp.chat(&shop, USER);
    chat.user_says("hi").await;
    chat.wait_for_bot(2).await;

    // Meta refuses the token (190): the sender exchanges it again, with the app secret.
    wp.emulator
        .inject_fault(&FaultSpec::error(&shop.phone_number_id, 190, 1))
        .await
        .unwrap();
    chat.user_says("Ann").await;
    chat.wait_for_bot(1).await;
    let refreshed = access_token(&wp, shop.id).await;
    assert_ne!(refreshed, first_token, "the token was refreshed");
    secrets.push(("refreshed access token".into(), refreshed));

    // Forged signatures, in a burst: refused, and an alert mail.
    for n in 0..6 {
        let report = wp
            .emulator
            .deliver(&DeliverRequest {
                target_url: Some(shop.webhook.url.clone()),
                app_secret: Some("forged-secret-0123456789".into()),
                messages: vec![user_text(
                    &shop.phone_number_id,
                    USER,
                    &format!("forged {n}"),
                )],
                retry: Some(RetryPolicy {
                    max_attempts: 1,
                    backoff_ms: 0,
                }),
                ..DeliverRequest::default()
            })
            .await
            .unwrap();
        assert!(!report.all_acknowledged());
    }
    // A send Meta refuses for good: a send_failed alert mail.
    wp.emulator
        .inject_fault(&FaultSpec {
            phone_number_id: Some(shop.phone_number_id.clone()),
            code: Some(131026),
            ..FaultSpec::default()
        })
        .await
        .unwrap();
    chat.user_says("Order a pizza").await;
    let mails = smtp.wait_for(2, Duration::from_secs(20)).await.unwrap();
    wp.stop().await;

    let json_text = json_logs.text();
    let plain_text = text_logs.text();
    // The capture works: application events, spans, and `log` records at trace level.
    for (format, captured) in [("json", &json_text), ("text", &plain_text)] {
        assert!(
            captured.contains("webhook verified"),
            "{format}: no application events"
        );
        assert!(
            captured.contains("TRACE"),
            "{format}: nothing at trace level captured"
        );
        assert!(
            captured.contains("reqwest") || captured.contains("hyper"),
            "{format}: no HTTP client records captured"
        );
    }
    let mail_text: String = mails
        .iter()
        .map(|mail| format!("{}\n{}\n", mail.data, mail.body()))
        .collect();
    assert!(mail_text.contains("bad_signatures") && mail_text.contains("send_failed"));

    let mut found = Vec::new();
    for (name, secret) in &secrets {
        assert!(secret.len() >= 12, "{name} is too short to search for");
        for form in forms(secret) {
            for (place, haystack) in [
                ("JSON log", &json_text),
                ("text log", &plain_text),
                ("alert mail", &mail_text),
            ] {
                if let Some(at) = haystack.find(&form) {
                    let line_start = haystack[..at].rfind('\n').map_or(0, |n| n + 1);
                    let line_end = haystack[at..].find('\n').map_or(haystack.len(), |n| at + n);
                    let line: String = haystack[line_start..line_end].chars().take(400).collect();
                    found.push(format!("{name} ({form}) in a {place}: {line}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
    eprintln!(
        "searched {} secrets in {} KiB of JSON logs, {} KiB of text logs and {} mails",
        secrets.len(),
        json_text.len() / 1024,
        plain_text.len() / 1024,
        mails.len()
    );
}
