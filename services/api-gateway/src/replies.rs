//! The reply path: each gateway replica consumes its own exclusive queue
//! (`gateway.replies.<instance>`), and hands each `TurnReply` to the request waiting under its
//! correlation id. A reply nobody waits for (the request timed out) is dropped here: the
//! executor also stored it for the client's retry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use broker::{Ack, Broker, ConsumeOptions, Delivery};
use contracts::v1::TurnReply;
use tokio::sync::oneshot;

#[derive(Clone, Default)]
pub struct PendingReplies {
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<TurnReply>>>>,
}

/// A registered wait; dropping it unregisters (a timed-out request leaves nothing behind).
pub struct ReplyWait {
    correlation_id: String,
    receiver: oneshot::Receiver<TurnReply>,
    pending: PendingReplies,
}

impl ReplyWait {
    pub async fn recv(&mut self) -> Option<TurnReply> {
        (&mut self.receiver).await.ok()
    }
}

impl Drop for ReplyWait {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.pending.waiting.lock() {
            waiting.remove(&self.correlation_id);
        }
    }
}

impl PendingReplies {
    pub fn register(&self, correlation_id: &str) -> ReplyWait {
        let (sender, receiver) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.insert(correlation_id.to_owned(), sender);
        }
        ReplyWait {
            correlation_id: correlation_id.to_owned(),
            receiver,
            pending: self.clone(),
        }
    }

    fn deliver(&self, reply: TurnReply) {
        let sender = self
            .waiting
            .lock()
            .ok()
            .and_then(|mut waiting| waiting.remove(&reply.correlation_id));
        match sender {
            Some(sender) => {
                let _ = sender.send(reply);
            }
            None => tracing::debug!(
                correlation_id = %reply.correlation_id,
                "reply for a request that is no longer waiting"
            ),
        }
    }

    /// Consumes the replica's reply queue until `shutdown`.
    pub async fn consume(
        self,
        broker: Broker,
        queue: String,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        let handler = move |delivery: Delivery| {
            let pending = self.clone();
            async move {
                match contracts::v1::decode::<TurnReply>(&delivery.body) {
                    Ok(reply) => pending.deliver(reply),
                    Err(error) => tracing::warn!(%error, "undecodable reply dropped"),
                }
                Ack::Ack
            }
        };
        let options = ConsumeOptions {
            prefetch: Some(512),
            consumer_tag: String::new(),
            concurrency: 64,
            lanes: None,
        };
        if let Err(error) = broker.consume(&queue, options, handler, shutdown).await {
            tracing::error!(%error, queue, "reply consumer stopped");
        }
    }
}
