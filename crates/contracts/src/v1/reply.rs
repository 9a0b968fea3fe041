//! The answer to an API request: published to the gateway replica's reply queue, and stored
//! under the request's Idempotency-Key for replays.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::{BotMessage, SchemaVersion};

/// The outcome of one API turn. The gateway answers the waiting request with `status` and
/// `body` as they are (adding only `idempotency_replayed` on a replay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnReply {
    pub schema: SchemaVersion,
    /// The `correlation_id` of the inbound event's `reply`.
    pub correlation_id: String,
    /// The HTTP status the gateway answers with: 200 with a session body; 404, 409, 422 or
    /// 500 with an error body.
    #[schemars(range(min = 100, max = 599))]
    #[serde(deserialize_with = "http_status")]
    pub status: u16,
    pub body: TurnReplyBody,
}

impl TurnReply {
    /// 200 with the session's answer.
    pub fn session(correlation_id: impl Into<String>, response: SessionResponse) -> Self {
        Self {
            schema: SchemaVersion::V1,
            correlation_id: correlation_id.into(),
            status: 200,
            body: TurnReplyBody::Session(response),
        }
    }

    /// An error answer, such as 404 [`error_codes::SESSION_NOT_FOUND`].
    pub fn error(correlation_id: impl Into<String>, status: u16, error: ErrorDetail) -> Self {
        Self {
            schema: SchemaVersion::V1,
            correlation_id: correlation_id.into(),
            status,
            body: TurnReplyBody::Error(ErrorBody {
                error,
                idempotency_replayed: false,
            }),
        }
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The HTTP body: the manual's session response, or `{"error": {"code", "message"}}`.
///
/// Untagged on the wire (it is the API body verbatim); a body with an `error` field is an
/// error, anything else a session response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum TurnReplyBody {
    Session(SessionResponse),
    Error(ErrorBody),
}

impl TurnReplyBody {
    /// The body of a replay from the idempotency store: `"idempotency_replayed": true`.
    pub fn replayed(mut self) -> Self {
        match &mut self {
            Self::Session(body) => body.idempotency_replayed = true,
            Self::Error(body) => body.idempotency_replayed = true,
        }
        self
    }
}

impl<'de> Deserialize<'de> for TurnReplyBody {
    // Chooses the variant by the `error` field so that a malformed body reports what is wrong
    // with it, not serde's "did not match any variant".
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let is_error = value.get("error").is_some();
        if is_error {
            ErrorBody::deserialize(value).map(Self::Error)
        } else {
            SessionResponse::deserialize(value).map(Self::Session)
        }
        .map_err(serde::de::Error::custom)
    }
}

/// The manual's response to a session start or a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionResponse {
    pub session_id: String,
    /// The component the session waits at; null once the conversation has ended.
    pub state: Option<String>,
    /// The first of `messages`, or null (for clients that read one message).
    pub message: Option<BotMessage>,
    /// Every message of the turn, in order.
    pub messages: Vec<BotMessage>,
    /// The conversation has ended; the session is deleted.
    pub is_final: bool,
    /// Present and true only on a replay of a stored response.
    #[serde(default, skip_serializing_if = "is_false")]
    pub idempotency_replayed: bool,
}

impl SessionResponse {
    /// A fresh (not replayed) response; `message` is the first of `messages`.
    pub fn new(
        session_id: impl Into<String>,
        state: Option<String>,
        messages: Vec<BotMessage>,
        is_final: bool,
    ) -> Self {
        Self {
            session_id: session_id.into(),
            state,
            message: messages.first().cloned(),
            messages,
            is_final,
            idempotency_replayed: false,
        }
    }
}

/// `{"error": {"code", "message", "details"?}}`, the platform's one error shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// Present and true only on a replay of a stored response (a stored 500).
    #[serde(default, skip_serializing_if = "is_false")]
    pub idempotency_replayed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable and machine-readable, such as `session_not_found`. Readers treat an unknown code
    /// by its status.
    pub code: String,
    /// For people: what went wrong, never a stack trace or a secret.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<ErrorDetails>,
}

impl ErrorDetail {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: ErrorDetails) -> Self {
        self.details = Some(details);
        self
    }
}

/// Machine-readable specifics of an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetails {
    /// `invalid_option`: the option ids the current component offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_option_ids: Option<Vec<String>>,
    /// `undeclared_variables`: injected variables the bot does not declare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undeclared_variables: Option<Vec<String>>,
    /// `bot_execution_error`: the component where the bot failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
}

/// The codes the flow-executor answers with (the gateway has its own for 401, 404 of an
/// integration, 422 of a request, 429 and 504).
pub mod error_codes {
    /// 404: the integration was deleted or deactivated after the gateway accepted the request.
    pub const INTEGRATION_NOT_FOUND: &str = "integration_not_found";
    /// 404: no such session, or it has ended.
    pub const SESSION_NOT_FOUND: &str = "session_not_found";
    /// 409: a start for a session that exists, without `force_restart`.
    pub const SESSION_EXISTS: &str = "session_exists";
    /// 422: an option id the current component does not offer (details: `valid_option_ids`).
    pub const INVALID_OPTION: &str = "invalid_option";
    /// 422: input the current component cannot take (an option for a text question, ...).
    pub const INVALID_INPUT: &str = "invalid_input";
    /// 422: injected variables the bot does not declare (details: `undeclared_variables`).
    pub const UNDECLARED_VARIABLES: &str = "undeclared_variables";
    /// 500: the bot failed (details: `component`); the session keeps its last good state.
    pub const BOT_EXECUTION_ERROR: &str = "bot_execution_error";
    /// 500: the message could not be processed after bounded retries (the database refused
    /// its data, or kept failing) and was set aside as a dead letter for an operator; the
    /// session is unchanged. Not stored under the Idempotency-Key.
    pub const TURN_FAILED: &str = "turn_failed";
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn http_status<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    let status = u16::deserialize(deserializer)?;
    if (100..=599).contains(&status) {
        Ok(status)
    } else {
        Err(serde::de::Error::custom(format_args!(
            "{status} is not an HTTP status"
        )))
    }
}
