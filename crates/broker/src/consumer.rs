//! Consuming with manual acks: the handler decides, the consumer acks exactly once after the
//! handler returns, and keeps consuming across reconnects until it is told to shut down.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Acker, Channel};
use opentelemetry::Context;
use tokio::task::{Id, JoinSet};
use tracing::{error, info, warn};

use crate::connection::{Broker, Link};
use crate::error::{short, BrokerError};
use crate::topology::{CONVERSATION_HEADER, INBOUND_EXCHANGE};
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
    /// what keeps a queue's order; more trades order for throughput, unless `lanes` is set.
    pub concurrency: usize,
    /// Per-key order with concurrency: deliveries with the same lane key run one after
    /// another, in queue order, while deliveries of other keys run beside them (up to
    /// `concurrency` handlers at once). A key waiting on a slow handler holds only its own
    /// later deliveries, never another key's. `None` orders by `concurrency` alone.
    pub lanes: Option<LaneKey>,
}

/// How a delivery's lane is found (a conversation key, say); `None` puts the delivery in no
/// lane (it runs as soon as a slot is free).
#[derive(Clone)]
pub struct LaneKey(Arc<LaneKeyFn>);

type LaneKeyFn = dyn Fn(&Delivery) -> Option<String> + Send + Sync;

impl LaneKey {
    pub fn new(key: impl Fn(&Delivery) -> Option<String> + Send + Sync + 'static) -> Self {
        LaneKey(Arc::new(key))
    }

    /// The conversation as the lane ([`Delivery::published_as`]): one conversation's
    /// messages one after the other, different conversations of a shard side by side.
    pub fn conversation() -> Self {
        LaneKey::new(|delivery| Some(delivery.published_as().1))
    }

    fn of(&self, delivery: &Delivery) -> Option<String> {
        (self.0)(delivery)
    }
}

impl fmt::Debug for LaneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LaneKey(..)")
    }
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
    /// A delivery with `body` and nothing else, for testing handlers; set the public
    /// fields as needed.
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            message_id: None,
            correlation_id: None,
            reply_to: None,
            headers: FieldTable::default(),
            redelivered: false,
            exchange: String::new(),
            routing_key: String::new(),
            queue: String::new(),
            parent: Context::new(),
        }
    }

    /// The exchange and routing key the publisher addressed: for an inbound event routed to
    /// its shard ([`crate::topology::Topology::route`]), the inbound exchange and its
    /// conversation key (from [`CONVERSATION_HEADER`]); otherwise what the broker says.
    pub fn published_as(&self) -> (String, String) {
        match self.header_str(CONVERSATION_HEADER) {
            Some(conversation) if !conversation.is_empty() => {
                (INBOUND_EXCHANGE.to_owned(), conversation.to_owned())
            }
            _ => (self.exchange.clone(), self.routing_key.clone()),
        }
    }

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

/// Consecutive refusals (non-transient errors) after which `consume` gives up.
const MAX_REFUSALS: u32 = 3;

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
        let mut requeues = RequeueBudget::new(self.topology().delivery_limit);
        let mut pause = self.config().reconnect_min;
        let mut refusals = 0_u32;
        tokio::pin!(shutdown);
        loop {
            let link = tokio::select! {
                biased;
                () = &mut shutdown => return Ok(()),
                link = self.next_link() => link?,
            };
            match self
                .consume_session(
                    &link,
                    queue,
                    &options,
                    &handler,
                    &mut requeues,
                    &mut shutdown,
                )
                .await
            {
                Ok(Session::Shutdown) => return Ok(()),
                Ok(Session::Restart) => {
                    refusals = 0;
                    continue;
                }
                Ok(Session::Lost) => refusals = 0,
                Err(error) if error.is_transient() => {
                    warn!(%error, queue, "consumer interrupted, resuming after reconnect");
                }
                Err(error) => {
                    // A refusal (missing queue, access refused) usually repeats, but a queue
                    // can also be briefly unavailable right after a broker restart.
                    refusals += 1;
                    if refusals >= MAX_REFUSALS {
                        error!(%error, queue, "consumer stopped");
                        return Err(error);
                    }
                    warn!(%error, queue, refusals, "broker refused the consumer, retrying");
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
        requeues: &mut RequeueBudget,
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
        info!(queue, generation = link.generation, "consuming");
        let mut running = Running::default();
        loop {
            tokio::select! {
                biased;
                () = &mut *shutdown => {
                    // The consumer stays registered until the channel closes: cancelling first
                    // would let single-active-consumer hand the queue to another executor
                    // while our in-flight message is still unacked, and that executor could
                    // handle the next message of the same conversation before it. Instead,
                    // take no more deliveries, finish and ack, then close, which returns the
                    // prefetched rest (and every delivery waiting in a lane) in order.
                    running.finish_all(requeues).await;
                    close_quietly(&channel).await;
                    info!(queue, "consumer stopped on shutdown");
                    return Ok(Session::Shutdown);
                }
                Some(done) = running.tasks.join_next_with_id(), if !running.tasks.is_empty() => {
                    let (pending, ack) = running.outcome(done);
                    let lane = pending.as_ref().and_then(|p| p.lane.clone());
                    match requeues.plan(pending.as_ref(), ack, prefetch > 1) {
                        Settle::Now(ack) => acknowledge(pending, ack).await,
                        Settle::HandBack => {
                            // Deliveries prefetched behind the requeued one must not overtake
                            // it. A nack would return it alone, and the broker may hand it
                            // straight back to us behind the prefetched ones; closing the
                            // channel instead returns everything we hold in one go, in queue
                            // order. (No basic.cancel either: see shutdown above.)
                            drop(pending);
                            running.finish_all(requeues).await;
                            close_quietly(&channel).await;
                            return Ok(Session::Restart);
                        }
                    }
                    running.lane_finished(lane.as_deref());
                    running.fill(handler, concurrency);
                }
                next = consumer.next(), if options.lanes.is_some() || running.tasks.len() < concurrency => {
                    match next {
                        Some(Ok(delivery)) => {
                            let message = Delivery::from_lapin(&delivery, queue);
                            let lane = options.lanes.as_ref().and_then(|lanes| lanes.of(&message));
                            running.admit(Waiting {
                                message_id: message.message_id.clone(),
                                message,
                                acker: delivery.acker,
                                lane,
                            });
                            running.fill(handler, concurrency);
                        }
                        Some(Err(error)) => {
                            running.finish_all(requeues).await;
                            return Err(error.into());
                        }
                        None => {
                            running.finish_all(requeues).await;
                            close_quietly(&channel).await;
                            return Ok(Session::Lost);
                        }
                    }
                }
            }
        }
    }
}

/// A delivery whose handler is running, and the acknowledgement it owes.
struct Pending {
    acker: Acker,
    message_id: Option<String>,
    lane: Option<String>,
}

/// A delivery received but not yet handed to its handler: behind another delivery of its
/// lane, or waiting for a free slot.
struct Waiting {
    message: Delivery,
    acker: Acker,
    message_id: Option<String>,
    lane: Option<String>,
}

/// Handlers in flight on one channel, and the deliveries waiting for their turn.
///
/// A lane exists while one of its deliveries runs or waits for a slot; later deliveries of
/// the lane queue in it and go to `ready` one at a time, as the one before finishes. So a
/// lane never has two handlers running, and `ready` holds at most one delivery per lane.
/// Nothing waiting is acked: a closing channel hands it all back to the queue, in order.
#[derive(Default)]
struct Running {
    tasks: JoinSet<Ack>,
    pending: HashMap<Id, Pending>,
    /// Per lane, the deliveries behind the one running or ready.
    lanes: HashMap<String, VecDeque<Waiting>>,
    /// Deliveries whose turn it is, waiting for a slot, in arrival order.
    ready: VecDeque<Waiting>,
}

impl Running {
    /// Takes a new delivery: behind its lane if the lane is busy, else ready to run.
    fn admit(&mut self, waiting: Waiting) {
        if let Some(lane) = &waiting.lane {
            if let Some(queue) = self.lanes.get_mut(lane) {
                queue.push_back(waiting);
                return;
            }
            self.lanes.insert(lane.clone(), VecDeque::new());
        }
        self.ready.push_back(waiting);
    }

    /// The delivery of `lane` that was running is settled: the next of the lane is ready.
    fn lane_finished(&mut self, lane: Option<&str>) {
        let Some(lane) = lane else { return };
        match self.lanes.get_mut(lane).and_then(VecDeque::pop_front) {
            Some(next) => self.ready.push_back(next),
            None => {
                self.lanes.remove(lane);
            }
        }
    }

    /// Starts ready deliveries while slots are free.
    fn fill<H, Fut>(&mut self, handler: &Arc<H>, concurrency: usize)
    where
        H: Fn(Delivery) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Ack> + Send + 'static,
    {
        while self.tasks.len() < concurrency {
            let Some(waiting) = self.ready.pop_front() else {
                return;
            };
            let task = self.tasks.spawn((handler)(waiting.message));
            self.pending.insert(
                task.id(),
                Pending {
                    acker: waiting.acker,
                    message_id: waiting.message_id,
                    lane: waiting.lane,
                },
            );
        }
    }

    /// The handler's answer; a panicking handler counts as a Requeue, so the delivery limit
    /// eventually dead-letters a message that always panics.
    fn outcome(
        &mut self,
        done: Result<(Id, Ack), tokio::task::JoinError>,
    ) -> (Option<Pending>, Ack) {
        let (id, ack) = match done {
            Ok((id, ack)) => (id, ack),
            Err(join_error) => {
                error!(error = %join_error, "message handler panicked; requeueing");
                (join_error.id(), Ack::Requeue)
            }
        };
        (self.pending.remove(&id), ack)
    }

    /// Waits for every running handler and settles its delivery; the caller closes the
    /// channel next, which hands back whatever is not settled.
    async fn finish_all(&mut self, requeues: &mut RequeueBudget) {
        while let Some(done) = self.tasks.join_next_with_id().await {
            let (pending, ack) = self.outcome(done);
            if let Settle::Now(ack) = requeues.plan(pending.as_ref(), ack, true) {
                acknowledge(pending, ack).await;
            }
        }
    }
}

enum Settle {
    /// Ack or nack this delivery now.
    Now(Ack),
    /// Leave it unacked and close the channel, which returns it with everything behind it.
    HandBack,
}

/// Counts the Requeues this consumer turned into channel closes. RabbitMQ 3.10 does not count
/// a message handed back by a closing channel towards the queue's delivery limit, so without
/// this a message that always fails would circulate forever; past the limit it is rejected
/// (dead-lettered) instead, as the broker would have done after as many nacks.
struct RequeueBudget {
    limit: u32,
    counts: HashMap<String, u32>,
}

/// Entries are dropped when their message is settled; this bounds what messages that were
/// settled elsewhere (by another executor) can leave behind.
const MAX_TRACKED_REQUEUES: usize = 10_000;

impl RequeueBudget {
    fn new(limit: u32) -> Self {
        Self {
            limit,
            counts: HashMap::new(),
        }
    }

    /// `ordered`: a plain nack could let later deliveries overtake this one (prefetch > 1,
    /// or the channel is about to close anyway).
    fn plan(&mut self, pending: Option<&Pending>, ack: Ack, ordered: bool) -> Settle {
        let message_id = pending.and_then(|p| p.message_id.as_deref());
        let Some(message_id) = message_id else {
            // Without an id there is nothing to count by: the broker's nack count applies.
            return Settle::Now(ack);
        };
        if ack != Ack::Requeue {
            self.counts.remove(message_id);
            return Settle::Now(ack);
        }
        if !ordered {
            return Settle::Now(ack);
        }
        if self.counts.len() >= MAX_TRACKED_REQUEUES {
            self.counts.clear();
        }
        let count = self.counts.entry(message_id.to_string()).or_insert(0);
        *count += 1;
        if *count > self.limit {
            warn!(
                message_id,
                limit = self.limit,
                "delivery limit reached, dead-lettering"
            );
            self.counts.remove(message_id);
            return Settle::Now(Ack::Reject);
        }
        Settle::HandBack
    }
}

/// Acks or nacks exactly once (lapin's acker refuses a second use).
async fn acknowledge(pending: Option<Pending>, ack: Ack) {
    let Some(Pending { acker, .. }) = pending else {
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
