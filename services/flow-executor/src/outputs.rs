//! What a turn produces: the reply to a waiting API request and the WhatsApp messages to send.
//! Stored with the turn (table `processed_events`) in the same transaction as the session, and
//! published after the commit; a redelivered event publishes the stored outputs again.

use std::time::Duration;

use broker::{PublishOptions, Publisher};
use contracts::v1::{OutboundWhatsapp, TurnReply};
use serde::{Deserialize, Serialize};

pub const OUTBOUND_EXCHANGE: &str = "bot.outbound";
pub const WHATSAPP_ROUTING_KEY: &str = "whatsapp";

/// How long publishing may wait for the broker before the delivery is handed back.
const PUBLISH_WITHIN: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outputs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<AddressedReply>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub whatsapp: Vec<OutboundWhatsapp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressedReply {
    /// The gateway replica's reply queue.
    pub queue: String,
    pub reply: TurnReply,
}

impl Outputs {
    /// Publishes everything, each message confirmed by the broker.
    pub async fn publish(
        &self,
        publisher: &Publisher,
        event_id: &str,
    ) -> Result<(), broker::BrokerError> {
        for (index, batch) in self.whatsapp.iter().enumerate() {
            let body = serde_json::to_vec(batch)
                .map_err(|e| broker::BrokerError::Config(e.to_string()))?;
            let options = PublishOptions::json(format!("{}#{index}", batch.event_id));
            publisher
                .publish_with_retry(
                    OUTBOUND_EXCHANGE,
                    WHATSAPP_ROUTING_KEY,
                    &body,
                    options,
                    PUBLISH_WITHIN,
                )
                .await?;
        }
        if let Some(addressed) = &self.reply {
            let body = serde_json::to_vec(&addressed.reply)
                .map_err(|e| broker::BrokerError::Config(e.to_string()))?;
            // Replies are not persistent and not mandatory: if the replica is gone the answer
            // is still stored for the client's retry (Idempotency-Key).
            let options = PublishOptions {
                correlation_id: Some(addressed.reply.correlation_id.clone()),
                content_type: Some("application/json".into()),
                persistent: false,
                ..PublishOptions::default()
            }
            .with_message_id(event_id.to_owned());
            publisher
                .publish_with_retry("", &addressed.queue, &body, options, PUBLISH_WITHIN)
                .await?;
        }
        Ok(())
    }
}
