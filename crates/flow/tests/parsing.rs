#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Untrusted JSON becomes `malformed_flow` issues that say where and what.

use flow::{parse_bot, parse_flow, parse_flow_value, validate_flow_json, Component, Rule};
use serde_json::json;

#[test]
fn a_typo_in_a_field_names_the_component_and_the_field() {
    let err = parse_flow(
        r#"{"start": "a", "components": [
        {"id": "a", "type": "text", "text": "hi", "nxt": "b"}
    ]}"#,
    )
    .unwrap_err();
    assert_eq!(err.issues.len(), 1);
    let issue = &err.issues[0];
    assert_eq!(issue.rule, Rule::MalformedFlow);
    assert_eq!(issue.component.as_deref(), Some("a"));
    assert!(
        issue
            .message
            .starts_with("components[0] (id \"a\"): unknown field `nxt`"),
        "{}",
        issue.message
    );
}

#[test]
fn every_malformed_component_is_reported() {
    let err = parse_flow_value(json!({"start": "a", "components": [
        {"id": "a", "type": "txt", "text": "hi", "next": "b"},
        {"id": "b", "type": "end"},
        {"type": "question_text", "text": "q", "next": "b"},
        {"id": "d", "type": "http_request", "method": "FETCH", "url": "https://e.com", "next": "b"},
        {"id": "e", "type": "question_text", "text": "q", "variable": "v", "next": "b",
         "validation": {"kind": "regex"}},
        "not an object"
    ]}))
    .unwrap_err();
    let found: Vec<(Option<&str>, &str)> = err
        .issues
        .iter()
        .map(|i| (i.component.as_deref(), i.message.as_str()))
        .collect();
    assert_eq!(found.len(), 5, "{found:#?}");
    assert!(
        found[0].0 == Some("a") && found[0].1.contains("unknown variant `txt`"),
        "{found:#?}"
    );
    assert!(
        found[1].0.is_none()
            && found[1].1.starts_with("components[2]:")
            && found[1].1.contains("missing field `id`"),
        "{found:#?}"
    );
    assert!(
        found[2].0 == Some("d") && found[2].1.contains("FETCH"),
        "{found:#?}"
    );
    assert!(
        found[3].0 == Some("e") && found[3].1.contains("missing field `pattern`"),
        "{found:#?}"
    );
    assert!(found[4].1.starts_with("components[5]:"), "{found:#?}");
}

#[test]
fn invalid_json_reports_line_and_column() {
    let err = parse_flow("{\n  \"start\": \"a\",\n  \"components\": [,]\n}").unwrap_err();
    assert_eq!(err.issues[0].rule, Rule::MalformedFlow);
    assert!(
        err.issues[0].message.contains("line 3 column"),
        "{}",
        err.issues[0].message
    );
}

#[test]
fn the_document_shape_is_checked() {
    let messages = |value| -> Vec<String> {
        parse_flow_value(value)
            .unwrap_err()
            .issues
            .into_iter()
            .map(|i| i.message)
            .collect()
    };
    assert_eq!(
        messages(json!([])),
        vec!["a flow must be a JSON object with start and components"]
    );
    assert_eq!(
        messages(json!({"start": "a"})),
        vec!["components is missing"]
    );
    assert_eq!(
        messages(json!({"start": 1, "components": {}})),
        vec!["start must be a string", "components must be an array"]
    );
    assert_eq!(
        messages(json!({"start": "a", "components": [], "strat": "b"})),
        vec!["unknown field `strat`, expected one of `start`, `components`"]
    );
}

#[test]
fn a_missing_start_parses_so_that_validation_can_name_it() {
    let flow = parse_flow_value(json!({"components": []})).unwrap();
    assert_eq!(flow.start, "");
    let report = validate_flow_json(r#"{"components": [{"id": "a", "type": "end"}]}"#, &[]);
    assert_eq!(report.errors[0].rule, Rule::MissingStart);
    let report = validate_flow_json("nope", &[]);
    assert_eq!(report.errors[0].rule, Rule::MalformedFlow);
}

#[test]
fn defaults_are_filled_in_and_the_model_round_trips() {
    let flow = parse_flow_value(json!({"start": "h", "components": [
        {"id": "h", "type": "http_request", "method": "GET", "url": "https://e.com", "next": "z"},
        {"id": "z", "type": "end"}
    ]}))
    .unwrap();
    let Component::HttpRequest(http) = &flow.components[0] else {
        panic!("not http")
    };
    assert_eq!(http.timeout_ms, 5_000);
    assert!(http.headers.is_empty() && http.map.is_empty() && http.on_error.is_none());
    let back = parse_flow_value(serde_json::to_value(&flow).unwrap()).unwrap();
    assert_eq!(back, flow);
}

#[test]
fn bot_files_report_where_they_are_wrong() {
    let err = parse_bot(
        r#"{"name": "B", "variables": [{"name": "x", "defualt": "1"}],
        "flow": {"start": "a", "components": [{"id": "a", "type": "end", "text": 1}]}}"#,
    )
    .unwrap_err();
    let messages: Vec<&str> = err.issues.iter().map(|i| i.message.as_str()).collect();
    assert!(
        messages[0].starts_with("variables[0]: unknown field `defualt`"),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("flow.components[0] (id \"a\"): invalid type"),
        "{messages:?}"
    );
    assert_eq!(err.issues[1].component.as_deref(), Some("a"));
    let err = parse_bot(r#"{"variables": [], "flow": []}"#).unwrap_err();
    let messages: Vec<&str> = err.issues.iter().map(|i| i.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "name is missing",
            "flow: a flow must be a JSON object with start and components"
        ]
    );
}
