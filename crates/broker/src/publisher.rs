//! Publishing with publisher confirms: a publish returns Ok only once the broker has taken
//! responsibility for the message (persisted it, for persistent messages on durable queues).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::sync::Mutex;
use tracing::debug;

use crate::connection::Broker;
use crate::error::{short, BrokerError};
use crate::topology::CONVERSATION_HEADER;
use crate::trace;

/// Bound on the wait for one confirm; the heartbeat normally notices a dead peer sooner.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);
const RETRY_PAUSE_MIN: Duration = Duration::from_millis(50);
const RETRY_PAUSE_MAX: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct PublishOptions {
    /// The id consumers deduplicate by. [`Publisher::publish_with_retry`] fills in a random
    /// one when missing, so that every attempt carries the same id.
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub reply_to: Option<String>,
    pub content_type: Option<String>,
    /// Application headers; the current trace context is added to them.
    pub headers: FieldTable,
    /// Delivery mode 2 (written to disk). Default true.
    pub persistent: bool,
    /// Return the message (and fail the publish) when no queue receives it.
    pub mandatory: bool,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self {
            message_id: None,
            correlation_id: None,
            reply_to: None,
            content_type: None,
            headers: FieldTable::default(),
            persistent: true,
            mandatory: false,
        }
    }
}

impl PublishOptions {
    /// A persistent JSON message with the id consumers deduplicate by: what every service
    /// publishes except replies (which are not persistent and carry a correlation id).
    pub fn json(message_id: impl Into<String>) -> Self {
        Self {
            content_type: Some("application/json".into()),
            ..Self::default()
        }
        .with_message_id(message_id)
    }

    pub fn with_message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    pub fn mandatory(mut self) -> Self {
        self.mandatory = true;
        self
    }

    fn properties(&self) -> Result<BasicProperties, BrokerError> {
        let mut headers = self.headers.clone();
        trace::inject(&trace::current_context(), &mut headers);
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or_default();
        let mut properties = BasicProperties::default()
            .with_headers(headers)
            .with_timestamp(timestamp)
            .with_delivery_mode(if self.persistent { 2 } else { 1 });
        if let Some(id) = &self.message_id {
            properties = properties.with_message_id(short(id, "message id")?);
        }
        if let Some(id) = &self.correlation_id {
            properties = properties.with_correlation_id(short(id, "correlation id")?);
        }
        if let Some(queue) = &self.reply_to {
            properties = properties.with_reply_to(short(queue, "reply-to")?);
        }
        if let Some(content_type) = &self.content_type {
            properties = properties.with_content_type(short(content_type, "content type")?);
        }
        Ok(properties)
    }
}

/// A confirming publisher: one channel in confirm mode, re-opened after a reconnect. Cheap to
/// clone; clones share the channel, and any number of tasks may publish at once (each awaits
/// its own confirm).
#[derive(Clone)]
pub struct Publisher {
    broker: Broker,
    channel: Arc<Mutex<Option<(u64, Channel)>>>,
}

impl Broker {
    pub fn publisher(&self) -> Publisher {
        Publisher {
            broker: self.clone(),
            channel: Arc::new(Mutex::new(None)),
        }
    }
}

impl Publisher {
    /// Publishes once and waits for the broker's confirm. Ok means the broker acked it; a
    /// nack, a returned mandatory message, a lost connection or no connection at all is an
    /// error (check [`BrokerError::is_transient`]). Does not wait for a reconnect.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        options: &PublishOptions,
    ) -> Result<(), BrokerError> {
        // Inbound events are addressed to their conversation; the topology says which shard,
        // and the conversation travels along in a header.
        let (routed_exchange, routed_key) = self.broker.topology().route(exchange, routing_key);
        let mut properties = options.properties()?;
        if routed_exchange != exchange {
            let mut headers = properties.headers().clone().unwrap_or_default();
            headers.insert(
                CONVERSATION_HEADER.into(),
                AMQPValue::LongString(routing_key.into()),
            );
            properties = properties.with_headers(headers);
        }
        let exchange = short(&routed_exchange, "exchange name")?;
        let routing_key = short(&routed_key, "routing key")?;
        let channel = self.channel().await?;
        let result = publish_confirmed(
            &channel,
            exchange,
            routing_key,
            body,
            options.mandatory,
            properties,
        )
        .await;
        if matches!(&result, Err(error) if error.is_transient()) {
            self.broker.report_failure();
        }
        result
    }

    /// At-least-once publish: retries transient failures (waiting for the reconnect) until
    /// the broker confirms or `within` has passed. A message may then reach the queue more
    /// than once (a confirm lost with the connection); consumers deduplicate by message id,
    /// which is generated here when `options` has none. Returns the message id.
    pub async fn publish_with_retry(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        mut options: PublishOptions,
        within: Duration,
    ) -> Result<String, BrokerError> {
        let message_id = options
            .message_id
            .get_or_insert_with(|| uuid::Uuid::new_v4().to_string())
            .clone();
        let deadline = Instant::now() + within;
        let mut pause = RETRY_PAUSE_MIN;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let attempt = tokio::time::timeout(
                remaining,
                self.publish(exchange, routing_key, body, &options),
            )
            .await;
            let error = match attempt {
                Ok(Ok(())) => return Ok(message_id),
                Ok(Err(error)) if error.is_transient() => error,
                Ok(Err(error)) => return Err(error),
                Err(_) => return Err(BrokerError::Timeout("publishing with retries")),
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(error);
            }
            debug!(%error, %message_id, "publish failed, retrying after reconnect");
            // A short pause first: a nack or a channel error needs no reconnect, and the
            // supervisor may not have noticed the loss yet.
            tokio::time::sleep(pause.min(remaining)).await;
            pause = (pause * 2).min(RETRY_PAUSE_MAX);
            let remaining = deadline.saturating_duration_since(Instant::now());
            if self.broker.link_within(remaining).await.is_err() {
                return Err(error);
            }
        }
    }

    /// The confirm-mode channel of the current connection, opened on first use after each
    /// reconnect.
    async fn channel(&self) -> Result<Channel, BrokerError> {
        let link = self.broker.current_link()?;
        let mut slot = self.channel.lock().await;
        if let Some((generation, channel)) = slot.as_ref() {
            if *generation == link.generation && channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        let channel = link.connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        *slot = Some((link.generation, channel.clone()));
        Ok(channel)
    }
}

async fn publish_confirmed(
    channel: &Channel,
    exchange: ShortString,
    routing_key: ShortString,
    body: &[u8],
    mandatory: bool,
    properties: BasicProperties,
) -> Result<(), BrokerError> {
    let confirm = channel
        .basic_publish(
            exchange,
            routing_key,
            BasicPublishOptions {
                mandatory,
                ..BasicPublishOptions::default()
            },
            body,
            properties,
        )
        .await?;
    let confirmation = tokio::time::timeout(CONFIRM_TIMEOUT, confirm)
        .await
        .map_err(|_| BrokerError::Timeout("waiting for a publisher confirm"))??;
    match confirmation {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(returned)) => Err(BrokerError::Unroutable {
            reply_code: returned.reply_code,
            reply_text: returned.reply_text.to_string(),
        }),
        Confirmation::Nack(_) => Err(BrokerError::Nacked),
        // confirm_select runs before the channel is handed out, so this means the channel is
        // not the one we configured: treat it like a lost channel.
        Confirmation::NotRequested => Err(BrokerError::NotConnected),
    }
}
