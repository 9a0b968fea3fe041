//! How a turn fails, classified once from the store's own classification.

use flow::engine::HttpCall;
use store::{FailureClass, StoreError};

/// Why a turn did not complete. Classified once, here, from the store's own classification
/// (`StoreError::class`); `crate::delivery` decides from it whether to wait, retry or give up.
#[derive(Debug, thiserror::Error)]
pub enum TurnFailure {
    /// The database cannot be reached: nothing is wrong with this event, so waiting for the
    /// database does not use up the event's attempts (it has its own, longer, budget).
    #[error("database unavailable: {0}")]
    Outage(String),
    /// Worth retrying soon: contention (a lock not granted in time, a deadlock, another
    /// executor wrote the session first). Counts towards the event's attempts.
    #[error("transient: {0}")]
    Transient(String),
    /// Not known to be transient or permanent: retried like a transient failure, so a
    /// bounded number of times, then given up.
    #[error("unclassified: {0}")]
    Unknown(String),
    /// Fails the same way every time (data the database refuses, a corrupt stored state).
    #[error("{0}")]
    Permanent(String),
    /// The flow wants an HTTP call. Internal to [`TurnContext::handle`]: the transaction is
    /// rolled back, the call performed without holding a connection or a row lock, and the
    /// turn run again with the answer.
    #[error("the flow needs an HTTP call")]
    NeedsHttp {
        index: usize,
        call: Box<HttpCall>,
        /// The `http_request` component making it.
        component: String,
    },
}

impl From<StoreError> for TurnFailure {
    fn from(err: StoreError) -> Self {
        match (&err, err.class()) {
            (StoreError::Unavailable(_), _) => Self::Outage(err.to_string()),
            // A unique violation of a processed event or idempotency key means a concurrent
            // duplicate: the next attempt sees its row. (A session created twice at once is
            // already `Concurrent` from the store.)
            (StoreError::Conflict { .. }, _) => Self::Transient(err.to_string()),
            (_, FailureClass::Transient) => Self::Transient(err.to_string()),
            (_, FailureClass::Unknown) => Self::Unknown(err.to_string()),
            (_, FailureClass::Permanent) => Self::Permanent(err.to_string()),
        }
    }
}
