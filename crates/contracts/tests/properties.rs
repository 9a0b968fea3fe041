//! Properties of the v1 wire format and the validated ids (the fuzz target
//! `fuzz/fuzz_targets/api_bodies.rs` checks the same on arbitrary bytes): a message encodes to
//! JSON that the committed schema accepts and that decodes to the same message; bytes that are
//! not a message are refused with an error, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::committed_schema;
use common::json_schema::validate;
use contracts::v1::{
    decode, encode, Channel, Contract, ConversationKey, DecodeError, InboundEvent,
    InboundMediaType, Input, SchemaVersion, WhatsappContext,
};
use contracts::{IntegrationId, PhoneNumber};
use proptest::prelude::*;

/// Any text, control characters and astral planes included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z0-9 ]{0,8}", Just("\u{0}".to_owned())]
}

fn input() -> impl Strategy<Value = Input> {
    let media_type = prop::sample::select(vec![
        InboundMediaType::Image,
        InboundMediaType::Audio,
        InboundMediaType::Video,
        InboundMediaType::Document,
        InboundMediaType::Sticker,
    ]);
    prop_oneof![
        (
            any::<bool>(),
            prop::collection::btree_map("[a-z_]{1,8}", text(), 0..4),
            prop::option::of(text())
        )
            .prop_map(|(force_restart, variables, message_payload)| Input::Start {
                force_restart,
                variables,
                message_payload
            }),
        text().prop_map(|text| Input::Text { text }),
        text().prop_map(|option_id| Input::SelectedOption { option_id }),
        (media_type, text(), prop::option::of(text())).prop_map(
            |(media_type, media_id, caption)| Input::Media {
                media_type,
                media_id,
                caption
            }
        ),
        (
            // Meta's JSON may carry any number; the event must keep it exactly.
            any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()),
            -180.0..=180.0f64,
            prop::option::of(text()),
            prop::option::of(text())
        )
            .prop_map(|(latitude, longitude, name, address)| Input::Location {
                latitude,
                longitude,
                name,
                address
            }),
        text().prop_map(|kind| Input::Unsupported { kind }),
    ]
}

fn whatsapp_event() -> impl Strategy<Value = InboundEvent> {
    (
        1..=i64::MAX,
        "[0-9]{1,16}",
        "[0-9]{7,15}",
        prop::option::of(text()),
        text(),
        any::<i64>(),
        input(),
    )
        .prop_map(
            |(id, phone_number_id, wa_id, profile_name, wamid, received_at_unix_ms, input)| {
                let integration_id = IntegrationId::new(id).unwrap();
                InboundEvent {
                    schema: SchemaVersion::V1,
                    event_id: wamid.clone(),
                    integration_id,
                    channel: Channel::Whatsapp,
                    conversation_key: ConversationKey::whatsapp(
                        integration_id,
                        &phone_number_id,
                        &wa_id,
                    ),
                    session_id: wa_id.clone(),
                    user_identifier: wa_id.clone(),
                    received_at_unix_ms,
                    input,
                    reply: None,
                    idempotency: None,
                    whatsapp: Some(WhatsappContext {
                        phone_number_id,
                        wa_id: Some(wa_id),
                        user_id: None,
                        profile_name,
                        inbound_message_id: wamid,
                    }),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn events_round_trip_through_the_wire_format(event in whatsapp_event()) {
        let bytes = encode(&event).unwrap();
        let decoded: InboundEvent = decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &event);
        prop_assert_eq!(encode(&decoded).unwrap(), bytes.clone());
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let errors = validate(&committed_schema(InboundEvent::NAME), &json);
        prop_assert!(errors.is_empty(), "the schema refuses {}: {:?}", json, errors);
    }

    #[test]
    fn bytes_that_are_no_message_are_refused_not_panicked_on(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode::<InboundEvent>(&bytes);
    }

    #[test]
    fn another_schema_version_is_told_apart(event in whatsapp_event(), version in "v[2-9]|[a-z]{1,4}") {
        let mut json = serde_json::to_value(&event).unwrap();
        json["schema"] = serde_json::Value::String(version.clone());
        let refused = decode::<InboundEvent>(&serde_json::to_vec(&json).unwrap()).unwrap_err();
        prop_assert!(
            matches!(&refused, DecodeError::UnsupportedVersion { found } if *found == version),
            "{:?}", refused
        );
    }

    #[test]
    fn ids_are_the_positive_integers(raw in any::<i64>()) {
        prop_assert_eq!(IntegrationId::new(raw).is_ok(), raw > 0);
        if let Ok(id) = IntegrationId::new(raw) {
            prop_assert_eq!(id.to_string().parse::<IntegrationId>().unwrap(), id);
        }
    }

    #[test]
    fn phone_numbers_keep_their_digits_whatever_the_punctuation(
        digits in "[1-9][0-9]{6,14}",
        plus in any::<bool>(),
        separators in prop::collection::vec(prop::sample::select(vec!["", " ", "-", ".", "(", ")"]), 15),
    ) {
        let mut written = String::from(if plus { "+" } else { "" });
        for (digit, separator) in digits.chars().zip(separators) {
            written.push(digit);
            written.push_str(separator);
        }
        let phone: PhoneNumber = written.parse().unwrap();
        prop_assert_eq!(phone.as_str(), digits.as_str());
        prop_assert_eq!(phone.to_string().parse::<PhoneNumber>().unwrap(), phone);
    }

    #[test]
    fn anything_that_parses_as_a_phone_number_is_7_to_15_digits(raw in "\\PC{0,24}") {
        if let Ok(phone) = raw.parse::<PhoneNumber>() {
            prop_assert!((7..=15).contains(&phone.as_str().len()));
            prop_assert!(phone.as_str().bytes().all(|b| b.is_ascii_digit()));
        }
    }
}

/// Found by `events_round_trip_through_the_wire_format`: without serde_json's
/// `float_roundtrip`, this longitude read back one unit in the last place off
/// (-90.17398767724204), so the executor saw another location than the ingress wrote.
#[test]
fn a_location_reads_back_exactly() {
    for longitude in [
        -90.17398767724205,
        0.1 + 0.2,
        f64::MIN_POSITIVE,
        1.7976931348623157e308,
    ] {
        let input = Input::Location {
            latitude: 0.0,
            longitude,
            name: None,
            address: None,
        };
        let json = serde_json::to_vec(&input).unwrap();
        assert_eq!(serde_json::from_slice::<Input>(&json).unwrap(), input);
    }
}
