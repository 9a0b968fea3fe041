//! Properties of the two request bodies (the fuzz target `fuzz/fuzz_targets/api_bodies.rs`
//! checks the same on arbitrary bytes): any body either decodes or is refused with a 4xx; a
//! well-formed body decodes to what it says; the canonical JSON a body yields (the
//! Idempotency-Key fingerprint's input) decodes again to itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use api_gateway::requests::{
    checked_session_id, BodyLimits, MessageInput, SendMessage, StartSession,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use service_kit::http_error::ApiError;

const FIELDS: [&str; 8] = [
    "session_id",
    "user_identifier",
    "force_restart",
    "variables",
    "message_payload",
    "message",
    "selected_option_id",
    "unknown",
];

/// JSON values of every kind, numbers at their extremes, strings with control characters.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-zA-Z0-9._~:@-]{1,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects whose keys are mostly the fields the endpoints know.
fn body() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(FIELDS.to_vec()), json_value()), 0..5).prop_map(
        |fields| {
            let object: Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            Value::Object(object)
        },
    )
}

fn is_4xx(error: &ApiError) -> bool {
    error.status.is_client_error()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_bytes_decode_or_are_refused_with_a_4xx(bytes in prop::collection::vec(any::<u8>(), 0..48)) {
        if let Err(error) = StartSession::parse(&bytes, &BodyLimits::default()) {
            prop_assert!(is_4xx(&error), "{}", error);
        }
        if let Err(error) = SendMessage::parse(&bytes, &BodyLimits::default()) {
            prop_assert!(is_4xx(&error), "{}", error);
        }
    }

    #[test]
    fn any_json_body_decodes_or_is_refused_with_a_4xx(body in prop_oneof![body(), json_value()]) {
        let bytes = serde_json::to_vec(&body).unwrap();
        match StartSession::parse(&bytes, &BodyLimits::default()) {
            Ok((start, canonical)) => {
                prop_assert_eq!(&canonical, &body);
                if let Some(id) = &start.session_id {
                    prop_assert!(checked_session_id(id).is_ok());
                }
                if let Err(error) = start.variables_as_text() {
                    prop_assert!(is_4xx(&error), "{}", error);
                }
                let again = StartSession::parse(&serde_json::to_vec(&canonical).unwrap(), &BodyLimits::default()).unwrap();
                prop_assert_eq!(again.1, canonical);
            }
            Err(error) => prop_assert!(is_4xx(&error), "{}", error),
        }
        match SendMessage::parse(&bytes, &BodyLimits::default()) {
            Ok((_, canonical)) => prop_assert_eq!(canonical, body),
            Err(error) => prop_assert!(is_4xx(&error), "{}", error),
        }
    }

    #[test]
    fn a_well_formed_start_decodes_to_what_it_says(
        session_id in prop::option::of("[a-zA-Z0-9._~:@-]{1,255}"),
        user_identifier in prop::option::of("\\PC{1,40}"),
        force_restart in any::<bool>(),
        variables in prop::collection::btree_map("[a-z_]{1,8}", prop_oneof![
            any::<String>().prop_map(Value::String),
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::Bool),
        ], 0..4),
        message_payload in prop::option::of(any::<String>()),
    ) {
        let body = json!({
            "session_id": session_id,
            "user_identifier": user_identifier,
            "force_restart": force_restart,
            "variables": variables,
            "message_payload": message_payload,
        });
        let (start, _) = StartSession::parse(&serde_json::to_vec(&body).unwrap(), &BodyLimits::default()).unwrap();
        prop_assert_eq!(start.session_id, session_id);
        prop_assert_eq!(start.user_identifier, user_identifier);
        prop_assert_eq!(start.force_restart, force_restart);
        prop_assert_eq!(start.message_payload, message_payload);
        let text = StartSession { variables: Some(variables.clone()), ..Default::default() }
            .variables_as_text()
            .unwrap();
        for (name, value) in &variables {
            let expected = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            prop_assert_eq!(&text[name], &expected);
        }
    }

    #[test]
    fn a_message_is_text_or_an_option_never_both(
        message in prop::option::of(any::<String>()),
        option in prop::option::of(any::<String>()),
    ) {
        let body = json!({"message": message, "selected_option_id": option});
        let parsed = SendMessage::parse(&serde_json::to_vec(&body).unwrap(), &BodyLimits::default());
        match (message, option) {
            (Some(text), None) => {
                prop_assert!(matches!(parsed, Ok((MessageInput::Text(t), _)) if t == text));
            }
            (None, Some(id)) if !id.is_empty() => {
                prop_assert!(matches!(parsed, Ok((MessageInput::Option(o), _)) if o == id));
            }
            _ => prop_assert!(parsed.is_err_and(|e| is_4xx(&e))),
        }
    }
}
