//! whatsapp-ingress: the WhatsApp webhook endpoint of every integration.
//!
//! `GET /webhooks/whatsapp/{integration_id}` answers Meta's verification handshake;
//! `POST` checks `X-Hub-Signature-256` over the raw bytes, normalises every message into an
//! `InboundEvent` published to `bot.inbound` (routing key: the conversation key), applies
//! delivery statuses forward-only, records what it ignores, and answers 200 only once all of
//! that is done, so that Meta's retries cover every failure before it. See
//! `docs/whatsapp-ingress.md` for the decisions.
//!
//! `run(config, shutdown)` is the whole service; `main.rs` only reads the configuration and
//! sets up telemetry. Tests call `start` to get the bound address.

mod config;
mod error;
mod integrations;
pub mod normalize;
pub mod payload;
pub mod process;
pub mod publish;
mod throttle;
mod webhook;
mod window;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use broker::Broker;
use serde_json::json;
use tokio::sync::watch;

pub use crate::config::{IngressConfig, DEFAULT_PORT};
use crate::error::ApiError;
use crate::integrations::IntegrationCache;
use crate::throttle::RefusalCounter;
pub use crate::webhook::MAX_BODY_BYTES;
use crate::webhook::{receive, verify, AppState};
use store::activity::ActivityThrottle;

/// At most one bad-signature receipt per integration per this interval (with a count).
const REFUSAL_RECEIPT_INTERVAL: Duration = Duration::from_secs(10);
/// An integration's last activity is written at most this often.
const ACTIVITY_INTERVAL: Duration = Duration::from_secs(60);
const SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("broker: {0}")]
    Broker(#[from] broker::BrokerError),
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
    #[error("alerts: {0}")]
    Alerts(#[from] alerts::AlertError),
}

/// A started ingress.
pub struct RunningIngress {
    pub addr: SocketAddr,
    handle: ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    sweeper: tokio::task::JoinHandle<()>,
    shutdown: watch::Sender<bool>,
    broker: Broker,
}

impl RunningIngress {
    /// Stops accepting connections, lets in-flight webhooks finish (their events confirmed),
    /// then closes the broker connection.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.server.await;
        let _ = self.shutdown.send(true);
        let _ = self.sweeper.await;
        self.broker.close().await;
    }
}

/// Connects to the database (running migrations), starts the broker connection in the
/// background (readiness reports it), binds the listener and serves.
pub async fn start(config: IngressConfig) -> Result<RunningIngress, IngressError> {
    let store = store::Store::connect(&(&config.database).into()).await?;
    let broker = Broker::start_from_settings(&config.broker, config.instance_name.clone())?;
    // On this (main's) runtime: the alerter's task must outlive every HTTP worker.
    let alerter = alerts::Alerter::start(store.clone(), config.alerts.clone())?;
    let state = web::Data::new(AppState {
        cache: IntegrationCache::new(
            store.clone(),
            config.deployment_key.clone(),
            config.integration_cache_ttl,
        ),
        store: store.clone(),
        // The stored digest chain plus this key's layer (docs/security.md).
        digest_key: store.digest_key(&config.deployment_key).await?,
        publisher: broker.publisher(),
        broker: broker.clone(),
        runtime: tokio::runtime::Handle::current(),
        publish_timeout: config.publish_timeout,
        refusals: RefusalCounter::new(REFUSAL_RECEIPT_INTERVAL),
        activity: ActivityThrottle::new(ACTIVITY_INTERVAL),
        bursts: alerts::BurstDetector::default(),
        alerter,
    });
    let listener = std::net::TcpListener::bind(config.http.bind_address())?;
    let addr = listener.local_addr()?;
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(tracing_actix_web::TracingLogger::<
                telemetry::http::RedactedRootSpan,
            >::new())
            .app_data(state.clone())
            .configure(configure)
    });
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    let server = server
        .listen(listener)?
        .shutdown_timeout(30)
        .disable_signals()
        .run();
    let handle = server.handle();
    let server = tokio::spawn(server);
    let (shutdown, watcher) = watch::channel(false);
    let sweeper = tokio::spawn(sweep_receipts(store, config.receipt_retention, watcher));
    Ok(RunningIngress {
        addr,
        handle,
        server,
        sweeper,
        shutdown,
        broker,
    })
}

/// Runs until `shutdown` resolves, then stops gracefully.
pub async fn run(
    config: IngressConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), IngressError> {
    let running = start(config).await?;
    tracing::info!(addr = %running.addr, "whatsapp ingress listening");
    shutdown.await;
    running.stop().await;
    Ok(())
}

/// The routes and the body limit. The POST handler takes the raw bytes (`PayloadConfig`),
/// never `web::Json`: the signature is over the exact bytes and is checked before parsing.
fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .route("/health", web::get().to(service_kit::health))
        .route("/ready", web::get().to(ready))
        .route("/webhooks/whatsapp/{integration_id}", web::get().to(verify))
        .route(
            "/webhooks/whatsapp/{integration_id}",
            web::post().to(receive),
        )
        .default_service(web::to(not_found));
}

/// Ready when the database answers and the broker connection is up.
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let database = state.store.ping().await.is_ok();
    let broker = state.broker.is_connected();
    let body = json!({"database": database, "broker": broker});
    if database && broker {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}

/// Deletes receipts past their retention, hourly.
async fn sweep_receipts(
    store: store::Store,
    retention: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = tick.tick() => {}
        }
        let before = chrono::Utc::now()
            - chrono::Duration::from_std(retention).unwrap_or_else(|_| chrono::Duration::days(30));
        loop {
            match store.prune_webhook_receipts(before, 10_000).await {
                Ok(0) => break,
                Ok(count) => tracing::info!(count, "old webhook receipts deleted"),
                Err(error) => {
                    tracing::warn!(%error, "pruning webhook receipts failed");
                    break;
                }
            }
        }
    }
}
