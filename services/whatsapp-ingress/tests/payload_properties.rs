//! Properties of the webhook parser and normaliser on generated Meta payloads (the fuzz target
//! `fuzz/fuzz_targets/webhook.rs` walks whole bodies from arbitrary bytes): whatever Meta
//! sends, nothing panics; a message yields exactly one event or one receipt; an event carries
//! a usable conversation and round-trips through the v1 wire format unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use contracts::v1::{decode, encode, InboundEvent};
use contracts::IntegrationId;
use proptest::prelude::*;
use serde_json::{json, Value};
use whatsapp_ingress::payload::{Contact, Envelope, Message, WHATSAPP_OBJECT};
use whatsapp_ingress::process::{plan_message, plan_statuses, Destination, Plan};

const TYPES: [&str; 13] = [
    "text",
    "interactive",
    "button",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "system",
    "reaction",
    "unsupported",
    "poll_vote",
];

/// Strings Meta might send, and some it should not: empty, spaces, NUL, long, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{7,15}",
        "[a-zA-Z0-9 .:_-]{0,12}",
        any::<String>(),
        Just(String::new()),
        Just("   ".to_owned()),
        Just("\u{0}".to_owned()),
        "[0-9]{256,300}",
    ]
}

/// A field that is absent (`null` here, which serde reads as absent for `Option`), a string,
/// or a value of the wrong type.
fn field(strategy: impl Strategy<Value = String>) -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => strategy.prop_map(Value::String),
        1 => Just(Value::Null),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(json!({"nested": true})),
    ]
}

fn message() -> impl Strategy<Value = Value> {
    (
        field(text()),
        field(text()),
        field(text()),
        prop::sample::select(TYPES.to_vec()),
        field(text()),
        prop_oneof![
            Just(json!(null)),
            Just(json!("1697043223")),
            Just(json!(1697043223)),
            Just(json!("soon")),
            Just(json!(1e300)),
        ],
        (
            any::<f64>().prop_filter("finite", |f| f.is_finite()),
            -180.0..180.0f64,
        ),
        prop::sample::select(vec!["button_reply", "list_reply", "nfm_reply", ""]),
    )
        .prop_map(
            |(id, from, from_user_id, kind, content, timestamp, (lat, lon), reply)| {
                json!({
                    "id": id,
                    "from": from,
                    "from_user_id": from_user_id,
                    "timestamp": timestamp,
                    "type": kind,
                    "text": {"body": content},
                    "interactive": {"type": reply, reply: {"id": content, "title": "T"}},
                    "button": {"text": content, "payload": "p"},
                    "image": {"id": content, "caption": content},
                    "audio": {"id": content},
                    "video": {"id": content},
                    "document": {"id": content},
                    "sticker": {"id": content},
                    "location": {"latitude": lat, "longitude": lon, "name": content},
                    "system": {"body": content},
                })
            },
        )
        // Drop some bodies, so that a message may lack what its type promises.
        .prop_flat_map(|message| {
            let keys: Vec<String> = message.as_object().unwrap().keys().cloned().collect();
            prop::collection::vec(prop::sample::select(keys), 0..4).prop_map(move |drop| {
                let mut message = message.clone();
                for key in drop {
                    message.as_object_mut().unwrap().remove(&key);
                }
                message
            })
        })
}

fn contact() -> impl Strategy<Value = Value> {
    (field(text()), field(text()), field(text())).prop_map(|(wa_id, user_id, name)| {
        json!({"wa_id": wa_id, "user_id": user_id, "profile": {"name": name}})
    })
}

fn integration() -> IntegrationId {
    IntegrationId::new(7).unwrap()
}

fn check_event(event: &InboundEvent) -> Result<(), TestCaseError> {
    let bytes = encode(event).unwrap();
    let decoded: InboundEvent = decode(&bytes).unwrap();
    prop_assert_eq!(&decoded, event);
    prop_assert_eq!(encode(&decoded).unwrap(), bytes);
    let whatsapp = event.whatsapp.as_ref().unwrap();
    prop_assert!(!event.session_id.trim().is_empty() && event.session_id.len() <= 255);
    prop_assert_eq!(
        Some(event.session_id.as_str()),
        whatsapp.wa_id.as_deref().or(whatsapp.user_id.as_deref())
    );
    prop_assert_eq!(&event.event_id, &whatsapp.inbound_message_id);
    prop_assert_eq!(
        event.conversation_key.as_str(),
        format!(
            "{}:{}:{}",
            integration(),
            whatsapp.phone_number_id,
            event.session_id
        )
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_message_yields_one_event_or_one_receipt(
        raw in message(),
        contacts in prop::collection::vec(contact(), 0..3),
        allowed in prop::sample::select(vec![vec![], vec!["+1 555 123 4567".to_owned()]]),
    ) {
        let Ok(message) = serde_json::from_value::<Message>(raw) else {
            return Ok(()); // an error receipt in `plan`
        };
        let contacts: Vec<Contact> = contacts
            .into_iter()
            .filter_map(|c| serde_json::from_value(c).ok())
            .collect();
        let mut plan = Plan::default();
        let destination = Destination {
            integration: integration(),
            trigger_recipients: &allowed,
            phone_number_id: "1122334455",
        };
        plan_message(&mut plan, &destination, &contacts, message, 1, 1);
        prop_assert_eq!(plan.events.len() + plan.receipts.len(), 1);
        for planned in &plan.events {
            check_event(&planned.event)?;
            if !allowed.is_empty() {
                prop_assert_eq!(planned.event.whatsapp.as_ref().unwrap().wa_id.as_deref(), Some("15551234567"));
            }
        }
        for receipt in &plan.receipts {
            serde_json::to_vec(&receipt.detail).unwrap();
        }
    }

    #[test]
    fn statuses_yield_one_update_or_one_receipt_each(
        statuses in prop::collection::vec(
            (field(text()), prop::sample::select(vec!["sent", "delivered", "read", "failed", "deleted", ""]),
             prop_oneof![Just(json!("1697043223")), Just(json!(-5)), Just(json!(i64::MAX)), Just(json!("x"))])
                .prop_map(|(id, status, timestamp)| json!({"id": id, "status": status, "timestamp": timestamp})),
            0..5,
        ),
    ) {
        let count = statuses.len();
        let mut plan = Plan::default();
        plan_statuses(&mut plan, integration(), "15550001111", statuses);
        prop_assert_eq!(plan.statuses.len() + plan.receipts.len(), count);
    }

    #[test]
    fn the_envelope_keeps_its_entries_or_is_refused(
        object in prop::sample::select(vec![WHATSAPP_OBJECT, "page", ""]),
        entries in prop::option::of(prop::collection::vec(prop_oneof![
            Just(json!({})), Just(json!(null)), Just(json!({"changes": []})), Just(json!(5)),
        ], 0..4)),
        junk in any::<Vec<u8>>(),
    ) {
        let mut body = json!({"object": object});
        if let Some(entries) = &entries {
            body["entry"] = json!(entries);
        }
        match (Envelope::parse(&serde_json::to_vec(&body).unwrap()), &entries) {
            (Ok(envelope), Some(entries)) => prop_assert_eq!(envelope.entries.len(), entries.len()),
            (Ok(envelope), None) => prop_assert!(object != WHATSAPP_OBJECT && envelope.entries.is_empty()),
            (Err(_), entries) => prop_assert!(object == WHATSAPP_OBJECT && entries.is_none()),
        }
        let _ = Envelope::parse(&junk);
    }
}
