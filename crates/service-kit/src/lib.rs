//! Pieces every service shares: waiting for the shutdown signal, and the probe server that
//! worker services (no public HTTP API of their own) expose for health and readiness.

pub mod edge;
pub mod http_error;
pub mod metrics;
pub mod openapi;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use config::HttpConfig;
use serde_json::{json, Map, Value};

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` and Kubernetes send).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// One readiness check: a name and whether that dependency answers now.
pub type Check = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// Wraps an async closure as a [`Check`].
pub fn check<F, Fut>(probe: F) -> Check
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    Arc::new(move || Box::pin(probe()))
}

/// Resolves once a shutdown flag is raised (or its sender is gone): the stop signal services
/// pass to their consumers and background tasks.
pub async fn stopped(mut watcher: tokio::sync::watch::Receiver<bool>) {
    let _ = watcher.wait_for(|stop| *stop).await;
}

/// `/health` (the process answers) and `/ready` (every check passes; 503 with the failing ones
/// otherwise).
pub struct ProbeServer {
    pub addr: SocketAddr,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Something the readiness answer reports beside its checks (e.g. the shards an executor
/// holds); it does not decide readiness.
pub type Detail = Arc<dyn Fn() -> Value + Send + Sync>;

struct Checks {
    checks: Vec<(&'static str, Check)>,
    details: Vec<(&'static str, Detail)>,
}

impl ProbeServer {
    pub fn start(http: &HttpConfig, checks: Vec<(&'static str, Check)>) -> std::io::Result<Self> {
        Self::start_with_details(http, checks, Vec::new())
    }

    /// As `start`, with `details` added to the readiness answer under their names.
    pub fn start_with_details(
        http: &HttpConfig,
        checks: Vec<(&'static str, Check)>,
        details: Vec<(&'static str, Detail)>,
    ) -> std::io::Result<Self> {
        crate::metrics::install();
        let listener = std::net::TcpListener::bind(http.bind_address())?;
        let addr = listener.local_addr()?;
        let checks = web::Data::new(Checks { checks, details });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(checks.clone())
                .route("/health", web::get().to(health))
                .route("/ready", web::get().to(ready))
                .route("/metrics", web::get().to(crate::metrics::render))
        })
        .workers(1)
        .listen(listener)?
        .disable_signals()
        .run();
        let handle = server.handle();
        Ok(ProbeServer {
            addr,
            handle,
            task: tokio::spawn(server),
        })
    }

    /// The probes of a worker service: ready when its database answers and its broker
    /// connection is up.
    pub fn for_worker<P, Fut, C>(http: &HttpConfig, ping: P, connected: C) -> std::io::Result<Self>
    where
        P: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
        C: Fn() -> bool + Send + Sync + 'static,
    {
        Self::for_worker_with_details(http, ping, connected, Vec::new())
    }

    /// As `for_worker`, with `details` in the readiness answer.
    pub fn for_worker_with_details<P, Fut, C>(
        http: &HttpConfig,
        ping: P,
        connected: C,
        details: Vec<(&'static str, Detail)>,
    ) -> std::io::Result<Self>
    where
        P: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
        C: Fn() -> bool + Send + Sync + 'static,
    {
        let connected = Arc::new(connected);
        Self::start_with_details(
            http,
            vec![
                ("database", check(ping)),
                (
                    "broker",
                    check(move || {
                        let up = connected();
                        async move { up }
                    }),
                ),
            ],
            details,
        )
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}

/// The liveness answer, for services that mount it on their own server.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn ready(checks: web::Data<Checks>) -> HttpResponse {
    let mut results = Map::new();
    let mut all = true;
    for (name, check) in &checks.checks {
        let ok = check().await;
        all &= ok;
        results.insert((*name).to_owned(), Value::Bool(ok));
    }
    for (name, detail) in &checks.details {
        results.insert((*name).to_owned(), detail());
    }
    let body = Value::Object(results);
    if all {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
