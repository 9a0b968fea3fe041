//! Bursts of bad webhook signatures: one stray bad signature is noise (a probe, a retry of an
//! old delivery); many in a short time mean a wrong app secret or an attack, worth a mail.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts::IntegrationId;

/// Bad signatures remembered per integration at most; past it the oldest are forgotten, so the
/// reported count saturates here instead of memory growing with an attack.
const MAX_TRACKED: usize = 10_000;
/// Past this many integrations in the map, quiet ones are pruned.
const PRUNE_ABOVE: usize = 1_024;

#[derive(Default)]
struct Track {
    hits: VecDeque<Instant>,
    reported_at: Option<Instant>,
}

/// Counts bad signatures per integration in a sliding window, in memory (per replica; the
/// alert it leads to is throttled across replicas by the [`crate::Alerter`]). Cheap to clone;
/// clones share the counts.
#[derive(Clone)]
pub struct BurstDetector {
    threshold: usize,
    window: Duration,
    tracks: Arc<Mutex<HashMap<IntegrationId, Track>>>,
}

impl Default for BurstDetector {
    /// 5 bad signatures within 60 seconds.
    fn default() -> Self {
        BurstDetector::new(
            BurstDetector::DEFAULT_THRESHOLD,
            BurstDetector::DEFAULT_WINDOW,
        )
    }
}

impl BurstDetector {
    pub const DEFAULT_THRESHOLD: usize = 5;
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

    /// A burst is `threshold` (at least 1) bad signatures within `window`.
    pub fn new(threshold: usize, window: Duration) -> BurstDetector {
        BurstDetector {
            threshold: threshold.max(1),
            window,
            tracks: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Records one bad signature on `integration`. Returns the number of bad signatures within
    /// the window when they make a burst that has not been reported yet: at most once per
    /// window per integration, so a sustained attack yields one report per window, each with
    /// the window's count. Raise [`crate::Alert::bad_signatures`] with it.
    pub fn record(&self, integration: IntegrationId) -> Option<usize> {
        self.record_at(integration, Instant::now())
    }

    fn record_at(&self, integration: IntegrationId, now: Instant) -> Option<usize> {
        let mut tracks = self
            .tracks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tracks.len() > PRUNE_ABOVE {
            let window = self.window;
            tracks.retain(|_, track| {
                track
                    .hits
                    .back()
                    .is_some_and(|last| now.saturating_duration_since(*last) < window)
            });
        }
        let track = tracks.entry(integration).or_default();
        while track
            .hits
            .front()
            .is_some_and(|first| now.saturating_duration_since(*first) >= self.window)
        {
            track.hits.pop_front();
        }
        if track.hits.len() >= MAX_TRACKED {
            track.hits.pop_front();
        }
        track.hits.push_back(now);
        let count = track.hits.len();
        let quiet_since_report = track
            .reported_at
            .is_none_or(|at| now.saturating_duration_since(at) >= self.window);
        if count >= self.threshold && quiet_since_report {
            track.reported_at = Some(now);
            Some(count)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: i64) -> IntegrationId {
        IntegrationId::new(raw).unwrap_or_else(|_| panic!("a positive id"))
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_threshold_within_the_window_is_a_burst_reported_once() {
        let detector = BurstDetector::new(5, secs(60));
        let start = Instant::now();
        for i in 0..4 {
            assert_eq!(detector.record_at(id(1), start + secs(i)), None);
        }
        assert_eq!(detector.record_at(id(1), start + secs(4)), Some(5));
        // More within the same window are part of the reported burst.
        for i in 5..50 {
            assert_eq!(detector.record_at(id(1), start + secs(i)), None);
        }
        // A window after the report, a sustained attack is reported again with its count:
        // the hits of the last 60 s (seconds 5..=64 less the expired ones).
        let again = detector.record_at(id(1), start + secs(64));
        assert_eq!(again, Some(46));
    }

    #[test]
    fn spread_out_signatures_are_no_burst() {
        let detector = BurstDetector::new(5, secs(60));
        let start = Instant::now();
        for i in 0..20 {
            // One every 20 s: never more than 3 within a minute.
            assert_eq!(detector.record_at(id(1), start + secs(20 * i)), None);
        }
    }

    #[test]
    fn integrations_are_counted_apart() {
        let detector = BurstDetector::new(3, secs(10));
        let start = Instant::now();
        assert_eq!(detector.record_at(id(1), start), None);
        assert_eq!(detector.record_at(id(2), start), None);
        assert_eq!(detector.record_at(id(1), start + secs(1)), None);
        assert_eq!(detector.record_at(id(2), start + secs(1)), None);
        assert_eq!(detector.record_at(id(1), start + secs(2)), Some(3));
        assert_eq!(detector.record_at(id(2), start + secs(2)), Some(3));
        // Clones share the counts.
        let clone = detector.clone();
        assert_eq!(clone.record_at(id(2), start + secs(3)), None);
    }

    #[test]
    fn counts_saturate_instead_of_growing_without_bound() {
        let detector = BurstDetector::new(1, secs(3600));
        let start = Instant::now();
        assert_eq!(detector.record_at(id(1), start), Some(1));
        for i in 0..(MAX_TRACKED as u64 + 500) {
            detector.record_at(id(1), start + Duration::from_millis(i));
        }
        let count = detector.record_at(id(1), start + secs(3600));
        assert_eq!(count, Some(MAX_TRACKED));
    }
}
