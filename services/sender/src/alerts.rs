//! Where the sender reports what an operator must know about: sends given up, tokens that
//! cannot be used or refreshed. [`LogAlerts`] logs them; `alerts::Alerter` (what `start`
//! uses) mails them to the integration's alert address, throttled per integration and kind
//! (docs/alerts.md).

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

/// The e-mail alerts: throttled per integration and kind across every replica, mailed when the
/// integration has alerts on (else nothing, or a log line without `SMTP_URL`).
impl AlertSink for ::alerts::Alerter {
    fn alert(&self, integration_id: IntegrationId, kind: AlertKind, detail: String) {
        let (kind, consequence) = match kind {
            AlertKind::SendFailed => (
                ::alerts::AlertKind::SendFailed,
                "The sender gave up on this batch of the bot's messages; the messages before \
                 it were delivered, the rest were not, and they will not be retried. The user \
                 can write again to go on.",
            ),
            AlertKind::TokenFailure => (
                ::alerts::AlertKind::TokenFailure,
                "Messages of this integration cannot be sent until its access token works: \
                 set a new access token on the integration (it is exchanged for a long-lived \
                 one at once).",
            ),
        };
        // The sender's detail names the failure (Meta's code and message, never a token):
        // the mail's one-line summary. The consequence is the detail.
        self.raise_now(::alerts::Alert::new(
            integration_id,
            kind,
            detail,
            consequence,
        ));
    }
}
