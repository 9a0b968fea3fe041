#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]
//! Bots through the admin API: draft, validate, publish twice, versions read back unchanged,
//! invalid flows refused naming the component and the rule.

use e2e::{demo_bot, AdminHarness, BOOTSTRAP_TOKEN as TOKEN};
use serde_json::{json, Value};

#[tokio::test]
async fn draft_validate_publish_twice_and_read_versions_back_unchanged() {
    let h = AdminHarness::start().await;
    let bot = demo_bot();
    let (status, created) = h.post("/v1/bots", TOKEN, &bot).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["published"], false);
    assert_eq!(created["flow"], bot["flow"]);

    let (status, report) = h
        .post(&format!("/v1/bots/{id}/validate"), TOKEN, &Value::Null)
        .await;
    assert_eq!(status, 200);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["errors"], json!([]));

    let (status, v1) = h
        .post(&format!("/v1/bots/{id}/publish"), TOKEN, &Value::Null)
        .await;
    assert_eq!(status, 201, "{v1}");
    assert_eq!(v1["version"], 1);

    // Edit the draft: version 1 must not change.
    let mut flow2 = bot["flow"].clone();
    flow2["components"][0]["text"] = json!("Welcome back to Demo Pizza!");
    let (status, edited) = h
        .patch(&format!("/v1/bots/{id}"), TOKEN, &json!({"flow": flow2}))
        .await;
    assert_eq!(status, 200, "{edited}");
    let (status, v2) = h
        .post(&format!("/v1/bots/{id}/publish"), TOKEN, &Value::Null)
        .await;
    assert_eq!(status, 201, "{v2}");
    assert_eq!(v2["version"], 2);

    let (status, list) = h.get(&format!("/v1/bots/{id}/versions"), TOKEN).await;
    assert_eq!(status, 200);
    let versions: Vec<i64> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);
    let (_, read1) = h.get(&format!("/v1/bots/{id}/versions/1"), TOKEN).await;
    let (_, read2) = h.get(&format!("/v1/bots/{id}/versions/2"), TOKEN).await;
    assert_eq!(read1["flow"], bot["flow"]);
    assert_eq!(read1["variables"], bot["variables"]);
    assert_eq!(read2["flow"], flow2);
    assert_eq!(read1["published_at"], v1["published_at"]);
    let (status, missing) = h.get(&format!("/v1/bots/{id}/versions/3"), TOKEN).await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], "not_found");
    h.stop().await;
}

#[tokio::test]
async fn published_bots_are_listed_alphabetically() {
    let h = AdminHarness::start().await;
    for name in ["pizza", "Appointments", "zoo tours"] {
        h.published_demo_bot(TOKEN, name).await;
    }
    let mut draft = demo_bot();
    draft["name"] = json!("Beta draft");
    let (status, _) = h.post("/v1/bots", TOKEN, &draft).await;
    assert_eq!(status, 201);

    let names = |body: &Value| -> Vec<String> {
        body["bots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, published) = h.get("/v1/bots?published=true", TOKEN).await;
    assert_eq!(names(&published), ["Appointments", "pizza", "zoo tours"]);
    let (_, all) = h.get("/v1/bots", TOKEN).await;
    assert_eq!(
        names(&all),
        ["Appointments", "Beta draft", "pizza", "zoo tours"]
    );
    h.stop().await;
}

fn end(id: &str) -> Value {
    json!({"id": id, "type": "end", "text": "bye"})
}

/// A flow, the variables, and the (component, rule) the first error must name.
fn invalid_cases() -> Vec<(
    &'static str,
    Value,
    Value,
    Option<&'static str>,
    &'static str,
)> {
    vec![
        (
            "dangling next",
            json!({"start": "a", "components": [{"id": "a", "type": "text", "text": "hi", "next": "nowhere"}]}),
            json!([]),
            Some("a"),
            "dangling_next",
        ),
        (
            "unknown start",
            json!({"start": "zzz", "components": [end("a")]}),
            json!([]),
            None,
            "unknown_start",
        ),
        (
            "duplicate component id",
            json!({"start": "a", "components": [
                {"id": "a", "type": "text", "text": "x", "next": "b"}, end("b"), end("b")]}),
            json!([]),
            Some("b"),
            "duplicate_component_id",
        ),
        (
            "unknown variable in text",
            json!({"start": "a", "components": [{"id": "a", "type": "text", "text": "hi {{who}}", "next": "b"}, end("b")]}),
            json!([]),
            Some("a"),
            "unknown_variable",
        ),
        (
            "unknown variable in question",
            json!({"start": "q", "components": [{"id": "q", "type": "question_text", "text": "name?", "variable": "name", "next": "b"}, end("b")]}),
            json!([]),
            Some("q"),
            "unknown_variable",
        ),
        (
            "unreachable component",
            json!({"start": "a", "components": [end("a"), end("orphan")]}),
            json!([]),
            Some("orphan"),
            "unreachable_component",
        ),
        (
            "loop without a waiting component",
            json!({"start": "a", "components": [
                {"id": "a", "type": "text", "text": "x", "next": "b"},
                {"id": "b", "type": "set_variable", "variable": "v", "value": "1", "next": "a"}]}),
            json!([{"name": "v"}]),
            Some("a"),
            "loop_without_wait",
        ),
        (
            "duplicate option id across components",
            json!({"start": "m", "components": [
                {"id": "m", "type": "buttons", "text": "pick", "options": [
                    {"id": "o1", "title": "One", "next": "n"}]},
                {"id": "n", "type": "buttons", "text": "again", "options": [
                    {"id": "o1", "title": "Uno", "next": "e"}]},
                end("e")]}),
            json!([]),
            Some("n"),
            "duplicate_option_id",
        ),
        (
            "buttons without options",
            json!({"start": "m", "components": [{"id": "m", "type": "buttons", "text": "pick", "options": []}]}),
            json!([]),
            Some("m"),
            "empty_options",
        ),
        (
            "invalid regex validation",
            json!({"start": "q", "components": [
                {"id": "q", "type": "question_text", "text": "code?", "variable": "code",
                 "validation": {"kind": "regex", "pattern": "(unclosed"}, "next": "e"}, end("e")]}),
            json!([{"name": "code"}]),
            Some("q"),
            "invalid_regex",
        ),
        (
            "condition op needs a value",
            json!({"start": "c", "components": [
                {"id": "c", "type": "condition", "branches": [
                    {"when": {"variable": "v", "op": "equals"}, "next": "e"}], "else": "e"},
                end("e")]}),
            json!([{"name": "v"}]),
            Some("c"),
            "missing_value",
        ),
        (
            "media with a bad URL",
            json!({"start": "m", "components": [
                {"id": "m", "type": "media", "media_type": "image", "url": "not a url", "next": "e"}, end("e")]}),
            json!([]),
            Some("m"),
            "invalid_url",
        ),
        (
            "unclosed template",
            json!({"start": "a", "components": [{"id": "a", "type": "text", "text": "hi {{name", "next": "e"}, end("e")]}),
            json!([{"name": "name"}]),
            Some("a"),
            "template_syntax",
        ),
        (
            "writing a built-in variable",
            json!({"start": "s", "components": [
                {"id": "s", "type": "set_variable", "variable": "session_id", "value": "x", "next": "e"}, end("e")]}),
            json!([]),
            Some("s"),
            "read_only_variable",
        ),
        (
            "unknown component type",
            json!({"start": "a", "components": [{"id": "a", "type": "teleport", "next": "e"}, end("e")]}),
            json!([]),
            Some("a"),
            "malformed_flow",
        ),
        (
            "missing start",
            json!({"components": [end("a")]}),
            json!([]),
            None,
            "missing_start",
        ),
        (
            "empty text",
            json!({"start": "a", "components": [{"id": "a", "type": "text", "text": "", "next": "e"}, end("e")]}),
            json!([]),
            Some("a"),
            "empty_text",
        ),
        (
            "invalid variable name",
            json!({"start": "a", "components": [end("a")]}),
            json!([{"name": "9lives"}]),
            None,
            "invalid_variable_name",
        ),
    ]
}

#[tokio::test]
async fn invalid_flows_are_refused_naming_component_and_rule() {
    let h = AdminHarness::start().await;
    let cases = invalid_cases();
    assert!(cases.len() >= 15);
    for (i, (label, flow, variables, component, rule)) in cases.into_iter().enumerate() {
        let body = json!({"name": format!("case {i}"), "variables": variables, "flow": flow});
        let (status, created) = h.post("/v1/bots", TOKEN, &body).await;
        assert_eq!(status, 201, "{label}: drafts may be invalid: {created}");
        let id = created["id"].as_i64().unwrap();

        let (status, report) = h
            .post(&format!("/v1/bots/{id}/validate"), TOKEN, &Value::Null)
            .await;
        assert_eq!(status, 200, "{label}");
        assert_eq!(report["valid"], false, "{label}: {report}");
        let found = report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|issue| issue["rule"] == rule && issue["component"].as_str() == component);
        assert!(
            found,
            "{label}: expected {rule} on {component:?}, got {report}"
        );

        let (status, refused) = h
            .post(&format!("/v1/bots/{id}/publish"), TOKEN, &Value::Null)
            .await;
        assert_eq!(status, 422, "{label}: {refused}");
        assert_eq!(refused["error"]["code"], "invalid_flow");
        let found = refused["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|issue| issue["rule"] == rule && issue["component"].as_str() == component);
        assert!(found, "{label}: publish details lack {rule}: {refused}");

        // Nothing was published.
        let (_, versions) = h.get(&format!("/v1/bots/{id}/versions"), TOKEN).await;
        assert_eq!(versions["versions"], json!([]), "{label}");
    }
    h.stop().await;
}

#[tokio::test]
async fn whatsapp_limits_are_warnings_that_do_not_block_publishing() {
    let h = AdminHarness::start().await;
    let body = json!({"name": "long buttons", "flow": {"start": "m", "components": [
        {"id": "m", "type": "buttons", "text": "pick", "options": [
            {"id": "o1", "title": "A title much longer than twenty characters", "next": "e"}]},
        {"id": "e", "type": "end"}]}});
    let (_, created) = h.post("/v1/bots", TOKEN, &body).await;
    let id = created["id"].as_i64().unwrap();
    let (status, published) = h
        .post(&format!("/v1/bots/{id}/publish"), TOKEN, &Value::Null)
        .await;
    assert_eq!(status, 201, "{published}");
    let warnings = published["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["rule"] == "button_title_too_long" && w["component"] == "m"),
        "{published}"
    );
    h.stop().await;
}
