//! The admin service: the control plane REST API over the store.
//!
//! `run(config, shutdown)` is the whole service; `main.rs` only reads the configuration and
//! sets up telemetry. Tests and the all-in-one dev binary call `start` to get the bound address.

mod auth;
mod config;
mod error;
pub mod openapi;
mod routes;
mod state;

use std::future::Future;
use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};

pub use crate::config::{AdminConfig, DEFAULT_PORT};
use crate::error::{extractors, ApiError};
pub use crate::routes::integrations::secret_aad;
use crate::routes::{accounts, bots, health, integrations, test_runs, whatsapp_start};
use crate::state::{AppState, InboundLink};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
    #[error("broker: {0}")]
    Broker(#[from] broker::BrokerError),
}

/// A started admin service.
pub struct RunningAdmin {
    pub addr: SocketAddr,
    handle: ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    broker: Option<broker::Broker>,
}

impl RunningAdmin {
    /// Stops accepting connections, lets in-flight requests finish, then closes the broker
    /// connection.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.server.await;
        if let Some(broker) = self.broker {
            broker.close().await;
        }
    }
}

/// Connects to the database (running migrations), bootstraps the first operator token, binds
/// the HTTP listener and starts serving in the background.
pub async fn start(config: AdminConfig) -> Result<RunningAdmin, AdminError> {
    let store = store::Store::connect(&(&config.database).into()).await?;
    let digest_key = config.deployment_key.digest_key();
    if let Some(token) = &config.bootstrap_token {
        let digest = digest_key.digest(token.expose());
        let hint = crypto::hint(token.expose());
        let new = store::accounts::NewToken {
            name: "bootstrap",
            digest: &digest,
            hint: &hint,
        };
        match store.bootstrap_account("default", new).await {
            Ok((account, true)) => {
                tracing::info!(account = %account.id, "bootstrapped the first account")
            }
            Ok((_, false)) | Err(store::StoreError::Concurrent) => {}
            Err(err) => return Err(err.into()),
        }
    }
    // Connects in the background (a broker away at start only fails proactive starts).
    let broker = config
        .broker
        .as_ref()
        .map(|broker| broker::Broker::start_from_settings(broker, "admin"))
        .transpose()?;
    let inbound = broker.as_ref().map(|broker| InboundLink {
        publisher: broker.publisher(),
        runtime: tokio::runtime::Handle::current(),
    });
    let test_runs = web::Data::new(test_runs::TestRuns::new(
        store.clone(),
        tokio::runtime::Handle::current(),
    ));
    test_runs.remove_stale_sandboxes().await;
    let state = web::Data::new(AppState {
        store,
        deployment_key: config.deployment_key.clone(),
        digest_key,
        public_api_base_url: config.public_api_base_url.clone(),
        public_webhook_base_url: config.public_webhook_base_url.clone(),
        default_api_rate_limit_per_minute: config.default_api_rate_limit_per_minute,
        graph: graph_client::GraphClient::new(&config.graph_api_base_url)
            .map_err(|err| AdminError::Config(err.to_string()))?,
        inbound,
    });
    service_kit::metrics::install();
    let max_body = config.max_body_bytes;
    let listener = std::net::TcpListener::bind(config.http.bind_address())?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(
                service_kit::metrics::track_http,
            ))
            .wrap(tracing_actix_web::TracingLogger::default())
            .app_data(state.clone())
            .app_data(test_runs.clone())
            .configure(|cfg| configure(cfg, max_body))
    })
    .listen(listener)?
    .shutdown_timeout(10)
    .disable_signals()
    .run();
    let handle = server.handle();
    let server = tokio::spawn(server);
    Ok(RunningAdmin {
        addr,
        handle,
        server,
        broker,
    })
}

/// Runs until `shutdown` resolves, then stops gracefully.
pub async fn run(
    config: AdminConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AdminError> {
    let running = start(config).await?;
    tracing::info!(addr = %running.addr, "admin listening");
    shutdown.await;
    running.stop().await;
    Ok(())
}

/// Every route, the JSON error handlers and the body limits.
pub fn configure(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(max_body_bytes)
            .error_handler(extractors::json),
    )
    .app_data(web::PathConfig::default().error_handler(extractors::path))
    .app_data(web::QueryConfig::default().error_handler(extractors::query))
    .route("/health", web::get().to(health::health))
    .route("/ready", web::get().to(health::ready))
    .route("/openapi.json", web::get().to(openapi_document))
    .route("/metrics", web::get().to(service_kit::metrics::render))
    .service(
        test_runs::routes(web::scope("/v1"))
            .route("/account", web::get().to(accounts::get_account))
            .route("/accounts", web::post().to(accounts::create_account))
            .route("/tokens", web::get().to(accounts::list_tokens))
            .route("/tokens", web::post().to(accounts::create_token))
            .route(
                "/tokens/{token_id}",
                web::delete().to(accounts::revoke_token),
            )
            .route("/bots", web::post().to(bots::create_bot))
            .route("/bots", web::get().to(bots::list_bots))
            .route("/bots/{bot_id}", web::get().to(bots::get_bot))
            .route("/bots/{bot_id}", web::patch().to(bots::update_bot))
            .route("/bots/{bot_id}", web::delete().to(bots::delete_bot))
            .route(
                "/bots/{bot_id}/validate",
                web::post().to(bots::validate_bot),
            )
            .route("/bots/{bot_id}/publish", web::post().to(bots::publish_bot))
            .route(
                "/bots/{bot_id}/versions",
                web::get().to(bots::list_versions),
            )
            .route(
                "/bots/{bot_id}/versions/{version}",
                web::get().to(bots::get_version),
            )
            .route(
                "/integrations",
                web::post().to(integrations::create_integration),
            )
            .route(
                "/integrations",
                web::get().to(integrations::list_integrations),
            )
            .route(
                "/integrations/{integration_id}",
                web::get().to(integrations::get_integration),
            )
            .route(
                "/integrations/{integration_id}",
                web::patch().to(integrations::update_integration),
            )
            .route(
                "/integrations/{integration_id}",
                web::delete().to(integrations::delete_integration),
            )
            .route(
                "/integrations/{integration_id}/activate",
                web::post().to(integrations::activate),
            )
            .route(
                "/integrations/{integration_id}/deactivate",
                web::post().to(integrations::deactivate),
            )
            .route(
                "/integrations/{integration_id}/whatsapp/start",
                web::post().to(whatsapp_start::start_whatsapp),
            ),
    )
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
