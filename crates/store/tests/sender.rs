#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The sender's batch progress and access-token updates against a real PostgreSQL.

use chrono::{TimeZone, Utc};
use contracts::IntegrationId;
use store::integrations::{IntegrationDetails, NewIntegration, NewWhatsappDetails};
use store::sender::{BatchOutcome, BatchProgress};
use store::{Store, StoreError};

mod common;

use common::fresh;

/// WhatsApp integrations with the given token expiries (no bot needed while inactive).
async fn integrations(
    store: &Store,
    expiries: &[Option<chrono::DateTime<Utc>>],
) -> Vec<IntegrationId> {
    let account = common::account(store, "acme").await;
    let mut ids = Vec::new();
    for (n, expires_at) in expiries.iter().enumerate() {
        let id = store.allocate_integration_id().await.unwrap();
        let phone = format!("10{n}");
        store
            .create_whatsapp_integration(
                account,
                id,
                NewIntegration {
                    name: &phone,
                    bot_id: None,
                    alert_email_enabled: false,
                    alert_email: None,
                },
                NewWhatsappDetails {
                    business_account_id: "waba".into(),
                    phone_number_id: phone.clone(),
                    app_id: "app".into(),
                    app_secret_sealed: vec![1],
                    access_token_sealed: vec![2, n as u8],
                    access_token_expires_at: *expires_at,
                    verify_token_sealed: vec![3],
                    verify_token_digest: vec![4, n as u8],
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
    ids
}

#[tokio::test]
async fn batch_progress_only_moves_forward_and_a_finished_batch_stays_finished() {
    let (_db, store) = fresh().await;
    let ids = integrations(&store, &[None]).await;
    let id = ids[0];
    assert_eq!(store.batch_progress("wamid.A:out").await.unwrap(), None);

    store
        .save_batch_progress(id, "wamid.A:out", 2, None)
        .await
        .unwrap();
    // A stale writer (a duplicate delivery) cannot move it back.
    store
        .save_batch_progress(id, "wamid.A:out", 1, None)
        .await
        .unwrap();
    assert_eq!(
        store.batch_progress("wamid.A:out").await.unwrap(),
        Some(BatchProgress {
            sent_count: 2,
            outcome: None
        })
    );

    store
        .save_batch_progress(id, "wamid.A:out", 3, Some(BatchOutcome::Sent))
        .await
        .unwrap();
    store
        .save_batch_progress(id, "wamid.A:out", 3, Some(BatchOutcome::Failed))
        .await
        .unwrap();
    assert_eq!(
        store.batch_progress("wamid.A:out").await.unwrap(),
        Some(BatchProgress {
            sent_count: 3,
            outcome: Some(BatchOutcome::Sent)
        })
    );

    // Finished at once, without progress rows before.
    store
        .save_batch_progress(id, "wamid.B:out", 0, Some(BatchOutcome::Fallback))
        .await
        .unwrap();
    assert_eq!(
        store
            .batch_progress("wamid.B:out")
            .await
            .unwrap()
            .unwrap()
            .outcome,
        Some(BatchOutcome::Fallback)
    );

    // Pruning by age.
    assert_eq!(
        store
            .prune_outbound_batches(Utc::now() - chrono::Duration::hours(1), 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .prune_outbound_batches(Utc::now() + chrono::Duration::seconds(1), 1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .prune_outbound_batches(Utc::now() + chrono::Duration::seconds(1), 100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.batch_progress("wamid.A:out").await.unwrap(), None);

    // A batch of an integration that does not exist is refused.
    let missing = IntegrationId::new(999_999).unwrap();
    let refused = store.save_batch_progress(missing, "x", 0, None).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn tokens_are_updated_replaced_only_when_unchanged_and_found_by_expiry() {
    let (_db, store) = fresh().await;
    let soon = Utc.timestamp_opt(2_000_000_000, 0).unwrap();
    let later = soon + chrono::Duration::days(30);
    let past = Utc.timestamp_opt(1_600_000_000, 0).unwrap();
    let ids = integrations(&store, &[Some(later), None, Some(soon), Some(past)]).await;

    let expiring = store
        .access_tokens_expiring_before(soon + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(
        expiring,
        [ids[3], ids[2]],
        "expired first, never-expiring left out"
    );

    let token = |id: IntegrationId| {
        let store = store.clone();
        async move {
            match store.find_integration(id).await.unwrap().details {
                IntegrationDetails::Whatsapp(w) => {
                    (w.access_token_sealed, w.access_token_expires_at)
                }
                IntegrationDetails::Api(_) => unreachable!(),
            }
        }
    };

    store
        .update_access_token(ids[2], b"new-sealed", Some(later))
        .await
        .unwrap();
    assert_eq!(token(ids[2]).await, (b"new-sealed".to_vec(), Some(later)));

    // Compare-and-swap: only over the token the caller saw.
    assert!(!store
        .replace_access_token(ids[0], b"not-the-stored-one", b"x", None)
        .await
        .unwrap());
    assert_eq!(token(ids[0]).await, (vec![2, 0], Some(later)));
    assert!(store
        .replace_access_token(ids[0], &[2, 0], b"rotated", None)
        .await
        .unwrap());
    assert_eq!(token(ids[0]).await, (b"rotated".to_vec(), None));

    let missing = IntegrationId::new(999_999).unwrap();
    assert!(matches!(
        store.update_access_token(missing, b"x", None).await,
        Err(StoreError::NotFound)
    ));
}
