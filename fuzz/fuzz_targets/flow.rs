//! A bot file (the admin API's `POST /v1/bots` body, `examples/*.json`) → parse → validate →
//! run it in the engine for a few turns.
//!
//! Properties: nothing panics, whether the flow is valid or not (drafts run in the Test
//! Runner); a report serialises; a flow the validator accepts starts and runs without an
//! error that validation exists to prevent (unknown component, invalid pattern, write to a
//! built-in, a waiting state that does not wait); a suspended turn survives JSON unchanged.
#![no_main]

use flow::{
    parse_bot, validate_bot, validate_flow_json, BotVersion, Engine, ExecutionError, HttpOutcome,
    Input, InputError, OutMessage, StartContext, Suspended, TurnError, TurnStep,
};
use libfuzzer_sys::fuzz_target;

/// Enough for a start, an HTTP call or two and a few answers.
const MAX_TURNS: usize = 12;
const ANSWERS: [&str; 6] = ["yes", "1", "42", "ada@example.com", "+15551234567", ""];

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let flow_only = validate_flow_json(json, &[]);
    serde_json::to_string(&flow_only).expect("a report serialises");
    let Ok(bot) = parse_bot(json) else {
        return;
    };
    let report = validate_bot(&bot);
    serde_json::to_string(&report).expect("a report serialises");
    run(&BotVersion::from_definition(bot), report.is_valid());
});

fn run(bot: &BotVersion, valid: bool) {
    let engine = Engine::default();
    let ctx = StartContext {
        session_id: "s-1".into(),
        user_identifier: "u-1".into(),
        channel: "api".into(),
        variables: Default::default(),
        message_payload: Some("hello".into()),
    };
    let mut step = engine.start(bot, ctx);
    for turn in 0..MAX_TURNS {
        match step {
            Ok(TurnStep::NeedsHttp { request, resume }) => {
                // Schemes are case-insensitive (RFC 3986 3.1), and so is the engine's check
                // (`flow::url`): `htTps://` is https. (The fuzzer found the old, case-sensitive
                // assertion wrong, seed `mixed-case-https-scheme.json`.)
                let scheme = request.url.split_once("://").map(|(scheme, _)| scheme);
                assert!(
                    scheme.is_some_and(|s| {
                        s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https")
                    }),
                    "an http call to a URL that is not http(s): {}",
                    request.url
                );
                let json = serde_json::to_string(&resume).expect("a suspended turn serialises");
                let back: Suspended = serde_json::from_str(&json).expect("and deserialises");
                assert_eq!(back, resume);
                let outcome = if turn % 2 == 0 {
                    HttpOutcome::Response {
                        status: 200,
                        body_json: Some(serde_json::json!({"status": "shipped", "n": 3})),
                    }
                } else {
                    HttpOutcome::Failed {
                        reason: "timeout".into(),
                    }
                };
                step = engine.resume(bot, back, outcome);
            }
            Ok(TurnStep::Complete(result)) => {
                assert_eq!(result.is_final, result.state.is_final());
                serde_json::to_string(&result).expect("a turn serialises");
                if result.is_final {
                    return;
                }
                let option = result.messages.iter().rev().find_map(|m| match m {
                    OutMessage::Buttons { options, .. } | OutMessage::List { options, .. } => {
                        options.get(turn % options.len().max(1))
                    }
                    _ => None,
                });
                let input = match option {
                    Some(option) if turn % 3 != 2 => Input::SelectedOption(option.id.clone()),
                    _ => Input::Text(ANSWERS[turn % ANSWERS.len()].to_owned()),
                };
                step = engine.advance(bot, result.state, input);
            }
            Err(TurnError::Input(error)) => {
                if valid {
                    assert!(
                        !matches!(error, InputError::NotWaiting { .. }),
                        "a valid flow stopped at a component that does not wait: {error}"
                    );
                }
                return;
            }
            Err(TurnError::Execution(failure)) => {
                if valid {
                    assert!(
                        matches!(
                            failure.error,
                            ExecutionError::StepLimitExceeded { .. }
                                | ExecutionError::HttpLimitExceeded { .. }
                                | ExecutionError::HttpFailed { .. }
                        ),
                        "a valid flow failed as validation should have prevented: {}",
                        failure.error
                    );
                }
                return;
            }
        }
    }
}
