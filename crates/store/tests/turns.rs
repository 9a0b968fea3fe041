#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Sessions, processed events and Idempotency-Key claims against a real PostgreSQL.

use std::time::Duration;

use contracts::IntegrationId;
use serde_json::json;
use store::accounts::NewToken;
use store::bots::NewBot;
use store::idempotency::{Claim, KeyRef};
use store::integrations::{NewApiDetails, NewIntegration};
use store::turns::{KeyOutcome, NewSession, Processed, SessionRecord, SessionWrite, TurnTx};
use store::{Store, StoreError, StoreOptions};
use testkit::database::TestDatabase;

const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

async fn setup() -> (TestDatabase, Store, IntegrationId, i64) {
    let db = TestDatabase::create().await.unwrap();
    let store = Store::connect(&StoreOptions {
        url: db.url().to_owned(),
        max_connections: 4,
        connect_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
    let (account, _) = store
        .create_account(
            "a",
            false,
            NewToken {
                name: "t",
                digest: b"d",
                hint: "",
            },
        )
        .await
        .unwrap();
    let flow = json!({"start": "e", "components": [{"id": "e", "type": "end"}]});
    let bot = store
        .create_bot(
            account.id,
            NewBot {
                name: "b",
                variables: &json!([]),
                draft_flow: &flow,
            },
        )
        .await
        .unwrap();
    store
        .publish_bot(account.id, bot.id, bot.draft_revision)
        .await
        .unwrap();
    let integration = store
        .create_api_integration(
            account.id,
            NewIntegration {
                name: "",
                bot_id: Some(bot.id),
                alert_email_enabled: false,
                alert_email: None,
            },
            NewApiDetails {
                key_digest: b"k",
                key_hint: "",
                variable_injection: false,
                rate_limit_per_minute: 60,
            },
        )
        .await
        .unwrap();
    (db, store, integration.id, bot.id.get())
}

/// The conversation's session, locked until the transaction ends (what a turn's preflight
/// reads; the event id is one never recorded).
async fn lock_session(
    tx: &mut TurnTx,
    integration: IntegrationId,
    session_id: &str,
) -> Result<Option<SessionRecord>, StoreError> {
    Ok(tx
        .preflight("ev-never-recorded", integration, session_id)
        .await?
        .session)
}

/// The rest of a turn on session `s1`: `Ok(false)` when `event_id` was already recorded.
async fn finish(
    tx: &mut TurnTx,
    integration: IntegrationId,
    session: SessionWrite,
    event_id: &str,
    outputs: serde_json::Value,
    key: Option<&KeyOutcome<'_>>,
) -> Result<bool, StoreError> {
    let processed = Processed {
        event_id,
        outputs: &outputs,
        transcript: None,
    };
    tx.finish(integration, "s1", &session, &processed, key)
        .await
}

#[tokio::test]
async fn a_turn_commits_session_and_outputs_together_and_dedupes_events() {
    let (_db, store, integration, bot) = setup().await;
    let target = store.start_target(integration).await.unwrap().unwrap();
    assert_eq!(
        (target.bot_id, target.bot_version, target.active),
        (Some(bot), Some(1), false)
    );

    let mut tx = store.begin_turn(LOCK_TIMEOUT).await.unwrap();
    assert!(lock_session(&mut tx, integration, "s1")
        .await
        .unwrap()
        .is_none());
    let start = SessionWrite::Insert(NewSession {
        integration_id: integration.get(),
        session_id: "s1".into(),
        user_identifier: "u".into(),
        bot_id: bot,
        bot_version: 1,
        state: json!({"current": "q"}),
        expires_at: None,
    });
    assert!(finish(
        &mut tx,
        integration,
        start,
        "ev-1",
        json!({"reply": 1}),
        None
    )
    .await
    .unwrap());
    tx.commit().await.unwrap();

    // A rolled-back turn leaves nothing behind.
    let mut tx = store.begin_turn(LOCK_TIMEOUT).await.unwrap();
    let session = lock_session(&mut tx, integration, "s1")
        .await
        .unwrap()
        .unwrap();
    let update = SessionWrite::Update {
        expected_revision: session.revision,
        state: json!({"current": "x"}),
        expires_at: None,
    };
    assert!(
        finish(&mut tx, integration, update, "ev-2", json!({}), None)
            .await
            .unwrap()
    );
    tx.rollback().await.unwrap();
    assert_eq!(
        store
            .get_session(integration, "s1")
            .await
            .unwrap()
            .unwrap()
            .state,
        json!({"current": "q"})
    );
    assert!(store.processed_outputs("ev-2").await.unwrap().is_none());

    // Dropping an uncommitted turn also rolls back.
    {
        let mut tx = store.begin_turn(LOCK_TIMEOUT).await.unwrap();
        tx.delete_session(integration, "s1").await.unwrap();
    }
    assert!(store
        .get_session(integration, "s1")
        .await
        .unwrap()
        .is_some());

    // A stale revision is refused (failover fencing); a duplicate event is recognised.
    let mut tx = store.begin_turn(LOCK_TIMEOUT).await.unwrap();
    let stale = SessionWrite::Update {
        expected_revision: 99,
        state: json!({}),
        expires_at: None,
    };
    assert!(matches!(
        finish(&mut tx, integration, stale, "ev-3", json!({}), None).await,
        Err(StoreError::Concurrent)
    ));
    tx.rollback().await.unwrap();
    let mut tx = store.begin_turn(LOCK_TIMEOUT).await.unwrap();
    assert!(!finish(
        &mut tx,
        integration,
        SessionWrite::Keep,
        "ev-1",
        json!({}),
        None
    )
    .await
    .unwrap());
    tx.rollback().await.unwrap();
    assert_eq!(
        store.processed_outputs("ev-1").await.unwrap(),
        Some(json!({"reply": 1}))
    );
}

#[tokio::test]
async fn idempotency_keys_claim_replay_mismatch_and_lapse() {
    let (_db, store, integration, _) = setup().await;
    let key = || KeyRef {
        integration,
        endpoint: "message",
        key: "k-1",
    };
    let lease = Duration::from_secs(30);
    assert_eq!(
        store
            .claim_idempotency_key(key(), b"hash-a", "ev-a", lease)
            .await
            .unwrap(),
        Claim::Claimed {
            event_id: "ev-a".into()
        }
    );
    assert_eq!(
        store
            .claim_idempotency_key(key(), b"hash-a", "ev-b", lease)
            .await
            .unwrap(),
        Claim::InProgress
    );
    assert_eq!(
        store
            .claim_idempotency_key(key(), b"hash-b", "ev-b", lease)
            .await
            .unwrap(),
        Claim::Mismatch
    );

    let mut tx = store.begin_turn(LOCK_TIMEOUT).await.unwrap();
    let complete = KeyOutcome::Complete {
        endpoint: "message",
        key: "k-1",
        status: 200,
        body: json!({"ok": true}),
    };
    let keep = SessionWrite::Keep;
    assert!(finish(
        &mut tx,
        integration,
        keep,
        "ev-a",
        json!({}),
        Some(&complete)
    )
    .await
    .unwrap());
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .claim_idempotency_key(key(), b"hash-a", "ev-c", lease)
            .await
            .unwrap(),
        Claim::Replay {
            status: 200,
            body: json!({"ok": true})
        }
    );
    // Same key on the other endpoint is a different key.
    let other = KeyRef {
        integration,
        endpoint: "session_start",
        key: "k-1",
    };
    assert!(matches!(
        store
            .claim_idempotency_key(other, b"hash-z", "ev-z", lease)
            .await
            .unwrap(),
        Claim::Claimed { .. }
    ));

    // A lapsed claim is taken over with the first event id.
    let lapsing = || KeyRef {
        integration,
        endpoint: "message",
        key: "k-2",
    };
    store
        .claim_idempotency_key(lapsing(), b"h", "ev-first", Duration::from_millis(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        store
            .claim_idempotency_key(lapsing(), b"h", "ev-second", lease)
            .await
            .unwrap(),
        Claim::Claimed {
            event_id: "ev-first".into()
        }
    );
    // A released key (its publish failed, yet the event may have reached the queue) is taken
    // over at once by the retry, with the same event id, so the executor runs the turn once;
    // it still belongs to its request.
    store.release_idempotency_key(lapsing()).await.unwrap();
    assert_eq!(
        store
            .claim_idempotency_key(lapsing(), b"other", "ev-third", lease)
            .await
            .unwrap(),
        Claim::Mismatch
    );
    assert_eq!(
        store
            .claim_idempotency_key(lapsing(), b"h", "ev-third", lease)
            .await
            .unwrap(),
        Claim::Claimed {
            event_id: "ev-first".into()
        }
    );
}

/// Failures are classified where they happen: data PostgreSQL cannot store is permanent, a row
/// lock that is not granted in time is transient, and neither leaves the turn half-written.
#[tokio::test]
async fn store_failures_are_classified_at_the_edge() {
    use store::FailureClass;
    let (_db, store, integration, bot) = setup().await;
    let new_session = |state: serde_json::Value| NewSession {
        integration_id: integration.get(),
        session_id: "s-nul".into(),
        user_identifier: "u".into(),
        bot_id: bot,
        bot_version: 1,
        state,
        expires_at: None,
    };

    // A NUL character inside JSON: jsonb refuses it. Permanent, whatever the retry.
    let mut tx = store.begin_turn(LOCK_TIMEOUT).await.unwrap();
    let error = tx
        .insert_session(&new_session(json!({"current": "A\u{0}da"})))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Invalid(_)), "{error:?}");
    assert_eq!(error.class(), FailureClass::Permanent);
    drop(tx);

    // A session locked by someone else past the turn's lock timeout: transient.
    let mut holder = store.begin_turn(LOCK_TIMEOUT).await.unwrap();
    holder
        .insert_session(&new_session(json!({"current": "q"})))
        .await
        .unwrap();
    holder.commit().await.unwrap();
    let mut holder = store.begin_turn(LOCK_TIMEOUT).await.unwrap();
    assert!(lock_session(&mut holder, integration, "s-nul")
        .await
        .unwrap()
        .is_some());
    let mut waiter = store.begin_turn(Duration::from_millis(100)).await.unwrap();
    let error = lock_session(&mut waiter, integration, "s-nul")
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Concurrent), "{error:?}");
    assert_eq!(error.class(), FailureClass::Transient);
    drop(waiter);
    holder.rollback().await.unwrap();
}

/// Two executors starting the same conversation at once (a shard moving while the old holder
/// still runs a turn, or a frozen executor waking up): both find no session, both insert it,
/// and the second one's insert meets the first one's row. That is a race, not bad data: the
/// retry finds the session and advances it, so the store calls it `Concurrent` (transient), not
/// a permanent `Conflict` (which dead-lettered an API start event in the fault suite).
#[tokio::test]
async fn a_session_created_twice_at_once_is_a_transient_race() {
    use store::FailureClass;
    let (_db, store, integration, bot) = setup().await;
    let session = NewSession {
        integration_id: integration.get(),
        session_id: "s-race".into(),
        user_identifier: "u".into(),
        bot_id: bot,
        bot_version: 1,
        state: json!({"current": "q"}),
        expires_at: None,
    };
    let mut first = store.begin_turn(LOCK_TIMEOUT).await.unwrap();
    let mut second = store.begin_turn(LOCK_TIMEOUT).await.unwrap();
    assert!(lock_session(&mut first, integration, "s-race")
        .await
        .unwrap()
        .is_none());
    assert!(lock_session(&mut second, integration, "s-race")
        .await
        .unwrap()
        .is_none());
    first.insert_session(&session).await.unwrap();
    first.commit().await.unwrap();
    let error = second.insert_session(&session).await.unwrap_err();
    assert!(matches!(error, StoreError::Concurrent), "{error:?}");
    assert_eq!(error.class(), FailureClass::Transient);
}

/// The same race on the turn's pipelined write (`TurnTx::finish`), which is the path the
/// executor's turns take.
#[tokio::test]
async fn a_session_created_twice_at_once_is_a_transient_race_in_the_turns_write_too() {
    use store::FailureClass;
    let (_db, store, integration, bot) = setup().await;
    let session = NewSession {
        integration_id: integration.get(),
        session_id: "s-race-2".into(),
        user_identifier: "u".into(),
        bot_id: bot,
        bot_version: 1,
        state: json!({"current": "q"}),
        expires_at: None,
    };
    let outputs = json!({});
    let record = |event_id| Processed {
        event_id,
        outputs: &outputs,
        transcript: None,
    };
    let mut first = store.begin_turn(LOCK_TIMEOUT).await.unwrap();
    let mut second = store.begin_turn(LOCK_TIMEOUT).await.unwrap();
    let write = SessionWrite::Insert(session);
    assert!(first
        .finish(integration, "s-race-2", &write, &record("e-1"), None)
        .await
        .unwrap());
    first.commit().await.unwrap();
    let error = second
        .finish(integration, "s-race-2", &write, &record("e-2"), None)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Concurrent), "{error:?}");
    assert_eq!(error.class(), FailureClass::Transient);
}
