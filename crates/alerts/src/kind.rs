//! What an alert is about.

use std::fmt;
use std::time::Duration;

use contracts::IntegrationId;
use serde::{Deserialize, Serialize};

/// The kinds of error alert; each is throttled on its own, per integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A message could not be sent, after the retries.
    SendFailed,
    /// A token exchange or refresh failed.
    TokenFailure,
    /// A bot turn failed (the session stayed at its last good state).
    BotExecutionError,
    /// Many webhook deliveries with a missing or wrong signature in a short time.
    BadSignatures,
}

impl AlertKind {
    pub const ALL: [AlertKind; 4] = [
        AlertKind::SendFailed,
        AlertKind::TokenFailure,
        AlertKind::BotExecutionError,
        AlertKind::BadSignatures,
    ];

    /// The stable code, as in JSON, logs, mail subjects and the `alert_throttle` table.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::SendFailed => "send_failed",
            AlertKind::TokenFailure => "token_failure",
            AlertKind::BotExecutionError => "bot_execution_error",
            AlertKind::BadSignatures => "bad_signatures",
        }
    }

    /// The code back to the kind.
    pub fn from_code(code: &str) -> Option<AlertKind> {
        AlertKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == code)
    }

    /// One sentence for the mail's first line.
    pub fn description(self) -> &'static str {
        match self {
            AlertKind::SendFailed => "A message could not be sent after retries.",
            AlertKind::TokenFailure => {
                "A WhatsApp access token could not be exchanged or refreshed."
            }
            AlertKind::BotExecutionError => {
                "A bot turn failed; the session kept its last good state."
            }
            AlertKind::BadSignatures => {
                "Webhook deliveries with a missing or wrong signature arrived in a burst."
            }
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One error worth telling the integration's operator about.
///
/// `summary` and `detail` go into the mail and the logs as they are: build them without
/// secrets (no tokens, app secrets, API keys, message bodies' credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub integration_id: IntegrationId,
    pub kind: AlertKind,
    /// One line: what happened.
    pub summary: String,
    /// More context: error codes, the recipient, the component, the retry count.
    pub detail: String,
}

impl Alert {
    pub fn new(
        integration_id: IntegrationId,
        kind: AlertKind,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) -> Alert {
        Alert {
            integration_id,
            kind,
            summary: summary.into(),
            detail: detail.into(),
        }
    }

    /// The alert for a burst found by [`crate::BurstDetector`]: `count` refused signatures
    /// within `window`.
    pub fn bad_signatures(integration_id: IntegrationId, count: usize, window: Duration) -> Alert {
        Alert::new(
            integration_id,
            AlertKind::BadSignatures,
            format!(
                "{count} webhook deliveries with a missing or wrong X-Hub-Signature-256 within {}",
                crate::mail::human_duration(window)
            ),
            "Each was answered with an error and nothing was published. A burst usually means \
             the app secret configured here differs from the app's in Meta's dashboard, or that \
             someone other than Meta is posting to the webhook URL.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_serde_and_round_trip() {
        for kind in AlertKind::ALL {
            let json = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(kind.to_string(), kind.as_str());
            assert_eq!(AlertKind::from_code(kind.as_str()), Some(kind));
        }
        assert_eq!(AlertKind::from_code("other"), None);
    }
}
