//! Group commit of the sender's bookkeeping: what Meta accepted and each batch's progress.
//!
//! Every batch in flight (one per conversation lane) saves its progress after each accepted
//! message and waits for that save before its next Graph call, so that at most one message per
//! batch is ever accepted by Meta and not yet recorded (the crash window, docs/sender.md).
//! Instead of one commit per save, a single writer takes every save waiting when it is free
//! and writes them in one statement ([`store::Store::save_progress`]): under load, the lanes
//! that got their answer while the previous commit was in flight share the next one. Alone, a
//! save is written at once; nothing waits for a timer.
//!
//! A group that fails is written again one save at a time, so that each waiting batch gets
//! its own answer (one bad record does not fail the others) and retries it as before
//! (`batch::Context::durably`).

use store::sender::ProgressRecord;
use store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Most saves written in one statement.
const MAX_GROUP: usize = 256;

struct Save {
    record: ProgressRecord,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The handle batches save through. Dropping every handle ends the writer.
pub struct Bookkeeper {
    queue: mpsc::UnboundedSender<Save>,
}

impl Bookkeeper {
    /// The handle, and the writer to run until every handle is dropped.
    pub fn new(store: Store) -> (Bookkeeper, impl std::future::Future<Output = ()>) {
        let (queue, waiting) = mpsc::unbounded_channel();
        (Bookkeeper { queue }, write_groups(store, waiting))
    }

    /// Saves `record` with whatever other saves are waiting; returns once it is committed.
    pub async fn save(&self, record: ProgressRecord) -> Result<(), StoreError> {
        let stopped = || StoreError::Unavailable("the bookkeeping writer stopped".into());
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Save { record, done })
            .map_err(|_| stopped())?;
        committed.await.map_err(|_| stopped())?
    }
}

async fn write_groups(store: Store, mut waiting: mpsc::UnboundedReceiver<Save>) {
    let mut group = Vec::new();
    while waiting.recv_many(&mut group, MAX_GROUP).await > 0 {
        metrics::histogram!("sender_bookkeeping_group_size").record(group.len() as f64);
        let records: Vec<&ProgressRecord> = group.iter().map(|save| &save.record).collect();
        match store.save_progress(&records).await {
            Ok(()) => {
                for save in group.drain(..) {
                    let _ = save.done.send(Ok(()));
                }
            }
            Err(error) if group.len() == 1 => {
                if let Some(save) = group.pop() {
                    let _ = save.done.send(Err(error));
                }
            }
            Err(error) => {
                tracing::warn!(%error, saves = group.len(), "group save failed; saving one by one");
                for save in group.drain(..) {
                    let result = store.save_progress(&[&save.record]).await;
                    let _ = save.done.send(result);
                }
            }
        }
    }
}
