//! `integrations.last_activity_at` after sends, written at most once per interval per
//! integration: a busy number would otherwise update the same row for every message.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use contracts::IntegrationId;
use store::Store;

pub struct Activity {
    every: Duration,
    last: Mutex<HashMap<IntegrationId, Instant>>,
}

impl Activity {
    pub fn new(every: Duration) -> Self {
        Activity {
            every,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `id`'s activity is due to be written now; if so, counts it as written.
    fn due(&self, id: IntegrationId, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.len() > 10_000 {
            let every = self.every;
            last.retain(|_, at| now.duration_since(*at) < every);
        }
        match last.get(&id) {
            Some(at) if now.duration_since(*at) < self.every => false,
            _ => {
                last.insert(id, now);
                true
            }
        }
    }

    /// Records activity of `id` unless it was recorded less than an interval ago. A failure
    /// is only logged: activity is informational.
    pub async fn touch(&self, store: &Store, id: IntegrationId) {
        if !self.due(id, Instant::now()) {
            return;
        }
        if let Err(error) = store.touch_integration_activity(id).await {
            tracing::warn!(%error, integration = %id, "recording activity failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_is_throttled_per_integration() {
        let activity = Activity::new(Duration::from_secs(60));
        let a = IntegrationId::new(1).unwrap_or_else(|_| unreachable!());
        let b = IntegrationId::new(2).unwrap_or_else(|_| unreachable!());
        let now = Instant::now();
        assert!(activity.due(a, now));
        assert!(!activity.due(a, now + Duration::from_secs(59)));
        assert!(activity.due(b, now + Duration::from_secs(1)));
        assert!(activity.due(a, now + Duration::from_secs(60)));
    }
}
