#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every status code of the manual and PRODUCT.md 4, provoked through the real services.

use std::time::Duration;

use e2e::{Platform, BOOTSTRAP_TOKEN};
use serde_json::{json, Value};

#[tokio::test]
async fn auth_and_routing_answer_401_and_404() {
    let p = Platform::start().await;
    let a = p.demo_integration("A", false).await;
    let b = p.demo_integration("B", false).await;
    let start = |id: i64| format!("/{id}/session/");

    // Missing key, wrong key, and integration A's key on B's URL: 401.
    let (status, body) = p.api_with(&start(a.id), &[], &json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = p.api(&start(a.id), "not-the-key", &json!({})).await;
    assert_eq!(status, 401);
    let (status, _) = p.api(&start(b.id), &a.key, &json!({})).await;
    assert_eq!(status, 401);
    // Bearer works; X-API-Key wins when both are present.
    let bearer = format!("Bearer {}", a.key);
    let (status, _) = p
        .api_with(&start(a.id), &[("Authorization", &bearer)], &json!({}))
        .await;
    assert_eq!(status, 200);
    let wrong_bearer = format!("Bearer {}", b.key);
    let (status, _) = p
        .api_with(
            &start(a.id),
            &[("X-API-Key", &a.key), ("Authorization", &wrong_bearer)],
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = p
        .api_with(
            &start(a.id),
            &[("X-API-Key", &b.key), ("Authorization", &bearer)],
            &json!({}),
        )
        .await;
    assert_eq!(status, 401);

    // Unknown integration and inactive integration: 404.
    let (status, body) = p.api(&start(999_999), &a.key, &json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("integration_not_found"))
    );
    let (status, _) = p.api("/abc/session/", &a.key, &json!({})).await;
    assert_eq!(status, 404);
    p.admin
        .post(
            &format!("/v1/integrations/{}/deactivate", a.id),
            BOOTSTRAP_TOKEN,
            &Value::Null,
        )
        .await;
    let (status, _) = p.api(&start(a.id), &a.key, &json!({})).await;
    assert_eq!(status, 404);
    p.stop().await;
}

#[tokio::test]
async fn sessions_answer_409_404_and_force_restart() {
    let p = Platform::start().await;
    let i = p.demo_integration("Sessions", false).await;
    let start = format!("/{}/session", i.id);
    let msg = format!("/{}/session/s-1/message", i.id);
    let (status, _) = p.api(&start, &i.key, &json!({"session_id": "s-1"})).await;
    assert_eq!(status, 200);
    let (status, _) = p.api(&msg, &i.key, &json!({"message": "Ada"})).await;
    assert_eq!(status, 200);

    let (status, body) = p.api(&start, &i.key, &json!({"session_id": "s-1"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("session_exists")),
        "{body}"
    );
    // The 409 changed nothing: the session is still at the menu.
    let (status, body) = p
        .api(
            &msg,
            &i.key,
            &json!({"selected_option_id": "component_id_abc"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["messages"][0]["text"],
        "We bake every day from 11:00 to 23:00."
    );

    let (status, body) = p
        .api(
            &start,
            &i.key,
            &json!({"session_id": "s-1", "force_restart": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "ask_name");

    let (status, body) = p
        .api(
            &format!("/{}/session/nobody/message/", i.id),
            &i.key,
            &json!({"message": "x"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("session_not_found"))
    );
    p.stop().await;
}

#[tokio::test]
async fn bad_requests_answer_422_and_change_nothing() {
    let p = Platform::start().await;
    let i = p.demo_integration("Bad", false).await;
    let start = format!("/{}/session/", i.id);
    let msg = format!("/{}/session/s-2/message/", i.id);
    p.api(&start, &i.key, &json!({"session_id": "s-2"})).await;
    p.api(&msg, &i.key, &json!({"message": "Ada"})).await; // at the buttons now

    for (label, body) in [
        (
            "both",
            json!({"message": "a", "selected_option_id": "component_id_xyz"}),
        ),
        ("neither", json!({})),
        ("wrong type", json!({"message": 42})),
        ("unknown field", json!({"text": "hi"})),
        ("array", json!([1, 2])),
    ] {
        let (status, answer) = p.api(&msg, &i.key, &body).await;
        assert_eq!(status, 422, "{label}: {answer}");
        assert!(answer["error"]["message"].is_string());
    }
    let raw = p
        .admin
        .client
        .post(format!("{}{msg}", p.api_base_url))
        .header("X-API-Key", &i.key)
        .header("Content-Type", "application/json")
        .body("{\"message\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 422);

    // An option the current component does not offer: 422 naming the valid ids.
    let (status, answer) = p
        .api(&msg, &i.key, &json!({"selected_option_id": "pizza_hawaii"}))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_option");
    assert_eq!(
        answer["error"]["details"]["valid_option_ids"],
        json!(["component_id_xyz", "component_id_abc", "menu_contact"])
    );
    // Variables when injection is off: 422 saying so.
    let (status, answer) = p
        .api(&start, &i.key, &json!({"variables": {"pizza": "x"}}))
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("variable_injection_disabled"))
    );
    // Idempotency-Key longer than 255: 422.
    let long = "k".repeat(256);
    let (status, _) = p
        .api_with(
            &msg,
            &[("X-API-Key", &i.key), ("Idempotency-Key", &long)],
            &json!({"message": "x"}),
        )
        .await;
    assert_eq!(status, 422);

    // Nothing changed: the session still offers the menu.
    let (status, answer) = p
        .api(&msg, &i.key, &json!({"selected_option_id": "menu_contact"}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["is_final"], true);
    p.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let p = Platform::start().await;
    let i = p.demo_integration("Limited", false).await;
    p.admin
        .patch(
            &format!("/v1/integrations/{}", i.id),
            BOOTSTRAP_TOKEN,
            &json!({"rate_limit_per_minute": 3}),
        )
        .await;
    let url = format!("{}/{}/session/", p.api_base_url, i.id);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..5 {
        let response = p
            .admin
            .client
            .post(&url)
            .header("X-API-Key", &i.key)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status().as_u16() == 429 {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "rate_limited");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let seconds: u64 = retry_after.unwrap().parse().unwrap();
    assert!((1..=20).contains(&seconds), "{seconds}");
    p.stop().await;
}

#[tokio::test]
async fn bot_execution_errors_answer_500_and_keep_the_session() {
    let p = Platform::start().await;
    // A bot whose http_request has no on_error and calls a closed port.
    let bot = json!({"name": "Fragile", "variables": [{"name": "answer"}], "flow": {"start": "ask", "components": [
        {"id": "ask", "type": "question_text", "text": "Ready?", "variable": "answer", "next": "call"},
        {"id": "call", "type": "http_request", "method": "GET", "url": "http://127.0.0.1:9/nothing",
         "timeout_ms": 1000, "map": [], "next": "done"},
        {"id": "done", "type": "end", "text": "done"}]}});
    let i = p.api_integration_for(&bot, json!({})).await;
    let (id, key) = (i.id, i.key);

    let (status, _) = p
        .api(&format!("/{id}/session"), &key, &json!({"session_id": "f"}))
        .await;
    assert_eq!(status, 200);
    let msg = format!("/{id}/session/f/message");
    let (status, failed) = p.api(&msg, &key, &json!({"message": "yes"})).await;
    assert_eq!(status, 500, "{failed}");
    assert_eq!(failed["error"]["code"], "bot_execution_error");
    assert_eq!(failed["error"]["details"]["component"], "call");
    assert!(!failed.to_string().contains("panicked"));
    // The session kept its last good state: it still waits at the question.
    let (status, again) = p.api(&msg, &key, &json!({"selected_option_id": "x"})).await;
    assert_eq!(status, 422, "{again}");
    assert_eq!(again["error"]["code"], "invalid_input");
    p.stop().await;
}

#[tokio::test]
async fn no_answer_within_the_deadline_is_504_and_a_retry_gets_the_real_answer() {
    // A deadline shorter than the flow's own HTTP call makes the first request time out.
    let p = Platform::start_with_deadline(Duration::from_millis(300)).await;
    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = server.local_addr().unwrap().port();
    tokio::spawn(async move {
        // A slow upstream: answers after a second.
        loop {
            let Ok((mut socket, _)) = server.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                tokio::time::sleep(Duration::from_millis(1000)).await;
                let body = "{\"ok\":true}";
                let answer = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    let bot = json!({"name": "Slow", "flow": {"start": "call", "components": [
        {"id": "call", "type": "http_request", "method": "GET", "url": format!("http://127.0.0.1:{port}/slow"),
         "timeout_ms": 5000, "map": [], "next": "done"},
        {"id": "done", "type": "end", "text": "finally"}]}});
    let i = p.api_integration_for(&bot, json!({})).await;
    let (id, key) = (i.id, i.key);

    let headers = [("X-API-Key", key.as_str()), ("Idempotency-Key", "slow-1")];
    let path = format!("/{id}/session");
    let body = json!({"session_id": "slow"});
    let retry = || p.api_with(&path, &headers, &body);
    let (status, body) = retry().await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (504, Some("timeout")),
        "{body}"
    );
    // While the turn still runs, the same key is in use.
    let (status, body) = retry().await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("idempotency_key_in_use")),
        "{body}"
    );
    // Once it has run, the retry gets the real answer, replayed.
    let mut answer = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (status, replayed) = retry().await;
        if status == 200 {
            answer = replayed;
            break;
        }
    }
    assert_eq!(answer["messages"][0]["text"], "finally", "{answer}");
    assert_eq!(answer["idempotency_replayed"], true);
    assert_eq!(answer["is_final"], true);
    p.stop().await;
}
