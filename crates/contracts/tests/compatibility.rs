//! The rules of `proto/README.md`, as behaviour: what a v1 reader accepts and refuses, and that
//! the committed schemas say the same thing as the Rust types.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::json_schema::validate;
use common::{committed_schema, examples};
use contracts::v1::{decode, DecodeError, InboundEvent, OutboundWhatsapp, TurnReply};
use serde_json::{json, Value};

fn example(file: &str) -> Value {
    let contract = file.split('.').next().unwrap();
    examples(contract)
        .into_iter()
        .find(|(name, _)| name == file)
        .unwrap()
        .1
}

/// Decodes `json` as `T` and validates it against the committed schema; both must agree.
fn accepted<T: contracts::v1::Contract>(json: &Value) -> Result<T, DecodeError> {
    let errors = validate(&committed_schema(T::NAME), json);
    let decoded = decode::<T>(&serde_json::to_vec(json).unwrap());
    assert_eq!(
        errors.is_empty(),
        decoded.is_ok(),
        "schema and type disagree on {json}: schema says {errors:?}"
    );
    decoded
}

#[test]
fn a_newer_version_is_reported_as_such() {
    let mut event = example("inbound_event.api_text.json");
    event["schema"] = json!("v2");
    match accepted::<InboundEvent>(&event) {
        Err(DecodeError::UnsupportedVersion { found }) => assert_eq!(found, "v2"),
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    let mut reply = example("turn_reply.start.json");
    reply["schema"] = json!("v2");
    let err = accepted::<TurnReply>(&reply).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported schema version `v2` (this reader understands v1)"
    );
}

#[test]
fn a_message_without_version_is_malformed() {
    let mut event = example("inbound_event.api_text.json");
    event.as_object_mut().unwrap().remove("schema");
    let err = accepted::<InboundEvent>(&event).unwrap_err();
    assert!(matches!(err, DecodeError::Malformed(_)), "{err:?}");
    assert!(err.to_string().contains("missing field `schema`"), "{err}");
}

#[test]
fn envelopes_tolerate_an_added_optional_field() {
    // A newer producer may add an optional field before every consumer knows it.
    let mut event = example("inbound_event.whatsapp_text.json");
    event["priority"] = json!("high");
    event["whatsapp"]["business_account_id"] = json!("102290129340398");
    let decoded = accepted::<InboundEvent>(&event).unwrap();
    assert_eq!(decoded.session_id, "15551234567");

    let mut batch = example("outbound_whatsapp.buttons.json");
    batch["messages"][0]["preview_url"] = json!(true);
    accepted::<OutboundWhatsapp>(&batch).unwrap();

    let mut reply = example("turn_reply.invalid_option.json");
    reply["body"]["error"]["details"]["hint"] = json!("pick one of the listed ids");
    accepted::<TurnReply>(&reply).unwrap();
}

#[test]
fn instructions_refuse_fields_they_do_not_know() {
    // Ignoring these could run the wrong thing or answer the wrong place.
    let mut start = example("inbound_event.api_start.json");
    start["input"]["bot_version"] = json!(3);
    let err = accepted::<InboundEvent>(&start).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `bot_version`"),
        "{err}"
    );

    let mut reply_to = example("inbound_event.api_text.json");
    reply_to["reply"]["exchange"] = json!("gateway.replies");
    accepted::<InboundEvent>(&reply_to).unwrap_err();

    let mut idempotency = example("inbound_event.api_start.json");
    idempotency["idempotency"]["scope"] = json!("account");
    accepted::<InboundEvent>(&idempotency).unwrap_err();

    let mut template = example("outbound_whatsapp.buttons.json");
    template["fallback_template"]["parameters"] = json!(["Kerry"]);
    accepted::<OutboundWhatsapp>(&template).unwrap_err();
}

#[test]
fn unknown_variants_and_bad_values_are_refused() {
    let mut input = example("inbound_event.api_text.json");
    input["input"] = json!({"type": "voice_note", "media_id": "1"});
    accepted::<InboundEvent>(&input).unwrap_err();

    let mut message = example("turn_reply.start.json");
    message["body"]["messages"][0] = json!({"type": "carousel", "text": "x"});
    accepted::<TurnReply>(&message).unwrap_err();

    let mut channel = example("inbound_event.api_text.json");
    channel["channel"] = json!("telegram");
    accepted::<InboundEvent>(&channel).unwrap_err();

    let mut id = example("inbound_event.api_text.json");
    id["integration_id"] = json!(0);
    accepted::<InboundEvent>(&id).unwrap_err();

    let mut status = example("turn_reply.start.json");
    status["status"] = json!(7000);
    accepted::<TurnReply>(&status).unwrap_err();

    let mut recipient = example("outbound_whatsapp.buttons.json");
    recipient["to"] = json!({"wa_id": "15551234567", "user_id": "US.1"});
    accepted::<OutboundWhatsapp>(&recipient).unwrap_err();

    let mut media = example("outbound_whatsapp.user_id_list_media.json");
    media["messages"][0]["media_type"] = json!("sticker");
    accepted::<OutboundWhatsapp>(&media).unwrap_err();
}

#[test]
fn a_malformed_reply_body_says_what_is_wrong() {
    let mut reply = example("turn_reply.session_exists.json");
    reply["body"]["error"]
        .as_object_mut()
        .unwrap()
        .remove("message");
    let err = accepted::<TurnReply>(&reply).unwrap_err();
    assert!(err.to_string().contains("missing field `message`"), "{err}");

    let mut success = example("turn_reply.start.json");
    success["body"].as_object_mut().unwrap().remove("is_final");
    let err = accepted::<TurnReply>(&success).unwrap_err();
    assert!(
        err.to_string().contains("missing field `is_final`"),
        "{err}"
    );
}
