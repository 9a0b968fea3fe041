//! Exponential backoff with jitter for retryable Graph errors.

use std::time::Duration;

/// Attempts and delays for one Graph call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; after the last failure the batch is given up.
    pub max_attempts: u32,
    /// Wait after the first failure (before jitter).
    pub base_delay: Duration,
    /// No wait is longer than this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 6 attempts waiting about 1, 2, 4, 8 and 16 s: about half a minute in all.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` failed attempts (1 for the first): `base * growth^(failures-1)`
    /// capped at `max_delay`, then "equal jitter" (between half and all of it, `jitter` in
    /// [0, 1]) so that senders throttled together do not come back together. `growth` is 2,
    /// or 4 for the pair rate limit, as Meta advises (4^X seconds).
    pub fn delay(&self, failures: u32, growth: u32, jitter: f64) -> Duration {
        let exponent = failures.saturating_sub(1).min(30);
        let factor = growth.max(1).saturating_pow(exponent);
        let full = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let jitter = jitter.clamp(0.0, 1.0);
        full / 2 + full.mul_f64(jitter / 2.0)
    }
}

/// A uniformly random number in [0, 1] from the system's generator (0.5 if it fails).
pub fn random_jitter() -> f64 {
    use ring::rand::SecureRandom;
    let mut bytes = [0_u8; 4];
    match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_capped_and_jittered() {
        let policy = RetryPolicy::default();
        let full = |failures, growth| policy.delay(failures, growth, 1.0);
        assert_eq!(full(1, 2), Duration::from_secs(1));
        assert_eq!(full(2, 2), Duration::from_secs(2));
        assert_eq!(full(5, 2), Duration::from_secs(16));
        assert_eq!(full(6, 2), Duration::from_secs(30));
        assert_eq!(full(40, 2), Duration::from_secs(30));
        assert_eq!(full(2, 4), Duration::from_secs(4));
        assert_eq!(full(3, 4), Duration::from_secs(16));
        assert_eq!(policy.delay(3, 2, 0.0), Duration::from_secs(2));
        assert_eq!(policy.delay(3, 2, 0.5), Duration::from_secs(3));
        assert_eq!(policy.delay(0, 2, 1.0), Duration::from_secs(1));
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let samples: Vec<f64> = (0..32).map(|_| random_jitter()).collect();
        assert!(samples.iter().all(|j| (0.0..=1.0).contains(j)));
        assert!(samples
            .iter()
            .any(|j| (j - samples[0]).abs() > f64::EPSILON));
    }
}
