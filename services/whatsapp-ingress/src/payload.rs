//! Meta's webhook payload, read in layers so that one broken part costs only that part.
//!
//! The envelope (`object`, `entry`) must be right or the POST is refused (400). Below it, every
//! entry, change, message and status is decoded on its own from the parsed JSON: a part that
//! does not decode is recorded as an error receipt while the rest of the batch goes on. No type
//! refuses unknown fields: Meta adds fields (`user_id`, `username`, `url`, ...) without notice.

use serde::Deserialize;
use serde_json::Value;

/// The only `object` whose payloads we act on.
pub const WHATSAPP_OBJECT: &str = "whatsapp_business_account";
/// The only webhook `field` that carries messages and statuses.
pub const MESSAGES_FIELD: &str = "messages";

/// Why a body was refused before anything in it was looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is not a webhook payload: {0}")]
    Invalid(&'static str),
}

/// The top level of a POST body.
#[derive(Debug)]
pub struct Envelope {
    pub object: String,
    /// Each entry still as JSON; see [`Entry::decode`].
    pub entries: Vec<Value>,
    /// Characters the parse repaired (see [`Envelope::parse`]): 0 for any payload of Meta's.
    pub repaired: usize,
}

impl Envelope {
    /// Parses a signed body. Text that PostgreSQL or a Rust string cannot hold is repaired
    /// rather than refused (a signed POST must be answered 200, and one bad character must not
    /// cost the batch): bytes that are not UTF-8 and lone surrogate escapes become U+FFFD, and
    /// U+0000 is removed from every string and key (docs/whatsapp-ingress.md, "Text we cannot
    /// store"). Nothing unstorable reaches an event or a receipt.
    pub fn parse(body: &[u8]) -> Result<Envelope, EnvelopeError> {
        let text = contracts::edge::repair_json_text(body);
        let mut repaired = usize::from(text.as_ref() != body);
        let mut value: Value =
            serde_json::from_slice(&text).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
        repaired += contracts::edge::strip_nul(&mut value);
        let Value::Object(mut top) = value else {
            return Err(EnvelopeError::Invalid(
                "the top level must be a JSON object",
            ));
        };
        let object = match top.remove("object") {
            Some(Value::String(object)) => object,
            _ => return Err(EnvelopeError::Invalid("`object` (a string) is missing")),
        };
        let entries = match top.remove("entry") {
            Some(Value::Array(entries)) => entries,
            // Another product's payload need not have entries; it is ignored anyway.
            None | Some(_) if object != WHATSAPP_OBJECT => Vec::new(),
            _ => return Err(EnvelopeError::Invalid("`entry` (an array) is missing")),
        };
        Ok(Envelope {
            object,
            entries,
            repaired,
        })
    }
}

/// One `entry[]`: a WhatsApp Business Account and its changes.
#[derive(Debug, Deserialize)]
pub struct Entry {
    /// The WABA id.
    #[serde(default)]
    pub id: Option<String>,
    pub changes: Vec<Change>,
}

/// One `changes[]` element; `value` is decoded once `field` says what it is.
#[derive(Debug, Deserialize)]
pub struct Change {
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub value: Value,
}

/// The `value` of a `messages` change. Messages and statuses stay JSON until decoded one by
/// one.
#[derive(Debug, Deserialize)]
pub struct ChangeValue {
    pub metadata: Metadata,
    #[serde(default)]
    pub contacts: Vec<Value>,
    #[serde(default)]
    pub messages: Vec<Value>,
    #[serde(default)]
    pub statuses: Vec<Value>,
    /// Value-level errors (system, app or account).
    #[serde(default)]
    pub errors: Vec<Value>,
}

#[derive(Debug, Deserialize)]
pub struct Metadata {
    pub phone_number_id: String,
    #[serde(default)]
    pub display_phone_number: Option<String>,
}

/// `contacts[]`: who wrote. `wa_id` may be empty for users known only by `user_id` (BSUID).
#[derive(Debug, Default, Deserialize)]
pub struct Contact {
    #[serde(default)]
    pub wa_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub profile: Option<Profile>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub name: Option<String>,
}

/// `messages[]`. Only the parts the bot uses are typed.
#[derive(Debug, Deserialize)]
pub struct Message {
    /// The wamid.
    pub id: String,
    /// The user's number; empty or absent for users known only by their BSUID.
    #[serde(default)]
    pub from: Option<String>,
    /// The user's BSUID, when Meta sends it on the message itself.
    #[serde(default)]
    pub from_user_id: Option<String>,
    /// Unix seconds, a string in Meta's payloads (a number is accepted too).
    #[serde(default)]
    pub timestamp: Option<Value>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<TextBody>,
    #[serde(default)]
    pub interactive: Option<Interactive>,
    #[serde(default)]
    pub button: Option<QuickReplyButton>,
    #[serde(default)]
    pub image: Option<MediaBody>,
    #[serde(default)]
    pub audio: Option<MediaBody>,
    #[serde(default)]
    pub video: Option<MediaBody>,
    #[serde(default)]
    pub document: Option<MediaBody>,
    #[serde(default)]
    pub sticker: Option<MediaBody>,
    #[serde(default)]
    pub location: Option<LocationBody>,
    #[serde(default)]
    pub system: Option<Value>,
}

impl Message {
    /// Unix seconds; 0 when absent or unreadable (it only orders a batch).
    pub fn unix_seconds(&self) -> i64 {
        unix_seconds(self.timestamp.as_ref())
    }
}

pub fn unix_seconds(value: Option<&Value>) -> i64 {
    match value {
        Some(Value::String(text)) => text.trim().parse().unwrap_or(0),
        Some(Value::Number(number)) => number.as_i64().unwrap_or(0),
        _ => 0,
    }
}

#[derive(Debug, Deserialize)]
pub struct TextBody {
    pub body: String,
}

#[derive(Debug, Deserialize)]
pub struct Interactive {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub button_reply: Option<Reply>,
    #[serde(default)]
    pub list_reply: Option<Reply>,
}

/// A reply button or list row the user chose: `id` is the option id we sent.
#[derive(Debug, Deserialize)]
pub struct Reply {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
}

/// A template's quick-reply button (`type: button`).
#[derive(Debug, Deserialize)]
pub struct QuickReplyButton {
    pub text: String,
    #[serde(default)]
    pub payload: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct MediaBody {
    pub id: String,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LocationBody {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// `statuses[]`: what became of a message we sent.
#[derive(Debug, Deserialize)]
pub struct Status {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub timestamp: Option<Value>,
    #[serde(default)]
    pub recipient_id: Option<String>,
    #[serde(default)]
    pub recipient_user_id: Option<String>,
    #[serde(default)]
    pub errors: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_must_be_right() {
        assert!(matches!(
            Envelope::parse(b"not json"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert!(matches!(
            Envelope::parse(b"[1,2]"),
            Err(EnvelopeError::Invalid(_))
        ));
        assert!(matches!(
            Envelope::parse(br#"{"entry":[]}"#),
            Err(EnvelopeError::Invalid(_))
        ));
        assert!(matches!(
            Envelope::parse(br#"{"object":"whatsapp_business_account"}"#),
            Err(EnvelopeError::Invalid(_))
        ));
        assert!(matches!(
            Envelope::parse(br#"{"object":"whatsapp_business_account","entry":{}}"#),
            Err(EnvelopeError::Invalid(_))
        ));
        let other = Envelope::parse(br#"{"object":"page"}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(other.object, "page");
        assert!(other.entries.is_empty());
        let ok = Envelope::parse(br#"{"object":"whatsapp_business_account","entry":[{}]}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.entries.len(), 1);
    }

    #[test]
    fn timestamps_are_strings_or_numbers() {
        assert_eq!(
            unix_seconds(Some(&Value::from("1697043223"))),
            1_697_043_223
        );
        assert_eq!(unix_seconds(Some(&Value::from(12))), 12);
        assert_eq!(unix_seconds(Some(&Value::from("soon"))), 0);
        assert_eq!(unix_seconds(None), 0);
    }
}
