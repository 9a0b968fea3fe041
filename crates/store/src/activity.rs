//! `integrations.last_activity_at`, written at most once per interval per integration: the
//! admin list shows minutes, not milliseconds, and a busy integration would otherwise update
//! its row for every message. Per process; each replica throttles on its own.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use contracts::IntegrationId;

use crate::Store;

/// Past this many integrations tracked, the map is reset (it only throttles writes).
const MAX_TRACKED: usize = 10_000;

pub struct ActivityThrottle {
    every: Duration,
    last: Mutex<HashMap<IntegrationId, Instant>>,
}

impl ActivityThrottle {
    pub fn new(every: Duration) -> Self {
        ActivityThrottle {
            every,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `id`'s activity is due to be written at `now`; if so, counts it as written.
    pub fn due_at(&self, id: IntegrationId, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.len() >= MAX_TRACKED && !last.contains_key(&id) {
            last.clear();
        }
        match last.get(&id) {
            Some(at) if now.saturating_duration_since(*at) < self.every => false,
            _ => {
                last.insert(id, now);
                true
            }
        }
    }

    pub fn due(&self, id: IntegrationId) -> bool {
        self.due_at(id, Instant::now())
    }

    /// Records activity of `id` unless it was recorded less than an interval ago. A failure
    /// is only logged: activity is informational.
    pub async fn touch(&self, store: &Store, id: IntegrationId) {
        if self.due(id) {
            write(store, id).await;
        }
    }

    /// As `touch`, but the write (when due) runs in the background: for request paths that
    /// must not wait on it.
    pub fn touch_in_background(&self, store: &Store, id: IntegrationId) {
        if self.due(id) {
            let store = store.clone();
            tokio::spawn(async move { write(&store, id).await });
        }
    }
}

async fn write(store: &Store, id: IntegrationId) {
    if let Err(error) = store.touch_integration_activity(id).await {
        tracing::warn!(%error, integration = %id, "recording activity failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_is_due_once_per_interval_per_integration() {
        let throttle = ActivityThrottle::new(Duration::from_secs(60));
        let a = IntegrationId::new(1).unwrap_or_else(|_| unreachable!());
        let b = IntegrationId::new(2).unwrap_or_else(|_| unreachable!());
        let now = Instant::now();
        assert!(throttle.due_at(a, now));
        assert!(!throttle.due_at(a, now + Duration::from_secs(59)));
        assert!(throttle.due_at(b, now + Duration::from_secs(1)));
        assert!(throttle.due_at(a, now + Duration::from_secs(60)));
    }
}
