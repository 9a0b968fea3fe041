#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Access tokens: a refused token (190) is exchanged and the send retried; a token that cannot
//! be refreshed raises an alert; long-lived tokens are renewed before they expire.

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use common::{batch, bodies, text, Harness, APP_ID, USER};
use meta_emulator::api::FaultSpec;
use sender::AlertKind;
use store::sender::BatchOutcome;

#[tokio::test]
async fn a_refused_token_is_exchanged_stored_and_the_send_retried() {
    let harness = Harness::start().await;
    let integration = harness.integration("300001").await;
    harness
        .emulator_client
        .inject_fault(&FaultSpec::error("300001", 190, 1))
        .await
        .unwrap();
    harness
        .publish(&batch(
            &integration,
            "wamid.T:out",
            vec![text("hello"), text("again")],
        ))
        .await;
    assert_eq!(harness.outcome("wamid.T:out").await, BatchOutcome::Sent);
    assert_eq!(
        bodies(&harness.conversation("300001", USER).await),
        ["hello", "again"]
    );

    let (stored, expires_at) = harness.stored_token(integration.id).await;
    assert_ne!(stored, integration.token, "the exchanged token is stored");
    let expires_at = expires_at.expect("a long-lived token expires");
    assert!(expires_at > Utc::now() + chrono::Duration::days(50));

    let requests = harness.requests(None).await;
    let exchange = requests
        .iter()
        .find(|r| r.path == "/v21.0/oauth/access_token")
        .expect("a token exchange");
    assert_eq!(exchange.query["client_id"], APP_ID);
    assert_eq!(
        exchange.query["fb_exchange_token"],
        meta_emulator::token_fingerprint(&integration.token)
    );
    assert_eq!(
        exchange.query["client_secret"],
        meta_emulator::token_fingerprint("app-secret")
    );
    let sends: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("/messages"))
        .collect();
    assert_eq!(sends.len(), 3, "refused, retried, then the second message");
    let new_fingerprint = meta_emulator::token_fingerprint(&stored);
    assert_eq!(sends[0].status, 401);
    assert!(sends[1..]
        .iter()
        .all(|r| r.status == 200 && r.token_fingerprint.as_deref() == Some(&new_fingerprint)));
    assert!(harness.alerts.all().is_empty());
    harness.stop().await;
}

#[tokio::test]
async fn a_revoked_token_that_cannot_be_refreshed_raises_a_token_alert() {
    let harness = Harness::start().await;
    let integration = harness.integration("300002").await;
    harness
        .emulator_client
        .revoke_token(&integration.token)
        .await
        .unwrap();
    harness
        .publish(&batch(&integration, "wamid.V:out", vec![text("hello")]))
        .await;
    assert_eq!(harness.outcome("wamid.V:out").await, BatchOutcome::Failed);
    assert!(harness.conversation("300002", USER).await.is_empty());
    let alerts = harness.alerts.all();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].0, alerts[0].1),
        (integration.id, AlertKind::TokenFailure)
    );
    assert!(
        alerts[0].2.contains("could not be refreshed"),
        "{}",
        alerts[0].2
    );
    // The stored token is left for the operator to replace.
    assert_eq!(
        harness.stored_token(integration.id).await.0,
        integration.token
    );
    harness.stop().await;
}

#[tokio::test]
async fn tokens_expiring_soon_are_renewed_and_expired_ones_alerted() {
    let harness = Harness::start_with(|config| {
        config.token_check_interval = Duration::from_millis(200);
    })
    .await;
    let in_two_days = Utc::now() + chrono::Duration::days(2);
    let in_a_month = Utc::now() + chrono::Duration::days(30);
    let expiring = harness
        .integration_with("300003", Some(in_two_days), None)
        .await;
    let fine = harness
        .integration_with("300004", Some(in_a_month), None)
        .await;
    let expired = harness
        .integration_with(
            "300005",
            Some(Utc::now() - chrono::Duration::hours(1)),
            None,
        )
        .await;

    let started = Instant::now();
    loop {
        let (token, expires_at) = harness.stored_token(expiring.id).await;
        if token != expiring.token {
            assert!(expires_at.unwrap() > Utc::now() + chrono::Duration::days(50));
            break;
        }
        assert!(started.elapsed() < common::WAIT, "not renewed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while !harness
        .alerts
        .all()
        .iter()
        .any(|(id, kind, _)| *id == expired.id && *kind == AlertKind::TokenFailure)
    {
        assert!(
            started.elapsed() < common::WAIT,
            "no alert for the expired token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Tokens far from expiry are left alone; expired ones cannot be exchanged.
    assert_eq!(harness.stored_token(fine.id).await.0, fine.token);
    assert_eq!(harness.stored_token(expired.id).await.0, expired.token);
    let exchanged: Vec<_> = harness
        .requests(None)
        .await
        .into_iter()
        .filter(|r| r.path.ends_with("/oauth/access_token"))
        .map(|r| r.query["fb_exchange_token"].clone())
        .collect();
    assert!(!exchanged.is_empty());
    assert!(exchanged
        .iter()
        .all(|t| *t == meta_emulator::token_fingerprint(&expiring.token)));
    // The renewed token sends.
    harness
        .publish(&batch(&expiring, "wamid.E:out", vec![text("still here")]))
        .await;
    assert_eq!(harness.outcome("wamid.E:out").await, BatchOutcome::Sent);
    assert!(harness
        .alerts
        .all()
        .iter()
        .all(|(id, _, _)| *id == expired.id));
    harness.stop().await;
}
