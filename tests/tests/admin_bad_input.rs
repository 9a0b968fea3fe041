#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]
//! Bad admin input gets a 4xx with `{"error": {"code", "message"}}` and changes nothing.

use e2e::{AdminHarness, BOOTSTRAP_TOKEN as TOKEN};
use serde_json::{json, Value};

async fn raw(
    h: &AdminHarness,
    method: reqwest::Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let response = h
        .client
        .request(method, h.url(path))
        .bearer_auth(TOKEN)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    e2e::read(response).await
}

fn assert_error_shape(status: u16, body: &Value, expected_status: u16, label: &str) {
    assert_eq!(status, expected_status, "{label}: {body}");
    assert!(body["error"]["code"].is_string(), "{label}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{label}: {body}");
    assert!(
        !message.contains("panicked") && !message.contains("backtrace"),
        "{label}"
    );
}

#[tokio::test]
async fn bad_input_is_refused_with_json_errors_and_changes_nothing() {
    let h = AdminHarness::start().await;
    let bot = h.published_demo_bot(TOKEN, "Existing").await;
    let (_, before_bot) = h.get(&format!("/v1/bots/{bot}"), TOKEN).await;
    let post = reqwest::Method::POST;
    let patch = reqwest::Method::PATCH;
    let json_type = "application/json";

    let cases: Vec<(&str, reqwest::Method, String, &str, Vec<u8>, u16)> = vec![
        ("malformed JSON", post.clone(), "/v1/bots".into(), json_type, b"{\"name\": ".to_vec(), 400),
        ("not JSON at all", post.clone(), "/v1/integrations".into(), json_type, b"hello".to_vec(), 400),
        ("wrong type", post.clone(), "/v1/bots".into(), json_type,
            br#"{"name": 42, "flow": {}}"#.to_vec(), 422),
        ("missing field", post.clone(), "/v1/bots".into(), json_type, br#"{"name": "x"}"#.to_vec(), 422),
        ("unknown field", post.clone(), "/v1/bots".into(), json_type,
            br#"{"name": "x", "flow": {}, "colour": "red"}"#.to_vec(), 422),
        ("flow not an object", post.clone(), "/v1/bots".into(), json_type,
            br#"{"name": "x", "flow": [1, 2]}"#.to_vec(), 422),
        ("empty name", post.clone(), "/v1/bots".into(), json_type,
            br#"{"name": "  ", "flow": {}}"#.to_vec(), 422),
        ("unknown kind", post.clone(), "/v1/integrations".into(), json_type,
            br#"{"kind": "telegram"}"#.to_vec(), 422),
        ("unknown bot", post.clone(), "/v1/integrations".into(), json_type,
            br#"{"kind": "api", "bot_id": 999999}"#.to_vec(), 422),
        ("negative bot id", post.clone(), "/v1/integrations".into(), json_type,
            br#"{"kind": "api", "bot_id": -1}"#.to_vec(), 422),
        ("wrong content type", post.clone(), "/v1/bots".into(), "text/plain",
            br#"{"name": "x", "flow": {}}"#.to_vec(), 415),
        ("oversize body", post.clone(), "/v1/bots".into(), json_type,
            format!(r#"{{"name": "big", "flow": {{"pad": "{}"}}}}"#, "x".repeat(300 * 1024)).into_bytes(), 413),
        ("patch wrong type", patch.clone(), format!("/v1/bots/{bot}"), json_type,
            br#"{"variables": "nope"}"#.to_vec(), 422),
        ("unknown bot path", patch.clone(), "/v1/bots/987654".into(), json_type,
            br#"{"name": "x"}"#.to_vec(), 404),
        ("non-numeric id", reqwest::Method::GET, "/v1/bots/abc".into(), json_type, Vec::new(), 404),
        ("unknown route", reqwest::Method::GET, "/v1/nothing-here".into(), json_type, Vec::new(), 404),
        ("bad alert e-mail", post.clone(), "/v1/integrations".into(), json_type,
            format!(r#"{{"kind": "api", "bot_id": {bot}, "alert_email": {{"enabled": true, "address": "nope"}}}}"#).into_bytes(), 422),
        ("alerts on without address", post.clone(), "/v1/integrations".into(), json_type,
            format!(r#"{{"kind": "api", "bot_id": {bot}, "alert_email": {{"enabled": true}}}}"#).into_bytes(), 422),
        ("rate limit zero", post.clone(), "/v1/integrations".into(), json_type,
            format!(r#"{{"kind": "api", "bot_id": {bot}, "rate_limit_per_minute": 0}}"#).into_bytes(), 422),
    ];
    for (label, method, path, content_type, body, expected) in cases {
        let (status, answer) = raw(&h, method, &path, content_type, body).await;
        assert_error_shape(status, &answer, expected, label);
    }

    // Nothing changed: one bot, unchanged; no integration.
    let (_, bots) = h.get("/v1/bots", TOKEN).await;
    assert_eq!(bots["bots"].as_array().unwrap().len(), 1, "{bots}");
    let (_, after_bot) = h.get(&format!("/v1/bots/{bot}"), TOKEN).await;
    assert_eq!(before_bot, after_bot);
    let (_, integrations) = h.get("/v1/integrations", TOKEN).await;
    assert_eq!(integrations["integrations"], json!([]));
    h.stop().await;
}

#[tokio::test]
async fn health_readiness_and_openapi_are_served() {
    let h = AdminHarness::start().await;
    let (status, body) = e2e::read(h.client.get(h.url("/health")).send().await.unwrap()).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, _) = e2e::read(h.client.get(h.url("/ready")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let (status, doc) = e2e::read(h.client.get(h.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/v1/integrations/{integration_id}/activate"]["post"].is_object());
    h.stop().await;
}

#[tokio::test]
async fn prometheus_metrics_count_requests_by_route_and_status() {
    let h = AdminHarness::start().await;
    let (status, _) = h.get("/v1/bots/987654", TOKEN).await;
    assert_eq!(status, 404);
    let metrics = h
        .client
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("http_requests_total")
                && line.contains("route=\"/v1/bots/{bot_id}\"")
                && line.contains("status=\"404\"")),
        "{metrics}"
    );
    h.stop().await;
}
