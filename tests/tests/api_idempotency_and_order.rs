#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Idempotency-Key semantics, per-session ordering under concurrency, and version pinning.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use e2e::{Platform, BOOTSTRAP_TOKEN};
use serde_json::{json, Value};

#[derive(QueryableByName)]
struct SessionRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    revision: i64,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    bot_version: i32,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    state: Value,
}

async fn session(p: &Platform, integration: i64, id: &str) -> Option<SessionRow> {
    let mut conn = AsyncPgConnection::establish(p.admin.db.url())
        .await
        .unwrap();
    diesel::sql_query(
        "SELECT revision, bot_version, state FROM sessions WHERE integration_id = $1 AND session_id = $2",
    )
    .bind::<diesel::sql_types::BigInt, _>(integration)
    .bind::<diesel::sql_types::Text, _>(id)
    .get_result(&mut conn)
    .await
    .optional()
    .unwrap()
}

#[tokio::test]
async fn a_replay_returns_the_same_answer_without_running_the_flow_again() {
    let p = Platform::start().await;
    let i = p.demo_integration("Idem", false).await;
    let start = format!("/{}/session", i.id);
    p.api(&start, &i.key, &json!({"session_id": "u"})).await;
    let msg = format!("/{}/session/u/message/", i.id);
    let with_key = |key: &'static str| {
        [
            ("X-API-Key", i.key.clone()),
            ("Idempotency-Key", key.to_owned()),
        ]
    };
    let h = with_key("turn-1");
    let headers: Vec<(&str, &str)> = h.iter().map(|(a, b)| (*a, b.as_str())).collect();

    let (status, first) = p.api_with(&msg, &headers, &json!({"message": "Ada"})).await;
    assert_eq!(status, 200, "{first}");
    assert!(first.get("idempotency_replayed").is_none());
    let after_first = session(&p, i.id, "u").await.unwrap();

    // Same key, same body (formatted differently, path without the slash): the stored answer.
    let no_slash = format!("/{}/session/u/message", i.id);
    let (status, replay) = p
        .api_with(&no_slash, &headers, &json!({ "message": "Ada" }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(replay["idempotency_replayed"], true);
    let mut without_flag = replay.clone();
    without_flag
        .as_object_mut()
        .unwrap()
        .remove("idempotency_replayed");
    assert_eq!(without_flag, first);
    // The flow ran once: the session did not move.
    let after_replay = session(&p, i.id, "u").await.unwrap();
    assert_eq!(after_replay.revision, after_first.revision);
    assert_eq!(after_replay.state, after_first.state);

    // Same key, different body: 409 idempotency_key_reused, nothing runs.
    let (status, reused) = p.api_with(&msg, &headers, &json!({"message": "Bob"})).await;
    assert_eq!(
        (status, reused["error"]["code"].as_str()),
        (409, Some("idempotency_key_reused"))
    );
    // The same key on the other endpoint is another key.
    let (status, _) = p
        .api_with(&start, &headers, &json!({"session_id": "other"}))
        .await;
    assert_eq!(status, 200);

    // Refusals are not stored: a 422 with a key, then the same key works once valid... and a
    // 404 is decided again on retry.
    let h = with_key("turn-2");
    let headers: Vec<(&str, &str)> = h.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let (status, _) = p
        .api_with(&msg, &headers, &json!({"selected_option_id": "nope"}))
        .await;
    assert_eq!(status, 422);
    let (status, again) = p
        .api_with(&msg, &headers, &json!({"selected_option_id": "nope"}))
        .await;
    assert_eq!(status, 422, "a refused request is decided again: {again}");
    assert!(again.get("idempotency_replayed").is_none());
    assert_eq!(
        session(&p, i.id, "u").await.unwrap().revision,
        after_first.revision
    );
    p.stop().await;
}

#[tokio::test]
async fn concurrent_requests_with_one_key_run_the_flow_once() {
    let p = Platform::start().await;
    let i = p.demo_integration("Concurrent key", false).await;
    p.api(
        &format!("/{}/session", i.id),
        &i.key,
        &json!({"session_id": "c"}),
    )
    .await;
    let before = session(&p, i.id, "c").await.unwrap();
    let msg = format!("/{}/session/c/message", i.id);
    let headers = [("X-API-Key", i.key.as_str()), ("Idempotency-Key", "same")];
    let body = json!({"message": "Ada"});
    let answers = futures_join(&p, &msg, &headers, &body, 8).await;
    let ok: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    let busy = answers
        .iter()
        .filter(|(s, b)| *s == 409 && b["error"]["code"] == "idempotency_key_in_use")
        .count();
    assert_eq!(ok.len() + busy, 8, "{answers:?}");
    assert!(!ok.is_empty());
    // However many got an answer, the flow ran exactly once.
    let after = session(&p, i.id, "c").await.unwrap();
    assert_eq!(after.revision, before.revision + 1);
    for answer in ok {
        assert_eq!(answer["state"], "main_menu");
    }
    p.stop().await;
}

async fn futures_join(
    p: &Platform,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
    n: usize,
) -> Vec<(u16, Value)> {
    let calls = (0..n).map(|_| p.api_with(path, headers, body));
    let mut answers = Vec::new();
    for answer in futures_util::future::join_all(calls).await {
        answers.push(answer);
    }
    answers
}

#[tokio::test]
async fn concurrent_requests_to_one_session_run_one_at_a_time_in_order() {
    let p = Platform::start().await;
    let bot = json!({"name": "Counter", "variables": [{"name": "seen"}], "flow": {"start": "ask", "components": [
        {"id": "ask", "type": "question_text", "text": "say something", "variable": "seen", "next": "echo"},
        {"id": "echo", "type": "set_variable", "variable": "seen", "value": "{{seen}}", "next": "say"},
        {"id": "say", "type": "text", "text": "got {{seen}}", "next": "ask"}]}});
    let i = p.api_integration_for(&bot, json!({})).await;
    let (id, key) = (i.id, i.key);
    p.api(&format!("/{id}/session"), &key, &json!({"session_id": "o"}))
        .await;

    // 20 requests in flight at once, each sent 10 ms after the previous one.
    let msg = format!("{}/{id}/session/o/message", p.api_base_url);
    let mut handles = Vec::new();
    for n in 0..20 {
        let request = p
            .admin
            .client
            .post(&msg)
            .header("X-API-Key", &key)
            .json(&json!({"message": format!("m{n}")}));
        handles.push(tokio::spawn(async move {
            e2e::read(request.send().await.unwrap()).await
        }));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut answers = Vec::new();
    for handle in handles {
        answers.push(handle.await.unwrap());
    }
    // Each got the answer of its own turn, none was dropped.
    for (n, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["messages"][0]["text"], format!("got m{n}"), "{body}");
    }
    let row = session(&p, id, "o").await.unwrap();
    assert_eq!(row.revision, 21, "one turn per request");
    p.stop().await;
}

#[tokio::test]
async fn running_sessions_keep_their_bot_version_and_new_sessions_use_the_new_bot() {
    let p = Platform::start().await;
    let i = p.demo_integration("Versioned", false).await;
    p.api(
        &format!("/{}/session", i.id),
        &i.key,
        &json!({"session_id": "old"}),
    )
    .await;

    // Publish a version 2 of the same bot with another greeting, and connect a second bot.
    let mut flow = e2e::demo_bot()["flow"].clone();
    flow["components"][2]["text"] = json!("Your name, please?");
    p.admin
        .patch(
            &format!("/v1/bots/{}", i.bot_id),
            BOOTSTRAP_TOKEN,
            &json!({"flow": flow}),
        )
        .await;
    let (status, _) = p
        .admin
        .post(
            &format!("/v1/bots/{}/publish", i.bot_id),
            BOOTSTRAP_TOKEN,
            &Value::Null,
        )
        .await;
    assert_eq!(status, 201);
    let (_, new) = p
        .api(
            &format!("/{}/session", i.id),
            &i.key,
            &json!({"session_id": "new"}),
        )
        .await;
    assert_eq!(new["messages"][1]["text"], "Your name, please?");
    assert_eq!(session(&p, i.id, "old").await.unwrap().bot_version, 1);
    assert_eq!(session(&p, i.id, "new").await.unwrap().bot_version, 2);

    let other = json!({"name": "Other", "flow": {"start": "e", "components": [{"id": "e", "type": "end", "text": "other bot"}]}});
    let (_, created) = p.admin.post("/v1/bots", BOOTSTRAP_TOKEN, &other).await;
    let other_id = created["id"].as_i64().unwrap();
    p.admin
        .post(
            &format!("/v1/bots/{other_id}/publish"),
            BOOTSTRAP_TOKEN,
            &Value::Null,
        )
        .await;
    let (status, _) = p
        .admin
        .patch(
            &format!("/v1/integrations/{}", i.id),
            BOOTSTRAP_TOKEN,
            &json!({"bot_id": other_id}),
        )
        .await;
    assert_eq!(status, 200);

    // The old session continues on the demo bot v1...
    let (status, old) = p
        .api(
            &format!("/{}/session/old/message", i.id),
            &i.key,
            &json!({"message": "Ada"}),
        )
        .await;
    assert_eq!(status, 200, "{old}");
    assert_eq!(old["message"]["text"], "Hi Ada! What would you like to do?");
    // ...and a new session runs the other bot.
    let (_, fresh) = p
        .api(
            &format!("/{}/session", i.id),
            &i.key,
            &json!({"session_id": "fresh"}),
        )
        .await;
    assert_eq!(fresh["message"]["text"], "other bot");
    assert_eq!(fresh["is_final"], true);
    p.stop().await;
}
