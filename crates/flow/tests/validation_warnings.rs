#![allow(clippy::unwrap_used, clippy::expect_used)]
//! WhatsApp limits and other non-blocking findings are warnings, never errors.

use flow::{parse_flow_value, validate, Rule, VariableDecl};
use serde_json::{json, Value};

fn options(count: usize, title: &str) -> Vec<Value> {
    (0..count)
        .map(|i| json!({"id": format!("o{i}"), "title": format!("{title} {i}"), "next": "z"}))
        .collect()
}

fn single(component: Value) -> Value {
    json!({"start": "a", "components": [component, {"id": "z", "type": "end"}]})
}

fn warnings_of(value: Value) -> Vec<(String, Rule)> {
    let report = validate(
        &parse_flow_value(value).unwrap(),
        &[VariableDecl::new("n", None)],
    );
    assert!(
        report.is_valid(),
        "warnings must not be errors: {:#?}",
        report.errors
    );
    report
        .warnings
        .iter()
        .map(|i| (i.component.clone().unwrap_or_default(), i.rule))
        .collect()
}

fn expect(name: &str, value: Value, rules: &[Rule]) {
    let got = warnings_of(value);
    let expected: Vec<(String, Rule)> = rules.iter().map(|r| ("a".to_owned(), *r)).collect();
    assert_eq!(got, expected, "{name}");
}

#[test]
fn whatsapp_limits_are_warnings() {
    let long = |n: usize| "x".repeat(n);
    expect(
        "button title over 20",
        single(
            json!({"id": "a", "type": "buttons", "text": "t", "options": [{"id": "o", "title": long(21), "next": "z"}]}),
        ),
        &[Rule::ButtonTitleTooLong],
    );
    expect(
        "button title of exactly 20 is fine",
        single(
            json!({"id": "a", "type": "buttons", "text": "t", "options": [{"id": "o", "title": long(20), "next": "z"}]}),
        ),
        &[],
    );
    expect(
        "four buttons become a list",
        single(json!({"id": "a", "type": "buttons", "text": "t", "options": options(4, "Opt")})),
        &[Rule::TooManyButtons],
    );
    expect(
        "buttons sent as a list are held to the row limit, not the button limit",
        single(
            json!({"id": "a", "type": "buttons", "text": "t", "options": [
            {"id": "o1", "title": long(22), "next": "z"}, {"id": "o2", "title": "b", "next": "z"},
            {"id": "o3", "title": "c", "next": "z"}, {"id": "o4", "title": long(25), "next": "z"}]}),
        ),
        &[Rule::TooManyButtons, Rule::ListTitleTooLong],
    );
    expect(
        "eleven list options become numbered text",
        single(json!({"id": "a", "type": "list", "text": "t", "options": options(11, "Opt")})),
        &[Rule::TooManyListOptions],
    );
    expect(
        "list row title over 24 and description over 72",
        single(json!({"id": "a", "type": "list", "text": "t", "options": [
            {"id": "o", "title": long(25), "description": long(73), "next": "z"}]})),
        &[Rule::ListTitleTooLong, Rule::ListDescriptionTooLong],
    );
    expect(
        "list button_text over 20",
        single(
            json!({"id": "a", "type": "list", "text": "t", "button_text": long(21), "options": options(2, "Opt")}),
        ),
        &[Rule::ButtonTextTooLong],
    );
    expect(
        "interactive body over 1024",
        single(
            json!({"id": "a", "type": "buttons", "text": long(1025), "options": options(2, "Opt")}),
        ),
        &[Rule::InteractiveTextTooLong],
    );
    expect(
        "text over 4096 is split",
        single(json!({"id": "a", "type": "text", "text": long(4097), "next": "z"})),
        &[Rule::TextTooLong],
    );
    expect(
        "text length counts characters, not bytes",
        single(json!({"id": "a", "type": "text", "text": "é".repeat(4096), "next": "z"})),
        &[],
    );
    expect(
        "question prompt over 4096",
        single(
            json!({"id": "a", "type": "question_text", "text": long(4097), "variable": "n", "next": "z"}),
        ),
        &[Rule::TextTooLong],
    );
    expect(
        "caption over 1024",
        single(
            json!({"id": "a", "type": "media", "media_type": "image", "url": "https://e.com/a.png", "caption": long(1025), "next": "z"}),
        ),
        &[Rule::CaptionTooLong],
    );
    expect(
        "caption on audio",
        single(
            json!({"id": "a", "type": "media", "media_type": "audio", "url": "https://e.com/a.ogg", "caption": "hi", "next": "z"}),
        ),
        &[Rule::UnsupportedCaption],
    );
}

#[test]
fn other_warnings() {
    let http = |url: &str| {
        single(json!({"id": "a", "type": "http_request", "method": "GET", "url": url, "next": "z"}))
    };
    expect(
        "loopback host",
        http("http://127.0.0.1:8080/x"),
        &[Rule::PrivateHost],
    );
    expect(
        "localhost",
        http("http://localhost/x"),
        &[Rule::PrivateHost],
    );
    expect(
        "metadata endpoint",
        http("http://169.254.169.254/latest"),
        &[Rule::PrivateHost],
    );
    expect("public host", http("https://api.example.com/{{n}}"), &[]);
    expect(
        "host from a variable cannot be judged statically",
        http("https://{{n}}.example.com/"),
        &[],
    );
    expect(
        "numeric comparison against a word",
        single(json!({"id": "a", "type": "condition", "branches": [
            {"when": {"variable": "n", "op": "greater_than", "value": "ten"}, "next": "z"}], "else": "z"})),
        &[Rule::NonNumericComparison],
    );
    expect(
        "numeric comparison against a variable is not judged",
        single(json!({"id": "a", "type": "condition", "branches": [
            {"when": {"variable": "n", "op": "less_than", "value": "{{n}}"}, "next": "z"}], "else": "z"})),
        &[],
    );
}

#[test]
fn every_rule_has_one_name_for_serde_and_display() {
    for rule in flow::Rule::ALL {
        let serialized = serde_json::to_value(rule).unwrap();
        assert_eq!(serialized, json!(rule.as_str()));
        assert_eq!(rule.to_string(), rule.as_str());
        let back: Rule = serde_json::from_value(serialized).unwrap();
        assert_eq!(back, *rule);
    }
    assert!(Rule::ButtonTitleTooLong.is_warning() && !Rule::DanglingNext.is_warning());
}
