#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Several executors, an executor going away, and broker connections closed mid-stream:
//! nothing is lost, nothing runs twice, and every conversation stays in order.

use std::time::Duration;

use e2e::{Platform, PlatformOptions};
use serde_json::{json, Value};

const ECHO: &str = r#"{"name": "Echo", "variables": [{"name": "seen"}], "flow": {"start": "ask", "components": [
  {"id": "ask", "type": "question_text", "text": "say something", "variable": "seen", "next": "say"},
  {"id": "say", "type": "text", "text": "got {{seen}}", "next": "ask"}]}}"#;

async fn echo_integration(p: &Platform) -> (i64, String) {
    let bot: Value = serde_json::from_str(ECHO).unwrap();
    let i = p.api_integration_for(&bot, json!({})).await;
    (i.id, i.key)
}

/// Sends `message` with an Idempotency-Key until it is answered 200 (retrying 503 and 504, as
/// a client should), and returns the answer.
async fn send_until_answered(p: &Platform, id: i64, key: &str, session: &str, n: usize) -> Value {
    let path = format!("/{id}/session/{session}/message");
    let idempotency = format!("{session}-{n}");
    for _ in 0..100 {
        let (status, body) = p
            .api_with(
                &path,
                &[("X-API-Key", key), ("Idempotency-Key", &idempotency)],
                &json!({"message": format!("m{n}")}),
            )
            .await;
        match status {
            200 => return body,
            409 | 503 | 504 => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    panic!("message {n} of {session} never answered");
}

async fn conversations(p: &Platform, id: i64, key: &str, count: usize, messages: usize) {
    let mut tasks = Vec::new();
    for c in 0..count {
        let session = format!("conv-{c}");
        let (status, body) = p
            .api(
                &format!("/{id}/session"),
                key,
                &json!({"session_id": session}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        tasks.push(async move {
            for n in 0..messages {
                let answer = send_until_answered(p, id, key, &session, n).await;
                assert_eq!(
                    answer["messages"][0]["text"],
                    format!("got m{n}"),
                    "{session}: {answer}"
                );
            }
        });
    }
    futures_util::future::join_all(tasks).await;
}

#[tokio::test]
async fn two_executors_then_one_keep_every_conversation_in_order() {
    let mut p = Platform::start_with(PlatformOptions {
        executors: 2,
        inbound_shards: 4,
        ..PlatformOptions::default()
    })
    .await;
    let (id, key) = echo_integration(&p).await;
    conversations(&p, id, &key, 6, 8).await;
    // One executor leaves; the other becomes the active consumer of its shards.
    p.stop_executor(0).await;
    let (status, body) = p
        .api(
            &format!("/{id}/session/conv-0/message"),
            &key,
            &json!({"message": "after"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"][0]["text"], "got after");
    p.stop().await;
}

#[tokio::test]
async fn broker_connections_closed_mid_stream_lose_nothing_and_run_nothing_twice() {
    let p = Platform::start().await;
    let (id, key) = echo_integration(&p).await;
    let traffic = conversations(&p, id, &key, 4, 25);
    let chaos = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The gateway and the executor connections (and the admin has none).
        p.vhost.close_connections(2).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        p.vhost.close_connections(2).await.unwrap();
    };
    tokio::join!(traffic, chaos);

    // Every turn ran exactly once: 1 start + 25 messages per session.
    use diesel::prelude::*;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Revision {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        revision: i64,
    }
    let mut conn = AsyncPgConnection::establish(p.admin.db.url())
        .await
        .unwrap();
    let revisions: Vec<Revision> = diesel::sql_query(
        "SELECT revision FROM sessions WHERE integration_id = $1 ORDER BY session_id",
    )
    .bind::<diesel::sql_types::BigInt, _>(id)
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        revisions.iter().map(|r| r.revision).collect::<Vec<_>>(),
        [26, 26, 26, 26]
    );
    p.stop().await;
}
