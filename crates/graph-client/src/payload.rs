//! The envelope of a `/messages` body, shared by every message type.

use contracts::v1::{FallbackTemplate, Recipient};
use serde_json::{json, Value};

/// `{"messaging_product":"whatsapp","recipient_type":"individual",<address>,"type":kind,
/// kind:content}`.
///
/// The address is `to` for a phone number (`wa_id`), written with a leading `+`: without it
/// Meta prefixes the *business's* country code (whatsapp-cloud-api.md §5). A business-scoped
/// user id goes in `recipient` instead.
pub fn message(to: &Recipient, kind: &str, content: Value) -> Value {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "type": kind,
    });
    match to {
        Recipient::WaId(wa_id) => {
            let digits = wa_id.trim_start_matches('+');
            body["to"] = Value::String(format!("+{digits}"));
        }
        Recipient::UserId(user_id) => body["recipient"] = Value::String(user_id.clone()),
    }
    body[kind] = content;
    body
}

/// A template message without parameters (the integration's fallback or start template).
pub fn template(to: &Recipient, template: &FallbackTemplate) -> Value {
    message(
        to,
        "template",
        json!({"name": template.name, "language": {"code": template.language_code}}),
    )
}

/// The body that marks an inbound message (and the ones before it) as read.
pub fn mark_read(message_id: &str) -> Value {
    json!({"messaging_product": "whatsapp", "status": "read", "message_id": message_id})
}

/// Who a message went to, as stored with it: the `wa_id` or the user id.
pub fn recipient_id(to: &Recipient) -> &str {
    match to {
        Recipient::WaId(id) | Recipient::UserId(id) => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_go_in_to_with_a_plus_and_user_ids_in_recipient() {
        let by_phone = message(
            &Recipient::WaId("16505551234".into()),
            "text",
            json!({"body": "hi"}),
        );
        assert_eq!(
            by_phone,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual",
                   "to": "+16505551234", "type": "text", "text": {"body": "hi"}})
        );
        let already_plus = message(&Recipient::WaId("+1555".into()), "text", json!({}));
        assert_eq!(already_plus["to"], "+1555");
        let by_user = message(
            &Recipient::UserId("US.13491208655302741918".into()),
            "text",
            json!({"body": "hi"}),
        );
        assert_eq!(by_user["recipient"], "US.13491208655302741918");
        assert!(by_user.get("to").is_none());
    }

    #[test]
    fn templates_and_mark_read() {
        let body = template(
            &Recipient::WaId("1555".into()),
            &FallbackTemplate {
                name: "hello_world".into(),
                language_code: "en_US".into(),
            },
        );
        assert_eq!(body["type"], "template");
        assert_eq!(
            body["template"],
            json!({"name": "hello_world", "language": {"code": "en_US"}})
        );
        assert_eq!(
            mark_read("wamid.X"),
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"})
        );
        assert_eq!(recipient_id(&Recipient::UserId("u".into())), "u");
    }
}
