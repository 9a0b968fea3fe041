//! How often refused signatures are written down (in memory, per process; each replica
//! throttles on its own). Last activity is throttled by `store::activity::ActivityThrottle`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use contracts::IntegrationId;

/// Past this many integrations tracked, the map is reset (it only throttles writes).
const MAX_TRACKED: usize = 10_000;

/// Counts refused signatures per integration and says when to write a receipt: at most one
/// per `every`, carrying how many were refused since the previous one. A flood of forged
/// POSTs thus costs one row per interval, and the counts still add up for burst alerts.
pub struct RefusalCounter {
    every: Duration,
    state: Mutex<HashMap<IntegrationId, (Option<Instant>, u64)>>,
}

impl RefusalCounter {
    pub fn new(every: Duration) -> Self {
        RefusalCounter {
            every,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// Notes one refusal; `Some(count)` when a receipt for `count` refusals is due now.
    pub fn note(&self, integration: IntegrationId) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.len() >= MAX_TRACKED && !state.contains_key(&integration) {
            state.clear();
        }
        let (last, count) = state.entry(integration).or_insert((None, 0));
        *count += 1;
        let due = last.is_none_or(|at| at.elapsed() >= self.every);
        if due {
            let total = *count;
            *last = Some(Instant::now());
            *count = 0;
            Some(total)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: i64) -> IntegrationId {
        IntegrationId::new(raw).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn refusals_are_written_once_per_interval_with_their_count() {
        let counter = RefusalCounter::new(Duration::from_secs(3600));
        assert_eq!(counter.note(id(1)), Some(1));
        assert_eq!(counter.note(id(1)), None);
        assert_eq!(counter.note(id(1)), None);
        assert_eq!(counter.note(id(2)), Some(1));
        let immediate = RefusalCounter::new(Duration::ZERO);
        assert_eq!(immediate.note(id(1)), Some(1));
        assert_eq!(immediate.note(id(1)), Some(1));
    }
}
