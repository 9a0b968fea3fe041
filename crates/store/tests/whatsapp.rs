#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Outbound message statuses (forward-only) and webhook receipts against a real PostgreSQL.

use chrono::{TimeZone, Utc};
use contracts::IntegrationId;
use serde_json::json;
use store::integrations::{NewIntegration, NewWhatsappDetails};
use store::whatsapp::{MessageStatus, NewReceipt, ReceiptKind, StatusUpdate};
use store::Store;

mod common;

use common::fresh;

/// Two WhatsApp integrations of one account (no bot needed while inactive).
async fn integrations(store: &Store) -> (IntegrationId, IntegrationId) {
    let account = common::account(store, "acme").await;
    let mut ids = Vec::new();
    for (phone, verify) in [("111", b"v1"), ("222", b"v2")] {
        let id = store.allocate_integration_id().await.unwrap();
        store
            .create_whatsapp_integration(
                account,
                id,
                NewIntegration {
                    name: phone,
                    bot_id: None,
                    alert_email_enabled: false,
                    alert_email: None,
                },
                NewWhatsappDetails {
                    business_account_id: "waba".into(),
                    phone_number_id: phone.into(),
                    app_id: "app".into(),
                    app_secret_sealed: vec![1],
                    access_token_sealed: vec![2],
                    access_token_expires_at: None,
                    verify_token_sealed: vec![3],
                    verify_token_digest: verify.to_vec(),
                    api_version: "v21.0".into(),
                    conversation_expiry_seconds: None,
                    template_name: None,
                    template_language: None,
                    trigger_recipients: vec![],
                },
            )
            .await
            .unwrap();
        ids.push(id);
    }
    (ids[0], ids[1])
}

fn status(integration: IntegrationId, wamid: &str, status: MessageStatus) -> StatusUpdate {
    StatusUpdate {
        wamid: wamid.into(),
        integration_id: integration,
        status,
        recipient: Some("15551234567".into()),
        errors: None,
        status_at: Some(
            Utc.timestamp_opt(1_750_000_000 + status.rank() as i64, 0)
                .unwrap(),
        ),
    }
}

#[tokio::test]
async fn statuses_move_forward_only_and_unknown_messages_are_recorded() {
    let (_db, store) = fresh().await;
    let (first, second) = integrations(&store).await;

    store
        .record_outbound_message(
            first,
            "wamid.A",
            "1:111:15551234567",
            "15551234567",
            "ev:out",
        )
        .await
        .unwrap();
    let accepted = store.outbound_message("wamid.A").await.unwrap().unwrap();
    assert_eq!(accepted.status, MessageStatus::Accepted);
    assert_eq!(
        accepted.conversation_key.as_deref(),
        Some("1:111:15551234567")
    );

    // read, then a late delivered: stays read.
    let changed = store
        .apply_message_statuses(&[status(first, "wamid.A", MessageStatus::Read)])
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let changed = store
        .apply_message_statuses(&[status(first, "wamid.A", MessageStatus::Delivered)])
        .await
        .unwrap();
    assert_eq!(changed, 0);
    let read = store.outbound_message("wamid.A").await.unwrap().unwrap();
    assert_eq!(read.status, MessageStatus::Read);
    assert_eq!(
        read.status_at,
        Some(Utc.timestamp_opt(1_750_000_003, 0).unwrap())
    );

    // One batch with several statuses of one message (and a duplicate): the highest wins.
    let mut failed = status(first, "wamid.B", MessageStatus::Failed);
    failed.errors = Some(json!([{"code": 131049}]));
    store
        .apply_message_statuses(&[
            status(first, "wamid.B", MessageStatus::Sent),
            failed,
            status(first, "wamid.B", MessageStatus::Delivered),
            status(first, "wamid.B", MessageStatus::Sent),
        ])
        .await
        .unwrap();
    let b = store.outbound_message("wamid.B").await.unwrap().unwrap();
    assert_eq!(b.status, MessageStatus::Failed);
    assert_eq!(b.errors, Some(json!([{"code": 131049}])));
    assert_eq!(b.conversation_key, None, "a status alone does not know it");

    // The sender's record arriving after the status keeps the status and fills the key in.
    store
        .record_outbound_message(
            first,
            "wamid.B",
            "1:111:15551234567",
            "15551234567",
            "ev:out",
        )
        .await
        .unwrap();
    let b = store.outbound_message("wamid.B").await.unwrap().unwrap();
    assert_eq!(b.status, MessageStatus::Failed);
    assert_eq!(b.conversation_key.as_deref(), Some("1:111:15551234567"));
    assert_eq!(b.batch_event_id.as_deref(), Some("ev:out"));

    // Another integration cannot move a message that is not its own.
    let changed = store
        .apply_message_statuses(&[status(second, "wamid.A", MessageStatus::Failed)])
        .await
        .unwrap();
    assert_eq!(changed, 0);
    let a = store.outbound_message("wamid.A").await.unwrap().unwrap();
    assert_eq!(a.status, MessageStatus::Read);
    assert_eq!(a.integration_id, first.get());

    assert!(store
        .outbound_message("wamid.none")
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.apply_message_statuses(&[]).await.unwrap(), 0);
}

#[tokio::test]
async fn receipts_are_recorded_listed_counted_and_pruned() {
    let (_db, store) = fresh().await;
    let (first, second) = integrations(&store).await;
    let before = Utc::now() - chrono::Duration::seconds(1);
    store
        .record_webhook_receipts(&[
            NewReceipt {
                integration_id: first,
                kind: ReceiptKind::BadSignature,
                detail: json!({"reason": "mismatch"}),
            },
            NewReceipt {
                integration_id: first,
                kind: ReceiptKind::IgnoredInactive,
                detail: json!({"phone_number_id": "111"}),
            },
            NewReceipt {
                integration_id: second,
                kind: ReceiptKind::BadSignature,
                detail: json!({}),
            },
        ])
        .await
        .unwrap();
    store.record_webhook_receipts(&[]).await.unwrap();

    let listed = store.webhook_receipts(first, 10).await.unwrap();
    let kinds: Vec<ReceiptKind> = listed.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [ReceiptKind::IgnoredInactive, ReceiptKind::BadSignature],
        "newest first, only this integration's"
    );
    assert_eq!(listed[0].detail, json!({"phone_number_id": "111"}));
    assert_eq!(
        store
            .count_webhook_receipts_since(first, ReceiptKind::BadSignature, before)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_webhook_receipts_since(
                first,
                ReceiptKind::BadSignature,
                Utc::now() + chrono::Duration::seconds(60)
            )
            .await
            .unwrap(),
        0
    );

    assert_eq!(store.prune_webhook_receipts(before, 100).await.unwrap(), 0);
    let pruned = store
        .prune_webhook_receipts(Utc::now() + chrono::Duration::seconds(1), 2)
        .await
        .unwrap();
    assert_eq!(pruned, 2, "at most one batch");
    let rest = store
        .prune_webhook_receipts(Utc::now() + chrono::Duration::seconds(1), 100)
        .await
        .unwrap();
    assert_eq!(rest, 1);
}
