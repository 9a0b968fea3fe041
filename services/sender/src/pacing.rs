//! Pacing per phone number: Graph calls from one number are spaced `1 / rate` apart (a token
//! bucket holding one token), so a burst never exceeds Meta's throughput limit (80 messages
//! per second by default). With single active consumer, one sender process sends at a time,
//! so the limit is held per deployment, not only per process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub struct Pacer {
    interval: Duration,
    next_slot: Mutex<HashMap<String, Instant>>,
}

/// Numbers idle this long are forgotten when the map grows.
const FORGET_AFTER: Duration = Duration::from_secs(60);
const PRUNE_ABOVE: usize = 1_024;

impl Pacer {
    pub fn new(rate_per_second: f64) -> Self {
        let rate = if rate_per_second.is_finite() && rate_per_second > 0.0 {
            rate_per_second
        } else {
            1.0
        };
        Pacer {
            interval: Duration::from_secs_f64(1.0 / rate),
            next_slot: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for this number's next free slot and takes it.
    pub async fn wait(&self, phone_number_id: &str) {
        let slot = self.reserve(phone_number_id, Instant::now());
        tokio::time::sleep_until(slot).await;
    }

    /// Takes the next slot at or after `now` and returns it.
    fn reserve(&self, phone_number_id: &str, now: Instant) -> Instant {
        let mut slots = self
            .next_slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slots.len() > PRUNE_ABOVE {
            slots.retain(|_, next| *next + FORGET_AFTER > now);
        }
        let next = slots.entry(phone_number_id.to_owned()).or_insert(now);
        let slot = (*next).max(now);
        *next = slot + self.interval;
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_per_number() {
        let pacer = Pacer::new(5.0);
        let now = Instant::now();
        let slots: Vec<Duration> = (0..4).map(|_| pacer.reserve("a", now) - now).collect();
        assert_eq!(
            slots,
            [0, 200, 400, 600].map(Duration::from_millis).to_vec()
        );
        // Another number is not held up by the first.
        assert_eq!(pacer.reserve("b", now), now);
        // After a pause the number starts again at once.
        let later = now + Duration::from_secs(5);
        assert_eq!(pacer.reserve("a", later), later);
    }

    #[tokio::test]
    async fn waiting_takes_the_spacing() {
        let pacer = Pacer::new(100.0);
        let start = Instant::now();
        for _ in 0..5 {
            pacer.wait("a").await;
        }
        assert!(Instant::now() - start >= Duration::from_millis(40));
    }
}
