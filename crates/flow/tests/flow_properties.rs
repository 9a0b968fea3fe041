#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Properties of the flow parser, the validator and the engine on generated bots: small graphs
//! of every component type whose edges may point anywhere (loops, missing ids), whose texts
//! use declared, built-in and unknown variables, and whose fields are sometimes of the wrong
//! type. The fuzz target `fuzz/fuzz_targets/flow.rs` does the same from arbitrary bytes.

use flow::{
    parse_bot, validate_bot, validate_flow_json, BotVersion, Engine, ExecutionError, HttpOutcome,
    Input, InputError, OutMessage, StartContext, Suspended, TurnError, TurnStep,
};
use std::cell::Cell;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

const DECLARED: [&str; 3] = ["name", "order_id", "answer"];

/// Noisy bots exercise the error paths (most are invalid); clean ones are mostly valid, so
/// that the engine runs what the validator accepts.
#[derive(Debug, Clone, Copy)]
struct Noise(bool);

impl Noise {
    /// `clean` alone, or with the noisy alternatives mixed in.
    fn pick<T: std::fmt::Debug + Clone + 'static>(
        self,
        clean: BoxedStrategy<T>,
        noisy: Vec<T>,
    ) -> BoxedStrategy<T> {
        if self.0 {
            prop_oneof![4 => clean, 1 => prop::sample::select(noisy)].boxed()
        } else {
            clean
        }
    }
}

fn component_id(max: usize, noise: Noise) -> BoxedStrategy<String> {
    noise.pick(
        (0..max).prop_map(|i| format!("c{i}")).boxed(),
        vec!["missing".to_owned(), String::new()],
    )
}

fn variable(noise: Noise) -> BoxedStrategy<String> {
    noise.pick(
        prop::sample::select(DECLARED.to_vec())
            .prop_map(str::to_owned)
            .boxed(),
        vec![
            "last_input".to_owned(),
            "undeclared".to_owned(),
            "not a name".to_owned(),
        ],
    )
}

fn text(noise: Noise) -> BoxedStrategy<String> {
    let piece = noise.pick(
        prop_oneof![
            "[a-zA-Z ,.!?\u{e9}\u{1f355}]{1,12}",
            prop::sample::select(DECLARED.to_vec()).prop_map(|v| format!("{{{{{v}}}}}")),
            Just("{{ last_input }}".to_owned()),
        ]
        .boxed(),
        vec![
            "{{".to_owned(),
            "\u{0}".to_owned(),
            "{{undeclared}}".to_owned(),
        ],
    );
    prop::collection::vec(piece, 1..4)
        .prop_map(|p| p.concat())
        .boxed()
}

/// Options of component `i`: the first goes on to the next component, the others anywhere
/// (a loop through a waiting component is fine).
fn options(i: usize, max: usize, noise: Noise) -> BoxedStrategy<Value> {
    let count = if noise.0 { 0..4 } else { 1..4 };
    prop::collection::vec((text(noise), component_id(max + 1, noise)), count)
        .prop_map(move |options| {
            let options = options.into_iter().enumerate().map(|(k, (title, next))| {
                // Noisy options may repeat an id or have none.
                let id = match (noise.0, k) {
                    (true, 2) => format!("c{i}o0"),
                    (true, 3) => String::new(),
                    _ => format!("c{i}o{k}"),
                };
                let next = if k == 0 && !noise.0 {
                    format!("c{}", i + 1)
                } else {
                    next
                };
                json!({"id": id, "title": format!("{k}. {title}"), "next": next})
            });
            Value::Array(options.collect())
        })
        .boxed()
}

fn component(i: usize, max: usize, noise: Noise) -> BoxedStrategy<Value> {
    let id = format!("c{i}");
    // Clean flows go forward (every component reachable, no loop without a wait); `c{max}` is
    // their end.
    let next = || {
        if noise.0 {
            component_id(max, noise)
        } else {
            Just(format!("c{}", i + 1)).boxed()
        }
    };
    let forward = || {
        if noise.0 {
            component_id(max, noise)
        } else {
            (i + 1..=max).prop_map(|j| format!("c{j}")).boxed()
        }
    };
    let validation = noise.pick(
        prop::sample::select(vec![
            None,
            Some(json!({"kind": "number"})),
            Some(json!({"kind": "email"})),
            Some(json!({"kind": "regex", "pattern": "[0-9]+"})),
        ])
        .boxed(),
        vec![Some(json!({"kind": "regex", "pattern": "(unclosed"}))],
    );
    let url = noise.pick(
        prop::sample::select(vec![
            "https://api.example.com/orders/{{order_id}}",
            "https://example.com/q?name={{name}}",
        ])
        .boxed(),
        vec![
            "http://127.0.0.1/admin",
            "ftp://example.com/",
            "https://{{name}}.example.com/",
        ],
    );
    let op = noise.pick(
        prop::sample::select(vec!["equals", "contains", "greater_than", "is_set"]).boxed(),
        vec!["regex"],
    );
    let mut kinds = vec![
        (text(noise), next()).prop_map({
            let id = id.clone();
            move |(text, next)| json!({"id": id, "type": "text", "text": text, "next": next})
        }).boxed(),
        (text(noise), variable(noise), next(), validation).prop_map({
            let id = id.clone();
            move |(text, variable, next, validation)| {
                let mut q = json!({"id": id, "type": "question_text", "text": text,
                                   "variable": variable, "next": next});
                if let Some(validation) = validation {
                    q["validation"] = validation;
                }
                q
            }
        }).boxed(),
        (text(noise), options(i, max, noise)).prop_map({
            let id = id.clone();
            move |(text, options)| json!({"id": id, "type": "buttons", "text": text, "options": options})
        }).boxed(),
        (text(noise), options(i, max, noise)).prop_map({
            let id = id.clone();
            move |(text, options)| json!({"id": id, "type": "list", "text": text, "options": options,
                                          "button_text": "Choose"})
        }).boxed(),
        (variable(noise), op, text(noise), forward(), next()).prop_map({
            let id = id.clone();
            move |(variable, op, value, next, otherwise)| json!({"id": id, "type": "condition",
                "branches": [{"when": {"variable": variable, "op": op, "value": value}, "next": next}],
                "else": otherwise})
        }).boxed(),
        (variable(noise), text(noise), next()).prop_map({
            let id = id.clone();
            move |(variable, value, next)| json!({"id": id, "type": "set_variable",
                                                  "variable": variable, "value": value, "next": next})
        }).boxed(),
        (url, next(), prop::option::of(forward())).prop_map({
            let id = id.clone();
            move |(url, next, on_error)| {
                let mut h = json!({"id": id, "type": "http_request", "method": "POST", "url": url,
                    "body": {"q": "{{answer}}"}, "map": [{"path": "status", "variable": "answer"}],
                    "next": next});
                if let Some(on_error) = on_error {
                    h["on_error"] = json!(on_error);
                }
                h
            }
        }).boxed(),
        (text(noise), next()).prop_map({
            let id = id.clone();
            move |(caption, next)| json!({"id": id, "type": "media", "media_type": "image",
                "url": "https://example.com/pizza.png", "caption": caption, "next": next})
        }).boxed(),
        Just(json!({"id": id.clone(), "type": "end"})).boxed(),
    ];
    if noise.0 {
        // The wrong shape: a number where a string belongs, a misspelt field.
        kinds.push(Just(json!({"id": id, "type": "text", "text": 5, "nxt": "c0"})).boxed());
    }
    prop::strategy::Union::new(kinds).boxed()
}

fn bot(noise: Noise) -> impl Strategy<Value = Value> {
    (1usize..7)
        .prop_flat_map(move |n| {
            let mut components: Vec<_> = (0..n).map(|i| component(i, n, noise)).collect();
            if !noise.0 {
                // Every clean flow can end.
                components.push(Just(json!({"id": format!("c{n}"), "type": "end"})).boxed());
            }
            let start = if noise.0 {
                component_id(n, noise)
            } else {
                Just("c0".to_owned()).boxed()
            };
            (components, start)
        })
        .prop_map(|(components, start)| {
            let variables: Vec<Value> = DECLARED.iter().map(|name| json!({"name": name})).collect();
            json!({"name": "generated", "variables": variables,
                   "flow": {"start": start, "components": components}})
        })
}

/// Runs a few turns, answering with the offered options or with text.
fn drive(bot: &BotVersion, valid: bool) -> Result<(), TestCaseError> {
    let engine = Engine::default();
    let ctx = StartContext {
        session_id: "s-1".into(),
        user_identifier: "u-1".into(),
        channel: "api".into(),
        variables: Default::default(),
        message_payload: Some("hello".into()),
    };
    let mut step = engine.start(bot, ctx);
    for turn in 0..10 {
        match step {
            Ok(TurnStep::NeedsHttp { request, resume }) => {
                prop_assert!(
                    request.url.starts_with("https://") || request.url.starts_with("http://")
                );
                let back: Suspended =
                    serde_json::from_str(&serde_json::to_string(&resume).unwrap()).unwrap();
                prop_assert_eq!(&back, &resume);
                let outcome = if turn % 2 == 0 {
                    HttpOutcome::Response {
                        status: 200,
                        body_json: Some(json!({"status": "shipped"})),
                    }
                } else {
                    HttpOutcome::Failed {
                        reason: "timeout".into(),
                    }
                };
                step = engine.resume(bot, back, outcome);
            }
            Ok(TurnStep::Complete(result)) => {
                prop_assert_eq!(result.is_final, result.state.is_final());
                if result.is_final {
                    return Ok(());
                }
                let option = result.messages.iter().rev().find_map(|m| match m {
                    OutMessage::Buttons { options, .. } | OutMessage::List { options, .. } => {
                        options.get(turn % options.len().max(1)).cloned()
                    }
                    _ => None,
                });
                let input = match option {
                    Some(option) if turn % 3 != 2 => Input::SelectedOption(option.id),
                    _ => Input::Text(["42", "yes", ""][turn % 3].to_owned()),
                };
                step = engine.advance(bot, result.state, input);
            }
            Err(TurnError::Input(error)) => {
                prop_assert!(
                    !valid || !matches!(error, InputError::NotWaiting { .. }),
                    "{}",
                    error
                );
                return Ok(());
            }
            Err(TurnError::Execution(failure)) => {
                prop_assert!(
                    !valid
                        || matches!(
                            failure.error,
                            ExecutionError::StepLimitExceeded { .. }
                                | ExecutionError::HttpLimitExceeded { .. }
                                | ExecutionError::HttpFailed { .. }
                        ),
                    "a valid flow failed as validation should have prevented: {}",
                    failure.error
                );
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Parses, validates and runs a generated bot; true when the validator accepted it.
fn check(bot_json: &Value) -> Result<bool, TestCaseError> {
    let flow_only = validate_flow_json(&bot_json["flow"].to_string(), &[]);
    serde_json::to_string(&flow_only).unwrap();
    let Ok(bot) = parse_bot(&bot_json.to_string()) else {
        return Ok(false);
    };
    // What parses serialises to JSON that parses to the same bot.
    let again = parse_bot(&serde_json::to_string(&bot).unwrap()).unwrap();
    prop_assert_eq!(&again, &bot);
    let valid = validate_bot(&bot).is_valid();
    drive(&BotVersion::from_definition(bot), valid)?;
    Ok(valid)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 400,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Run by hand (not `proptest!`) to count: the property would hold vacuously if the validator
/// accepted none of the generated bots.
#[test]
fn bots_the_validator_accepts_run_without_a_validation_error() {
    let mut runner = TestRunner::new(config());
    let accepted = Cell::new(0);
    runner
        .run(&bot(Noise(false)), |bot_json| {
            if check(&bot_json)? {
                accepted.set(accepted.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    assert!(
        accepted.get() >= config().cases / 4,
        "only {} of {} generated bots were valid",
        accepted.get(),
        config().cases
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn noisy_bots_parse_validate_and_run_without_panicking(bot_json in bot(Noise(true))) {
        check(&bot_json)?;
    }

    #[test]
    fn arbitrary_text_is_refused_with_a_report_not_a_panic(text in "\\PC{0,64}") {
        let report = validate_flow_json(&text, &[]);
        let object = text.trim_start().starts_with('{');
        prop_assert!(!report.is_valid() || object, "accepted {:?}", text);
        prop_assert!(parse_bot(&text).is_err() || object, "parsed {:?}", text);
    }
}
