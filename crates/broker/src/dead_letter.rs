//! Setting a message aside for an operator: a consumer that gives a delivery up publishes it,
//! unchanged, to the dead-letter exchange with why and when in headers (confirmed), then acks
//! it. The queue's own dead-lettering (`Ack::Reject`, the delivery limit) keeps a message too,
//! but says only "rejected"; this keeps the reason. Both land in `bot.dead-letter`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lapin::types::{AMQPValue, FieldTable, ShortString};

use crate::consumer::{Ack, Delivery};
use crate::publisher::{PublishOptions, Publisher};
use crate::topology::DEAD_EXCHANGE;

/// How long publishing a dead letter may wait for the broker.
const PUBLISH_WITHIN: Duration = Duration::from_secs(15);

/// Headers a dead letter carries (what the dead-letter drain records).
pub mod headers {
    pub const REASON: &str = "x-dead-reason";
    pub const ATTEMPTS: &str = "x-dead-attempts";
    pub const FIRST_ATTEMPT_AT: &str = "x-dead-first-attempt-at";
    pub const LAST_ATTEMPT_AT: &str = "x-dead-last-attempt-at";
    pub const SOURCE_QUEUE: &str = "x-dead-source-queue";
    /// Where a replay publishes it: the exchange and routing key it was first published with.
    pub const EXCHANGE: &str = "x-dead-exchange";
    pub const ROUTING_KEY: &str = "x-dead-routing-key";
}

/// Why a delivery was given up.
#[derive(Debug, Clone)]
pub struct GivenUp {
    pub reason: String,
    pub attempts: u32,
    pub first_attempt_at: DateTime<Utc>,
}

/// Publishes `delivery` to the dead-letter exchange with the reason, then says to ack it. If
/// the broker will not take it within a bound, says to reject it instead: the queue's own
/// dead-lettering keeps it (without the reason). Either way the message is not lost.
pub async fn set_aside(publisher: &Publisher, delivery: &Delivery, given_up: &GivenUp) -> Ack {
    let mut kept = FieldTable::default();
    for (key, value) in delivery.headers.inner() {
        // The broker's own bookkeeping describes the old queue, not the dead letter.
        if key.as_str() != "x-delivery-count" && !key.as_str().starts_with("x-death") {
            kept.insert(key.clone(), value.clone());
        }
    }
    let mut put = |key: &str, value: AMQPValue| {
        kept.insert(ShortString::from(key), value);
    };
    let text = |value: &str| AMQPValue::LongString(value.into());
    put(headers::REASON, text(&given_up.reason));
    put(
        headers::ATTEMPTS,
        AMQPValue::LongLongInt(i64::from(given_up.attempts)),
    );
    put(
        headers::FIRST_ATTEMPT_AT,
        text(&given_up.first_attempt_at.to_rfc3339()),
    );
    put(headers::LAST_ATTEMPT_AT, text(&Utc::now().to_rfc3339()));
    put(headers::SOURCE_QUEUE, text(&delivery.queue));
    // Replayed as first published: an inbound event to its conversation (the shard follows).
    let (exchange, routing_key) = delivery.published_as();
    put(headers::EXCHANGE, text(&exchange));
    put(headers::ROUTING_KEY, text(&routing_key));
    let options = PublishOptions {
        message_id: delivery.message_id.clone(),
        content_type: Some("application/json".into()),
        headers: kept,
        ..PublishOptions::default()
    };
    match publisher
        .publish_with_retry(
            DEAD_EXCHANGE,
            &delivery.routing_key,
            &delivery.body,
            options,
            PUBLISH_WITHIN,
        )
        .await
    {
        Ok(_) => Ack::Ack,
        Err(error) => {
            tracing::error!(%error, "publishing the dead letter failed; rejecting the delivery instead");
            Ack::Reject
        }
    }
}
