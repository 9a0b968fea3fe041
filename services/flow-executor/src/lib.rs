//! The flow executor: the only place a flow runs and the only writer of sessions.
//!
//! It consumes the inbound shard queues (`bot.inbound.<n>`) it holds a lease on (`shards.rs`:
//! the executors share the shards fairly through PostgreSQL); each shard is also a single-
//! active-consumer quorum queue, so one executor at a time handles a shard. Within a shard, turns of
//! different conversations run side by side (up to `turn_concurrency`), each conversation in
//! its own lane, strictly one event after another in queue order (`broker::LaneKey` on the
//! routing key, which is the conversation key). So a conversation's events are handled in
//! order however many executors run, and a slow or failing conversation holds only itself.
//! See `docs/ARCHITECTURE.md`, `delivery.rs` for failures and `turn.rs` for the exactly-once
//! bookkeeping.

mod config;
pub mod dead_letters;
mod delivery;
pub mod http_call;
pub mod outputs;
pub mod shards;
pub mod turn;
pub mod versions;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use broker::{Broker, ConsumeOptions, Delivery, LaneKey, Topology};
use flow::engine::{Engine, EngineLimits};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use crate::config::{ExecutorConfig, DEFAULT_PORT};
pub use crate::delivery::RetryPolicy;
use crate::http_call::FlowHttp;
pub use crate::shards::{HeldShards, ShardLeaseConfig};
use crate::turn::TurnContext;
use crate::versions::VersionCache;

#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("broker: {0}")]
    Broker(#[from] broker::BrokerError),
    #[error("http: {0}")]
    Io(#[from] std::io::Error),
    #[error("alerts: {0}")]
    Alerts(#[from] alerts::AlertError),
}

/// A started executor.
pub struct RunningExecutor {
    pub probe_addr: SocketAddr,
    /// This process's id in the shard leases (`<instance name>-<random>`).
    pub instance_id: String,
    /// The shards it consumes now.
    pub shards: HeldShards,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    probes: service_kit::ProbeServer,
    broker: Broker,
}

impl RunningExecutor {
    /// Stops consuming, lets in-flight turns finish (and be acked), then closes.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.probes.stop().await;
        self.broker.close().await;
    }
}

/// Connections of the shard lease manager's own pool (one round at a time, one spare for a
/// round that overlaps a slow one).
const LEASE_CONNECTIONS: usize = 2;

pub async fn start(config: ExecutorConfig) -> Result<RunningExecutor, ExecutorError> {
    // Before anything records: the lease manager's first claim publishes the shard gauges
    // before the probe server (which also installs it) is up, and a gauge set with no recorder
    // is lost until the next heartbeat (the three-executor fault test caught one missing).
    service_kit::metrics::install();
    let store = store::Store::connect(&(&config.database).into()).await?;
    let broker = Broker::start_from_settings(&config.broker, config.instance_name.clone())?;
    let alerter = alerts::Alerter::start(store.clone(), config.alerts.clone())?;
    let context = Arc::new(TurnContext {
        alerter,
        store: store.clone(),
        engine: Engine::new(EngineLimits {
            max_steps_per_turn: config.max_steps_per_turn,
            allow_private_network: config.allow_private_network,
            ..EngineLimits::default()
        }),
        versions: VersionCache::default(),
        http: Arc::new(FlowHttp {
            allow_private_network: config.allow_private_network,
            max_response_bytes: config.http_max_response_bytes,
        }),
        api_session_ttl: config.api_session_ttl,
        lock_timeout: config.lock_timeout,
        commit: store::turns::Commit::Durable,
    });
    let policy = config.retry;
    let (prefetch, turn_concurrency) = (config.prefetch, config.turn_concurrency);
    let publisher = broker.publisher();
    let (shutdown, watcher) = watch::channel(false);
    let mut tasks = JoinSet::new();
    // One shard's consumer; the lease manager starts and stops them as it claims and releases.
    let spawn_consumer: shards::SpawnConsumer = {
        let broker = broker.clone();
        Arc::new(move |shard: u16, watcher: watch::Receiver<bool>| {
            let queue = Topology::inbound_queue(shard);
            let broker = broker.clone();
            let context = context.clone();
            let publisher = publisher.clone();
            tokio::spawn(async move {
                let handler_watcher = watcher.clone();
                let handler = move |delivery: Delivery| {
                    let context = context.clone();
                    let publisher = publisher.clone();
                    let watcher = handler_watcher.clone();
                    async move {
                        delivery::handle(&context, &publisher, &policy, delivery, watcher).await
                    }
                };
                let options = ConsumeOptions {
                    prefetch: Some(prefetch),
                    consumer_tag: String::new(),
                    concurrency: turn_concurrency,
                    lanes: Some(LaneKey::conversation()),
                };
                let stop = service_kit::stopped(watcher.clone());
                if let Err(error) = broker.consume(&queue, options, handler, stop).await {
                    tracing::error!(%error, queue, "consumer stopped");
                }
            })
        })
    };
    let instance_id = format!(
        "{}-{}",
        config.instance_name,
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    // The leases get a pool of their own: on the turns' pool a heartbeat waited behind up to
    // 256 turns in flight, missed its slot under load ("waiting for a slot", fault suite) and
    // let the executor's own leases expire, which moved its shards for nothing.
    let lease_store = store::Store::connect_without_migrations(&store::StoreOptions {
        max_connections: LEASE_CONNECTIONS,
        ..(&config.database).into()
    })?;
    let mut manager = shards::ShardManager::new(
        lease_store,
        instance_id.clone(),
        config.broker.inbound_shards,
        config.shard_leases,
        spawn_consumer,
    );
    manager.start().await?;
    let held = manager.held();
    tasks.spawn(manager.run(watcher.clone()));
    tasks.spawn(dead_letters::drain(
        broker.clone(),
        store.clone(),
        watcher.clone(),
    ));
    tasks.spawn(sweeper(
        store.clone(),
        config.history_retention,
        watcher.clone(),
    ));
    let probes = {
        let connected = broker.clone();
        let shown = held.clone();
        service_kit::ProbeServer::for_worker_with_details(
            &config.http,
            move || {
                let store = store.clone();
                async move { store.ping().await.is_ok() }
            },
            move || connected.is_connected(),
            vec![(
                "shards",
                Arc::new(move || serde_json::json!(shown.get())) as service_kit::Detail,
            )],
        )?
    };
    tracing::info!(instance = %instance_id, shards = ?held.get(), "shard leases taken");
    Ok(RunningExecutor {
        probe_addr: probes.addr,
        instance_id,
        shards: held,
        shutdown,
        tasks,
        probes,
        broker,
    })
}

/// Runs until `shutdown` resolves, then stops gracefully.
pub async fn run(
    config: ExecutorConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ExecutorError> {
    let running = start(config).await?;
    tracing::info!(probes = %running.probe_addr, "flow executor running");
    shutdown.await;
    running.stop().await;
    Ok(())
}

/// Deletes expired sessions and forgets old history, once a minute.
async fn sweeper(store: store::Store, retention: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = tick.tick() => {}
        }
        match store.delete_expired_sessions(10_000).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "expired sessions deleted"),
            Err(error) => tracing::warn!(%error, "expiring sessions failed"),
        }
        let before = chrono::Utc::now()
            - chrono::Duration::from_std(retention).unwrap_or_else(|_| chrono::Duration::days(7));
        if let Err(error) = store.prune_history(before, before).await {
            tracing::warn!(%error, "pruning history failed");
        }
    }
}
