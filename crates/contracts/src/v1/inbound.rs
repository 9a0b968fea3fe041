//! What the ingress services publish to `bot.inbound`: one user input for one conversation.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{FallbackTemplate, SchemaVersion};
use crate::IntegrationId;

/// One user input (or session start) for the flow-executor.
///
/// Published with `conversation_key` as the routing key on `bot.inbound`, which the publisher
/// turns into the conversation's shard on `bot.inbound.by-shard` (FNV-1a of the key modulo the
/// shard count), so that every event of a conversation lands on the same shard and is handled
/// in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InboundEvent {
    pub schema: SchemaVersion,
    /// Unique per input, used for deduplication: a UUID for API requests, the `wamid` for
    /// WhatsApp messages (Meta redelivers them).
    pub event_id: String,
    pub integration_id: IntegrationId,
    pub channel: Channel,
    /// The routing key on `bot.inbound`.
    pub conversation_key: ConversationKey,
    /// API: the given or gateway-generated session id. WhatsApp: the `wa_id`, else the
    /// business-scoped `user_id`.
    pub session_id: String,
    /// API: the given identifier, else the session id. WhatsApp: as `session_id`.
    pub user_identifier: String,
    /// When the ingress accepted the input, in milliseconds since the Unix epoch (UTC).
    pub received_at_unix_ms: i64,
    pub input: Input,
    /// Set by the API gateway: where the answer to the waiting HTTP request goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<ReplyTo>,
    /// Set by the API gateway when the request carried an `Idempotency-Key`: the reply is
    /// stored under it for replays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<IdempotencyRef>,
    /// Set by whatsapp-ingress: who wrote, and through which business number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<WhatsappContext>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Api,
    Whatsapp,
}

impl Channel {
    /// The name flows read from the built-in `channel` variable.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Whatsapp => "whatsapp",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one conversation across services, and is the routing key on `bot.inbound`.
///
/// - API: `"<integration_id>:<session_id>"`
/// - WhatsApp: `"<integration_id>:<phone_number_id>:<wa_id or user_id>"`
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct ConversationKey(String);

impl ConversationKey {
    pub fn api(integration_id: IntegrationId, session_id: &str) -> Self {
        Self(format!("{integration_id}:{session_id}"))
    }

    /// `user` is the `wa_id`, or the business-scoped `user_id` when Meta gives no `wa_id`.
    pub fn whatsapp(integration_id: IntegrationId, phone_number_id: &str, user: &str) -> Self {
        Self(format!("{integration_id}:{phone_number_id}:{user}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The user's input, tagged by `type`.
///
/// Closed (unknown fields refused): a field added here changes what the executor must do, so
/// an executor that does not know it refuses the message instead of silently misreading it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Input {
    /// API session start (`POST .../session/`).
    Start {
        /// Replace an existing session instead of answering 409.
        force_restart: bool,
        /// Injected values for variables the bot declares.
        variables: BTreeMap<String, String>,
        /// The session's first input (`on_create_message_payload`).
        message_payload: Option<String>,
    },
    /// Free text: the API's `message`, a WhatsApp text (or a template quick-reply's text).
    Text { text: String },
    /// An option id: the API's `selected_option_id`, a WhatsApp button or list reply.
    SelectedOption { option_id: String },
    /// A WhatsApp image, audio, video, document or sticker, by its Graph API media id.
    Media {
        media_type: InboundMediaType,
        media_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    /// A WhatsApp location.
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// A WhatsApp message the engine cannot act on (contacts, reaction, unknown, ...); `kind`
    /// is Meta's message `type`.
    Unsupported { kind: String },
    /// A proactive WhatsApp start (admin `POST /v1/integrations/{id}/whatsapp/start`): open a
    /// session at the flow's first waiting component **without** sending the flow's messages,
    /// and send `template` instead (the only message Meta delivers outside the 24-hour
    /// window). The user's reply then continues the session. Refused (nothing sent) while a
    /// live session exists. Added within v1: executors must know it before admin sends it.
    ProactiveStart {
        /// The integration's template, as configured when the call was made.
        template: FallbackTemplate,
        /// Values for variables the bot declares.
        variables: BTreeMap<String, String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboundMediaType {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
}

/// Where the API gateway replica waits for the `TurnReply`.
///
/// Closed: ignoring an added field here could send the answer to the wrong place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyTo {
    /// The replica's reply queue (`gateway.replies.<replica>`), published to through the
    /// default exchange.
    pub queue: String,
    /// Echoed in the reply so that the gateway finds the waiting request.
    pub correlation_id: String,
    /// After this instant (ms since the Unix epoch) the gateway has answered 504; the turn still
    /// runs and its reply is still stored for the client's retry.
    pub deadline_unix_ms: i64,
}

/// The request's `Idempotency-Key`, under which the executor stores the `TurnReply`.
///
/// Closed: ignoring an added field here could store a replay under the wrong key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyRef {
    /// The client's key (at most 255 characters), scoped by the gateway to the integration and
    /// endpoint.
    pub key: String,
    /// Digest of the request (path and body) that the key first came with.
    pub request_hash: String,
}

/// WhatsApp specifics of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WhatsappContext {
    /// The business number's id (`metadata.phone_number_id`).
    pub phone_number_id: String,
    /// The user's WhatsApp id (digits of the phone number); absent for users Meta identifies
    /// only by `user_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// Meta's business-scoped user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    /// The inbound message's `wamid`: marked as read, and replied to. Empty for a proactive
    /// start (`input.type` `proactive_start`), which answers no message.
    pub inbound_message_id: String,
}
