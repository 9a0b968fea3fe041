//! Per-integration rate limit (PRODUCT.md 4): a token bucket per integration holding a minute's
//! worth of requests, refilled continuously. In-process, so per gateway replica: with N
//! replicas behind a balancer an integration gets up to N times its limit (docs/api-gateway.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use contracts::IntegrationId;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<IntegrationId, Bucket>>,
}

impl RateLimiter {
    /// Takes one request from the integration's bucket, or says how long until one is free.
    pub fn admit(&self, integration: IntegrationId, per_minute: u32) -> Result<(), Duration> {
        self.admit_at(integration, per_minute, Instant::now())
    }

    fn admit_at(
        &self,
        integration: IntegrationId,
        per_minute: u32,
        now: Instant,
    ) -> Result<(), Duration> {
        let capacity = f64::from(per_minute.max(1));
        let per_second = capacity / 60.0;
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let bucket = buckets.entry(integration).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_a_minutes_worth_then_refuses_until_refilled() {
        let limiter = RateLimiter::default();
        let id = IntegrationId::new(1).unwrap();
        let start = Instant::now();
        for _ in 0..6 {
            assert!(limiter.admit_at(id, 6, start).is_ok());
        }
        let wait = limiter.admit_at(id, 6, start).unwrap_err();
        assert!(
            wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        // Ten seconds later one request (6 per minute) is free again.
        assert!(limiter
            .admit_at(id, 6, start + Duration::from_secs(10))
            .is_ok());
        assert!(limiter
            .admit_at(id, 6, start + Duration::from_secs(10))
            .is_err());
        // Other integrations have their own bucket.
        assert!(limiter
            .admit_at(IntegrationId::new(2).unwrap(), 6, start)
            .is_ok());
    }
}
