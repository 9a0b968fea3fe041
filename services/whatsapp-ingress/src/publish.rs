//! Publishing a POST's events to `bot.inbound`, confirmed, in each conversation's order.
//!
//! Conversations are independent, so they are published concurrently; one conversation's
//! events go one after the other (each confirmed before the next is sent), ordered by Meta's
//! timestamp and then by their place in the payload, so its shard receives them in that order.

use std::collections::BTreeMap;
use std::time::Duration;

use broker::topology::INBOUND_EXCHANGE;
use broker::{BrokerError, PublishOptions, Publisher};
use futures_util::future::try_join_all;
use tokio::runtime::Handle;
use tracing::Instrument;

use crate::process::PlannedEvent;

/// AMQP routing keys are short strings (at most 255 bytes).
const MAX_ROUTING_KEY_LEN: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    #[error("encoding an event: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("publishing task failed: {0}")]
    Task(String),
}

/// The routing key of a conversation: its key, or (for a key longer than AMQP allows) a
/// SHA-256 of it, which still sends every event of the conversation to the same shard.
pub fn routing_key(conversation_key: &str) -> String {
    if conversation_key.len() <= MAX_ROUTING_KEY_LEN {
        conversation_key.to_owned()
    } else {
        let digest = ring::digest::digest(&ring::digest::SHA256, conversation_key.as_bytes());
        format!("sha256:{}", hex::encode(digest))
    }
}

/// Groups events by conversation, in the order they must be published.
pub fn conversations(events: Vec<PlannedEvent>) -> Vec<Vec<PlannedEvent>> {
    let mut groups: BTreeMap<String, Vec<PlannedEvent>> = BTreeMap::new();
    for event in events {
        groups
            .entry(event.event.conversation_key.as_str().to_owned())
            .or_default()
            .push(event);
    }
    groups
        .into_values()
        .map(|mut group| {
            group.sort_by_key(|e| (e.sent_at, e.position));
            group
        })
        .collect()
}

/// Publishes every event and returns once the broker confirmed all of them, or fails when
/// one could not be confirmed within `within`. Runs on `runtime` (the one the broker
/// connection lives on), not on the calling HTTP worker.
pub async fn publish_all(
    publisher: &Publisher,
    runtime: &Handle,
    events: Vec<PlannedEvent>,
    within: Duration,
) -> Result<usize, PublishError> {
    let count = events.len();
    let tasks = conversations(events).into_iter().map(|group| {
        let publisher = publisher.clone();
        // The request's span goes along, so the trace context reaches the AMQP headers.
        let span = tracing::Span::current();
        let task = runtime.spawn(
            async move {
                for planned in group {
                    let body = contracts::v1::encode(&planned.event)?;
                    let key = routing_key(planned.event.conversation_key.as_str());
                    // Mandatory: an event no shard takes is an error, not a silent loss.
                    let options = PublishOptions::json(planned.event.event_id.clone()).mandatory();
                    publisher
                        .publish_with_retry(INBOUND_EXCHANGE, &key, &body, options, within)
                        .await?;
                }
                Ok::<(), PublishError>(())
            }
            .instrument(span),
        );
        async move {
            task.await
                .map_err(|error| PublishError::Task(error.to_string()))?
        }
    });
    try_join_all(tasks).await?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::v1::{Channel, ConversationKey, InboundEvent, Input, SchemaVersion};
    use contracts::IntegrationId;

    fn planned(key: &str, id: &str, sent_at: i64, position: usize) -> PlannedEvent {
        let integration = IntegrationId::new(1).unwrap_or_else(|_| unreachable!());
        PlannedEvent {
            sent_at,
            position,
            event: InboundEvent {
                schema: SchemaVersion::V1,
                event_id: id.into(),
                integration_id: integration,
                channel: Channel::Whatsapp,
                conversation_key: ConversationKey::whatsapp(integration, "pn", key),
                session_id: key.into(),
                user_identifier: key.into(),
                received_at_unix_ms: 0,
                input: Input::Text { text: id.into() },
                reply: None,
                idempotency: None,
                whatsapp: None,
            },
        }
    }

    #[test]
    fn each_conversation_is_ordered_by_timestamp_then_position() {
        let groups = conversations(vec![
            planned("a", "a3", 20, 1),
            planned("b", "b1", 5, 2),
            planned("a", "a1", 10, 3),
            planned("a", "a2", 10, 4),
        ]);
        let ids: Vec<Vec<&str>> = groups
            .iter()
            .map(|g| g.iter().map(|e| e.event.event_id.as_str()).collect())
            .collect();
        assert_eq!(ids, [vec!["a1", "a2", "a3"], vec!["b1"]]);
    }

    #[test]
    fn long_keys_hash_to_a_stable_short_key() {
        assert_eq!(routing_key("1:2:3"), "1:2:3");
        let long = "x".repeat(300);
        let hashed = routing_key(&long);
        assert!(hashed.len() <= MAX_ROUTING_KEY_LEN);
        assert_eq!(hashed, routing_key(&long));
        assert_ne!(hashed, routing_key(&"y".repeat(300)));
    }
}
