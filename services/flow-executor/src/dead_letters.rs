//! The drain of `bot.dead-letter`: every message RabbitMQ dead-lettered (rejected by a
//! consumer, or past its queue's delivery limit) is recorded in the `dead_letters` table, where
//! operators list, replay and discard it (admin API, `botctl dead-letters`). A message is acked
//! only once its row is committed, so nothing is lost between the queue and the table; every
//! executor runs a drain and recording is idempotent per event id, so duplicates are harmless.
//!
//! What a letter says comes from the broker's `x-death` headers (why, from which queue, where it
//! was first published, how often) and, when the body is a v1 `InboundEvent`,
//! `OutboundWhatsapp` or `WindowFallback`, from the body (event id, integration, conversation). The drain also
//! exports the dead-letter depth as the gauge `dead_letters` (letters with status `dead`).

use std::time::Duration;

use broker::{AMQPValue, Ack, Broker, ConsumeOptions, Delivery, FieldTable};
use chrono::{DateTime, TimeZone, Utc};
use contracts::v1::{InboundEvent, OutboundWhatsapp, WindowFallback};
use serde_json::{json, Map, Value};
use store::dead_letters::{NewDeadLetter, MAX_EVENT_ID_LEN};
use store::{Store, StoreError};
use tokio::sync::watch;

/// How often the depth gauge is refreshed (also after every recorded letter).
const GAUGE_EVERY: Duration = Duration::from_secs(15);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Consumes `bot.dead-letter` until `shutdown` turns true, recording every message.
pub async fn drain(broker: Broker, store: Store, shutdown: watch::Receiver<bool>) {
    let gauge = tokio::spawn(refresh_gauge(store.clone(), shutdown.clone()));
    let handler_store = store.clone();
    let handler_shutdown = shutdown.clone();
    let handler = move |delivery: Delivery| {
        let store = handler_store.clone();
        let shutdown = handler_shutdown.clone();
        async move { record(&store, &delivery, shutdown).await }
    };
    // One at a time, prefetch 1: a letter that cannot be written yet is handed back with a
    // plain nack and nothing is held behind it.
    let options = ConsumeOptions {
        prefetch: Some(1),
        consumer_tag: String::new(),
        concurrency: 1,
        lanes: None,
    };
    let stop = service_kit::stopped(shutdown);
    if let Err(error) = broker
        .consume(broker::topology::DEAD_LETTER_QUEUE, options, handler, stop)
        .await
    {
        tracing::error!(%error, "dead-letter drain stopped");
    }
    let _ = gauge.await;
}

/// Records one dead-lettered message, waiting out database trouble: the dead-letter queue has
/// no dead-letter exchange of its own, so a letter is only acked once it is safely stored
/// (it stays in the queue, in order, until then). Handed back on shutdown.
async fn record(store: &Store, delivery: &Delivery, mut shutdown: watch::Receiver<bool>) -> Ack {
    let letter = Letter::from_delivery(delivery, Utc::now());
    let mut pause = Duration::from_millis(100);
    loop {
        match store
            .record_dead_letter(&letter.as_new(&delivery.body))
            .await
        {
            Ok(id) => {
                tracing::warn!(
                    dead_letter = id,
                    event_id = %letter.event_id,
                    integration = ?letter.integration_id,
                    conversation = letter.conversation_key.as_deref().unwrap_or(""),
                    source_queue = %letter.source_queue,
                    reason = %letter.reason,
                    "dead letter recorded"
                );
                metrics::counter!("dead_letters_recorded_total").increment(1);
                set_gauge(store).await;
                return Ack::Ack;
            }
            Err(error) => {
                let level_error = !matches!(error, StoreError::Unavailable(_));
                if level_error {
                    tracing::error!(%error, event_id = %letter.event_id, "recording a dead letter failed; retrying");
                } else {
                    tracing::warn!(%error, event_id = %letter.event_id, "database away; dead letter waits");
                }
            }
        }
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return Ack::Requeue,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(RETRY_MAX);
    }
}

async fn refresh_gauge(store: Store, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(GAUGE_EVERY);
    loop {
        let stopping = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => true,
            _ = tick.tick() => false,
        };
        if stopping {
            return;
        }
        set_gauge(&store).await;
    }
}

async fn set_gauge(store: &Store) {
    match store.count_dead_letters().await {
        Ok(count) => metrics::gauge!("dead_letters").set(count as f64),
        Err(error) => tracing::debug!(%error, "dead-letter depth not refreshed"),
    }
}

/// What the drain makes of a dead-lettered message.
#[derive(Debug, Clone, PartialEq)]
struct Letter {
    event_id: String,
    integration_id: Option<i64>,
    conversation_key: Option<String>,
    source_queue: String,
    exchange: String,
    routing_key: String,
    headers: Value,
    reason: String,
    attempts: i32,
    first_attempt_at: DateTime<Utc>,
    last_attempt_at: DateTime<Utc>,
}

/// The platform message a body holds, when it is one.
struct Identity {
    event_id: String,
    integration_id: i64,
    conversation_key: String,
    received_at: Option<DateTime<Utc>>,
}

fn identify(body: &[u8]) -> Option<Identity> {
    if let Ok(event) = contracts::v1::decode::<InboundEvent>(body) {
        return Some(Identity {
            event_id: event.event_id,
            integration_id: event.integration_id.get(),
            conversation_key: event.conversation_key.as_str().to_owned(),
            received_at: Utc.timestamp_millis_opt(event.received_at_unix_ms).single(),
        });
    }
    if let Ok(batch) = contracts::v1::decode::<OutboundWhatsapp>(body) {
        return Some(Identity {
            event_id: batch.event_id,
            integration_id: batch.integration_id.get(),
            conversation_key: batch.conversation_key.as_str().to_owned(),
            received_at: None,
        });
    }
    contracts::v1::decode::<WindowFallback>(body)
        .ok()
        .map(|request| Identity {
            event_id: request.event_id,
            integration_id: request.integration_id.get(),
            conversation_key: request.conversation_key.as_str().to_owned(),
            received_at: None,
        })
}

/// One entry of `x-death`: a queue that dead-lettered the message, and why.
#[derive(Debug, Default)]
struct Death {
    queue: String,
    reason: String,
    exchange: String,
    routing_key: Option<String>,
    count: i64,
    time: Option<DateTime<Utc>>,
}

fn text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn integer(value: &AMQPValue) -> Option<i64> {
    match value {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortUInt(n) => Some(i64::from(*n)),
        AMQPValue::Timestamp(n) => i64::try_from(*n).ok(),
        _ => None,
    }
}

/// `x-death`, newest first (as RabbitMQ keeps it).
fn deaths(headers: &FieldTable) -> Vec<Death> {
    let Some(AMQPValue::FieldArray(entries)) = headers.inner().get("x-death") else {
        return Vec::new();
    };
    entries
        .as_slice()
        .iter()
        .filter_map(|entry| match entry {
            AMQPValue::FieldTable(table) => Some(table),
            _ => None,
        })
        .map(|table| {
            let field = |key: &str| table.inner().get(key);
            Death {
                queue: field("queue").and_then(text).unwrap_or_default(),
                reason: field("reason").and_then(text).unwrap_or_default(),
                exchange: field("exchange").and_then(text).unwrap_or_default(),
                routing_key: match field("routing-keys") {
                    Some(AMQPValue::FieldArray(keys)) => keys.as_slice().first().and_then(text),
                    _ => None,
                },
                count: field("count").and_then(integer).unwrap_or(1),
                time: field("time")
                    .and_then(integer)
                    .and_then(|secs| Utc.timestamp_opt(secs, 0).single()),
            }
        })
        .collect()
}

/// The headers worth keeping for a replay and for the operator: the message id and the
/// application's string headers (trace context); not the broker's `x-` bookkeeping.
fn kept_headers(delivery: &Delivery) -> Value {
    let mut kept = Map::new();
    if let Some(id) = &delivery.message_id {
        kept.insert("message_id".into(), Value::from(id.as_str()));
    }
    if let Some(id) = &delivery.correlation_id {
        kept.insert("correlation_id".into(), Value::from(id.as_str()));
    }
    let application: Map<String, Value> = delivery
        .headers
        .inner()
        .iter()
        .filter(|(key, _)| !key.as_str().starts_with("x-"))
        .filter_map(|(key, value)| Some((key.as_str().to_owned(), Value::from(text(value)?))))
        .collect();
    if !application.is_empty() {
        kept.insert("headers".into(), Value::Object(application));
    }
    Value::Object(kept)
}

fn reason_text(death: Option<&Death>) -> String {
    match death {
        Some(death) => {
            let why = match death.reason.as_str() {
                "rejected" => "rejected by its consumer",
                "delivery_limit" => "delivery limit reached",
                "expired" => "expired",
                "maxlen" => "queue length limit reached",
                other => other,
            };
            format!("{why} (queue {})", death.queue)
        }
        None => "dead-lettered without x-death".into(),
    }
}

impl Letter {
    fn from_delivery(delivery: &Delivery, now: DateTime<Utc>) -> Letter {
        let mut letter = Self::from_broker_headers(delivery, now);
        letter.apply_given_up_headers(delivery);
        letter
    }

    /// A consumer that gave the message up itself (`broker::dead_letter::set_aside`) says why,
    /// how often and since when in `x-dead-*` headers: they win over what `x-death` implies.
    fn apply_given_up_headers(&mut self, delivery: &Delivery) {
        use broker::dead_letter::headers;
        let Some(reason) = delivery.header_str(headers::REASON) else {
            return;
        };
        self.reason = reason.to_owned();
        let time = |key: &str| {
            delivery
                .header_str(key)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        if let Some(at) = time(headers::FIRST_ATTEMPT_AT) {
            self.first_attempt_at = at;
        }
        if let Some(at) = time(headers::LAST_ATTEMPT_AT) {
            self.last_attempt_at = at;
        }
        if let Some(attempts) = delivery
            .headers
            .inner()
            .get(headers::ATTEMPTS)
            .and_then(integer)
        {
            self.attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
        }
        for (key, field) in [
            (headers::SOURCE_QUEUE, &mut self.source_queue),
            (headers::EXCHANGE, &mut self.exchange),
            (headers::ROUTING_KEY, &mut self.routing_key),
        ] {
            if let Some(value) = delivery.header_str(key).filter(|v| !v.is_empty()) {
                *field = value.to_owned();
            }
        }
    }

    fn from_broker_headers(delivery: &Delivery, now: DateTime<Utc>) -> Letter {
        let deaths = deaths(&delivery.headers);
        // The first death is the oldest entry; it names where the message was first published.
        let first_queue = delivery.header_str("x-first-death-queue");
        let origin = first_queue
            .and_then(|queue| deaths.iter().find(|d| d.queue == queue))
            .or_else(|| deaths.last());
        let latest = deaths.first();
        let identity = identify(&delivery.body);
        let exchange = delivery
            .header_str("x-first-death-exchange")
            .map(str::to_owned)
            .or_else(|| origin.map(|d| d.exchange.clone()))
            .unwrap_or_else(|| delivery.exchange.clone());
        let routing_key = origin
            .and_then(|d| d.routing_key.clone())
            .or_else(|| identity.as_ref().map(|i| i.conversation_key.clone()))
            .unwrap_or_else(|| delivery.routing_key.clone());
        // An inbound event the publisher routed to its shard is recorded (and replayed) as it
        // was addressed: to the inbound exchange with its conversation key, whose shard the
        // replay computes again.
        let (exchange, routing_key) = match delivery
            .header_str(broker::topology::CONVERSATION_HEADER)
            .filter(|c| !c.is_empty())
        {
            Some(conversation) => (
                broker::topology::INBOUND_EXCHANGE.to_owned(),
                conversation.to_owned(),
            ),
            None => (exchange, routing_key),
        };
        let last_attempt_at = latest.and_then(|d| d.time).unwrap_or(now);
        let first_attempt_at = identity
            .as_ref()
            .and_then(|i| i.received_at)
            .or_else(|| origin.and_then(|d| d.time))
            .unwrap_or(last_attempt_at)
            .min(last_attempt_at);
        // Deliveries before it was given up: the quorum queue's count (+1 for the first), or,
        // without one, how often it was dead-lettered.
        let dead_lettered: i64 = deaths.iter().map(|d| d.count.max(1)).sum();
        let delivered = delivery.delivery_count() as i64 + 1;
        let attempts = i32::try_from(dead_lettered.max(delivered)).unwrap_or(i32::MAX);
        let event_id = identity
            .as_ref()
            .map(|i| i.event_id.clone())
            .or_else(|| delivery.message_id.clone())
            .filter(|id| !id.is_empty() && id.len() <= MAX_EVENT_ID_LEN)
            .unwrap_or_else(|| format!("sha256:{}", crypto::sha256_hex(&delivery.body)));
        let mut headers = kept_headers(delivery);
        if let Some(map) = headers.as_object_mut() {
            if identity.is_none() {
                map.insert(
                    "undecodable".into(),
                    json!("the body is not a v1 InboundEvent, OutboundWhatsapp or WindowFallback"),
                );
            }
        }
        Letter {
            event_id,
            integration_id: identity.as_ref().map(|i| i.integration_id),
            conversation_key: identity.map(|i| i.conversation_key),
            source_queue: origin
                .map(|d| d.queue.clone())
                .unwrap_or_else(|| delivery.queue.clone()),
            exchange,
            routing_key,
            headers,
            reason: reason_text(latest),
            attempts,
            first_attempt_at,
            last_attempt_at,
        }
    }

    fn as_new<'a>(&'a self, body: &'a [u8]) -> NewDeadLetter<'a> {
        NewDeadLetter {
            event_id: &self.event_id,
            integration_id: self.integration_id,
            conversation_key: self.conversation_key.as_deref(),
            source_queue: &self.source_queue,
            exchange: &self.exchange,
            routing_key: &self.routing_key,
            body,
            headers: self.headers.clone(),
            reason: &self.reason,
            attempts: self.attempts,
            first_attempt_at: self.first_attempt_at,
            last_attempt_at: self.last_attempt_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use broker::{FieldTable, LongString};

    use super::*;

    fn long(s: &str) -> AMQPValue {
        AMQPValue::LongString(LongString::from(s))
    }

    fn death(queue: &str, reason: &str, exchange: &str, key: &str, time: u64) -> AMQPValue {
        let mut table = FieldTable::default();
        table.insert("queue".into(), long(queue));
        table.insert("reason".into(), long(reason));
        table.insert("exchange".into(), long(exchange));
        table.insert(
            "routing-keys".into(),
            AMQPValue::FieldArray(vec![long(key)].into()),
        );
        table.insert("count".into(), AMQPValue::LongLongInt(1));
        table.insert("time".into(), AMQPValue::Timestamp(time));
        AMQPValue::FieldTable(table)
    }

    fn event_body() -> Vec<u8> {
        serde_json::to_vec(&json!({
            "schema": "v1", "event_id": "ev-1", "integration_id": 7, "channel": "api",
            "conversation_key": "7:s1", "session_id": "s1", "user_identifier": "s1",
            "received_at_unix_ms": 1_764_496_800_000_i64,
            "input": {"type": "start", "force_restart": false, "variables": {}, "message_payload": null}
        }))
        .unwrap_or_default()
    }

    #[test]
    fn an_inbound_event_past_its_delivery_limit_keeps_its_shard_key_and_identity() {
        let body = event_body();
        assert!(
            identify(&body).is_some(),
            "the fixture is a v1 InboundEvent"
        );
        let mut delivery = Delivery::new(body);
        delivery.message_id = Some("ev-1".into());
        delivery.queue = "bot.dead-letter".into();
        delivery.exchange = "bot.dead".into();
        delivery.routing_key = "7:s1".into();
        delivery.headers.insert(
            "x-death".into(),
            AMQPValue::FieldArray(
                vec![death(
                    "bot.inbound.1",
                    "delivery_limit",
                    "bot.inbound",
                    "7:s1",
                    1_764_496_860,
                )]
                .into(),
            ),
        );
        delivery
            .headers
            .insert("x-first-death-queue".into(), long("bot.inbound.1"));
        delivery
            .headers
            .insert("x-first-death-exchange".into(), long("bot.inbound"));
        delivery
            .headers
            .insert("x-delivery-count".into(), AMQPValue::LongLongInt(5));
        delivery
            .headers
            .insert("traceparent".into(), long("00-abc-def-01"));
        let letter = Letter::from_delivery(&delivery, Utc::now());
        assert_eq!(letter.event_id, "ev-1");
        assert_eq!(letter.integration_id, Some(7));
        assert_eq!(letter.conversation_key.as_deref(), Some("7:s1"));
        assert_eq!(letter.source_queue, "bot.inbound.1");
        assert_eq!(
            (letter.exchange.as_str(), letter.routing_key.as_str()),
            ("bot.inbound", "7:s1")
        );
        assert_eq!(
            letter.reason,
            "delivery limit reached (queue bot.inbound.1)"
        );
        assert_eq!(letter.attempts, 6);
        assert_eq!(letter.first_attempt_at.timestamp(), 1_764_496_800);
        assert_eq!(letter.last_attempt_at.timestamp(), 1_764_496_860);
        assert_eq!(
            letter.headers,
            json!({"message_id": "ev-1", "headers": {"traceparent": "00-abc-def-01"}})
        );
    }

    /// An event the executor gave up itself arrives without `x-death` (it was published to
    /// the dead-letter exchange, not rejected) and says why in `x-dead-*` headers.
    #[test]
    fn an_event_given_up_by_its_consumer_keeps_its_reason_attempts_and_origin() {
        use broker::dead_letter::headers;
        let mut delivery = Delivery::new(event_body());
        delivery.queue = "bot.dead-letter".into();
        delivery.exchange = "bot.dead".into();
        delivery.routing_key = "7:s1".into();
        let mut table = FieldTable::default();
        for (key, value) in [
            (
                headers::REASON,
                "the database refused the data: unsupported Unicode escape sequence",
            ),
            (headers::FIRST_ATTEMPT_AT, "2026-11-30T10:00:00+00:00"),
            (headers::LAST_ATTEMPT_AT, "2026-11-30T10:00:02+00:00"),
            (headers::SOURCE_QUEUE, "bot.inbound.3"),
            (headers::EXCHANGE, "bot.inbound"),
            (headers::ROUTING_KEY, "7:s1"),
        ] {
            table.insert(key.into(), long(value));
        }
        table.insert(headers::ATTEMPTS.into(), AMQPValue::LongLongInt(3));
        delivery.headers = table;
        let letter = Letter::from_delivery(&delivery, Utc::now());
        assert_eq!(letter.event_id, "ev-1");
        assert_eq!(
            letter.reason,
            "the database refused the data: unsupported Unicode escape sequence"
        );
        assert_eq!(letter.attempts, 3);
        assert_eq!(
            (
                letter.source_queue.as_str(),
                letter.exchange.as_str(),
                letter.routing_key.as_str()
            ),
            ("bot.inbound.3", "bot.inbound", "7:s1")
        );
        assert_eq!(
            letter.first_attempt_at.to_rfc3339(),
            "2026-11-30T10:00:00+00:00"
        );
        assert_eq!(
            letter.last_attempt_at.to_rfc3339(),
            "2026-11-30T10:00:02+00:00"
        );
    }

    #[test]
    fn an_undecodable_message_is_named_by_its_message_id_else_its_digest() {
        let mut delivery = Delivery::new(b"not json".to_vec());
        delivery.queue = "bot.dead-letter".into();
        delivery.headers.insert(
            "x-death".into(),
            AMQPValue::FieldArray(
                vec![death(
                    "bot.inbound.0",
                    "rejected",
                    "bot.inbound",
                    "9:x",
                    1_764_496_860,
                )]
                .into(),
            ),
        );
        let letter = Letter::from_delivery(&delivery, Utc::now());
        assert_eq!(
            letter.event_id,
            format!("sha256:{}", crypto::sha256_hex(b"not json"))
        );
        assert_eq!(letter.integration_id, None);
        assert_eq!(
            letter.reason,
            "rejected by its consumer (queue bot.inbound.0)"
        );
        assert_eq!(letter.attempts, 1);
        assert_eq!(
            (letter.exchange.as_str(), letter.routing_key.as_str()),
            ("bot.inbound", "9:x")
        );
        assert!(letter.headers["undecodable"].is_string());

        delivery.message_id = Some("m-1".into());
        assert_eq!(Letter::from_delivery(&delivery, Utc::now()).event_id, "m-1");
    }
}
