//! Per-integration rate limit (PRODUCT.md 4): a token bucket per integration holding a minute's
//! worth of requests, refilled continuously, shared by every gateway replica.
//!
//! The bucket lives in PostgreSQL (`rate_limit_buckets`, one statement per take on the
//! database's clock). So that a request does not cost a round trip, a replica takes a small
//! *lease* of tokens at once (a quarter second's worth of the rate, at least one) and spends it
//! locally; a lease unspent after [`LEASE_TTL`] is dropped, never returned. Across replicas the
//! limit therefore holds from above exactly (no token is spent twice), and from below within
//! the leases left to expire: at most one lease per replica per [`LEASE_TTL`]
//! (docs/security.md, "Rate limits").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts::IntegrationId;
use store::rate_limits::BucketShape;
use store::{Store, StoreError};

/// How long a replica may spend a lease before the unspent rest is dropped.
pub const LEASE_TTL: Duration = Duration::from_secs(1);
/// A lease covers this share of a second's refill.
const LEASE_SECONDS: f64 = 0.25;

struct Lease {
    tokens: u32,
    taken: Instant,
}

impl Lease {
    fn spend(&mut self) -> bool {
        if self.tokens > 0 && self.taken.elapsed() < LEASE_TTL {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

pub struct RateLimiter {
    store: Store,
    /// Per integration, its lease behind an async lock: one take from the shared bucket in
    /// flight per integration and replica. Without it, every request that found the lease
    /// spent took a lease of its own at the same moment: 1,000 concurrent requests on a
    /// 1,000,000-a-minute integration took 4,166 tokens each, emptied the bucket and were
    /// answered 429 far below the limit (mem-bench), and the leases left to expire unspent
    /// were unbounded.
    leases: Mutex<HashMap<IntegrationId, Arc<tokio::sync::Mutex<Lease>>>>,
}

/// Why a request was not admitted.
#[derive(Debug)]
pub enum Refused {
    /// Over the limit: a token is back after this long.
    Limited(Duration),
    /// The shared bucket could not be reached.
    Unavailable(StoreError),
}

impl RateLimiter {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            leases: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from the integration's bucket, or says how long until one is free.
    pub async fn admit(&self, integration: IntegrationId, per_minute: u32) -> Result<(), Refused> {
        let slot = self.slot(integration);
        // Requests arriving while a take is in flight wait for it and spend its lease.
        let mut lease = slot.lock().await;
        if lease.spend() {
            return Ok(());
        }
        let shape = BucketShape::per_minute(per_minute);
        let taken = self
            .store
            .take_tokens(&format!("api:{integration}"), shape, lease_size(shape))
            .await
            .map_err(Refused::Unavailable)?;
        // A new lease replaces the old one: an unspent rest past its TTL is dropped, never
        // carried into the new lease's lifetime.
        *lease = Lease {
            tokens: taken.granted.saturating_sub(1),
            taken: Instant::now(),
        };
        if taken.granted == 0 {
            return Err(Refused::Limited(shape.wait_for_one(taken.remaining)));
        }
        Ok(())
    }

    fn slot(&self, integration: IntegrationId) -> Arc<tokio::sync::Mutex<Lease>> {
        let mut leases = self
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        leases
            .entry(integration)
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Lease {
                    tokens: 0,
                    taken: Instant::now(),
                }))
            })
            .clone()
    }
}

/// A quarter second's refill, at least one token and at most a twentieth of the capacity.
fn lease_size(shape: BucketShape) -> u32 {
    let quarter_second = (shape.per_second * LEASE_SECONDS).floor();
    let cap = (shape.capacity / 20.0).floor();
    // Both are small positive whole numbers; the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let size = quarter_second.min(cap).max(1.0) as u32;
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of concurrent requests well within the limit is admitted whole, and takes from
    /// the shared bucket about what it spends (not a lease per request).
    #[tokio::test]
    async fn a_concurrent_burst_within_the_limit_is_admitted_and_takes_what_it_spends() {
        let db = testkit::database::TestDatabase::create().await.unwrap();
        let store = Store::connect(&store::StoreOptions {
            url: db.url().to_owned(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
        })
        .await
        .unwrap();
        let limiter = Arc::new(RateLimiter::new(store.clone()));
        let integration: IntegrationId = "7".parse().unwrap();
        // 1,200 a minute: leases of 5 tokens. 500 requests at once: a lease per request would
        // take 2,500 tokens from a bucket of 1,200 and refuse hundreds.
        let per_minute = 1_200;
        let mut burst = tokio::task::JoinSet::new();
        for _ in 0..500 {
            let limiter = limiter.clone();
            burst.spawn(async move { limiter.admit(integration, per_minute).await });
        }
        let mut refused = 0;
        while let Some(admitted) = burst.join_next().await {
            refused += usize::from(admitted.unwrap().is_err());
        }
        assert_eq!(refused, 0, "requests within the limit were refused");
        let left = store
            .peek_tokens(
                &format!("api:{integration}"),
                BucketShape::per_minute(per_minute),
            )
            .await
            .unwrap();
        // 500 spent, at most one lease (5) taken and unspent, plus the refill during the test.
        assert!(
            left >= 1_200.0 - 505.0,
            "the burst took {} tokens",
            1_200.0 - left
        );
    }

    #[test]
    fn leases_are_a_quarter_second_of_the_rate() {
        assert_eq!(lease_size(BucketShape::per_minute(6)), 1);
        assert_eq!(lease_size(BucketShape::per_minute(600)), 2);
        assert_eq!(lease_size(BucketShape::per_minute(6_000)), 25);
        // Never more than a twentieth of the bucket.
        assert_eq!(lease_size(BucketShape::per_minute(60)), 1);
    }
}
