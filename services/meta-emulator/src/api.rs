//! The control API's JSON shapes (`/_emulator/...`), shared by the server and
//! [`crate::client::EmulatorClient`] so that tests and the emulator cannot drift apart.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A failure (or a delay) injected into the Graph API. See `docs/meta-emulator.md`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FaultSpec {
    /// The phone number id whose `/messages` calls fail; `None` means every Graph request,
    /// the token exchange included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    /// HTTP status of the failure. Derived from `code` when absent (Meta's table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Meta error code (e.g. 130429, 131056, 4, 80007, 131047, 190). Derived from `status`
    /// when absent. With neither `status` nor `code` the fault only adds latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subcode: Option<i64>,
    /// Replaces the catalogue's message for `code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Replaces the catalogue's `error_data.details`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// How many of the next matching calls are affected. With neither `count` nor
    /// `duration_ms` the fault stays until deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// For how long (from now) matching calls are affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Delay before answering each affected call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

impl FaultSpec {
    /// The next `count` sends from `phone_number_id` fail with Meta error `code`.
    pub fn error(phone_number_id: &str, code: i64, count: u32) -> Self {
        FaultSpec {
            phone_number_id: Some(phone_number_id.to_owned()),
            code: Some(code),
            count: Some(count),
            ..FaultSpec::default()
        }
    }
}

/// A fault as stored: its id and what is left of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultInfo {
    pub id: u64,
    pub spec: FaultSpec,
    /// Calls still affected, for count-based faults.
    pub remaining: Option<u32>,
}

/// One Graph API request as the emulator saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordedRequest {
    /// Increasing from 1; pass the last one seen as `since` to read only newer requests.
    pub seq: u64,
    /// RFC 3339.
    pub time: String,
    pub method: String,
    pub path: String,
    /// Query parameters; secrets (`client_secret`, `fb_exchange_token`) are replaced by their
    /// fingerprint.
    pub query: serde_json::Map<String, Value>,
    /// Lower-case header names; `authorization` is left out (see `token_fingerprint`).
    pub headers: serde_json::Map<String, Value>,
    /// [`crate::token_fingerprint`] of the bearer token, when one was sent.
    pub token_fingerprint: Option<String>,
    pub phone_number_id: Option<String>,
    /// The JSON body, or `null` when there was none or it was not JSON (see `body_text`).
    pub body: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    pub response: Value,
}

/// Per phone number (or global) behaviour. Every field is optional: a `POST /_emulator/config`
/// changes only the fields it carries.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    /// Where status webhooks go (an integration's webhook URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_target_url: Option<String>,
    /// Signs webhooks to that target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<String>,
    /// Emit statuses for accepted sends (default: when a webhook target is configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emit_statuses: Option<bool>,
    /// Delay before each status (default 50 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_delay_ms: Option<u64>,
    /// The statuses emitted, in this order (default sent, delivered, read). Reorder or drop
    /// some to exercise a receiver's forward-only state machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<String>>,
    /// Enforce the 24-hour customer-service window (default off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_window: Option<bool>,
    /// How a closed window fails: `sync` (error 131047 answered to the send, default) or
    /// `async` (send accepted, then a `failed` status carrying 131047).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_failure: Option<String>,
    /// Sends per second above which `/messages` answers 130429 (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages_per_second: Option<u32>,
    /// `metadata.display_phone_number` in webhooks (default: the phone number id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_phone_number: Option<String>,
    /// `entry[].id` in webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waba_id: Option<String>,
    /// Retries of status webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
}

/// Body of `POST /_emulator/config`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConfigUpdate {
    /// Absent: change the global settings; present: that phone number's overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    #[serde(flatten)]
    pub settings: Settings,
}

/// Answer of `GET /_emulator/config`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConfigView {
    pub global: Settings,
    pub phone_numbers: std::collections::BTreeMap<String, Settings>,
}

/// Webhook retries: `max_attempts` in all, waiting `backoff_ms`, then twice that, and so on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            backoff_ms: 200,
        }
    }
}

/// Body of `POST /_emulator/webhooks/deliver`. Give exactly one of `payload`, `payloads`,
/// `raw_body` or `messages`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DeliverRequest {
    /// Default: the configured target of the messages' phone number, then the global one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<String>,
    /// One whole webhook body, serialised and escaped as Meta does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Several bodies, one POST each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payloads: Option<Vec<Value>>,
    /// A body sent as written, only non-ASCII escaped (e.g. a fixture file's text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_body: Option<String>,
    /// User messages built into Meta-shaped bodies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<UserMessage>,
    /// Each body is POSTed this many extra times.
    #[serde(default)]
    pub duplicate: u32,
    /// All `messages` in one body instead of one body each.
    #[serde(default)]
    pub batch: bool,
    /// POST the bodies in reverse order.
    #[serde(default)]
    pub reorder: bool,
    /// POST all bodies at once instead of one after the other.
    #[serde(default)]
    pub concurrent: bool,
    /// Default: 3 attempts, 200 ms backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Also escape `/` as `\/` (as PHP-style encoders do).
    #[serde(default)]
    pub escape_slashes: bool,
}

/// A message from a WhatsApp user, for [`DeliverRequest::messages`]. Give `text`, or
/// `button_reply_id` + `button_reply_title`, or `list_reply_id` + `list_reply_title`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UserMessage {
    /// The user's `wa_id` (digits).
    pub from: String,
    pub phone_number_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_phone_number: Option<String>,
    /// Profile name (default "Emulated User").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Business-scoped user id, added to `contacts[]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The message's wamid (default: a fresh one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Unix seconds (default: now). An old timestamp leaves the 24-hour window closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// The business message this one answers (`context.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button_reply_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button_reply_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_reply_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_reply_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_reply_description: Option<String>,
}

/// Answer of `POST /_emulator/webhooks/deliver`, once every POST has ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeliverReport {
    /// In the order they were sent.
    pub deliveries: Vec<DeliveryOutcome>,
}

impl DeliverReport {
    /// Whether every POST was finally answered 200.
    pub fn all_acknowledged(&self) -> bool {
        self.deliveries.iter().all(|d| d.acknowledged)
    }
}

/// One body's delivery: what was sent and every attempt's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeliveryOutcome {
    /// The exact bytes POSTed (ASCII after escaping).
    pub body: String,
    /// The `X-Hub-Signature-256` header sent.
    pub signature: String,
    /// The wamids of the messages in the body.
    pub message_ids: Vec<String>,
    pub attempts: Vec<Attempt>,
    /// Some attempt was answered 200.
    pub acknowledged: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    /// The HTTP status, or `None` when the request failed (see `error`).
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// A message the business sent through `/messages` and the emulator accepted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboundMessage {
    /// Increasing across all conversations; pass the last one seen as `since`.
    pub seq: u64,
    pub wamid: String,
    pub phone_number_id: String,
    /// The conversation key: the digits of `to`, or `recipient` as given.
    pub user: String,
    /// `text`, `interactive`, `image`, `template`, ...
    pub message_type: String,
    /// The request body as sent.
    pub message: Value,
    /// accepted, sent, delivered, read or failed (follows the emitted statuses).
    pub status: String,
    pub time: String,
}

/// Body of `POST /_emulator/tokens`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TokenRequest {
    /// Default: a fresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `short_lived` (default lifetime 2 h), `long_lived` (60 days) or `system_user`
    /// (never expires, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenInfo {
    pub token: String,
    pub kind: String,
    pub fingerprint: String,
    /// RFC 3339, `None` for tokens that never expire.
    pub expires_at: Option<String>,
    pub revoked: bool,
}

/// Body of `POST /_emulator/tokens/expire` and `/_emulator/tokens/revoke`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenRef {
    pub token: String,
}

/// Body of `POST /_emulator/windows`: open (or close) a 24-hour window by hand.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WindowUpdate {
    pub phone_number_id: String,
    pub user: String,
    /// Unix seconds of the user's last message; `None` closes the window.
    pub last_inbound_at: Option<i64>,
}
