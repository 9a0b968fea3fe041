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
use actix_web::{web, App, HttpResponse, HttpServer};
use broker::Broker;
use service_kit::http_error::ApiError;
use tokio::sync::watch;

pub use crate::config::{GatewayConfig, DEFAULT_PORT};
use crate::rate_limit::RateLimiter;
use crate::replies::PendingReplies;
pub use crate::requests::BodyLimits;
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
        // The stored digest chain plus this key's layer (docs/security.md).
        digest_key: store.digest_key(&config.deployment_key).await?,
        publisher: broker.publisher(),
        pending,
        reply_queue,
        limiter: RateLimiter::new(store.clone()),
        access: access_cache::AccessCache::new(std::time::Duration::from_secs(1)),
        activity: store::activity::ActivityThrottle::new(std::time::Duration::from_secs(1)),
        reply_deadline: config.reply_deadline,
        max_body_bytes: config.max_body_bytes,
        body_limits: config.body_limits,
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
            .wrap(tracing_actix_web::TracingLogger::<
                telemetry::http::RedactedRootSpan,
            >::new())
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

/// A known path asked with another method answers 405 in the JSON error shape; an unknown path
/// 404.
fn configure(cfg: &mut web::ServiceConfig) {
    // Every resource here has one method; a GET-only resource's 405 says `Allow: GET`.
    let resource = |path: &str, route: actix_web::Route, allow: &'static str| {
        web::resource(path)
            .route(route)
            .default_service(service_kit::http_error::method_not_allowed(allow))
    };
    for path in [SESSION_PATH.to_owned(), format!("{SESSION_PATH}/")] {
        cfg.service(resource(
            &path,
            web::post().to(routes::start_session),
            "POST",
        ));
    }
    for path in [MESSAGE_PATH.to_owned(), format!("{MESSAGE_PATH}/")] {
        cfg.service(resource(
            &path,
            web::post().to(routes::send_message),
            "POST",
        ));
    }
    cfg.service(resource(
        "/health",
        web::get().to(service_kit::health),
        "GET",
    ))
    .service(resource(
        "/openapi.json",
        web::get().to(openapi_document),
        "GET",
    ))
    .service(resource(
        "/metrics",
        web::get().to(service_kit::metrics::render),
        "GET",
    ))
    .default_service(web::to(not_found));
}

async fn openapi_document(state: web::Data<GatewayState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi::document_json_with(&state.body_limits))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}
