//! A local stand-in for Meta's WhatsApp Graph API, for tests and for local use without a Meta
//! account (docs/meta-emulator.md).
//!
//! - Graph routes: `POST /{version}/{phone_number_id}/messages` (sends and mark-as-read, with
//!   Meta's limits and error envelope) and `GET /{version}/oauth/access_token` (long-lived
//!   token exchange); every request is recorded.
//! - Control routes under `/_emulator`: fault injection per phone number, recorded requests,
//!   signed webhook delivery to an ingress (escaped, duplicated, batched, reordered, retried),
//!   status webhooks after accepted sends, conversations, tokens, 24-hour windows.
//! - [`client::EmulatorClient`] for tests, [`chat`] for a person at a terminal.

pub mod api;
pub mod chat;
pub mod client;
mod config;
mod control;
pub mod escape;
mod graph;
mod state;
pub mod webhook;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};

pub use crate::config::{EmulatorConfig, DEFAULT_PORT};
pub use crate::graph::error::{catalogue as error_catalogue, GraphError};
pub use crate::graph::validate;

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A short, stable name for a token that does not reveal it: `sha256:` and the first 12 hex
/// digits of its SHA-256.
pub fn token_fingerprint(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let hex = hex::encode(digest.as_ref());
    format!("sha256:{}", &hex[..12])
}

/// A started emulator.
pub struct RunningEmulator {
    pub addr: SocketAddr,
    handle: ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningEmulator {
    /// `http://<addr>`: the Graph API base URL (`GRAPH_API_BASE_URL`) and the control API's.
    pub fn base_url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            self.addr.ip().to_string()
        };
        format!("http://{host}:{}", self.addr.port())
    }

    /// A control-API client for this emulator.
    pub fn client(&self) -> Result<client::EmulatorClient, client::ClientError> {
        client::EmulatorClient::new(&self.base_url())
    }

    /// Stops accepting connections, lets in-flight requests finish, then returns.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.server.await;
    }
}

/// Binds the listener and starts serving in the background. Webhook deliveries run on the
/// runtime this is called on.
pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
    crypto::install_tls_crypto_provider();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    let data = state::Data::with_settings(config.settings.clone(), &config.tokens);
    let state = web::Data::from(Arc::new(state::EmulatorState::new(
        data,
        config.max_recorded_requests,
        config.accept_any_token,
        http,
        tokio::runtime::Handle::current(),
    )));
    let listener = std::net::TcpListener::bind(config.http.bind_address())?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::default().limit(8 << 20))
            .route("/health", web::get().to(health))
            .configure(control::configure)
            .configure(graph::configure)
            .default_service(web::to(graph::unknown_path))
    })
    .listen(listener)?
    .shutdown_timeout(5)
    .disable_signals()
    .run();
    let handle = server.handle();
    let server = tokio::spawn(server);
    Ok(RunningEmulator {
        addr,
        handle,
        server,
    })
}

/// Runs until `shutdown` resolves, then stops gracefully.
pub async fn run(
    config: EmulatorConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), EmulatorError> {
    let running = start(config).await?;
    tracing::info!(addr = %running.addr, "meta emulator listening");
    shutdown.await;
    running.stop().await;
    Ok(())
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_are_short_stable_and_distinct() {
        let a = super::token_fingerprint("EAAtoken");
        assert_eq!(a, super::token_fingerprint("EAAtoken"));
        assert_ne!(a, super::token_fingerprint("EAAtoken2"));
        assert_eq!(a.len(), "sha256:".len() + 12);
        assert!(!a.contains("EAAtoken"));
    }
}
