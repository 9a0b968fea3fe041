#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Error e-mail alerts of the WhatsApp side reach the integration's alert address through a
//! real SMTP server, throttled: failed sends (sender) and bursts of bad signatures (ingress).

use std::time::Duration;

use e2e::{PlatformOptions, WhatsappOptions, WhatsappPlatform, WhatsappSetup};
use meta_emulator::api::{DeliverRequest, FaultSpec, RetryPolicy};
use meta_emulator::client::user_text;
use testkit::smtp::SmtpServer;

const USER: &str = "4915112345678";
const OPS: &str = "ops@example.com";

async fn start(smtp: &SmtpServer, throttle: Duration) -> WhatsappPlatform {
    let mut alerts = alerts::AlertConfig::with_smtp_url(smtp.url());
    alerts.throttle_window = throttle;
    alerts.sweep_interval = Some(Duration::from_millis(500));
    WhatsappPlatform::start_with(WhatsappOptions {
        platform: PlatformOptions {
            alerts,
            ..PlatformOptions::default()
        },
        ..WhatsappOptions::default()
    })
    .await
}

fn with_alerts() -> WhatsappSetup {
    WhatsappSetup {
        alert_email: Some(OPS.into()),
        ..WhatsappSetup::default()
    }
}

#[tokio::test]
async fn failed_sends_mail_once_per_window_with_the_count() {
    let smtp = SmtpServer::start().await.unwrap();
    let wp = start(&smtp, Duration::from_secs(3)).await;
    let shop = wp.demo_integration("Pizza", with_alerts()).await;
    // Meta refuses every message to this user for good (131026: undeliverable).
    wp.emulator
        .inject_fault(&FaultSpec {
            phone_number_id: Some(shop.phone_number_id.clone()),
            code: Some(131026),
            ..FaultSpec::default()
        })
        .await
        .unwrap();
    let chat = wp.chat(&shop, USER);
    // Three turns, three batches given up.
    chat.user_says("hi").await;
    chat.user_says("Ann").await;
    chat.user_says("Order a pizza").await;
    let first = smtp.wait_for(1, Duration::from_secs(10)).await.unwrap();
    let mail = &first[0];
    assert_eq!(mail.rcpt_to, [OPS]);
    let subject = mail.subject().unwrap();
    assert!(
        subject.contains(&format!("send_failed on integration {} (Pizza)", shop.id)),
        "{subject}"
    );
    assert!(mail.body().contains("131026"), "names Meta's error");
    // The other two are counted, not mailed; once the window ends the sweep mails the count.
    let both = smtp.wait_for(2, Duration::from_secs(10)).await.unwrap();
    let summary = both[1].subject().unwrap();
    assert!(summary.ends_with(": 2 more"), "{summary}");
    assert!(both[1].body().contains("2 more send_failed alerts"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.received().len(), 2, "no more mails");
    for mail in smtp.received() {
        assert!(!mail.data.contains("EAA"), "no access token in a mail");
    }
    // The bot still ran each turn: the sends failed, not the bot.
    assert_eq!(wp.processed_events(shop.id).await, 3);
    wp.stop().await;
}

#[tokio::test]
async fn a_burst_of_bad_signatures_mails_once() {
    let smtp = SmtpServer::start().await.unwrap();
    let wp = start(&smtp, Duration::from_secs(900)).await;
    let shop = wp.demo_integration("Pizza", with_alerts()).await;
    let forged = |n: usize| DeliverRequest {
        target_url: Some(shop.webhook.url.clone()),
        app_secret: Some("not-the-app-secret".into()),
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
    };
    for n in 0..8 {
        let report = wp.emulator.deliver(&forged(n)).await.unwrap();
        assert_eq!(report.deliveries[0].attempts[0].status, Some(403));
    }
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await.unwrap();
    let subject = mails[0].subject().unwrap();
    assert!(subject.contains("bad_signatures"), "{subject}");
    assert_eq!(mails[0].rcpt_to, [OPS]);
    assert!(mails[0].body().contains("5 webhook deliveries"));
    assert!(!mails[0].data.contains("not-the-app-secret"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.received().len(), 1, "one mail for the burst");
    assert_eq!(wp.processed_events(shop.id).await, 0, "nothing published");
    wp.stop().await;
}
