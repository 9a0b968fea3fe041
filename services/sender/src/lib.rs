//! The sender: the only place that calls the Graph API (docs/sender.md).
//!
//! It consumes `sender.whatsapp` (a single-active-consumer quorum queue bound to
//! `bot.outbound` with key `whatsapp`), renders each [`contracts::v1::OutboundWhatsapp`] batch into Graph API
//! payloads ([`render`]), marks the inbound message read, and sends the payloads in order,
//! paced per phone number, retrying throttling and server errors with backoff, falling back
//! to the integration's template outside the 24-hour window, refreshing a refused token, and
//! alerting ([`alerts::AlertSink`], e-mails by default) when it gives up. Batches of
//! different conversations are sent concurrently; a conversation's batches one after another
//! (per-conversation lanes of the broker's consumer, `broker::LaneKey`).

pub mod alerts;
mod batch;
mod bookkeeping;
mod config;
pub mod pacing;
pub use whatsapp_render as render;
pub mod retry;
mod tokens;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use broker::{Broker, ConsumeOptions, Delivery, LaneKey};
use graph_client::{ClientOptions, GraphClient};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

pub use crate::alerts::{AlertKind, AlertSink, LogAlerts};
pub use crate::config::{SenderConfig, DEFAULT_PORT};
pub use crate::retry::RetryPolicy;

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("broker: {0}")]
    Broker(#[from] broker::BrokerError),
    #[error("Graph API client: {0}")]
    Graph(#[from] graph_client::GraphError),
    #[error("http: {0}")]
    Io(#[from] std::io::Error),
    #[error("alerts: {0}")]
    Alerts(#[from] ::alerts::AlertError),
}

/// A started sender.
pub struct RunningSender {
    pub probe_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    probes: service_kit::ProbeServer,
    broker: Broker,
}

impl RunningSender {
    /// Stops taking batches, lets the ones in flight finish (a batch waiting out a backoff goes
    /// back to the queue and resumes where it stopped), then closes.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.probes.stop().await;
        self.broker.close().await;
    }

    /// Stops at once, as a crash would: batches in flight are dropped wherever they are
    /// (after a Graph call, before its bookkeeping is committed), unacknowledged, and go back
    /// to the queue when the connection closes. Tests use it to check redelivery after a
    /// crash; a statement already sent to PostgreSQL is the test's to cancel.
    pub async fn crash(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.probes.stop().await;
        self.broker.close().await;
    }
}

/// Starts with the e-mail alerts of `config.alerts` (only logged without `SMTP_URL`).
pub async fn start(config: SenderConfig) -> Result<RunningSender, SenderError> {
    start_inner(config, None).await
}

/// Starts, reporting alerts to `alerts` instead (tests record them).
pub async fn start_with_alerts(
    config: SenderConfig,
    alerts: Arc<dyn AlertSink>,
) -> Result<RunningSender, SenderError> {
    start_inner(config, Some(alerts)).await
}

async fn start_inner(
    config: SenderConfig,
    alerts: Option<Arc<dyn AlertSink>>,
) -> Result<RunningSender, SenderError> {
    // Before the consumers start recording (the probe server installs it too, but later):
    // a gauge set before the recorder exists is lost (the executor's shard gauges were).
    service_kit::metrics::install();
    let store = store::Store::connect(&(&config.database).into()).await?;
    let alerts: Arc<dyn AlertSink> = match alerts {
        Some(sink) => sink,
        None => Arc::new(::alerts::Alerter::start(
            store.clone(),
            config.alerts.clone(),
        )?),
    };
    let graph = GraphClient::with_options(
        &config.graph_api_base_url,
        &ClientOptions {
            timeout: config.http_timeout,
            ..ClientOptions::default()
        },
    )?;
    let broker = Broker::start_from_settings(&config.broker, config.instance_name.clone())?;
    let (shutdown, watcher) = watch::channel(false);
    let tokens = Arc::new(tokens::Tokens {
        store: store.clone(),
        graph: graph.clone(),
        key: config.deployment_key.clone(),
        alerts: alerts.clone(),
    });
    let (bookkeeper, bookkeeping) = bookkeeping::Bookkeeper::new(store.clone());
    let context = Arc::new(batch::Context {
        store: store.clone(),
        bookkeeper,
        graph,
        tokens: tokens.clone(),
        pacer: pacing::Pacer::new(config.rate_per_second),
        retry: config.retry,
        alerts,
        activity: store::activity::ActivityThrottle::new(config.activity_interval),
        shutdown: watcher.clone(),
    });
    let mut tasks = JoinSet::new();
    // Ends once the consumer is done with the context (its last batch saved).
    tasks.spawn(bookkeeping);
    tasks.spawn(consume(
        broker.clone(),
        context,
        config.concurrency,
        config.broker.prefetch,
        watcher.clone(),
    ));
    tasks.spawn(tokens::run_refresher(
        tokens,
        config.token_refresh_window,
        config.token_check_interval,
        watcher.clone(),
    ));
    tasks.spawn(sweeper(store.clone(), config.batch_retention, watcher));
    let probes = {
        let connected = broker.clone();
        service_kit::ProbeServer::for_worker(
            &config.http,
            move || {
                let store = store.clone();
                async move { store.ping().await.is_ok() }
            },
            move || connected.is_connected(),
        )?
    };
    Ok(RunningSender {
        probe_addr: probes.addr,
        shutdown,
        tasks,
        probes,
        broker,
    })
}

/// Runs until `shutdown` resolves, then stops gracefully.
pub async fn run(
    config: SenderConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SenderError> {
    let running = start(config).await?;
    tracing::info!(probes = %running.probe_addr, "sender running");
    shutdown.await;
    running.stop().await;
    Ok(())
}

/// Consumes `sender.whatsapp` with up to `concurrency` batches in flight, each conversation in
/// its own lane (`broker::LaneKey` on the batch's conversation key): a conversation's batches
/// go strictly one after another in queue order, and one waiting on retries or pacing holds
/// only its own later batches, never a slot another conversation could use.
async fn consume(
    broker: Broker,
    context: Arc<batch::Context>,
    concurrency: usize,
    prefetch: u16,
    watcher: watch::Receiver<bool>,
) {
    let publisher = broker.publisher();
    let handler = move |delivery: Delivery| {
        let context = context.clone();
        let publisher = publisher.clone();
        async move {
            let work = match batch::Work::decode(&delivery.body) {
                Ok(work) => work,
                Err(error) => {
                    let given_up = broker::dead_letter::GivenUp {
                        reason: format!("undecodable outbound message: {error}"),
                        attempts: 1,
                        first_attempt_at: chrono::Utc::now(),
                    };
                    tracing::error!(%error, "undecodable outbound batch: dead-lettered");
                    return broker::dead_letter::set_aside(&publisher, &delivery, &given_up).await;
                }
            };
            let batch = work.batch();
            let span = tracing::info_span!(
                "send_batch",
                event_id = %batch.event_id,
                integration = %batch.integration_id,
                conversation = %batch.conversation_key,
                sequence = batch.sequence,
            );
            telemetry::set_parent_from(&span, &broker::trace::HeaderExtractor(&delivery.headers));
            async move {
                match context.handle(&work).await {
                    batch::Settle::Ack(ack) => ack,
                    batch::Settle::DeadLetter(given_up) => {
                        broker::dead_letter::set_aside(&publisher, &delivery, &given_up).await
                    }
                }
            }
            .instrument(span)
            .await
        }
    };
    let concurrency = concurrency.max(1);
    let options = ConsumeOptions {
        prefetch: Some(prefetch.max(u16::try_from(concurrency).unwrap_or(u16::MAX))),
        consumer_tag: String::new(),
        concurrency,
        lanes: Some(LaneKey::new(conversation_key)),
    };
    let queue = broker::topology::SENDER_WHATSAPP_QUEUE;
    if let Err(error) = broker
        .consume(queue, options, handler, service_kit::stopped(watcher))
        .await
    {
        tracing::error!(%error, queue, "consumer stopped");
    }
}

/// A batch's lane: its conversation key (only that field is read). An undecodable body has no
/// lane; its handler dead-letters it.
fn conversation_key(delivery: &Delivery) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Keyed {
        conversation_key: String,
    }
    serde_json::from_slice::<Keyed>(&delivery.body)
        .ok()
        .map(|keyed| keyed.conversation_key)
}

/// Forgets old batch progress, once an hour.
async fn sweeper(store: store::Store, retention: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = tick.tick() => {}
        }
        let before = chrono::Utc::now()
            - chrono::Duration::from_std(retention).unwrap_or_else(|_| chrono::Duration::days(3));
        match store.prune_outbound_batches(before, 10_000).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "old batch progress forgotten"),
            Err(error) => tracing::warn!(%error, "pruning batch progress failed"),
        }
    }
}
