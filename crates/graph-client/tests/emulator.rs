#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The client against the meta emulator: what it sends, and how it reads Meta's answers.

use contracts::v1::Recipient;
use crypto::SecretString;
use graph_client::{payload, ErrorClass, GraphClient, GraphError};
use meta_emulator::api::{FaultSpec, TokenRequest};
use meta_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::json;

const PNID: &str = "106540352242922";
const VERSION: &str = "v21.0";

async fn emulator() -> (RunningEmulator, SecretString) {
    let running = meta_emulator::start(EmulatorConfig::for_tests())
        .await
        .unwrap();
    let token = running
        .client()
        .unwrap()
        .register_token(&TokenRequest {
            token: Some("EAAgraph-client-test".into()),
            ..TokenRequest::default()
        })
        .await
        .unwrap()
        .token;
    (running, SecretString::from(token))
}

#[tokio::test]
async fn sends_marks_read_and_exchanges_tokens() {
    let (running, token) = emulator().await;
    let client = GraphClient::new(&running.base_url()).unwrap();
    let to = Recipient::WaId("16505551234".into());

    let sent = client
        .send_message(
            VERSION,
            PNID,
            &token,
            &payload::message(&to, "text", json!({"body": "hello"})),
        )
        .await
        .unwrap();
    assert!(sent.wamid.starts_with("wamid."), "{sent:?}");
    assert_eq!(sent.wa_id.as_deref(), Some("16505551234"));

    client
        .mark_read(VERSION, PNID, &token, "wamid.INBOUND")
        .await
        .unwrap();

    let exchanged = client
        .exchange_token(VERSION, "app-1", &SecretString::from("app-secret"), &token)
        .await
        .unwrap();
    assert_ne!(exchanged.access_token.expose(), token.expose());
    assert_eq!(exchanged.expires_in, Some(5_183_944));
    // The new token works.
    client
        .send_message(
            VERSION,
            PNID,
            &exchanged.access_token,
            &payload::message(&to, "text", json!({"body": "again"})),
        )
        .await
        .unwrap();

    let requests = running
        .client()
        .unwrap()
        .requests(None, None)
        .await
        .unwrap();
    let paths: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("POST", "/v21.0/106540352242922/messages"),
            ("POST", "/v21.0/106540352242922/messages"),
            ("GET", "/v21.0/oauth/access_token"),
            ("POST", "/v21.0/106540352242922/messages"),
        ]
    );
    assert_eq!(requests[1].body["status"], "read");
    assert_eq!(requests[2].query["grant_type"], "fb_exchange_token");
    assert_eq!(requests[2].query["client_id"], "app-1");
    assert_eq!(
        requests[0].token_fingerprint.as_deref(),
        Some(meta_emulator::token_fingerprint(token.expose()).as_str())
    );
    running.stop().await;
}

#[tokio::test]
async fn errors_are_read_and_classified() {
    let (running, token) = emulator().await;
    let control = running.client().unwrap();
    let client = GraphClient::new(&running.base_url()).unwrap();
    let text = payload::message(
        &Recipient::WaId("16505551234".into()),
        "text",
        json!({"body": "x"}),
    );

    for (code, class) in [
        (130429, ErrorClass::Retryable),
        (131056, ErrorClass::Retryable),
        (131047, ErrorClass::OutsideWindow),
        (131026, ErrorClass::Permanent),
        (190, ErrorClass::Token),
    ] {
        control
            .inject_fault(&FaultSpec::error(PNID, code, 1))
            .await
            .unwrap();
        let error = client
            .send_message(VERSION, PNID, &token, &text)
            .await
            .unwrap_err();
        assert_eq!(error.code(), Some(code), "{error}");
        assert_eq!(error.class(), class, "{error}");
    }

    control
        .inject_fault(&FaultSpec {
            phone_number_id: Some(PNID.into()),
            status: Some(503),
            count: Some(1),
            ..FaultSpec::default()
        })
        .await
        .unwrap();
    let unavailable = client
        .send_message(VERSION, PNID, &token, &text)
        .await
        .unwrap_err();
    assert_eq!(unavailable.class(), ErrorClass::Retryable);
    assert_eq!(unavailable.meta().map(|m| m.http_status), Some(503));

    // Meta's own validation: too long a body is permanent.
    let too_long = payload::message(
        &Recipient::WaId("16505551234".into()),
        "text",
        json!({"body": "x".repeat(4097)}),
    );
    let invalid = client
        .send_message(VERSION, PNID, &token, &too_long)
        .await
        .unwrap_err();
    assert_eq!(
        (invalid.code(), invalid.class()),
        (Some(100), ErrorClass::Permanent)
    );

    // An unknown token, on a send and on the exchange.
    let wrong = SecretString::from("EAAnot-registered");
    let refused = client
        .send_message(VERSION, PNID, &wrong, &text)
        .await
        .unwrap_err();
    assert_eq!(refused.class(), ErrorClass::Token);
    let exchange = client
        .exchange_token(VERSION, "app", &SecretString::from("secret"), &wrong)
        .await
        .unwrap_err();
    assert_eq!(exchange.class(), ErrorClass::Token);
    // Secrets from the query string never appear in the error.
    assert!(!exchange.to_string().contains("secret"), "{exchange}");
    running.stop().await;
}

#[tokio::test]
async fn no_answer_is_a_retryable_network_error_without_the_url() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = GraphClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let error = client
        .exchange_token(
            VERSION,
            "app",
            &SecretString::from("very-secret-app-secret"),
            &SecretString::from("very-secret-token"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::Network(_)), "{error:?}");
    assert_eq!(error.class(), ErrorClass::Retryable);
    assert!(!error.to_string().contains("very-secret"), "{error}");
}
