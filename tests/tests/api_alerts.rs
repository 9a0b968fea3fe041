#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A bot execution error raises an error e-mail to the integration's alert address, throttled.

use std::time::Duration;

use e2e::{Platform, PlatformOptions};
use serde_json::json;
use testkit::smtp::SmtpServer;

#[tokio::test]
async fn bot_execution_errors_mail_the_alert_address_once_per_window() {
    let smtp = SmtpServer::start().await.unwrap();
    let p = Platform::start_with(PlatformOptions {
        alerts: alerts::AlertConfig::with_smtp_url(smtp.url()),
        ..PlatformOptions::default()
    })
    .await;
    let bot = json!({"name": "Broken", "flow": {"start": "call", "components": [
        {"id": "call", "type": "http_request", "method": "GET", "url": "http://127.0.0.1:9/x",
         "timeout_ms": 500, "map": [], "next": "done"},
        {"id": "done", "type": "end"}]}});
    let i = p
        .api_integration_for(
            &bot,
            json!({"name": "Shop", "alert_email": {"enabled": true, "address": "ops@example.com"}}),
        )
        .await;
    let (id, key) = (i.id, i.key);

    for n in 0..5 {
        let (status, body) = p
            .api(
                &format!("/{id}/session"),
                &key,
                &json!({"session_id": format!("s{n}")}),
            )
            .await;
        assert_eq!(status, 500, "{body}");
    }
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        smtp.received().len(),
        1,
        "five errors in one window make one mail"
    );
    let mail = &mails[0];
    assert_eq!(mail.rcpt_to, ["ops@example.com"]);
    assert!(
        mail.subject()
            .unwrap_or_default()
            .contains("bot_execution_error")
            || mail.subject().unwrap_or_default().contains("bot execution"),
        "{:?}",
        mail.subject()
    );
    assert!(mail.body().contains("call"), "names the component");
    assert!(!mail.data.contains(&key), "no secret in the mail");
    p.stop().await;
}
