//! Every example under `proto/v1/examples/` is valid against the committed schema, decodes into
//! its Rust type, and encodes back to exactly the same JSON (so no field is silently dropped or
//! added). File names are `<contract>.<case>.json`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::json_schema::validate;
use common::{committed_schema, examples, proto_v1};
use contracts::v1::{
    decode, encode, BotMessage, Contract, InboundEvent, OutboundWhatsapp, TurnReply, WindowFallback,
};

/// Checks each example of `T` and returns them decoded.
fn check_examples<T: Contract + std::fmt::Debug>() -> Vec<T> {
    let schema = committed_schema(T::NAME);
    let found = examples(T::NAME);
    assert!(!found.is_empty(), "no examples for {}", T::NAME);
    found
        .into_iter()
        .map(|(file, json)| {
            let errors = validate(&schema, &json);
            assert!(
                errors.is_empty(),
                "{file} violates {}.schema.json: {errors:#?}",
                T::NAME
            );
            let bytes = serde_json::to_vec(&json).unwrap();
            let decoded: T = decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
            let again: serde_json::Value =
                serde_json::from_slice(&encode(&decoded).unwrap()).unwrap();
            assert_eq!(again, json, "{file} does not survive a round trip");
            decoded
        })
        .collect()
}

fn type_tags<'a>(values: impl IntoIterator<Item = &'a serde_json::Value>) -> BTreeSet<String> {
    values
        .into_iter()
        .map(|v| v["type"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn inbound_event_examples_cover_every_input() {
    let events = check_examples::<InboundEvent>();
    let inputs: Vec<_> = events
        .iter()
        .map(|e| serde_json::to_value(&e.input).unwrap())
        .collect();
    let expected = [
        "location",
        "media",
        "proactive_start",
        "selected_option",
        "start",
        "text",
        "unsupported",
    ];
    assert_eq!(type_tags(&inputs), expected.map(String::from).into());
    assert!(events
        .iter()
        .any(|e| e.whatsapp.as_ref().is_some_and(|w| w.wa_id.is_none())));
    assert!(events.iter().any(|e| e.idempotency.is_some()));
}

#[test]
fn bot_message_examples_cover_every_type() {
    let messages = check_examples::<BotMessage>();
    let values: Vec<_> = messages
        .iter()
        .map(|m| serde_json::to_value(m).unwrap())
        .collect();
    let expected = ["buttons", "list", "media", "text"];
    assert_eq!(type_tags(&values), expected.map(String::from).into());
}

#[test]
fn turn_reply_examples_cover_success_and_errors() {
    let replies = check_examples::<TurnReply>();
    let statuses: BTreeSet<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 404, 409, 422, 500].into());
    for reply in &replies {
        let is_session = matches!(reply.body, contracts::v1::TurnReplyBody::Session(_));
        assert_eq!(reply.is_success(), is_session, "{reply:?}");
    }
}

#[test]
fn outbound_whatsapp_examples() {
    let batches = check_examples::<OutboundWhatsapp>();
    let messages: Vec<_> = batches
        .iter()
        .flat_map(|b| b.messages.iter().map(|m| serde_json::to_value(m).unwrap()))
        .collect();
    assert_eq!(
        type_tags(&messages).len(),
        4,
        "every message type in some batch"
    );
}

#[test]
fn window_fallback_examples() {
    let requests = check_examples::<WindowFallback>();
    assert!(requests
        .iter()
        .all(|r| r.event_id == WindowFallback::event_id_for(&r.failed_batch)));
    // Never mistaken for a batch on the shared queue.
    for (file, json) in examples(WindowFallback::NAME) {
        let bytes = serde_json::to_vec(&json).unwrap();
        assert!(decode::<OutboundWhatsapp>(&bytes).is_err(), "{file}");
    }
}

#[test]
fn every_example_belongs_to_a_contract() {
    let known = [
        InboundEvent::NAME,
        BotMessage::NAME,
        TurnReply::NAME,
        OutboundWhatsapp::NAME,
        WindowFallback::NAME,
    ];
    for entry in std::fs::read_dir(proto_v1().join("examples")).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        let contract = file.split('.').next().unwrap();
        assert!(known.contains(&contract), "{file} names no contract");
    }
}
