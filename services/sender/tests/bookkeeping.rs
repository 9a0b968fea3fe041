#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The sender's bookkeeping (docs/sender.md, "Order, concurrency and redelivery"): the saves of
//! batches in flight share commits (group commit), but no conversation sends its next message
//! before the previous one is recorded, each conversation keeps its order, and a crash between
//! Meta accepting a message and its record being committed sends that one message again,
//! nothing else.

mod common;

use std::time::{Duration, Instant};

use common::{bodies, text, Harness, TestIntegration, WAIT};
use contracts::v1::{ConversationKey, OutboundWhatsapp, Recipient, SchemaVersion};
use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use store::sender::BatchOutcome;

/// A session holding `outbound_batches` in SHARE mode: every progress save waits (reads go
/// on), as on a database that has not committed yet.
struct SavesHeld(AsyncPgConnection);

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

impl SavesHeld {
    async fn start(harness: &Harness) -> SavesHeld {
        let mut conn = AsyncPgConnection::establish(harness.db.url())
            .await
            .unwrap();
        conn.batch_execute("BEGIN; LOCK TABLE outbound_batches IN SHARE MODE")
            .await
            .unwrap();
        SavesHeld(conn)
    }

    /// Statements of this database waiting for a lock (the held saves).
    async fn waiting(&mut self) -> i64 {
        self.count(
            "SELECT count(*) AS count FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
               AND wait_event_type = 'Lock'",
        )
        .await
    }

    /// Ends the sessions of the held saves, so that they never commit: with the sender
    /// crashed, it is as if they had never been sent.
    async fn cancel_waiting(&mut self) -> i64 {
        self.count(
            "SELECT count(*) AS count FROM ( \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                   AND wait_event_type = 'Lock') AS ended",
        )
        .await
    }

    async fn count(&mut self, sql: &str) -> i64 {
        diesel::sql_query(sql)
            .get_result::<Count>(&mut self.0)
            .await
            .unwrap()
            .count
    }

    async fn release(mut self) {
        self.0.batch_execute("ROLLBACK").await.unwrap();
    }
}

/// A batch of `texts` for `user`, the conversation's `sequence`-th.
fn batch_for(
    integration: &TestIntegration,
    user: &str,
    event_id: &str,
    sequence: u64,
    texts: &[String],
) -> OutboundWhatsapp {
    OutboundWhatsapp {
        schema: SchemaVersion::V1,
        event_id: event_id.into(),
        integration_id: integration.id,
        conversation_key: ConversationKey::whatsapp(
            integration.id,
            &integration.phone_number_id,
            user,
        ),
        phone_number_id: integration.phone_number_id.clone(),
        to: Recipient::WaId(user.into()),
        reply_to_message_id: None,
        messages: texts.iter().map(|t| text(t)).collect(),
        fallback_template: None,
        template: None,
        sequence,
    }
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn recorded_messages(harness: &Harness, batch_event_id: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(harness.db.url())
        .await
        .unwrap();
    diesel::sql_query("SELECT count(*) AS count FROM outbound_messages WHERE batch_event_id = $1")
        .bind::<diesel::sql_types::Text, _>(batch_event_id)
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .count
}

#[tokio::test]
async fn saves_wait_for_their_commit_and_each_conversation_keeps_its_order() {
    let harness = Harness::start_with(|config| config.concurrency = 8).await;
    let integration = harness.integration("300001").await;
    let users: Vec<String> = (0..6).map(|n| format!("1650555{n:04}")).collect();
    let batches = 4;
    let texts = |user: usize, batch: usize| -> Vec<String> {
        (1..=2).map(|m| format!("u{user}-b{batch}-m{m}")).collect()
    };
    // The first save of every conversation is held: each sends its first message and waits.
    let mut held = SavesHeld::start(&harness).await;
    for b in 1..=batches {
        for (u, user) in users.iter().enumerate() {
            let event_id = format!("wamid.U{u}B{b}:out");
            harness
                .publish(&batch_for(
                    &integration,
                    user,
                    &event_id,
                    b as u64,
                    &texts(u, b),
                ))
                .await;
        }
    }
    for user in &users {
        harness.wait_messages("300001", user, 1).await;
    }
    until("the held save", async || held.waiting().await >= 1).await;
    // No conversation went on before its first message was recorded.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for user in &users {
        assert_eq!(harness.conversation("300001", user).await.len(), 1);
    }
    held.release().await;

    for (u, user) in users.iter().enumerate() {
        let expected: Vec<String> = (1..=batches).flat_map(|b| texts(u, b)).collect();
        for b in 1..=batches {
            let event_id = format!("wamid.U{u}B{b}:out");
            let progress = harness.finished(&event_id).await;
            assert_eq!(
                (progress.sent_count, progress.outcome),
                (2, Some(BatchOutcome::Sent))
            );
            assert_eq!(recorded_messages(&harness, &event_id).await, 2);
        }
        assert_eq!(
            bodies(&harness.conversation("300001", user).await),
            expected
        );
    }
    harness.stop().await;
}

#[tokio::test]
async fn a_crash_between_acceptance_and_commit_sends_only_that_message_again() {
    let mut harness = Harness::start().await;
    let shop = harness.integration("300002").await;
    let clinic = harness.integration("300003").await;
    let user = common::USER;
    let mut held = SavesHeld::start(&harness).await;
    let shop_texts: Vec<String> = ["s1", "s2", "s3"].map(String::from).to_vec();
    let clinic_texts: Vec<String> = ["c1", "c2"].map(String::from).to_vec();
    harness
        .publish(&batch_for(&shop, user, "wamid.S:out", 1, &shop_texts))
        .await;
    harness
        .publish(&batch_for(&clinic, user, "wamid.C:out", 1, &clinic_texts))
        .await;
    // Meta accepted the first message of each; neither record is committed.
    harness.wait_messages("300002", user, 1).await;
    harness.wait_messages("300003", user, 1).await;
    until("the held save", async || held.waiting().await >= 1).await;

    harness.crash_sender().await;
    assert!(held.cancel_waiting().await >= 1);
    held.release().await;
    assert_eq!(
        harness.store.batch_progress("wamid.S:out").await.unwrap(),
        None
    );
    assert_eq!(
        harness.store.batch_progress("wamid.C:out").await.unwrap(),
        None
    );

    harness.restart_sender(|_| {}).await;
    assert_eq!(harness.outcome("wamid.S:out").await, BatchOutcome::Sent);
    assert_eq!(harness.outcome("wamid.C:out").await, BatchOutcome::Sent);
    // The message in the window went twice; everything else once.
    assert_eq!(
        bodies(&harness.conversation("300002", user).await),
        ["s1", "s1", "s2", "s3"]
    );
    assert_eq!(
        bodies(&harness.conversation("300003", user).await),
        ["c1", "c1", "c2"]
    );
    assert_eq!(recorded_messages(&harness, "wamid.S:out").await, 3);
    assert_eq!(recorded_messages(&harness, "wamid.C:out").await, 2);
    harness.stop().await;
}
