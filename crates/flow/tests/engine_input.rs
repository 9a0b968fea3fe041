#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Waiting components taking the user's input: validation, retries, option matching, errors.

mod common;

use common::{bot, complete, option, path, start, text, texts, var};
use flow::{
    parse_bot, BotVersion, Engine, Input, InputError, SessionState, TurnError, VariableChange,
    VisitEvent,
};
use serde_json::{json, Value};

fn question(validation: Value, retry_text: Option<&str>) -> BotVersion {
    let mut q = json!({"id": "q", "type": "question_text", "text": "Your answer?", "variable": "answer", "next": "z"});
    if !validation.is_null() {
        q["validation"] = validation;
    }
    if let Some(retry) = retry_text {
        q["retry_text"] = json!(retry);
    }
    bot(
        json!({"start": "q", "components": [q, {"id": "z", "type": "end", "text": "Got {{answer}}"}]}),
        &[("answer", None)],
    )
}

/// Sends `answer` to a fresh session; `Ok(stored)` when accepted, `Err(reply)` when re-prompted.
fn answer(bot: &BotVersion, answer: &str) -> Result<String, String> {
    let waiting = start(bot);
    let result = text(bot, &waiting.state, answer);
    if result.is_final {
        Ok(var(&result, "answer").unwrap().to_owned())
    } else {
        assert_eq!(result.state.current.as_deref(), Some("q"));
        assert_eq!(
            result.state.variables, waiting.state.variables,
            "a re-prompt changes no variable"
        );
        Err(texts(&result).join(""))
    }
}

#[test]
fn answers_without_validation_are_trimmed_and_stored() {
    let bot = question(Value::Null, None);
    assert_eq!(
        answer(&bot, "  anything goes  "),
        Ok("anything goes".into())
    );
    assert_eq!(
        answer(&bot, "   "),
        Err("Your answer?".into()),
        "an empty answer re-prompts"
    );
}

#[test]
fn number_validation() {
    let bot = question(json!({"kind": "number"}), Some("A number, please."));
    for good in ["42", " -3.5 ", "3,5", "+7"] {
        assert_eq!(answer(&bot, good), Ok(good.trim().to_owned()));
    }
    for bad in ["forty", "1.2.3", "1e3", ""] {
        assert_eq!(answer(&bot, bad), Err("A number, please.".into()), "{bad}");
    }
}

#[test]
fn email_validation() {
    let bot = question(json!({"kind": "email"}), None);
    assert_eq!(
        answer(&bot, "ada@example.com"),
        Ok("ada@example.com".into())
    );
    for bad in ["ada@example", "ada example.com", "@example.com"] {
        assert_eq!(
            answer(&bot, bad),
            Err("Your answer?".into()),
            "{bad}: re-sends the prompt without retry_text"
        );
    }
}

#[test]
fn phone_validation() {
    let bot = question(json!({"kind": "phone"}), Some("Phone please"));
    assert_eq!(
        answer(&bot, "+49 170 1234567"),
        Ok("+49 170 1234567".into())
    );
    for bad in ["12345", "call me", "+49 170 12345678901234"] {
        assert_eq!(answer(&bot, bad), Err("Phone please".into()), "{bad}");
    }
}

#[test]
fn regex_validation_matches_the_whole_answer() {
    let bot = question(
        json!({"kind": "regex", "pattern": r"ORD-\d{3}"}),
        Some("Like ORD-123, {{answer}}"),
    );
    assert_eq!(answer(&bot, "ORD-123"), Ok("ORD-123".into()));
    assert_eq!(answer(&bot, "my ORD-123"), Err("Like ORD-123, ".into()));
    assert_eq!(answer(&bot, "ORD-1234"), Err("Like ORD-123, ".into()));
}

#[test]
fn retries_are_counted_and_reset() {
    let bot = question(json!({"kind": "number"}), Some("Again"));
    let mut state = start(&bot).state;
    assert_eq!(state.retries, 0);
    for expected in 1..=3 {
        let result = text(&bot, &state, "nope");
        assert_eq!(result.state.retries, expected);
        let visit = &result.path[0];
        assert_eq!(
            (visit.event, visit.waits_for_input),
            (VisitEvent::Reprompted, true)
        );
        assert_eq!(
            visit.detail.as_deref(),
            Some("the answer fails number validation")
        );
        assert!(result.variable_changes.is_empty());
        state = result.state;
    }
    let result = text(&bot, &state, "5");
    assert_eq!(result.state.retries, 0);
    assert_eq!(texts(&result), vec!["Got 5"]);
    assert_eq!(path(&result), vec!["q", "z"]);
    assert_eq!(result.path[0].event, VisitEvent::Answered);
    assert_eq!(
        result.variable_changes,
        vec![
            VariableChange {
                name: "answer".into(),
                from: None,
                to: Some("5".into())
            },
            VariableChange {
                name: "last_input".into(),
                from: None,
                to: Some("5".into())
            },
        ]
    );
}

fn menu() -> BotVersion {
    bot(
        json!({"start": "m", "components": [
            {"id": "m", "type": "buttons", "text": "Menu for {{name}}", "options": [
                {"id": "opt_pizza", "title": "Pizza", "next": "p"},
                {"id": "opt_named", "title": "For {{name}}", "next": "n"}]},
            {"id": "p", "type": "end", "text": "pizza"},
            {"id": "n", "type": "end", "text": "named"}
        ]}),
        &[("name", Some("Ada"))],
    )
}

#[test]
fn an_option_is_chosen_by_id_or_by_its_title() {
    let bot = menu();
    let state = start(&bot).state;
    let by_id = option(&bot, &state, "opt_pizza");
    assert_eq!(texts(&by_id), vec!["pizza"]);
    assert_eq!(var(&by_id, "last_input"), Some("Pizza"));
    assert_eq!(
        by_id.path[0].detail.as_deref(),
        Some("option \"opt_pizza\" chosen → \"p\"")
    );
    assert_eq!(texts(&text(&bot, &state, "  pIZZA ")), vec!["pizza"]);
    assert_eq!(
        texts(&text(&bot, &state, "for ada")),
        vec!["named"],
        "titles match once rendered"
    );
}

#[test]
fn unmatched_text_re_sends_the_prompt_and_keeps_the_state() {
    let bot = menu();
    let state = start(&bot).state;
    let result = text(&bot, &state, "Pasta");
    assert_eq!(result.state.current, state.current);
    assert_eq!(result.state.variables, state.variables);
    assert_eq!(result.state.retries, 1);
    assert_eq!(
        serde_json::to_value(&result.messages).unwrap(),
        json!([{"type": "buttons", "text": "Menu for Ada", "options": [
            {"id": "opt_pizza", "text": "Pizza"}, {"id": "opt_named", "text": "For Ada"}]}])
    );
    assert_eq!(
        result.path[0].detail.as_deref(),
        Some("no option matches \"Pasta\"")
    );
    assert!(!result.is_final);
}

#[test]
fn an_option_id_not_offered_here_is_an_input_error() {
    let bot = menu();
    let state = start(&bot).state;
    let err = Engine::default()
        .advance(&bot, state, Input::SelectedOption("opt_other".into()))
        .unwrap_err();
    assert_eq!(
        err,
        TurnError::Input(InputError::InvalidOption {
            component: "m".into(),
            option: "opt_other".into(),
            valid_ids: vec!["opt_pizza".into(), "opt_named".into()],
        })
    );
    assert_eq!(
        err.to_string(),
        "option \"opt_other\" is not offered here; valid options: opt_pizza, opt_named"
    );
}

#[test]
fn wrong_kinds_of_input_are_input_errors() {
    let bot = question(Value::Null, None);
    let state = start(&bot).state;
    let engine = Engine::default();
    assert_eq!(
        engine
            .advance(&bot, state, Input::SelectedOption("x".into()))
            .unwrap_err(),
        TurnError::Input(InputError::TextExpected {
            component: "q".into()
        })
    );
    let finished = SessionState {
        current: None,
        ..SessionState::default()
    };
    assert_eq!(
        engine
            .advance(&bot, finished, Input::Text("hi".into()))
            .unwrap_err(),
        TurnError::Input(InputError::SessionFinished)
    );
    let at_end = SessionState {
        current: Some("z".into()),
        ..SessionState::default()
    };
    assert_eq!(
        engine
            .advance(&bot, at_end, Input::Text("hi".into()))
            .unwrap_err(),
        TurnError::Input(InputError::NotWaiting {
            component: "z".into()
        })
    );
}

#[test]
fn options_sent_as_numbered_text_accept_their_number() {
    let options: Vec<Value> = (1..=11)
        .map(|i| json!({"id": format!("o{i}"), "title": format!("Item {i}"), "next": "z"}))
        .collect();
    let long = bot(
        json!({"start": "l", "components": [
            {"id": "l", "type": "list", "text": "Pick", "options": options},
            {"id": "z", "type": "end", "text": "{{last_input}}"}]}),
        &[],
    );
    let state = start(&long).state;
    assert_eq!(texts(&text(&long, &state, "11")), vec!["Item 11"]);
    assert_eq!(texts(&text(&long, &state, " 2 ")), vec!["Item 2"]);
    assert!(!text(&long, &state, "0").is_final);
    assert!(!text(&long, &state, "12").is_final);

    let short = bot(
        json!({"start": "l", "components": [
            {"id": "l", "type": "list", "text": "Pick", "options": [{"id": "a", "title": "A", "next": "z"}]},
            {"id": "z", "type": "end"}]}),
        &[],
    );
    assert!(
        !text(&short, &start(&short).state, "1").is_final,
        "numbers only for numbered text"
    );
}

#[test]
fn the_session_state_round_trips_through_json() {
    let bot = menu();
    let state = start(&bot).state;
    let stored = serde_json::to_string(&state).unwrap();
    let loaded: SessionState = serde_json::from_str(&stored).unwrap();
    assert_eq!(loaded, state);
    let minimal: SessionState = serde_json::from_str(r#"{"current": "m"}"#).unwrap();
    assert_eq!(texts(&option(&bot, &minimal, "opt_pizza")), vec!["pizza"]);
}

#[test]
fn a_whole_conversation_with_the_demo_bot() {
    let demo = parse_bot(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/demo-bot.json"
    )))
    .unwrap();
    let bot = BotVersion::from_definition(demo);
    let r = start(&bot);
    assert_eq!(
        texts(&r),
        vec!["Welcome to Demo Pizza! 🍕", "What's your name?"]
    );
    assert_eq!(path(&r), vec!["welcome", "known_customer", "ask_name"]);
    let r = text(&bot, &r.state, "Ada");
    assert_eq!(texts(&r), vec!["Hi Ada! What would you like to do?"]);
    let r = text(&bot, &r.state, "opening hours");
    assert_eq!(
        texts(&r),
        vec![
            "We bake every day from 11:00 to 23:00.",
            "Hi Ada! What would you like to do?"
        ]
    );
    let r = option(&bot, &r.state, "component_id_xyz");
    assert_eq!(r.state.current.as_deref(), Some("choose_pizza"));
    let r = option(&bot, &r.state, "pizza_funghi");
    assert_eq!(texts(&r), vec!["How many Funghi pizzas?"]);
    let r = text(&bot, &r.state, "many");
    assert_eq!(
        texts(&r),
        vec!["Please answer with a number, for example 2."]
    );
    let r = text(&bot, &r.state, "12");
    assert_eq!(
        texts(&r),
        vec![
            "We can bake between 1 and 10 pizzas per order.",
            "How many Funghi pizzas?"
        ]
    );
    let r = text(&bot, &r.state, "2");
    assert_eq!(texts(&r), vec!["Which phone number can the driver call?"]);
    let r = text(&bot, &r.state, "+49 170 1234567");
    assert_eq!(
        texts(&r),
        vec!["Please confirm your order: 2 × Funghi for Ada (+49 170 1234567)"]
    );
    let r = text(&bot, &r.state, "confirm");
    assert_eq!(
        texts(&r),
        vec![
            "Thanks Ada! Your Funghi is in the oven.",
            "Order confirmed: 2 × Funghi for Ada (+49 170 1234567). See you soon!"
        ]
    );
    assert!(r.is_final && r.state.current.is_none());
    assert_eq!(path(&r), vec!["confirm_order", "order_photo", "order_done"]);
}

#[test]
fn the_demo_bot_skips_the_name_question_for_an_injected_name() {
    let bot = BotVersion::from_definition(
        parse_bot(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/demo-bot.json"
        )))
        .unwrap(),
    );
    let mut ctx = common::ctx();
    ctx.variables.insert("customer_name".into(), "Grace".into());
    let r = complete(Engine::default().start(&bot, ctx));
    assert_eq!(r.state.current.as_deref(), Some("main_menu"));
    assert_eq!(texts(&r)[1], "Hi Grace! What would you like to do?");
}
