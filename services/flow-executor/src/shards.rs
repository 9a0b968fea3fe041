//! Which inbound shards this executor consumes: leases in PostgreSQL (`store::shard_leases`).
//!
//! Every `heartbeat` the manager (1) renews its membership and counts the live executors,
//! (2) renews the leases it holds, stopping the consumer of any shard that another executor
//! claimed meanwhile, (3) computes its fair share `ceil(shards / live executors)`, and
//! (4) releases its excess or claims free and expired shards up to that share. Releasing a
//! shard stops its consumer gracefully (in-flight turns finish and are acked, the channel
//! closes and the broker returns what was prefetched, in order) and only then frees the lease,
//! so the next holder starts after the last turn of the old one. A crashed executor's leases
//! simply expire after `lease_ttl`. Single active consumer on each shard queue stays the last
//! guard against two consumers at once (a holder frozen past its lease keeps the queue until
//! the broker drops its connection), and the session revision fence is behind that. See
//! `docs/messaging.md` ("Sharing the shards").

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::shard_leases::HeldShard;
use store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a lease lives without renewal, and how often leases are renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardLeaseConfig {
    /// A crashed executor's shards move after about this long.
    pub lease_ttl: Duration,
    /// Renewal period; a few renewals fit in one TTL so that a slow query does not lose a lease.
    pub heartbeat: Duration,
}

impl Default for ShardLeaseConfig {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(5),
            heartbeat: Duration::from_secs(1),
        }
    }
}

impl ShardLeaseConfig {
    /// Refuses a heartbeat that does not fit at least twice in the TTL.
    pub fn validate(&self) -> Result<(), String> {
        if self.heartbeat.is_zero() || self.heartbeat * 2 > self.lease_ttl {
            return Err("the heartbeat must be positive and at most half the lease TTL".into());
        }
        Ok(())
    }
}

/// Starts the consumer of one shard: given the shard and its stop signal, returns the task,
/// which ends once the consumer has drained after the signal.
pub type SpawnConsumer = Arc<dyn Fn(u16, watch::Receiver<bool>) -> JoinHandle<()> + Send + Sync>;

/// The shards this executor consumes now, for the readiness detail and tests.
#[derive(Clone, Default)]
pub struct HeldShards(Arc<Mutex<Vec<u16>>>);

impl HeldShards {
    pub fn get(&self) -> Vec<u16> {
        self.0.lock().map(|held| held.clone()).unwrap_or_default()
    }

    fn set(&self, shards: Vec<u16>) {
        metrics::gauge!("executor_shards_held").set(shards.len() as f64);
        if let Ok(mut held) = self.0.lock() {
            *held = shards;
        }
    }
}

/// One shard's consumer: consuming, or draining before its lease is freed.
struct Consumer {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    epoch: i64,
    draining: bool,
}

pub struct ShardManager {
    store: Store,
    instance: String,
    shard_count: u16,
    config: ShardLeaseConfig,
    spawn: SpawnConsumer,
    consumers: BTreeMap<u16, Consumer>,
    held: HeldShards,
}

/// `ceil(shards / live)`; a member count of 0 (our own heartbeat not yet visible) counts as 1.
pub fn fair_share(shard_count: u16, live: i64) -> usize {
    let live = usize::try_from(live.max(1)).unwrap_or(1);
    usize::from(shard_count).div_ceil(live)
}

impl ShardManager {
    pub fn new(
        store: Store,
        instance: String,
        shard_count: u16,
        config: ShardLeaseConfig,
        spawn: SpawnConsumer,
    ) -> Self {
        Self {
            store,
            instance,
            shard_count,
            config,
            spawn,
            consumers: BTreeMap::new(),
            held: HeldShards::default(),
        }
    }

    pub fn held(&self) -> HeldShards {
        self.held.clone()
    }

    /// The first round, before the executor reports itself started.
    pub async fn start(&mut self) -> Result<(), store::StoreError> {
        self.store.ensure_shard_rows(self.shard_count).await?;
        self.tick().await
    }

    /// Rounds every heartbeat until `shutdown`, then drains every consumer and frees its lease.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut every = tokio::time::interval(self.config.heartbeat);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                _ = every.tick() => {}
            }
            if let Err(error) = self.tick().await {
                // Keep consuming what we hold: the broker's single active consumer still
                // guards each queue, and turns need the database anyway.
                tracing::warn!(%error, "shard lease round failed; retrying");
            }
        }
        self.stop_all().await;
    }

    async fn tick(&mut self) -> Result<(), store::StoreError> {
        self.reap_drained().await;
        let membership = self
            .store
            .heartbeat_member(&self.instance, self.shard_count, self.config.lease_ttl)
            .await?;
        if membership.disagreeing > 0 {
            tracing::error!(
                disagreeing = membership.disagreeing,
                shards = self.shard_count,
                "live executors are configured with another AMQP_INBOUND_SHARDS"
            );
        }
        let renewed = self
            .store
            .renew_shards(&self.instance, self.config.lease_ttl)
            .await?;
        self.forget_lost(&renewed);
        let share = fair_share(self.shard_count, membership.live);
        let consuming: Vec<u16> = self
            .consumers
            .iter()
            .filter(|(_, consumer)| !consumer.draining)
            .map(|(shard, _)| *shard)
            .collect();
        if consuming.len() > share {
            // The highest first: claims take the lowest free ones.
            for shard in consuming.iter().rev().take(consuming.len() - share) {
                self.drain(*shard, "over the fair share");
            }
        } else if consuming.len() < share && self.consumers.len() < share {
            let wanted = share - self.consumers.len();
            let claimed = self
                .store
                .claim_shards(
                    &self.instance,
                    self.shard_count,
                    wanted,
                    self.config.lease_ttl,
                )
                .await?;
            for HeldShard { shard, epoch } in claimed {
                self.begin(shard, epoch);
            }
        }
        self.publish();
        Ok(())
    }

    /// Stops (gracefully, at once) consumers whose lease was taken by another executor
    /// after it expired here (a stall, a database outage longer than the TTL).
    fn forget_lost(&mut self, renewed: &[HeldShard]) {
        let lost: Vec<u16> = self
            .consumers
            .keys()
            .copied()
            .filter(|shard| !renewed.iter().any(|held| held.shard == i32::from(*shard)))
            .collect();
        for shard in lost {
            tracing::warn!(
                shard,
                "shard lease lost to another executor; stopping its consumer"
            );
            self.drain(shard, "lease lost");
        }
    }

    fn begin(&mut self, shard: i32, epoch: i64) {
        let Ok(shard) = u16::try_from(shard) else {
            return;
        };
        let (stop, watcher) = watch::channel(false);
        let task = (self.spawn)(shard, watcher);
        tracing::info!(shard, epoch, "shard claimed; consuming");
        metrics::counter!("executor_shard_claims_total").increment(1);
        self.consumers.insert(
            shard,
            Consumer {
                stop,
                task,
                epoch,
                draining: false,
            },
        );
    }

    fn drain(&mut self, shard: u16, why: &'static str) {
        if let Some(consumer) = self.consumers.get_mut(&shard) {
            if !consumer.draining {
                tracing::info!(
                    shard,
                    epoch = consumer.epoch,
                    why,
                    "releasing shard: draining its consumer"
                );
                consumer.draining = true;
                let _ = consumer.stop.send(true);
            }
        }
    }

    /// Frees the leases of consumers that finished draining.
    async fn reap_drained(&mut self) {
        let finished: Vec<u16> = self
            .consumers
            .iter()
            .filter(|(_, consumer)| consumer.draining && consumer.task.is_finished())
            .map(|(shard, _)| *shard)
            .collect();
        for shard in finished {
            match self
                .store
                .release_shard(&self.instance, i32::from(shard))
                .await
            {
                Ok(()) => {
                    self.consumers.remove(&shard);
                    tracing::info!(shard, "shard released");
                }
                Err(error) => {
                    tracing::warn!(%error, shard, "freeing a drained shard failed; retrying")
                }
            }
        }
        self.publish();
    }

    fn publish(&self) {
        // The configured count beside the held ones, so that an alert compares the two
        // (`BotplatformShardsUnheld`) instead of a number copied from the configuration.
        metrics::gauge!("executor_inbound_shards").set(f64::from(self.shard_count));
        self.held.set(
            self.consumers
                .iter()
                .filter(|(_, consumer)| !consumer.draining)
                .map(|(shard, _)| *shard)
                .collect(),
        );
    }

    /// Graceful stop: every consumer drains, then every lease and the membership are freed, so
    /// the other executors take the shards at their next round instead of after the TTL.
    async fn stop_all(&mut self) {
        for consumer in self.consumers.values() {
            let _ = consumer.stop.send(true);
        }
        for (shard, consumer) in std::mem::take(&mut self.consumers) {
            let _ = consumer.task.await;
            if let Err(error) = self
                .store
                .release_shard(&self.instance, i32::from(shard))
                .await
            {
                tracing::warn!(%error, shard, "freeing a shard on stop failed; it expires instead");
            }
        }
        if let Err(error) = self.store.leave_members(&self.instance).await {
            tracing::warn!(%error, "leaving the shard membership failed; it expires instead");
        }
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fair_share_rounds_up_and_never_divides_by_zero() {
        assert_eq!(fair_share(8, 1), 8);
        assert_eq!(fair_share(8, 3), 3);
        assert_eq!(fair_share(8, 4), 2);
        assert_eq!(fair_share(8, 9), 1);
        assert_eq!(fair_share(8, 0), 8);
    }

    #[test]
    fn a_heartbeat_must_fit_twice_in_the_ttl() {
        assert!(ShardLeaseConfig::default().validate().is_ok());
        let slow = ShardLeaseConfig {
            lease_ttl: Duration::from_secs(2),
            heartbeat: Duration::from_secs(2),
        };
        assert!(slow.validate().is_err());
    }
}
