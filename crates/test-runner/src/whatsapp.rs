//! What the sender would send for a turn's WhatsApp batch: the shared renderer's bodies, and
//! the sender's decision when a scenario makes the first send fail (`whatsapp_send_fails`),
//! classified by the same `graph_client::classify` the sender uses.

use contracts::v1::{BotMessage, OutboundWhatsapp, Recipient};
use flow::engine::OutMessage;
use graph_client::classify;
use graph_client::payload::template;
use graph_client::reaction::{react, GiveUpReason, Reaction, Tried};
use serde::Serialize;
use serde_json::Value;

/// The sender's handling of one batch, as the run shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The Graph API `/messages` bodies, in the order they would be sent.
    #[schema(value_type = Vec<Object>)]
    pub bodies: Vec<Value>,
    pub outcome: DeliveryOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    Sent,
    /// A throttling or temporary error: the sender backs off and sends again.
    SentAfterRetry,
    /// The access token was refused: the sender refreshes it once and sends again.
    SentAfterTokenRefresh,
    /// Outside the 24-hour window: the fallback template goes instead of the batch's rest.
    FallbackTemplate,
    /// Nothing more is sent; the sender alerts.
    GivenUp,
}

/// The engine's messages as the contract's (the two serialise alike; a contracts test holds
/// them together).
pub fn bot_messages(messages: &[OutMessage]) -> Vec<BotMessage> {
    serde_json::to_value(messages)
        .and_then(serde_json::from_value)
        .unwrap_or_default()
}

/// The bodies one component's messages become.
pub fn render_component(messages: &[OutMessage], to: &Recipient) -> Vec<Value> {
    whatsapp_render::render(&bot_messages(messages), to)
}

/// Meta's HTTP status for the magic codes (the class comes from the code itself).
fn status_for(code: i64) -> u16 {
    match code {
        190 => 401,
        130429 | 80007 | 4 => 429,
        _ => 400,
    }
}

/// What the sender does with `batch` when its first send fails with `fails_with`.
pub fn deliver(batch: &OutboundWhatsapp, fails_with: Option<i64>) -> Delivery {
    let payloads: Vec<Value> = batch
        .template
        .iter()
        .map(|t| template(&batch.to, t))
        .chain(whatsapp_render::render(&batch.messages, &batch.to))
        .collect();
    let Some(code) = fails_with.filter(|_| !payloads.is_empty()) else {
        return Delivery {
            bodies: payloads,
            outcome: DeliveryOutcome::Sent,
            detail: None,
        };
    };
    let described = format!("Meta answered error {code}");
    // The first failure of the batch; the sender's retry limit is never reached by one.
    let tried = Tried {
        failures: 1,
        token_refreshed: false,
    };
    let class = classify(status_for(code), Some(code));
    match react(class, tried, u32::MAX, batch.fallback_template.is_some()) {
        Reaction::FallBackToTemplate => {
            let fallback = batch.fallback_template.as_ref();
            Delivery {
                bodies: fallback
                    .map(|t| template(&batch.to, t))
                    .into_iter()
                    .collect(),
                outcome: DeliveryOutcome::FallbackTemplate,
                detail: Some(format!(
                    "{described}: outside the 24-hour window, template {} sent instead",
                    fallback.map(|t| t.name.as_str()).unwrap_or_default()
                )),
            }
        }
        Reaction::Retry => Delivery {
            bodies: payloads,
            outcome: DeliveryOutcome::SentAfterRetry,
            detail: Some(format!("{described}: retried with backoff")),
        },
        Reaction::RefreshToken => Delivery {
            bodies: payloads,
            outcome: DeliveryOutcome::SentAfterTokenRefresh,
            detail: Some(format!("{described}: access token refreshed, sent again")),
        },
        Reaction::GiveUp(why) => Delivery {
            bodies: Vec::new(),
            outcome: DeliveryOutcome::GivenUp,
            detail: Some(format!(
                "{described}: {}",
                match why {
                    GiveUpReason::NoFallbackTemplate =>
                        "outside the 24-hour window and no template is configured",
                    GiveUpReason::Permanent => "permanent, the batch is given up",
                    GiveUpReason::RetriesExhausted => "still failing after every retry",
                    GiveUpReason::TokenRefusedAgain => "the token was refused after a refresh",
                }
            )),
        },
    }
}
