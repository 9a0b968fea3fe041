//! What the flow-executor publishes to `bot.outbound` (routing key `whatsapp`) for the sender.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{BotMessage, ConversationKey, SchemaVersion};
use crate::IntegrationId;

/// The messages of one WhatsApp turn, to be sent in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OutboundWhatsapp {
    pub schema: SchemaVersion,
    /// Unique per outbound batch: the sender sends a batch once, whatever the deliveries.
    pub event_id: String,
    pub integration_id: IntegrationId,
    /// The conversation this batch belongs to (the inbound event's key).
    pub conversation_key: ConversationKey,
    /// The business number to send from.
    pub phone_number_id: String,
    pub to: Recipient,
    /// The inbound `wamid` this answers: marked as read before sending. Absent for a
    /// proactive start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_message_id: Option<String>,
    /// In order; the sender maps each to Graph API payloads (splitting long text, lists of
    /// more than 10 options as numbered text, ...).
    pub messages: Vec<BotMessage>,
    /// Sent instead when Meta refuses a message outside the 24-hour window (131047).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_template: Option<FallbackTemplate>,
    /// Sent before `messages`: the template of a proactive start (`messages` is then empty).
    /// Added within v1, consumers first: a sender that ignored it would send nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<FallbackTemplate>,
    /// Position of this batch in its conversation, increasing by one per batch: the sender
    /// keeps a conversation's batches in this order.
    pub sequence: u64,
}

/// Who receives the messages: by phone (`to` in the Graph API) or by Meta's business-scoped
/// user id (`recipient`), serialised as `{"wa_id": "..."}` or `{"user_id": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    WaId(String),
    UserId(String),
}

/// A message template (name and language code, such as `en_US`).
///
/// Closed: an added field (parameters, say) changes what the user receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FallbackTemplate {
    pub name: String,
    pub language_code: String,
}
