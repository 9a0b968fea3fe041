//! The API gateway's two request bodies (`requests.rs` of api-gateway, compiled in here) and
//! the v1 messages that cross the broker (`contracts::v1`), from the same bytes.
//!
//! Properties: nothing panics; a body either decodes or gives a 4xx error; a decoded body's
//! canonical JSON (the Idempotency-Key fingerprint's input) decodes again to itself; a decoded
//! v1 message encodes to JSON that decodes to an equal message; ids and phone numbers that
//! parse print as text that parses to the same value.
#![no_main]

use std::fmt::Debug;
use std::str::FromStr;

#[path = "../../services/api-gateway/src/requests.rs"]
#[allow(dead_code)]
mod requests;

use contracts::v1::{self, BotMessage, Contract, InboundEvent, OutboundWhatsapp, TurnReply};
use contracts::{IntegrationId, PhoneNumber};
use libfuzzer_sys::fuzz_target;
use requests::{checked_session_id, BodyLimits, SendMessage, StartSession};

fuzz_target!(|body: &[u8]| {
    match StartSession::parse(body, &BodyLimits::default()) {
        Ok((start, canonical)) => {
            assert!(canonical.is_object());
            if let Some(id) = &start.session_id {
                assert!(checked_session_id(id).is_ok());
            }
            if let Err(error) = start.variables_as_text() {
                assert_client_error(error.status.as_u16(), &error.message);
            }
            let again = serde_json::to_vec(&canonical).expect("JSON serialises");
            let (_, recanonical) = StartSession::parse(&again, &BodyLimits::default())
                .expect("the canonical body parses");
            assert_eq!(recanonical, canonical, "the canonical JSON is not stable");
        }
        Err(error) => assert_client_error(error.status.as_u16(), &error.message),
    }
    match SendMessage::parse(body, &BodyLimits::default()) {
        Ok((_, canonical)) => {
            let again = serde_json::to_vec(&canonical).expect("JSON serialises");
            let (_, recanonical) = SendMessage::parse(&again, &BodyLimits::default())
                .expect("the canonical body parses");
            assert_eq!(recanonical, canonical, "the canonical JSON is not stable");
        }
        Err(error) => assert_client_error(error.status.as_u16(), &error.message),
    }
    round_trip::<InboundEvent>(body);
    round_trip::<BotMessage>(body);
    round_trip::<TurnReply>(body);
    round_trip::<OutboundWhatsapp>(body);
    if let Ok(text) = std::str::from_utf8(body) {
        reparses::<IntegrationId>(text);
        reparses::<PhoneNumber>(text);
    }
});

fn round_trip<T: Contract + PartialEq + Debug>(bytes: &[u8]) {
    let Ok(message) = v1::decode::<T>(bytes) else {
        return;
    };
    let encoded = v1::encode(&message).expect("a v1 message serialises");
    let decoded: T = v1::decode(&encoded).unwrap_or_else(|e| {
        panic!(
            "encoded message does not decode: {e}\n{}",
            String::from_utf8_lossy(&encoded)
        )
    });
    assert_eq!(decoded, message, "the message changed through JSON");
}

fn reparses<T: FromStr + ToString + PartialEq + Debug>(text: &str) {
    if let Ok(value) = text.parse::<T>() {
        let printed = value.to_string();
        assert_eq!(printed.parse::<T>().ok(), Some(value), "{printed:?}");
    }
}

fn assert_client_error(status: u16, message: &str) {
    assert!(
        (400..500).contains(&status),
        "a bad body must be a 4xx, got {status}: {message}"
    );
}
