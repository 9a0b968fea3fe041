#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The shipped example bot must always be valid.

use flow::{parse_bot, validate_bot, ComponentType};

const DEMO_BOT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/demo-bot.json"
));

#[test]
fn the_demo_bot_validates_without_errors_or_warnings() {
    let bot = parse_bot(DEMO_BOT).unwrap();
    assert_eq!(bot.name, "Demo Bot");
    let report = validate_bot(&bot);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
}

#[test]
fn the_demo_bot_shows_every_required_component_type() {
    let bot = parse_bot(DEMO_BOT).unwrap();
    let types: Vec<ComponentType> = bot
        .flow
        .components
        .iter()
        .map(|c| c.component_type())
        .collect();
    for required in [
        ComponentType::Text,
        ComponentType::Buttons,
        ComponentType::List,
        ComponentType::QuestionText,
        ComponentType::Condition,
        ComponentType::SetVariable,
        ComponentType::End,
    ] {
        assert!(
            types.contains(&required),
            "demo bot lacks a {required} component"
        );
    }
    let list_options = bot
        .flow
        .components
        .iter()
        .filter(|c| c.component_type() == ComponentType::List)
        .filter_map(|c| c.options())
        .map(|o| o.len())
        .max();
    assert!(list_options >= Some(4));
    let validated_question = bot
        .flow
        .components
        .iter()
        .any(|c| matches!(c, flow::Component::QuestionText(q) if q.validation.is_some()));
    assert!(validated_question);
}

const FLOW_FORMAT_DOC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/flow-format.md"
));

#[test]
fn the_example_in_the_format_documentation_is_valid() {
    let example = FLOW_FORMAT_DOC
        .split("## Example")
        .nth(1)
        .expect("an Example section");
    let json = example
        .split("```json")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a json block");
    let bot = parse_bot(json).unwrap();
    let report = validate_bot(&bot);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
}
