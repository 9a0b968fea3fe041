//! What the sender would send for a turn's WhatsApp batch: the shared renderer's bodies, and
//! the sender's decision when a scenario makes the first send fail (`whatsapp_send_fails`),
//! classified by the same `graph_client::classify` the sender uses.

use contracts::v1::{BotMessage, OutboundWhatsapp, Recipient};
use flow::engine::OutMessage;
use graph_client::payload::template;
use graph_client::{classify, ErrorClass};
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
    match classify(status_for(code), Some(code)) {
        ErrorClass::OutsideWindow => match &batch.fallback_template {
            Some(fallback) => Delivery {
                bodies: vec![template(&batch.to, fallback)],
                outcome: DeliveryOutcome::FallbackTemplate,
                detail: Some(format!(
                    "{described}: outside the 24-hour window, template {} sent instead",
                    fallback.name
                )),
            },
            None => Delivery {
                bodies: Vec::new(),
                outcome: DeliveryOutcome::GivenUp,
                detail: Some(format!(
                    "{described}: outside the 24-hour window and no template is configured"
                )),
            },
        },
        ErrorClass::Retryable => Delivery {
            bodies: payloads,
            outcome: DeliveryOutcome::SentAfterRetry,
            detail: Some(format!("{described}: retried with backoff")),
        },
        ErrorClass::Token => Delivery {
            bodies: payloads,
            outcome: DeliveryOutcome::SentAfterTokenRefresh,
            detail: Some(format!("{described}: access token refreshed, sent again")),
        },
        ErrorClass::Permanent => Delivery {
            bodies: Vec::new(),
            outcome: DeliveryOutcome::GivenUp,
            detail: Some(format!("{described}: permanent, the batch is given up")),
        },
    }
}
