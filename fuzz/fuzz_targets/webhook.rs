//! Meta's webhook body → envelope → entries → changes → messages and statuses → the inputs and
//! senders the ingress publishes (`payload.rs` and `normalize.rs` of whatsapp-ingress, compiled
//! in here). The routing and the event around the input (`process::plan_message`, which needs
//! the store's types) are covered by `services/whatsapp-ingress/tests/payload_properties.rs`.
//!
//! Properties: nothing panics; every input round-trips through JSON unchanged; a sender's key
//! is its trimmed `wa_id`, else its `user_id`, and never blank.
#![no_main]

#[path = "../../services/whatsapp-ingress/src/payload.rs"]
#[allow(dead_code)]
mod payload;

#[path = "../../services/whatsapp-ingress/src/normalize.rs"]
#[allow(dead_code)]
mod normalize;

use contracts::v1::Input;
use libfuzzer_sys::fuzz_target;
use normalize::{meaning, recipient_allowed, Meaning, Sender};
use payload::{Change, ChangeValue, Contact, Entry, Envelope, Message, Status};

fuzz_target!(|body: &[u8]| {
    let Ok(envelope) = Envelope::parse(body) else {
        return; // answered 400: nothing to check
    };
    for raw_entry in envelope.entries {
        let Ok(entry) = serde_json::from_value::<Entry>(raw_entry) else {
            continue;
        };
        for change in entry.changes {
            check_change(change);
        }
    }
});

fn check_change(change: Change) {
    if change.field.as_deref() != Some(payload::MESSAGES_FIELD) {
        return;
    }
    let Ok(value) = serde_json::from_value::<ChangeValue>(change.value) else {
        return;
    };
    for raw in value.statuses {
        if let Ok(status) = serde_json::from_value::<Status>(raw) {
            let _ = payload::unix_seconds(status.timestamp.as_ref());
        }
    }
    let contacts: Vec<Contact> = value
        .contacts
        .into_iter()
        .filter_map(|c| serde_json::from_value(c).ok())
        .collect();
    for raw in value.messages {
        let Ok(message) = serde_json::from_value::<Message>(raw) else {
            continue;
        };
        let _ = message.unix_seconds();
        if let Ok(Meaning::Input(input)) = meaning(&message) {
            check_input(&input);
        }
        check_sender(&Sender::of(&message, &contacts));
    }
}

fn check_input(input: &Input) {
    let json = serde_json::to_vec(input).expect("an input serialises");
    let back: Input = serde_json::from_slice(&json).unwrap_or_else(|e| {
        panic!(
            "an input does not decode: {e}\n{}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(&back, input, "the input changed through JSON");
    assert_eq!(
        serde_json::to_vec(&back).expect("an input serialises"),
        json,
        "the input's JSON is not stable"
    );
}

fn check_sender(sender: &Sender) {
    for part in [&sender.wa_id, &sender.user_id, &sender.profile_name] {
        if let Some(part) = part {
            assert!(!part.trim().is_empty() && part.trim() == part, "{sender:?}");
        }
    }
    assert_eq!(
        sender.key(),
        sender.wa_id.as_deref().or(sender.user_id.as_deref())
    );
    // Everyone may talk when the list is empty; nobody without a number when it is not.
    assert!(recipient_allowed(&[], sender));
    if sender.wa_id.is_none() {
        assert!(!recipient_allowed(&["15551234567".to_owned()], sender));
    }
}
