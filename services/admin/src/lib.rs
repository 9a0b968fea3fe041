//! The admin service: the control plane REST API over the store.
//!
//! `run(config, shutdown)` is the whole service; `main.rs` only reads the configuration and
//! sets up telemetry. Tests and the all-in-one dev binary call `start` to get the bound address.

mod auth;
mod config;
mod console;
mod error;
pub mod openapi;
mod routes;
mod state;

use std::future::Future;
use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use service_kit::edge::EdgeBody;

pub use crate::config::{AdminConfig, SigninFailureLimit, DEFAULT_PORT};
use crate::error::{extractors, ApiError};
pub use crate::routes::integrations::secret_aad;
use crate::routes::{
    accounts, bots, dead_letters, health, integrations, recordings, scenarios, test_runs,
    whatsapp_start,
};
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
    /// Marks this process's test runs alive and ends those of stopped processes.
    test_run_upkeep: tokio::task::JoinHandle<()>,
}

impl RunningAdmin {
    /// Stops accepting connections, lets in-flight requests finish, then closes the broker
    /// connection.
    pub async fn stop(self) {
        self.test_run_upkeep.abort();
        self.handle.stop(true).await;
        let _ = self.server.await;
        if let Some(broker) = self.broker {
            broker.close().await;
        }
    }
}

/// `admin rotate-key`: moves every stored secret and token digest from
/// `DEPLOYMENT_KEY_PREVIOUS` to `DEPLOYMENT_KEY` while the platform runs (its services
/// restarted with both keys first); docs/security.md, "Deployment-key rotation".
pub async fn rotate_key(
    database: &::config::DatabaseConfig,
    key: &crypto::DeploymentKey,
) -> Result<store::keys::RotationReport, store::keys::RotationError> {
    let store = store::Store::connect(&database.into()).await?;
    store.rotate_deployment_key(key).await
}

/// Connects to the database (running migrations), bootstraps the first operator token, binds
/// the HTTP listener and starts serving in the background.
pub async fn start(config: AdminConfig) -> Result<RunningAdmin, AdminError> {
    let store = store::Store::connect(&(&config.database).into()).await?;
    // The stored digest chain (earlier keys' layers) plus this key's: docs/security.md.
    let digest_key = store.digest_key(&config.deployment_key).await?;
    if let Some(token) = &config.bootstrap_token {
        let candidates = digest_key.candidates(token.expose());
        let forms: Vec<&[u8]> = candidates.iter().map(Vec::as_slice).collect();
        // During a key rotation the token may still be stored in the previous form.
        let known = store.authenticate_token_any(&forms).await?.is_some();
        let digest = digest_key.digest(token.expose());
        let hint = crypto::hint(token.expose());
        let new = store::accounts::NewToken {
            name: "bootstrap",
            digest: &digest,
            hint: &hint,
        };
        if !known {
            match store.bootstrap_account("default", new).await {
                Ok((account, true)) => {
                    tracing::info!(account = %account.id, "bootstrapped the first account")
                }
                Ok((_, false)) | Err(store::StoreError::Concurrent) => {}
                Err(err) => return Err(err.into()),
            }
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
    // Runs of a process that stopped while this one was down end now, not at the first tick.
    test_runs.sweep().await;
    let test_run_upkeep = test_runs.spawn_upkeep();
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
        signin_failures: config.signin_failures.clone(),
    });
    service_kit::metrics::install();
    let body = EdgeBody {
        max_body_bytes: config.max_body_bytes,
        limits: config.body_limits,
    };
    let listener = std::net::TcpListener::bind(config.http.bind_address())?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(
                service_kit::metrics::track_http,
            ))
            .wrap(tracing_actix_web::TracingLogger::<
                telemetry::http::RedactedRootSpan,
            >::new())
            .app_data(state.clone())
            .app_data(test_runs.clone())
            .configure(|cfg| configure(cfg, body))
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
        test_run_upkeep,
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

/// Every route, the JSON error handlers and the body limits. A known path asked with a method
/// it does not have answers 405 (JSON, with `Allow`); an unknown path 404.
pub fn configure(cfg: &mut web::ServiceConfig, body: EdgeBody) {
    use actix_web::Route;
    // `allow` lists the routes' methods, for the 405's `Allow` header.
    let resource = |path: &str, allow: &'static str, routes: Vec<Route>| {
        let mut resource = web::resource(path);
        for route in routes {
            resource = resource.route(route);
        }
        resource.default_service(service_kit::http_error::method_not_allowed(allow))
    };
    cfg.app_data(
        web::JsonConfig::default()
            .limit(body.max_body_bytes)
            .error_handler(extractors::json),
    )
    .app_data(body)
    .app_data(web::PathConfig::default().error_handler(extractors::path))
    .app_data(web::QueryConfig::default().error_handler(extractors::query))
    .service(resource(
        "/health",
        "GET",
        vec![web::get().to(health::health)],
    ))
    .service(resource(
        "/ready",
        "GET",
        vec![web::get().to(health::ready)],
    ))
    .service(resource(
        "/openapi.json",
        "GET",
        vec![web::get().to(openapi_document)],
    ))
    .service(resource(
        "/metrics",
        "GET",
        vec![web::get().to(service_kit::metrics::render)],
    ))
    .configure(console::configure)
    .service(
        web::scope("/v1")
            .service(resource(
                "/account",
                "GET",
                vec![web::get().to(accounts::get_account)],
            ))
            .service(resource(
                "/accounts",
                "POST",
                vec![web::post().to(accounts::create_account)],
            ))
            .service(resource(
                "/tokens",
                "GET, POST",
                vec![
                    web::get().to(accounts::list_tokens),
                    web::post().to(accounts::create_token),
                ],
            ))
            .service(resource(
                "/tokens/{token_id}",
                "DELETE",
                vec![web::delete().to(accounts::revoke_token)],
            ))
            .service(resource(
                "/bots",
                "POST, GET",
                vec![
                    web::post().to(bots::create_bot),
                    web::get().to(bots::list_bots),
                ],
            ))
            .service(resource(
                "/bots/{bot_id}",
                "GET, PATCH, DELETE",
                vec![
                    web::get().to(bots::get_bot),
                    web::patch().to(bots::update_bot),
                    web::delete().to(bots::delete_bot),
                ],
            ))
            .service(resource(
                "/bots/{bot_id}/validate",
                "POST",
                vec![web::post().to(bots::validate_bot)],
            ))
            .service(resource(
                "/bots/{bot_id}/publish",
                "POST",
                vec![web::post().to(bots::publish_bot)],
            ))
            .service(resource(
                "/bots/{bot_id}/versions",
                "GET",
                vec![web::get().to(bots::list_versions)],
            ))
            .service(resource(
                "/bots/{bot_id}/versions/{version}",
                "GET",
                vec![web::get().to(bots::get_version)],
            ))
            .service(resource(
                "/integrations",
                "POST, GET",
                vec![
                    web::post().to(integrations::create_integration),
                    web::get().to(integrations::list_integrations),
                ],
            ))
            .service(resource(
                "/integrations/{integration_id}",
                "GET, PATCH, DELETE",
                vec![
                    web::get().to(integrations::get_integration),
                    web::patch().to(integrations::update_integration),
                    web::delete().to(integrations::delete_integration),
                ],
            ))
            .service(resource(
                "/integrations/{integration_id}/activate",
                "POST",
                vec![web::post().to(integrations::activate)],
            ))
            .service(resource(
                "/integrations/{integration_id}/deactivate",
                "POST",
                vec![web::post().to(integrations::deactivate)],
            ))
            .service(resource(
                "/integrations/{integration_id}/whatsapp/start",
                "POST",
                vec![web::post().to(whatsapp_start::start_whatsapp)],
            ))
            .service(resource(
                "/integrations/{integration_id}/conversations/{conversation}/scenario",
                "GET",
                vec![web::get().to(recordings::record_conversation)],
            ))
            .service(resource(
                "/bots/{bot_id}/test-runs",
                "GET, POST",
                vec![
                    web::get().to(test_runs::list_test_runs),
                    web::post().to(test_runs::start_test_run),
                ],
            ))
            .service(resource(
                "/bots/{bot_id}/scenarios",
                "GET, POST",
                vec![
                    web::get().to(scenarios::list_scenarios),
                    web::post().to(scenarios::create_scenario),
                ],
            ))
            .service(resource(
                "/bots/{bot_id}/scenarios/{scenario_id}",
                "GET, PUT, DELETE",
                vec![
                    web::get().to(scenarios::get_scenario),
                    web::put().to(scenarios::replace_scenario),
                    web::delete().to(scenarios::delete_scenario),
                ],
            ))
            .service(resource(
                "/test-runs/{run_id}",
                "GET",
                vec![web::get().to(test_runs::get_test_run)],
            ))
            .service(resource(
                "/test-runs/{run_id}/cancel",
                "POST",
                vec![web::post().to(test_runs::cancel_test_run)],
            ))
            .service(resource(
                "/dead-letters",
                "GET",
                vec![web::get().to(dead_letters::list_dead_letters)],
            ))
            .service(resource(
                "/dead-letters/{dead_letter_id}",
                "GET, DELETE",
                vec![
                    web::get().to(dead_letters::get_dead_letter),
                    web::delete().to(dead_letters::delete_dead_letter),
                ],
            ))
            .service(resource(
                "/dead-letters/{dead_letter_id}/replay",
                "POST",
                vec![web::post().to(dead_letters::replay_dead_letter)],
            ))
            .service(resource(
                "/dead-letters/{dead_letter_id}/discard",
                "POST",
                vec![web::post().to(dead_letters::discard_dead_letter)],
            ))
            .default_service(web::to(not_found)),
    )
    .default_service(web::to(not_found));
}

async fn openapi_document(req: actix_web::HttpRequest) -> HttpResponse {
    let limits = req
        .app_data::<EdgeBody>()
        .map(|body| body.limits)
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi::document_json_with(&limits))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}
