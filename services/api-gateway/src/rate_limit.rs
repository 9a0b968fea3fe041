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
use std::sync::Mutex;
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

pub struct RateLimiter {
    store: Store,
    leases: Mutex<HashMap<IntegrationId, Lease>>,
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
        if self.spend_local(integration) {
            return Ok(());
        }
        let shape = BucketShape::per_minute(per_minute);
        let want = lease_size(shape);
        let lease = self
            .store
            .take_tokens(&format!("api:{integration}"), shape, want)
            .await
            .map_err(Refused::Unavailable)?;
        if lease.granted == 0 {
            return Err(Refused::Limited(shape.wait_for_one(lease.remaining)));
        }
        if lease.granted > 1 {
            self.keep(integration, lease.granted - 1);
        }
        Ok(())
    }

    fn spend_local(&self, integration: IntegrationId) -> bool {
        let Ok(mut leases) = self.leases.lock() else {
            return false;
        };
        match leases.get_mut(&integration) {
            Some(lease) if lease.tokens > 0 && lease.taken.elapsed() < LEASE_TTL => {
                lease.tokens -= 1;
                true
            }
            Some(_) => {
                leases.remove(&integration);
                false
            }
            None => false,
        }
    }

    fn keep(&self, integration: IntegrationId, tokens: u32) {
        if let Ok(mut leases) = self.leases.lock() {
            let now = Instant::now();
            let lease = leases.entry(integration).or_insert(Lease {
                tokens: 0,
                taken: now,
            });
            if lease.taken.elapsed() >= LEASE_TTL {
                lease.tokens = 0;
            }
            lease.tokens += tokens;
            lease.taken = now;
        }
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

    #[test]
    fn leases_are_a_quarter_second_of_the_rate() {
        assert_eq!(lease_size(BucketShape::per_minute(6)), 1);
        assert_eq!(lease_size(BucketShape::per_minute(600)), 2);
        assert_eq!(lease_size(BucketShape::per_minute(6_000)), 25);
        // Never more than a twentieth of the bucket.
        assert_eq!(lease_size(BucketShape::per_minute(60)), 1);
    }
}
