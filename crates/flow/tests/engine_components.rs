#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The engine entering each component type, interpolation, start context and bounds.

mod common;

use std::collections::BTreeMap;

use common::{bot, complete, ctx, path, start, texts, var};
use flow::{
    ComponentType, Engine, EngineLimits, ExecutionError, InputError, MediaType, OutMessage,
    OutOption, StartContext, TurnError, VariableChange, VisitEvent,
};
use serde_json::json;

#[test]
fn text_messages_interpolate_variables_and_unset_ones_render_empty() {
    let bot = bot(
        json!({"start": "a", "components": [
            {"id": "a", "type": "text", "text": "Hi {{ first }} {{last}}{{unset}}! ({{channel}}, {{session_id}}, {{user_identifier}})", "next": "b"},
            {"id": "b", "type": "text", "text": "{{unset}}", "next": "z"},
            {"id": "z", "type": "end", "text": "Bye {{first}}"}
        ]}),
        &[("first", Some("Ada")), ("last", None), ("unset", None)],
    );
    let result = start(&bot);
    assert_eq!(texts(&result), vec!["Hi Ada ! (api, s-1, u-1)", "Bye Ada"]);
    assert_eq!(path(&result), vec!["a", "b", "z"]);
    assert_eq!(
        result.path[1].detail.as_deref(),
        Some("the text rendered empty; nothing was sent")
    );
    assert!(result.is_final && result.state.is_final());
    assert!(result
        .path
        .iter()
        .all(|v| v.event == VisitEvent::Entered && !v.waits_for_input));
}

#[test]
fn waiting_components_stop_the_turn_and_become_the_state() {
    let bot = bot(
        json!({"start": "a", "components": [
            {"id": "a", "type": "text", "text": "hello", "next": "q"},
            {"id": "q", "type": "question_text", "text": "Name, {{channel}}?", "variable": "name", "next": "z"},
            {"id": "z", "type": "end"}
        ]}),
        &[("name", None)],
    );
    let result = start(&bot);
    assert_eq!(result.state.current.as_deref(), Some("q"));
    assert_eq!(texts(&result), vec!["hello", "Name, api?"]);
    assert!(!result.is_final);
    let last = result.path.last().unwrap();
    assert!(last.waits_for_input && last.component_type == ComponentType::QuestionText);
}

#[test]
fn buttons_list_and_media_messages_have_the_manual_shape() {
    let bot = bot(
        json!({"start": "m", "components": [
            {"id": "m", "type": "media", "media_type": "image", "url": "https://cdn.example.com/{{file}}", "caption": "Look, {{name}}", "next": "m2"},
            {"id": "m2", "type": "media", "media_type": "document", "url": "https://cdn.example.com/a.pdf", "next": "b"},
            {"id": "b", "type": "buttons", "text": "Pick, {{name}}", "options": [
                {"id": "o1", "title": "One {{name}}", "next": "l"}, {"id": "o2", "title": "Two", "next": "l"}]},
            {"id": "l", "type": "list", "text": "Choose", "button_text": "Open", "options": [
                {"id": "r1", "title": "Row", "description": "About {{name}}", "next": "z"},
                {"id": "r2", "title": "Row 2", "description": "{{unset}}", "next": "z"}]},
            {"id": "z", "type": "end"}
        ]}),
        &[
            ("name", Some("Ada")),
            ("file", Some("a b/c.png")),
            ("unset", None),
        ],
    );
    let result = start(&bot);
    assert_eq!(result.state.current.as_deref(), Some("b"));
    assert_eq!(
        serde_json::to_value(&result.messages).unwrap(),
        json!([
            {"type": "media", "text": "Look, Ada", "media_url": "https://cdn.example.com/a%20b%2Fc.png",
             "caption": "Look, Ada", "media_type": "image"},
            {"type": "media", "text": "", "media_url": "https://cdn.example.com/a.pdf", "caption": null,
             "media_type": "document"},
            {"type": "buttons", "text": "Pick, Ada", "options": [{"id": "o1", "text": "One Ada"}, {"id": "o2", "text": "Two"}]}
        ])
    );
    let result = common::option(&bot, &result.state, "o2");
    assert_eq!(
        result.messages,
        vec![OutMessage::List {
            text: "Choose".into(),
            button_text: Some("Open".into()),
            options: vec![
                OutOption {
                    id: "r1".into(),
                    text: "Row".into(),
                    description: Some("About Ada".into())
                },
                OutOption {
                    id: "r2".into(),
                    text: "Row 2".into(),
                    description: None
                },
            ],
        }]
    );
    let back: Vec<OutMessage> =
        serde_json::from_value(serde_json::to_value(&result.messages).unwrap()).unwrap();
    assert_eq!(back, result.messages);
    assert!(matches!(
        start(&bot).messages[0],
        OutMessage::Media {
            media_type: MediaType::Image,
            ..
        }
    ));
}

fn condition_bot(op: &str, value: Option<&str>) -> flow::BotVersion {
    let mut when = json!({"variable": "v", "op": op});
    if let Some(value) = value {
        when["value"] = json!(value);
    }
    bot(
        json!({"start": "c", "components": [
            {"id": "c", "type": "condition", "branches": [{"when": when, "next": "yes"}], "else": "no"},
            {"id": "yes", "type": "end", "text": "yes"},
            {"id": "no", "type": "end", "text": "no"}
        ]}),
        &[("v", None), ("w", Some("10"))],
    )
}

fn decide(op: &str, value: Option<&str>, v: Option<&str>) -> String {
    let mut ctx = ctx();
    if let Some(v) = v {
        ctx.variables.insert("v".into(), v.into());
    }
    let result = complete(Engine::default().start(&condition_bot(op, value), ctx));
    texts(&result).join("")
}

#[test]
fn conditions_evaluate_every_operator() {
    let cases: &[(&str, Option<&str>, Option<&str>, &str)] = &[
        ("equals", Some("pizza"), Some("pizza"), "yes"),
        ("equals", Some("pizza"), Some("Pizza"), "no"),
        ("equals", Some("{{w}}"), Some("10"), "yes"),
        ("equals", Some(""), None, "yes"),
        ("not_equals", Some("pizza"), Some("pasta"), "yes"),
        ("not_equals", Some("pizza"), Some("pizza"), "no"),
        ("contains", Some("zz"), Some("pizza"), "yes"),
        ("contains", Some("ZZ"), Some("pizza"), "no"),
        ("greater_than", Some("9.5"), Some("10"), "yes"),
        ("greater_than", Some("{{w}}"), Some("10"), "no"),
        ("greater_than", Some("1"), Some("ten"), "no"),
        ("less_than", Some("2"), Some("1,5"), "yes"),
        ("less_than", Some("2"), Some("-3"), "yes"),
        ("less_than", Some("2"), None, "no"),
        ("is_set", None, Some("x"), "yes"),
        ("is_set", None, None, "no"),
        ("is_not_set", None, None, "yes"),
        ("is_not_set", None, Some("x"), "no"),
        ("regex", Some(r"^\d{5}$"), Some("12345"), "yes"),
        ("regex", Some(r"\d"), Some("abc1def"), "yes"),
        ("regex", Some(r"(?i)^yes$"), Some("YES"), "yes"),
        ("regex", Some(r"^\d+$"), Some("12a"), "no"),
    ];
    for (op, value, v, expected) in cases {
        assert_eq!(decide(op, *value, *v), *expected, "{op} {value:?} on {v:?}");
    }
}

#[test]
fn the_first_branch_that_holds_wins_and_the_path_says_which() {
    let bot = bot(
        json!({"start": "c", "components": [
            {"id": "c", "type": "condition", "branches": [
                {"when": {"variable": "v", "op": "is_not_set"}, "next": "a"},
                {"when": {"variable": "v", "op": "contains", "value": "x"}, "next": "b"},
                {"when": {"variable": "v", "op": "contains", "value": "xy"}, "next": "a"}
            ], "else": "a"},
            {"id": "a", "type": "end", "text": "a"},
            {"id": "b", "type": "end", "text": "b"}
        ]}),
        &[("v", Some("xyz"))],
    );
    let result = start(&bot);
    assert_eq!(texts(&result), vec!["b"]);
    assert_eq!(
        result.path[0].detail.as_deref(),
        Some("branches[1] holds → \"b\"")
    );
}

#[test]
fn set_variable_renders_templates_and_records_changes() {
    let bot = bot(
        json!({"start": "s", "components": [
            {"id": "s", "type": "set_variable", "variable": "full", "value": "{{first}} {{last}}", "next": "t"},
            {"id": "t", "type": "set_variable", "variable": "first", "value": "Grace", "next": "u"},
            {"id": "u", "type": "set_variable", "variable": "last", "value": "", "next": "z"},
            {"id": "z", "type": "end", "text": "{{full}}"}
        ]}),
        &[
            ("first", Some("Ada")),
            ("last", Some("Lovelace")),
            ("full", None),
        ],
    );
    let result = start(&bot);
    assert_eq!(texts(&result), vec!["Ada Lovelace"]);
    assert_eq!(
        result.path[0].variable_changes,
        vec![VariableChange {
            name: "full".into(),
            from: None,
            to: Some("Ada Lovelace".into())
        }]
    );
    assert_eq!(
        result.path[1].variable_changes,
        vec![VariableChange {
            name: "first".into(),
            from: Some("Ada".into()),
            to: Some("Grace".into())
        }]
    );
    assert_eq!(
        result.path[2].variable_changes,
        vec![VariableChange {
            name: "last".into(),
            from: Some("Lovelace".into()),
            to: None
        }]
    );
    assert_eq!(
        var(&result, "last"),
        None,
        "an empty value unsets the variable"
    );
}

#[test]
fn start_sets_defaults_injected_values_and_built_ins() {
    let bot = bot(
        json!({"start": "q", "components": [
            {"id": "q", "type": "question_text", "text": "{{on_create_message_payload}}|{{last_input}}|{{a}}|{{b}}", "variable": "a", "next": "z"},
            {"id": "z", "type": "end"}
        ]}),
        &[
            ("a", Some("default-a")),
            ("b", Some("default-b")),
            ("c", None),
        ],
    );
    let ctx = StartContext {
        session_id: "sess".into(),
        user_identifier: "+4917012345".into(),
        channel: "whatsapp".into(),
        variables: BTreeMap::from([("b".to_owned(), "injected".to_owned())]),
        message_payload: Some("order pizza".into()),
    };
    let result = complete(Engine::default().start(&bot, ctx));
    assert_eq!(
        texts(&result),
        vec!["order pizza|order pizza|default-a|injected"]
    );
    let expected: BTreeMap<String, String> = [
        ("a", "default-a"),
        ("b", "injected"),
        ("channel", "whatsapp"),
        ("last_input", "order pizza"),
        ("on_create_message_payload", "order pizza"),
        ("session_id", "sess"),
        ("user_identifier", "+4917012345"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(result.state.variables, expected);
    // The first turn reports every variable as added, sorted by name.
    let added: Vec<(&str, Option<&str>, Option<&str>)> = result
        .variable_changes
        .iter()
        .map(|c| (c.name.as_str(), c.from.as_deref(), c.to.as_deref()))
        .collect();
    let expected_added: Vec<(&str, Option<&str>, Option<&str>)> = expected
        .iter()
        .map(|(k, v)| (k.as_str(), None, Some(v.as_str())))
        .collect();
    assert_eq!(added, expected_added);
    // Without a payload the built-in is unset.
    let result = start(&bot);
    assert_eq!(var(&result, "on_create_message_payload"), None);
    assert_eq!(texts(&result), vec!["||default-a|default-b"]);
}

#[test]
fn start_refuses_undeclared_and_built_in_injections() {
    let bot = bot(
        json!({"start": "z", "components": [{"id": "z", "type": "end"}]}),
        &[("a", None)],
    );
    let mut ctx = ctx();
    ctx.variables.insert("a".into(), "ok".into());
    ctx.variables.insert("nope".into(), "x".into());
    ctx.variables.insert("session_id".into(), "x".into());
    let err = Engine::default().start(&bot, ctx).unwrap_err();
    assert_eq!(
        err,
        TurnError::Input(InputError::UndeclaredVariables {
            names: vec!["nope".into(), "session_id".into()]
        })
    );
}

#[test]
fn a_turn_is_bounded_in_steps() {
    // Two non-waiting components in a loop (validation would refuse it; the engine must stop it).
    let bot = bot(
        json!({"start": "a", "components": [
            {"id": "a", "type": "set_variable", "variable": "n", "value": "{{n}}x", "next": "b"},
            {"id": "b", "type": "text", "text": "tick", "next": "a"}
        ]}),
        &[("n", None)],
    );
    let engine = Engine::new(EngineLimits {
        max_steps_per_turn: 7,
        ..EngineLimits::default()
    });
    let Err(TurnError::Execution(failure)) = engine.start(&bot, ctx()) else {
        panic!("expected a failure")
    };
    assert_eq!(
        failure.error,
        ExecutionError::StepLimitExceeded {
            component: "b".into(),
            limit: 7
        }
    );
    assert_eq!(failure.error.component(), "b");
    assert_eq!(failure.path.len(), 7);
    assert_eq!(
        failure.error.to_string(),
        "the turn entered more than 7 components; stopped before \"b\""
    );
    // The default bound is 200.
    let Err(TurnError::Execution(failure)) = Engine::default().start(&bot, ctx()) else {
        panic!()
    };
    assert_eq!(failure.path.len(), 200);
}

#[test]
fn unvalidated_flows_fail_where_they_are_broken() {
    let dangling = bot(
        json!({"start": "a", "components": [{"id": "a", "type": "text", "text": "x", "next": "gone"}]}),
        &[],
    );
    let Err(TurnError::Execution(failure)) = Engine::default().start(&dangling, ctx()) else {
        panic!()
    };
    assert_eq!(
        failure.error,
        ExecutionError::UnknownComponent {
            component: "gone".into()
        }
    );
    assert_eq!(failure.path.len(), 1);

    let writes_builtin = bot(
        json!({"start": "a", "components": [{"id": "a", "type": "set_variable", "variable": "channel", "value": "x", "next": "a"}]}),
        &[],
    );
    let Err(TurnError::Execution(failure)) = Engine::default().start(&writes_builtin, ctx()) else {
        panic!()
    };
    assert_eq!(
        failure.error,
        ExecutionError::ReadOnlyVariable {
            component: "a".into(),
            variable: "channel".into()
        }
    );

    let bad_regex = bot(
        json!({"start": "c", "components": [
            {"id": "c", "type": "condition", "branches": [{"when": {"variable": "v", "op": "regex", "value": "("}, "next": "c"}], "else": "c"}
        ]}),
        &[("v", None)],
    );
    let Err(TurnError::Execution(failure)) = Engine::default().start(&bad_regex, ctx()) else {
        panic!()
    };
    assert!(
        matches!(&failure.error, ExecutionError::InvalidComponent { component, .. } if component == "c")
    );
}
