//! Meta-shaped webhook bodies: user messages (text, button reply, list reply) and statuses,
//! with fields in the order Meta writes them (`fixtures/meta/webhooks/`).

use base64::Engine;
use serde::Serialize;
use serde_json::Value;

use crate::api::UserMessage;

pub const OBJECT: &str = "whatsapp_business_account";

#[derive(Debug, Serialize)]
pub struct Envelope {
    pub object: &'static str,
    pub entry: Vec<Entry>,
}

#[derive(Debug, Serialize)]
pub struct Entry {
    pub id: String,
    pub changes: Vec<Change>,
}

#[derive(Debug, Serialize)]
pub struct Change {
    pub value: ChangeValue,
    pub field: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ChangeValue {
    pub messaging_product: &'static str,
    pub metadata: Metadata,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Contact>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<InboundMessage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<Status>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metadata {
    pub display_phone_number: String,
    pub phone_number_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    pub profile: Profile,
    pub wa_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct InboundMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
    pub from: String,
    pub id: String,
    pub timestamp: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interactive: Option<Interactive>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub from: String,
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Text {
    pub body: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Interactive {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub button_reply: Option<Reply>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_reply: Option<Reply>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub id: String,
    pub status: String,
    pub timestamp: String,
    pub recipient_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<Value>>,
}

/// A fresh message id in Meta's `wamid.<base64>` form.
pub fn new_wamid(seed: &str) -> String {
    let raw = format!("{seed}:{}", uuid::Uuid::new_v4().simple());
    format!(
        "wamid.{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PayloadError {
    #[error("message {0}: give exactly one of text, button_reply_id + button_reply_title, list_reply_id + list_reply_title")]
    Content(usize),
    #[error("message {0}: `from` and `phone_number_id` must not be empty")]
    Missing(usize),
}

/// One user message as Meta writes it in `value.messages[]`, with its contact and metadata.
pub struct BuiltMessage {
    pub metadata: Metadata,
    pub contact: Contact,
    pub message: InboundMessage,
    /// Unix seconds, for the 24-hour window.
    pub timestamp: i64,
}

pub fn build_message(
    index: usize,
    input: &UserMessage,
    default_display: &str,
    now: i64,
) -> Result<BuiltMessage, PayloadError> {
    if input.from.is_empty() || input.phone_number_id.is_empty() {
        return Err(PayloadError::Missing(index));
    }
    let button = input
        .button_reply_id
        .clone()
        .zip(input.button_reply_title.clone());
    let list = input
        .list_reply_id
        .clone()
        .zip(input.list_reply_title.clone());
    let (kind, text, interactive) = match (&input.text, button, list) {
        (Some(body), None, None) => ("text", Some(Text { body: body.clone() }), None),
        (None, Some((id, title)), None) => (
            "interactive",
            None,
            Some(Interactive {
                kind: "button_reply",
                button_reply: Some(Reply {
                    id,
                    title,
                    description: None,
                }),
                list_reply: None,
            }),
        ),
        (None, None, Some((id, title))) => (
            "interactive",
            None,
            Some(Interactive {
                kind: "list_reply",
                button_reply: None,
                list_reply: Some(Reply {
                    id,
                    title,
                    description: input.list_reply_description.clone(),
                }),
            }),
        ),
        _ => return Err(PayloadError::Content(index)),
    };
    let display = input
        .display_phone_number
        .clone()
        .unwrap_or_else(|| default_display.to_owned());
    let timestamp = input.timestamp.unwrap_or(now);
    let message = InboundMessage {
        context: input.context_message_id.clone().map(|id| Context {
            from: display.clone(),
            id,
        }),
        from: input.from.clone(),
        id: input.id.clone().unwrap_or_else(|| new_wamid(&input.from)),
        timestamp: timestamp.to_string(),
        kind,
        text,
        interactive,
    };
    Ok(BuiltMessage {
        metadata: Metadata {
            display_phone_number: display,
            phone_number_id: input.phone_number_id.clone(),
        },
        contact: Contact {
            profile: Profile {
                name: input.name.clone().unwrap_or_else(|| "Emulated User".into()),
            },
            wa_id: input.from.clone(),
            user_id: input.user_id.clone(),
        },
        message,
        timestamp,
    })
}

/// One body holding `messages`: one change per phone number (in first-seen order), each with
/// its users' contacts and messages.
pub fn messages_envelope(waba_id: &str, messages: Vec<BuiltMessage>) -> Envelope {
    let mut changes: Vec<Change> = Vec::new();
    for built in messages {
        let position = changes
            .iter()
            .position(|c| c.value.metadata.phone_number_id == built.metadata.phone_number_id);
        let change = match position {
            Some(i) => &mut changes[i],
            None => {
                changes.push(Change {
                    value: ChangeValue {
                        messaging_product: "whatsapp",
                        metadata: built.metadata.clone(),
                        contacts: Vec::new(),
                        messages: Vec::new(),
                        statuses: Vec::new(),
                    },
                    field: "messages",
                });
                let last = changes.len() - 1;
                &mut changes[last]
            }
        };
        if !change
            .value
            .contacts
            .iter()
            .any(|c| c.wa_id == built.contact.wa_id)
        {
            change.value.contacts.push(built.contact);
        }
        change.value.messages.push(built.message);
    }
    Envelope {
        object: OBJECT,
        entry: vec![Entry {
            id: waba_id.to_owned(),
            changes,
        }],
    }
}

/// A body with one status, shaped like `status_sent.json` (PMP pricing on `sent` and
/// `delivered`, none on `read`; `errors` on `failed`).
pub fn status_envelope(waba_id: &str, metadata: Metadata, status: Status) -> Envelope {
    Envelope {
        object: OBJECT,
        entry: vec![Entry {
            id: waba_id.to_owned(),
            changes: vec![Change {
                value: ChangeValue {
                    messaging_product: "whatsapp",
                    metadata,
                    contacts: Vec::new(),
                    messages: Vec::new(),
                    statuses: vec![status],
                },
                field: "messages",
            }],
        }],
    }
}

/// Pricing for a status: templates are billable utility messages, free-form replies fall in
/// the free customer-service window.
pub fn pricing(is_template: bool) -> Value {
    if is_template {
        serde_json::json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "utility"})
    } else {
        serde_json::json!({"billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"})
    }
}

/// The `statuses[].errors` element for a send outside the 24-hour window.
pub fn window_closed_error() -> Value {
    serde_json::json!({
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {
            "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."
        },
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
    })
}

/// `(phone_number_id, from, unix seconds)` of every message in a raw webhook body, so that
/// bodies delivered verbatim open 24-hour windows too.
pub fn inbound_senders(body: &Value) -> Vec<(String, String, i64)> {
    let mut found = Vec::new();
    let entries = body
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for change in entries
        .filter_map(|e| e.get("changes")?.as_array())
        .flatten()
    {
        let value = &change["value"];
        let Some(pnid) = value["metadata"]["phone_number_id"].as_str() else {
            continue;
        };
        for message in value
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(from) = message.get("from").and_then(Value::as_str) else {
                continue;
            };
            let at = message
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| chrono::Utc::now().timestamp());
            found.push((pnid.to_owned(), from.to_owned(), at));
        }
    }
    found
}

/// The wamids of the messages (or statuses) in a body, for delivery reports.
pub fn body_ids(body: &Value) -> Vec<String> {
    let entries = body
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    entries
        .filter_map(|e| e.get("changes")?.as_array())
        .flatten()
        .flat_map(|change| {
            let value = &change["value"];
            ["messages", "statuses"].into_iter().flat_map(move |key| {
                value
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.get("id")?.as_str().map(str::to_owned))
            })
        })
        .collect()
}
