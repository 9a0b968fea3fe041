//! Where the sender reports what an operator must know about: sends given up, tokens that
//! cannot be used or refreshed. [`LogAlerts`] logs them; the e-mail alerts plug in here by
//! implementing [`AlertSink`] (throttling per integration and kind is the sink's job).

use contracts::IntegrationId;

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// A batch was given up: a permanent Graph error, retries exhausted, or a message outside
    /// the 24-hour window without a usable fallback template.
    SendFailed,
    /// The access token was refused and could not be refreshed, expired, or cannot be
    /// opened; or a background refresh failed.
    TokenFailure,
}

impl AlertKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::SendFailed => "send_failed",
            AlertKind::TokenFailure => "token_failure",
        }
    }
}

/// Receives alerts. Called on the sending path: implementations must return quickly (queue
/// the work) and never fail.
pub trait AlertSink: Send + Sync + 'static {
    fn alert(&self, integration_id: IntegrationId, kind: AlertKind, detail: String);
}

/// Logs every alert as an error.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogAlerts;

impl AlertSink for LogAlerts {
    fn alert(&self, integration_id: IntegrationId, kind: AlertKind, detail: String) {
        tracing::error!(integration = %integration_id, kind = kind.as_str(), %detail, "alert");
    }
}
