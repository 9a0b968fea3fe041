//! The API gateway: the manual's "API Integrations" endpoints over the real pipeline.
//!
//! It verifies and admits requests, publishes them to `bot.inbound` keyed by conversation, and
//! waits on this replica's own reply queue for the executor's answer. It never runs a flow and
//! never writes a session (only Idempotency-Key claims).

mod access_cache;
mod config;
pub mod openapi;
mod rate_limit;
mod replies;
pub mod requests;
mod routes;

use std::future::Future;
use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use broker::Broker;
use service_kit::http_error::ApiError;
use tokio::sync::watch;

pub use crate::config::{GatewayConfig, DEFAULT_PORT};
use crate::rate_limit::RateLimiter;
use crate::replies::PendingReplies;
use crate::routes::GatewayState;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("broker: {0}")]
    Broker(#[from] broker::BrokerError),
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
}

pub struct RunningGateway {
    pub addr: SocketAddr,
    handle: ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    replies: tokio::task::JoinHandle<()>,
    shutdown: watch::Sender<bool>,
    broker: Broker,
}

impl RunningGateway {
    /// Stops taking requests, lets in-flight ones finish (they still get their replies), then
    /// stops the reply consumer and closes the broker connection.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.server.await;
        let _ = self.shutdown.send(true);
        let _ = self.replies.await;
        self.broker.close().await;
    }
}

pub async fn start(config: GatewayConfig) -> Result<RunningGateway, GatewayError> {
    let store = store::Store::connect(&(&config.database).into()).await?;
    let broker = Broker::start_from_settings(
        &config.broker,
        format!("api-gateway-{}", config.instance_id),
    )?;
    let reply_queue = broker.declare_reply_queue(&config.instance_id).await?;
    let pending = PendingReplies::default();
    let (shutdown, mut watcher) = watch::channel(false);
    let replies = tokio::spawn(pending.clone().consume(
        broker.clone(),
        reply_queue.clone(),
        async move {
            let _ = watcher.wait_for(|stop| *stop).await;
        },
    ));
    let state = web::Data::new(GatewayState {
        store: store.clone(),
        digest_key: config.deployment_key.digest_key(),
        publisher: broker.publisher(),
        pending,
        reply_queue,
        limiter: RateLimiter::default(),
        access: access_cache::AccessCache::new(std::time::Duration::from_secs(1)),
        reply_deadline: config.reply_deadline,
        max_body_bytes: config.max_body_bytes,
    });
    service_kit::metrics::install();
    let ready_broker = broker.clone();
    let listener = std::net::TcpListener::bind(config.http.bind_address())?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || {
        let store = store.clone();
        let broker = ready_broker.clone();
        App::new()
            .wrap(actix_web::middleware::from_fn(
                service_kit::metrics::track_http,
            ))
            .wrap(tracing_actix_web::TracingLogger::default())
            .app_data(state.clone())
            .configure(configure)
            .route(
                "/ready",
                web::get().to(move || {
                    let store = store.clone();
                    let broker = broker.clone();
                    async move {
                        let database = store.ping().await.is_ok();
                        let connected = broker.is_connected();
                        let body = serde_json::json!({"database": database, "broker": connected});
                        if database && connected {
                            HttpResponse::Ok().json(body)
                        } else {
                            HttpResponse::ServiceUnavailable().json(body)
                        }
                    }
                }),
            )
    })
    .listen(listener)?
    .shutdown_timeout(30)
    .disable_signals()
    .run();
    let handle = server.handle();
    Ok(RunningGateway {
        addr,
        handle,
        server: tokio::spawn(server),
        replies,
        shutdown,
        broker,
    })
}

pub async fn run(
    config: GatewayConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), GatewayError> {
    let running = start(config).await?;
    tracing::info!(addr = %running.addr, "api gateway listening");
    shutdown.await;
    running.stop().await;
    Ok(())
}

const SESSION_PATH: &str = "/api/integrations/api/{integration_id}/session";
const MESSAGE_PATH: &str = "/api/integrations/api/{integration_id}/session/{session_id}/message";

fn configure(cfg: &mut web::ServiceConfig) {
    for path in [SESSION_PATH.to_owned(), format!("{SESSION_PATH}/")] {
        cfg.service(
            web::resource(path)
                .route(web::post().to(routes::start_session))
                .default_service(web::to(method_not_allowed)),
        );
    }
    for path in [MESSAGE_PATH.to_owned(), format!("{MESSAGE_PATH}/")] {
        cfg.service(
            web::resource(path)
                .route(web::post().to(routes::send_message))
                .default_service(web::to(method_not_allowed)),
        );
    }
    cfg.route("/health", web::get().to(service_kit::health))
        .route("/openapi.json", web::get().to(openapi_document))
        .route("/metrics", web::get().to(service_kit::metrics::render))
        .default_service(web::to(not_found));
}

async fn openapi_document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi::document_json())
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "use POST",
    ))
}
