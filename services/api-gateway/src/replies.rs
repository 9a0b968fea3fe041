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

    /// Requests waiting now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiting.lock().map_or(0, |waiting| waiting.len())
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

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::v1::ErrorDetail;

    fn reply(correlation_id: &str) -> TurnReply {
        TurnReply::error(correlation_id.to_owned(), 500, ErrorDetail::new("x", "y"))
    }

    /// Nothing is kept for a request once it has its answer, timed out or went away: the map
    /// holds only requests waiting now, however many came before.
    #[tokio::test]
    async fn a_wait_is_forgotten_once_answered_or_dropped() {
        let pending = PendingReplies::default();
        let mut answered = pending.register("a");
        let abandoned = pending.register("b");
        assert_eq!(pending.waiting(), 2);
        pending.deliver(reply("a"));
        assert_eq!(
            answered.recv().await.map(|r| r.correlation_id),
            Some("a".into())
        );
        assert_eq!(pending.waiting(), 1);
        drop(abandoned);
        assert_eq!(pending.waiting(), 0);
        // A late reply for a request that is gone leaves nothing behind either.
        pending.deliver(reply("b"));
        drop(answered);
        assert_eq!(pending.waiting(), 0);
        for n in 0..10_000 {
            let wait = pending.register(&format!("r{n}"));
            if n % 2 == 0 {
                pending.deliver(reply(&format!("r{n}")));
            }
            drop(wait);
        }
        assert_eq!(pending.waiting(), 0);
    }
}
