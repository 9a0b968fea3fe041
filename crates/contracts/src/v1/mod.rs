//! Version 1 of the messages that cross RabbitMQ between services.
//!
//! Every top-level message carries `"schema": "v1"` ([`SchemaVersion`]) so that a reader can
//! tell a message it does not understand (a future `v2`) from a malformed one, also in places
//! where the queue does not say what it holds: the dead-letter queue, and replies stored for
//! idempotent replays. The committed JSON Schema of each message is in `proto/v1/`, and
//! `tests/schema_snapshot.rs` fails when it and these types drift apart.
//!
//! Compatibility (see `proto/README.md`): within v1, only optional fields (and, consumers first,
//! new enum variants) are added. Anything else is v2, in a new module beside this one.
//!
//! | message | producer → exchange (routing key) → consumer |
//! |---|---|
//! | [`InboundEvent`] | api-gateway, whatsapp-ingress → `bot.inbound` (conversation key) → flow-executor |
//! | [`OutboundWhatsapp`] | flow-executor → `bot.outbound` (`whatsapp`) → sender |
//! | [`WindowFallback`] | whatsapp-ingress → `bot.outbound` (`whatsapp`) → sender |
//! | [`TurnReply`] | flow-executor / sender → the gateway replica's reply queue → api-gateway |
//! | [`BotMessage`] | inside the two above: a bot's message exactly as the API manual shows it |

mod inbound;
mod message;
mod outbound;
mod reply;
mod window_fallback;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use inbound::{
    Channel, ConversationKey, IdempotencyRef, InboundEvent, InboundMediaType, Input, ReplyTo,
    WhatsappContext,
};
pub use message::{BotMessage, BotOption, MediaType};
pub use outbound::{FallbackTemplate, OutboundWhatsapp, Recipient};
pub use reply::{
    error_codes, ErrorBody, ErrorDetail, ErrorDetails, SessionResponse, TurnReply, TurnReplyBody,
};
pub use window_fallback::WindowFallback;

/// The `schema` field of every v1 message; it serialises as `"v1"` and accepts nothing else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SchemaVersion {
    #[default]
    #[serde(rename = "v1")]
    V1,
}

impl SchemaVersion {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
        }
    }
}

/// A v1 contract with its own schema file `proto/v1/<NAME>.schema.json`: the three envelopes,
/// which carry `"schema": "v1"`, and `BotMessage`, which travels inside them.
pub trait Contract: Serialize + DeserializeOwned + JsonSchema {
    /// The file stem of its schema and examples under `proto/v1/`.
    const NAME: &'static str;
}

impl Contract for InboundEvent {
    const NAME: &'static str = "inbound_event";
}
impl Contract for BotMessage {
    const NAME: &'static str = "bot_message";
}
impl Contract for TurnReply {
    const NAME: &'static str = "turn_reply";
}
impl Contract for OutboundWhatsapp {
    const NAME: &'static str = "outbound_whatsapp";
}
impl Contract for WindowFallback {
    const NAME: &'static str = "window_fallback";
}

/// The JSON Schema of a contract, as committed under `proto/v1/`.
#[derive(Debug, Clone)]
pub struct ContractSchema {
    pub name: &'static str,
    pub schema: schemars::Schema,
}

impl ContractSchema {
    pub fn of<T: Contract>() -> Self {
        Self {
            name: T::NAME,
            schema: schemars::schema_for!(T),
        }
    }

    /// File name under `proto/v1/`.
    pub fn file_name(&self) -> String {
        format!("{}.schema.json", self.name)
    }

    /// Pretty JSON with object keys sorted, newline-terminated: the exact committed text,
    /// independent of whether some other crate turns on serde_json's `preserve_order`.
    pub fn to_pretty_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&sorted(self.schema.as_value().clone()))
            .unwrap_or_default();
        text.push('\n');
        text
    }
}

/// The schemas of every v1 contract.
pub fn schemas() -> Vec<ContractSchema> {
    vec![
        ContractSchema::of::<InboundEvent>(),
        ContractSchema::of::<BotMessage>(),
        ContractSchema::of::<TurnReply>(),
        ContractSchema::of::<OutboundWhatsapp>(),
        ContractSchema::of::<WindowFallback>(),
    ]
}

fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

/// Why bytes from the broker are not a v1 message.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A `schema` other than `v1`: a newer producer. Dead-letter it; do not guess.
    #[error("unsupported schema version `{found}` (this reader understands v1)")]
    UnsupportedVersion { found: String },
    #[error("malformed v1 message: {0}")]
    Malformed(#[source] serde_json::Error),
}

/// Parses a v1 message, telling an unknown version apart from a malformed message.
pub fn decode<T: Contract>(bytes: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(bytes).map_err(|err| {
        #[derive(Deserialize)]
        struct Probe {
            schema: Option<serde_json::Value>,
        }
        match serde_json::from_slice::<Probe>(bytes)
            .ok()
            .and_then(|p| p.schema)
        {
            Some(serde_json::Value::String(found)) if found != SchemaVersion::V1.as_str() => {
                DecodeError::UnsupportedVersion { found }
            }
            _ => DecodeError::Malformed(err),
        }
    })
}

/// Serialises a v1 message for publishing.
pub fn encode<T: Contract>(message: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(message)
}
