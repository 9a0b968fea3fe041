//! Consuming with manual acks: the handler decides, the consumer acks exactly once after the
//! handler returns, and keeps consuming across reconnects until it is told to shut down.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Acker, Channel};
use opentelemetry::Context;
use tokio::task::{Id, JoinSet};
use tracing::{error, info, warn};

use crate::connection::{Broker, Link};
use crate::error::{short, BrokerError};
use crate::trace;

/// What to do with a delivery once its handler is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// Done; the broker forgets the message.
    Ack,
    /// Not done; deliver it again (counts towards the queue's delivery limit, after which it
    /// is dead-lettered). Order is kept: the consumer also hands back everything it had
    /// prefetched behind it.
    Requeue,
    /// Never going to work: nack without requeue, so the message goes to the dead-letter
    /// exchange.
    Reject,
}

#[derive(Clone, Debug, Default)]
pub struct ConsumeOptions {
    /// Unacked deliveries the broker may push ahead; `None` takes `BrokerConfig::prefetch`.
    pub prefetch: Option<u16>,
    /// Empty lets the broker choose.
    pub consumer_tag: String,
    /// Handlers running at once. 0 or 1 (the default) runs them one after another, which is
    /// what keeps a queue's order; more trades order for throughput.
    pub concurrency: usize,
}

/// One received message, detached from its acknowledgement (which the consumer owns).
#[derive(Clone, Debug)]
pub struct Delivery {
    pub body: Vec<u8>,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub reply_to: Option<String>,
    pub headers: FieldTable,
    /// The broker delivered it before (to this or another consumer) without an ack.
    pub redelivered: bool,
    pub exchange: String,
    pub routing_key: String,
    pub queue: String,
    parent: Context,
}

impl Delivery {
    fn from_lapin(delivery: &lapin::message::Delivery, queue: &str) -> Self {
        let properties = &delivery.properties;
        let headers = properties.headers().clone().unwrap_or_default();
        let parent = trace::extract(&headers);
        Self {
            body: delivery.data.clone(),
            message_id: properties.message_id().as_ref().map(|s| s.to_string()),
            correlation_id: properties.correlation_id().as_ref().map(|s| s.to_string()),
            reply_to: properties.reply_to().as_ref().map(|s| s.to_string()),
            headers,
            redelivered: delivery.redelivered,
            exchange: delivery.exchange.to_string(),
            routing_key: delivery.routing_key.to_string(),
            queue: queue.to_string(),
            parent,
        }
    }

    /// The trace context the publisher sent along; make it the parent of the handler's span
    /// with `tracing_opentelemetry::OpenTelemetrySpanExt::set_parent`.
    pub fn parent_context(&self) -> Context {
        self.parent.clone()
    }

    /// A string-valued application header.
    pub fn header_str(&self, key: &str) -> Option<&str> {
        trace::header_str(&self.headers, key)
    }

    /// How many times a quorum queue delivered this message before (`x-delivery-count`).
    pub fn delivery_count(&self) -> u64 {
        match self.headers.inner().get("x-delivery-count") {
            Some(AMQPValue::LongLongInt(n)) => u64::try_from(*n).unwrap_or(0),
            Some(AMQPValue::LongInt(n)) => u64::try_from(*n).unwrap_or(0),
            Some(AMQPValue::LongUInt(n)) => u64::from(*n),
            _ => 0,
        }
    }
}

/// How one channel's consuming session ended.
enum Session {
    Shutdown,
    /// A Requeue: the channel was closed to return the prefetched messages behind it.
    Restart,
    /// The consumer was cancelled or its connection went away.
    Lost,
}

impl Broker {
    /// Consumes `queue` until `shutdown` resolves, calling `handler` for every delivery and
    /// acking as it answers. Survives reconnects (unacked messages come back from the broker
    /// and are handled again: handlers must be idempotent by message id). On shutdown it
    /// stops taking deliveries, lets running handlers finish and acks them, hands back what
    /// was prefetched, and returns. Errors only for what a reconnect cannot fix (missing
    /// queue, access refused, broker closed).
    pub async fn consume<H, Fut, S>(
        &self,
        queue: &str,
        options: ConsumeOptions,
        handler: H,
        shutdown: S,
    ) -> Result<(), BrokerError>
    where
        H: Fn(Delivery) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Ack> + Send + 'static,
        S: Future<Output = ()> + Send,
    {
        short(queue, "queue name")?;
        short(&options.consumer_tag, "consumer tag")?;
        let handler = Arc::new(handler);
        let mut pause = self.config().reconnect_min;
        tokio::pin!(shutdown);
        loop {
            let link = tokio::select! {
                biased;
                () = &mut shutdown => return Ok(()),
                link = self.next_link() => link?,
            };
            match self
                .consume_session(&link, queue, &options, &handler, &mut shutdown)
                .await
            {
                Ok(Session::Shutdown) => return Ok(()),
                Ok(Session::Restart) => continue,
                Ok(Session::Lost) => {}
                Err(error) if error.is_transient() => {
                    warn!(%error, queue, "consumer interrupted, resuming after reconnect");
                }
                Err(error) => {
                    error!(%error, queue, "consumer stopped");
                    return Err(error);
                }
            }
            self.report_failure();
            tokio::select! {
                biased;
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(self.config().reconnect_max);
        }
    }

    async fn consume_session<H, Fut, S>(
        &self,
        link: &Link,
        queue: &str,
        options: &ConsumeOptions,
        handler: &Arc<H>,
        shutdown: &mut std::pin::Pin<&mut S>,
    ) -> Result<Session, BrokerError>
    where
        H: Fn(Delivery) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Ack> + Send + 'static,
        S: Future<Output = ()> + Send,
    {
        let prefetch = options.prefetch.unwrap_or(self.config().prefetch).max(1);
        let concurrency = options.concurrency.max(1);
        let channel = link.connection.create_channel().await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                short(queue, "queue name")?,
                short(&options.consumer_tag, "consumer tag")?,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let tag = consumer.tag();
        info!(queue, generation = link.generation, "consuming");
        let mut running = Running::default();
        loop {
            tokio::select! {
                biased;
                () = &mut *shutdown => {
                    let _ = channel.basic_cancel(tag.clone(), BasicCancelOptions::default()).await;
                    running.finish_all().await;
                    close_quietly(&channel).await;
                    info!(queue, "consumer stopped on shutdown");
                    return Ok(Session::Shutdown);
                }
                Some(done) = running.tasks.join_next_with_id(), if !running.tasks.is_empty() => {
                    let (acker, ack) = running.outcome(done);
                    if ack == Ack::Requeue && prefetch > 1 {
                        // Deliveries prefetched behind the requeued one must not overtake it:
                        // stop deliveries, requeue it, and close the channel, which hands the
                        // rest back too, in queue order.
                        let _ = channel.basic_cancel(tag.clone(), BasicCancelOptions::default()).await;
                        acknowledge(acker, ack).await;
                        running.finish_all().await;
                        close_quietly(&channel).await;
                        return Ok(Session::Restart);
                    }
                    acknowledge(acker, ack).await;
                }
                next = consumer.next(), if running.tasks.len() < concurrency => {
                    match next {
                        Some(Ok(delivery)) => {
                            let message = Delivery::from_lapin(&delivery, queue);
                            let task = running.tasks.spawn((handler)(message));
                            running.ackers.insert(task.id(), delivery.acker);
                        }
                        Some(Err(error)) => {
                            running.finish_all().await;
                            return Err(error.into());
                        }
                        None => {
                            running.finish_all().await;
                            close_quietly(&channel).await;
                            return Ok(Session::Lost);
                        }
                    }
                }
            }
        }
    }
}

/// Handlers in flight on one channel, and the acknowledgement each one owes.
#[derive(Default)]
struct Running {
    tasks: JoinSet<Ack>,
    ackers: HashMap<Id, Acker>,
}

impl Running {
    /// The handler's answer and the acknowledgement it settles; a panicking handler counts
    /// as a Requeue, so the delivery limit eventually dead-letters a message that always
    /// panics.
    fn outcome(&mut self, done: Result<(Id, Ack), tokio::task::JoinError>) -> (Option<Acker>, Ack) {
        let (id, ack) = match done {
            Ok((id, ack)) => (id, ack),
            Err(join_error) => {
                error!(error = %join_error, "message handler panicked; requeueing");
                (join_error.id(), Ack::Requeue)
            }
        };
        (self.ackers.remove(&id), ack)
    }

    async fn finish_all(&mut self) {
        while let Some(done) = self.tasks.join_next_with_id().await {
            let (acker, ack) = self.outcome(done);
            acknowledge(acker, ack).await;
        }
    }
}

/// Acks or nacks exactly once (lapin's acker refuses a second use).
async fn acknowledge(acker: Option<Acker>, ack: Ack) {
    let Some(acker) = acker else {
        return;
    };
    let result = match ack {
        Ack::Ack => acker.ack(BasicAckOptions::default()).await,
        Ack::Requeue | Ack::Reject => {
            acker
                .nack(BasicNackOptions {
                    requeue: ack == Ack::Requeue,
                    ..BasicNackOptions::default()
                })
                .await
        }
    };
    match result {
        Ok(true) => {}
        // The channel is gone: the broker redelivers the message on the next one.
        Ok(false) => warn!(?ack, "acknowledgement dropped: channel closed"),
        Err(error) => warn!(%error, ?ack, "acknowledgement failed; message will be redelivered"),
    }
}

async fn close_quietly(channel: &Channel) {
    if channel.status().connected() {
        let _ = channel.close(200, "OK".into()).await;
    }
}
