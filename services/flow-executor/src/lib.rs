//! The flow executor: the only place a flow runs and the only writer of sessions.
//!
//! It consumes the inbound shard queues (`bot.inbound.<n>`) it holds a lease on (`shards.rs`:
//! the executors share the shards fairly through PostgreSQL); each shard is also a single-
//! active-consumer quorum queue, so one executor at a time handles a shard, one event after
//! another: a conversation's events are handled in order however many executors run. See
//! `docs/ARCHITECTURE.md` and `turn.rs` for the exactly-once bookkeeping.

mod config;
mod http_call;
mod outputs;
pub mod shards;
mod turn;
mod versions;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use broker::{Ack, Broker, ConsumeOptions, Delivery, Publisher, Topology};
use contracts::v1::InboundEvent;
use flow::engine::{Engine, EngineLimits};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

pub use crate::config::{ExecutorConfig, DEFAULT_PORT};
use crate::http_call::FlowHttp;
pub use crate::shards::{HeldShards, ShardLeaseConfig};
use crate::turn::{TurnContext, TurnFailure};
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

pub async fn start(config: ExecutorConfig) -> Result<RunningExecutor, ExecutorError> {
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
        http: FlowHttp {
            allow_private_network: config.allow_private_network,
            max_response_bytes: config.http_max_response_bytes,
        },
        api_session_ttl: config.api_session_ttl,
    });
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
                    async move { handle_delivery(&context, &publisher, delivery, watcher).await }
                };
                let options = ConsumeOptions {
                    prefetch: Some(32),
                    consumer_tag: String::new(),
                    concurrency: 1,
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
    let mut manager = shards::ShardManager::new(
        store.clone(),
        instance_id.clone(),
        config.broker.inbound_shards,
        config.shard_leases,
        spawn_consumer,
    );
    manager.start().await?;
    let held = manager.held();
    tasks.spawn(manager.run(watcher.clone()));
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

/// Handles one delivery: run (or recognise) the turn, publish its outputs, then ack. Transient
/// failures (database away, a concurrent write at failover) are retried here, holding the
/// shard, so that order is kept and nothing is dead-lettered for an outage.
async fn handle_delivery(
    context: &TurnContext,
    publisher: &Publisher,
    delivery: Delivery,
    shutdown: watch::Receiver<bool>,
) -> Ack {
    let event: InboundEvent = match contracts::v1::decode(&delivery.body) {
        Ok(event) => event,
        Err(error) => {
            tracing::error!(%error, queue = %delivery.queue, "undecodable inbound event: dead-lettered");
            return Ack::Reject;
        }
    };
    let span = tracing::info_span!(
        "turn",
        event_id = %event.event_id,
        integration = %event.integration_id,
        conversation = %event.conversation_key,
        channel = %event.channel,
    );
    telemetry::set_parent_from(&span, &broker::trace::HeaderExtractor(&delivery.headers));
    let started = std::time::Instant::now();
    let channel = event.channel.as_str();
    async move {
        let mut pause = Duration::from_millis(50);
        loop {
            match context.handle(&event).await {
                Ok(outputs) => {
                    metrics::counter!("turns_total", "channel" => channel).increment(1);
                    metrics::histogram!("turn_duration_seconds", "channel" => channel)
                        .record(started.elapsed().as_secs_f64());
                    return match outputs.publish(publisher, &event.event_id).await {
                        Ok(()) => Ack::Ack,
                        Err(error) => {
                            // Stored with the turn: the redelivery publishes them again.
                            tracing::warn!(%error, "publishing outputs failed; handing the event back");
                            Ack::Requeue
                        }
                    };
                }
                Err(TurnFailure::Transient(reason)) => {
                    metrics::counter!("turn_retries_total", "channel" => channel).increment(1);
                    if *shutdown.borrow() {
                        tracing::warn!(%reason, "shutting down with a transient failure; handing the event back");
                        return Ack::Requeue;
                    }
                    tracing::warn!(%reason, retry_in_ms = pause.as_millis() as u64, "turn failed transiently; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(TurnFailure::Permanent(reason)) => {
                    metrics::counter!("turn_failures_total", "channel" => channel).increment(1);
                    tracing::error!(%reason, "turn failed permanently; handing the event back");
                    return Ack::Requeue;
                }
            }
        }
    }
    .instrument(span)
    .await
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
