//! Per-conversation lanes: batches run concurrently, but two batches of one conversation run
//! one after the other, in the order the queue delivered them.
//!
//! The consumer calls the handler closure synchronously for each delivery, in queue order;
//! that is where a batch [`Lanes::join`]s its conversation's lane, behind the batch joined
//! before it. The handler then waits for [`LaneTicket::wait_turn`]. A batch that was not
//! settled (handed back to the queue on shutdown, or a panic) tells the batches behind it to
//! hand themselves back too, so none overtakes it when the queue redelivers them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

#[derive(Default)]
pub struct Lanes {
    /// Per conversation key: the ticket of the last batch that joined, and the receiver of
    /// its outcome (taken by the next batch that joins).
    tails: Mutex<HashMap<String, (u64, oneshot::Receiver<bool>)>>,
    tickets: AtomicU64,
}

/// A batch's place in its lane.
pub struct LaneTicket {
    lanes: Arc<Lanes>,
    key: String,
    ticket: u64,
    previous: Option<oneshot::Receiver<bool>>,
    done: Option<oneshot::Sender<bool>>,
}

impl Lanes {
    pub fn new() -> Arc<Self> {
        Arc::new(Lanes::default())
    }

    /// Queues a batch behind the last batch of `key`. Must be called in delivery order.
    pub fn join(self: &Arc<Self>, key: &str) -> LaneTicket {
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let (done, outcome) = oneshot::channel();
        let previous = self
            .tails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), (ticket, outcome))
            .map(|(_, receiver)| receiver);
        LaneTicket {
            lanes: self.clone(),
            key: key.to_owned(),
            ticket,
            previous,
            done: Some(done),
        }
    }

    /// Conversations with a batch in flight or waiting.
    pub fn busy(&self) -> usize {
        self.tails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl LaneTicket {
    /// Waits until the batch ahead is finished. True when it was settled (acked or
    /// dead-lettered) or there was none; false when it was handed back to the queue, in which
    /// case this batch must be handed back too.
    pub async fn wait_turn(&mut self) -> bool {
        match self.previous.take() {
            None => true,
            Some(previous) => previous.await.unwrap_or(false),
        }
    }

    /// Tells the batch behind whether this one was settled.
    pub fn finish(mut self, settled: bool) {
        self.complete(settled);
    }

    fn complete(&mut self, settled: bool) {
        let Some(done) = self.done.take() else { return };
        let mut tails = self
            .lanes
            .tails
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if tails
            .get(&self.key)
            .is_some_and(|(last, _)| *last == self.ticket)
        {
            // Nobody joined behind: the lane is empty again.
            tails.remove(&self.key);
        }
        let _ = done.send(settled);
    }
}

impl Drop for LaneTicket {
    /// A ticket dropped unfinished (a panicking or cancelled handler) counts as not settled.
    fn drop(&mut self) {
        self.complete(false);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_conversation_waits_for_its_previous_batch_only() {
        let lanes = Lanes::new();
        let mut first = lanes.join("a");
        let mut second = lanes.join("a");
        let mut other = lanes.join("b");
        assert!(first.wait_turn().await);
        assert!(
            other.wait_turn().await,
            "another conversation is not held up"
        );
        let waiting = tokio::spawn(async move {
            let turn = second.wait_turn().await;
            second.finish(true);
            turn
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "the second batch waits for the first"
        );
        first.finish(true);
        assert!(waiting.await.unwrap());
        other.finish(true);
        assert_eq!(lanes.busy(), 0, "finished lanes are forgotten");
    }

    #[tokio::test]
    async fn a_batch_handed_back_makes_the_ones_behind_it_hand_back_too() {
        let lanes = Lanes::new();
        let first = lanes.join("a");
        let mut second = lanes.join("a");
        let mut third = lanes.join("a");
        first.finish(false);
        assert!(!second.wait_turn().await);
        second.finish(false);
        assert!(!third.wait_turn().await);
        drop(third);
        // A fresh start after the redelivery.
        let mut again = lanes.join("a");
        assert!(again.wait_turn().await);
    }

    #[tokio::test]
    async fn a_dropped_ticket_is_not_settled() {
        let lanes = Lanes::new();
        let first = lanes.join("a");
        let mut second = lanes.join("a");
        drop(first);
        assert!(!second.wait_turn().await);
    }
}
