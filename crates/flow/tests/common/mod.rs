//! Helpers shared by the engine tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use flow::{
    parse_flow_value, BotVersion, Engine, Input, OutMessage, SessionState, StartContext, TurnError,
    TurnResult, TurnStep, VariableDecl,
};
use serde_json::Value;

/// A bot from a flow JSON and `(name, default)` declarations.
pub fn bot(flow: Value, variables: &[(&str, Option<&str>)]) -> BotVersion {
    let decls = variables
        .iter()
        .map(|(n, d)| VariableDecl::new(*n, *d))
        .collect();
    BotVersion::new(decls, parse_flow_value(flow).unwrap())
}

pub fn ctx() -> StartContext {
    StartContext {
        session_id: "s-1".into(),
        user_identifier: "u-1".into(),
        channel: "api".into(),
        variables: BTreeMap::new(),
        message_payload: None,
    }
}

pub fn complete(step: Result<TurnStep, TurnError>) -> TurnResult {
    match step.unwrap() {
        TurnStep::Complete(result) => result,
        TurnStep::NeedsHttp { request, .. } => panic!("unexpected http call {request:?}"),
    }
}

pub fn start(bot: &BotVersion) -> TurnResult {
    complete(Engine::default().start(bot, ctx()))
}

pub fn text(bot: &BotVersion, state: &SessionState, text: &str) -> TurnResult {
    complete(Engine::default().advance(bot, state.clone(), Input::Text(text.into())))
}

pub fn option(bot: &BotVersion, state: &SessionState, id: &str) -> TurnResult {
    complete(Engine::default().advance(bot, state.clone(), Input::SelectedOption(id.into())))
}

/// The text of every message (for media: the caption).
pub fn texts(result: &TurnResult) -> Vec<String> {
    result
        .messages
        .iter()
        .map(|m| match m {
            OutMessage::Text { text }
            | OutMessage::Buttons { text, .. }
            | OutMessage::List { text, .. }
            | OutMessage::Media { text, .. } => text.clone(),
        })
        .collect()
}

pub fn path(result: &TurnResult) -> Vec<&str> {
    result.path.iter().map(|v| v.id.as_str()).collect()
}

pub fn var<'a>(result: &'a TurnResult, name: &str) -> Option<&'a str> {
    result.state.variables.get(name).map(String::as_str)
}
