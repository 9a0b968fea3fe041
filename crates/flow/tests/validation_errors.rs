#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A table of invalid flows, each with the one error (component, rule) it must produce.

use flow::{parse_flow_value, validate, Rule, VariableDecl};
use serde_json::{json, Value};

fn declared() -> Vec<VariableDecl> {
    vec![
        VariableDecl::new("name", None),
        VariableDecl::new("age", Some("0")),
        VariableDecl::new("city", None),
    ]
}

fn end(id: &str) -> Value {
    json!({"id": id, "type": "end"})
}

fn text(id: &str, text: &str, next: &str) -> Value {
    json!({"id": id, "type": "text", "text": text, "next": next})
}

fn flow(start: &str, components: Vec<Value>) -> Value {
    json!({"start": start, "components": components})
}

/// One component `a` leading to an end `z`: the smallest flow around a component under test.
fn single(component: Value) -> Value {
    flow("a", vec![component, end("z")])
}

fn http(extra: Value) -> Value {
    let mut component = json!({
        "id": "a", "type": "http_request", "method": "GET",
        "url": "https://api.example.com/x", "next": "z"
    });
    for (k, v) in extra.as_object().unwrap() {
        component[k] = v.clone();
    }
    single(component)
}

fn condition(when: Value) -> Value {
    single(
        json!({"id": "a", "type": "condition", "branches": [{"when": when, "next": "z"}], "else": "z"}),
    )
}

fn cases() -> Vec<(&'static str, Value, Option<&'static str>, Rule)> {
    vec![
        (
            "no start",
            json!({"components": [end("a")]}),
            None,
            Rule::MissingStart,
        ),
        (
            "start names nothing",
            flow("nope", vec![end("a")]),
            None,
            Rule::UnknownStart,
        ),
        (
            "two components share an id",
            flow("a", vec![text("a", "hi", "b"), end("b"), end("b")]),
            Some("b"),
            Rule::DuplicateComponentId,
        ),
        (
            "empty id",
            flow("a", vec![text("a", "hi", ""), end("")]),
            None,
            Rule::EmptyComponentId,
        ),
        (
            "text next dangles",
            flow("a", vec![text("a", "hi", "nope")]),
            Some("a"),
            Rule::DanglingNext,
        ),
        (
            "option next dangles",
            single(json!({"id": "a", "type": "buttons", "text": "pick",
                "options": [{"id": "o1", "title": "One", "next": "z"}, {"id": "o2", "title": "Two", "next": "gone"}]})),
            Some("a"),
            Rule::DanglingNext,
        ),
        (
            "condition else dangles",
            single(json!({"id": "a", "type": "condition",
                "branches": [{"when": {"variable": "name", "op": "is_set"}, "next": "z"}], "else": "gone"})),
            Some("a"),
            Rule::DanglingNext,
        ),
        (
            "http on_error dangles",
            http(json!({"on_error": "gone"})),
            Some("a"),
            Rule::DanglingNext,
        ),
        (
            "undeclared variable in text",
            single(text("a", "Hi {{nickname}}", "z")),
            Some("a"),
            Rule::UnknownVariable,
        ),
        (
            "question stores into an undeclared variable",
            single(
                json!({"id": "a", "type": "question_text", "text": "Email?", "variable": "email", "next": "z"}),
            ),
            Some("a"),
            Rule::UnknownVariable,
        ),
        (
            "condition reads an undeclared variable",
            condition(json!({"variable": "zip", "op": "is_set"})),
            Some("a"),
            Rule::UnknownVariable,
        ),
        (
            "set_variable writes a built-in",
            single(
                json!({"id": "a", "type": "set_variable", "variable": "session_id", "value": "x", "next": "z"}),
            ),
            Some("a"),
            Rule::ReadOnlyVariable,
        ),
        (
            "http maps into an undeclared variable",
            http(json!({"map": [{"path": "data.id", "variable": "order_id"}]})),
            Some("a"),
            Rule::UnknownVariable,
        ),
        (
            "http status into a built-in",
            http(json!({"status_variable": "last_input"})),
            Some("a"),
            Rule::ReadOnlyVariable,
        ),
        (
            "undeclared variable in an http header",
            http(json!({"headers": {"Authorization": "Bearer {{token}}"}})),
            Some("a"),
            Rule::UnknownVariable,
        ),
        (
            "invalid variable name",
            single(
                json!({"id": "a", "type": "set_variable", "variable": "first-name", "value": "x", "next": "z"}),
            ),
            Some("a"),
            Rule::InvalidVariableName,
        ),
        (
            "unreachable component",
            flow("a", vec![text("a", "hi", "z"), end("z"), end("orphan")]),
            Some("orphan"),
            Rule::UnreachableComponent,
        ),
        (
            "loop through text and set_variable",
            flow(
                "a",
                vec![
                    text("a", "tick", "b"),
                    json!({"id": "b", "type": "set_variable", "variable": "age", "value": "1", "next": "a"}),
                ],
            ),
            Some("a"),
            Rule::LoopWithoutWait,
        ),
        (
            "condition looping on itself",
            flow(
                "a",
                vec![
                    text("a", "start", "c"),
                    json!({"id": "c", "type": "condition",
                    "branches": [{"when": {"variable": "name", "op": "is_set"}, "next": "z"}], "else": "c"}),
                    end("z"),
                ],
            ),
            Some("c"),
            Rule::LoopWithoutWait,
        ),
        (
            "option id reused by another component",
            flow(
                "a",
                vec![
                    json!({"id": "a", "type": "buttons", "text": "pick", "options": [{"id": "yes", "title": "Yes", "next": "b"}]}),
                    json!({"id": "b", "type": "list", "text": "pick", "options": [{"id": "yes", "title": "Yes", "next": "z"}]}),
                    end("z"),
                ],
            ),
            Some("b"),
            Rule::DuplicateOptionId,
        ),
        (
            "list without options",
            flow(
                "a",
                vec![json!({"id": "a", "type": "list", "text": "pick", "options": []})],
            ),
            Some("a"),
            Rule::EmptyOptions,
        ),
        (
            "empty option id",
            single(
                json!({"id": "a", "type": "buttons", "text": "pick", "options": [{"id": "", "title": "One", "next": "z"}]}),
            ),
            Some("a"),
            Rule::InvalidOptionId,
        ),
        (
            "two options with the same title",
            single(json!({"id": "a", "type": "buttons", "text": "pick",
                "options": [{"id": "o1", "title": "Yes", "next": "z"}, {"id": "o2", "title": " yes ", "next": "z"}]})),
            Some("a"),
            Rule::DuplicateOptionTitle,
        ),
        (
            "invalid validation regex",
            single(
                json!({"id": "a", "type": "question_text", "text": "Code?", "variable": "city",
                "validation": {"kind": "regex", "pattern": "([0-9]"}, "next": "z"}),
            ),
            Some("a"),
            Rule::InvalidRegex,
        ),
        (
            "invalid condition regex",
            condition(json!({"variable": "name", "op": "regex", "value": "a{2,1}"})),
            Some("a"),
            Rule::InvalidRegex,
        ),
        (
            "condition without branches",
            single(json!({"id": "a", "type": "condition", "branches": [], "else": "z"})),
            Some("a"),
            Rule::EmptyBranches,
        ),
        (
            "equals without a value",
            condition(json!({"variable": "name", "op": "equals"})),
            Some("a"),
            Rule::MissingValue,
        ),
        (
            "media url is not http",
            single(
                json!({"id": "a", "type": "media", "media_type": "image", "url": "ftp://example.com/a.png", "next": "z"}),
            ),
            Some("a"),
            Rule::InvalidUrl,
        ),
        (
            "http url with credentials",
            http(json!({"url": "https://user:pw@api.example.com/"})),
            Some("a"),
            Rule::InvalidUrl,
        ),
        (
            "http url whose scheme is a variable",
            http(json!({"url": "{{city}}://api.example.com/"})),
            Some("a"),
            Rule::InvalidUrl,
        ),
        (
            "http timeout above the bound",
            http(json!({"timeout_ms": 60_000})),
            Some("a"),
            Rule::InvalidTimeout,
        ),
        (
            "http timeout of zero",
            http(json!({"timeout_ms": 0})),
            Some("a"),
            Rule::InvalidTimeout,
        ),
        (
            "http header name with a space",
            http(json!({"headers": {"X Bad": "1"}})),
            Some("a"),
            Rule::InvalidHeader,
        ),
        (
            "http sets the Host header",
            http(json!({"headers": {"Host": "internal"}})),
            Some("a"),
            Rule::InvalidHeader,
        ),
        (
            "http map path with an empty segment",
            http(json!({"map": [{"path": "data..id", "variable": "city"}]})),
            Some("a"),
            Rule::InvalidPath,
        ),
        (
            "unclosed template",
            single(text("a", "Hi {{name", "z")),
            Some("a"),
            Rule::TemplateSyntax,
        ),
        (
            "template with a space in the name",
            single(text("a", "Hi {{first name}}", "z")),
            Some("a"),
            Rule::TemplateSyntax,
        ),
        (
            "unclosed template in an http body",
            http(json!({"body": {"q": ["{{name"]}})),
            Some("a"),
            Rule::TemplateSyntax,
        ),
        (
            "blank text",
            single(text("a", "  ", "z")),
            Some("a"),
            Rule::EmptyText,
        ),
        (
            "blank option title",
            single(
                json!({"id": "a", "type": "list", "text": "pick", "options": [{"id": "o1", "title": "", "next": "z"}]}),
            ),
            Some("a"),
            Rule::EmptyText,
        ),
        (
            "blank end text",
            flow("a", vec![json!({"id": "a", "type": "end", "text": ""})]),
            Some("a"),
            Rule::EmptyText,
        ),
    ]
}

#[test]
fn each_invalid_flow_reports_exactly_its_error() {
    let cases = cases();
    assert!(cases.len() >= 20);
    let mut mismatches = Vec::new();
    for (name, value, component, rule) in cases {
        let flow =
            parse_flow_value(value).unwrap_or_else(|e| panic!("{name}: does not parse: {e}"));
        let report = validate(&flow, &declared());
        let errors: Vec<(Option<&str>, Rule)> = report
            .errors
            .iter()
            .map(|i| (i.component.as_deref(), i.rule))
            .collect();
        if errors != vec![(component, rule)] || report.is_valid() {
            mismatches.push(format!(
                "{name}: expected {component:?} {rule}, got {:#?}",
                report.errors
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn too_many_components_is_reported_once() {
    let mut components: Vec<Value> = (0..flow::MAX_COMPONENTS)
        .map(|i| text(&format!("t{i}"), "hi", &format!("t{}", i + 1)))
        .collect();
    components.push(end(&format!("t{}", flow::MAX_COMPONENTS)));
    let flow = parse_flow_value(flow("t0", components)).unwrap();
    let report = validate(&flow, &[]);
    let errors: Vec<_> = report
        .errors
        .iter()
        .map(|i| (i.component.as_deref(), i.rule))
        .collect();
    assert_eq!(errors, vec![(None, Rule::TooManyComponents)]);
}

#[test]
fn declarations_are_checked() {
    let flow = parse_flow_value(single(text("a", "hi", "z"))).unwrap();
    let decls = vec![
        VariableDecl::new("name", None),
        VariableDecl::new("name", Some("x")),
        VariableDecl::new("channel", None),
        VariableDecl::new("9lives", None),
    ];
    let rules: Vec<_> = validate(&flow, &decls)
        .errors
        .iter()
        .map(|i| (i.component.clone(), i.rule))
        .collect();
    assert_eq!(
        rules,
        vec![
            (None, Rule::DuplicateVariable),
            (None, Rule::ReadOnlyVariable),
            (None, Rule::InvalidVariableName)
        ]
    );
}

#[test]
fn builtins_are_readable_and_valid_flows_pass() {
    let value = flow(
        "a",
        vec![
            text("a", "{{session_id}} {{user_identifier}} {{channel}} {{last_input}} {{on_create_message_payload}}", "q"),
            json!({"id": "q", "type": "question_text", "text": "Name?", "variable": "name", "next": "c"}),
            json!({"id": "c", "type": "condition", "branches": [
                {"when": {"variable": "on_create_message_payload", "op": "contains", "value": "{{name}}"}, "next": "h"}
            ], "else": "q"}),
            json!({"id": "h", "type": "http_request", "method": "POST", "url": "https://api.example.com/{{city}}/x",
                "headers": {"Authorization": "Bearer {{name}}"}, "body": {"n": "{{name}}", "k": [1, true, null]},
                "map": [{"path": "data.items.0.id", "variable": "city"}], "status_variable": "age",
                "next": "z", "on_error": "z"}),
            end("z"),
        ],
    );
    let report = validate(&parse_flow_value(value).unwrap(), &declared());
    assert!(report.is_valid(), "{:#?}", report.errors);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
}

#[test]
fn a_loop_through_a_waiting_component_is_fine() {
    let value = flow(
        "a",
        vec![
            text("a", "again", "q"),
            json!({"id": "q", "type": "buttons", "text": "More?", "options": [
                {"id": "more", "title": "More", "next": "a"}, {"id": "stop", "title": "Stop", "next": "z"}]}),
            end("z"),
        ],
    );
    assert!(validate(&parse_flow_value(value).unwrap(), &[]).is_valid());
}

#[test]
fn issues_name_the_offending_reference() {
    let value = single(json!({"id": "a", "type": "buttons", "text": "pick",
        "options": [{"id": "o1", "title": "One", "next": "gone"}]}));
    let report = validate(&parse_flow_value(value).unwrap(), &[]);
    assert_eq!(
        report.errors[0].message,
        "option \"o1\" next \"gone\" names no component"
    );
    assert_eq!(
        report.errors[0].to_string(),
        "dangling_next: component \"a\": option \"o1\" next \"gone\" names no component"
    );
}
