//! What whatsapp-ingress publishes to `bot.outbound` (routing key `whatsapp`) when Meta reports
//! later, in a `failed` status webhook, that a message it had accepted is outside the 24-hour
//! window (131047): the sender then sends the fallback template, as it does when Meta refuses a
//! send at once with the same code.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ConversationKey, Recipient, SchemaVersion};
use crate::IntegrationId;

/// A request for the template fallback of one outbound batch.
///
/// Closed (unknown fields refused), and without `messages` or `sequence`, so that it is never
/// taken for an [`OutboundWhatsapp`](super::OutboundWhatsapp) on the shared queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowFallback {
    pub schema: SchemaVersion,
    /// `<failed_batch>:fallback`: the sender handles one request per batch, however many of
    /// its messages failed and however often the webhook is delivered.
    pub event_id: String,
    pub integration_id: IntegrationId,
    /// The conversation of the failed batch (the sender's lane).
    pub conversation_key: ConversationKey,
    /// The business number to send from.
    pub phone_number_id: String,
    pub to: Recipient,
    /// The event id of the batch whose message Meta reported failed.
    pub failed_batch: String,
    /// The `wamid` of that message.
    pub failed_message_id: String,
}

impl WindowFallback {
    /// The event id of the fallback request for `batch`.
    pub fn event_id_for(batch: &str) -> String {
        format!("{batch}:fallback")
    }

    /// Whether `batch` is itself a fallback request (its template needs no fallback).
    pub fn is_request(batch: &str) -> bool {
        batch.ends_with(":fallback")
    }
}
