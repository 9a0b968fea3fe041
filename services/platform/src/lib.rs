//! The all-in-one development platform: every service of the workspace started in one process,
//! configured from one environment, stopped together.
//!
//! Production runs each service as its own process (docker-compose, Kubernetes); this binary is
//! for a developer's machine and for a quick look at the whole product. It runs exactly the
//! services' own `start` functions, so what it serves is what they serve.

mod config;
mod demo;
mod services;

use std::future::Future;

pub use crate::config::PlatformConfig;
pub use crate::demo::DemoIntegration;
pub use crate::services::{RunningPlatform, RunningService, ServiceInfo};

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("{service} failed to start: {source}")]
    Start {
        service: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Starts every service, in dependency order. If one fails, those already started are stopped
/// and the error names the one that failed.
pub async fn start(mut config: PlatformConfig) -> Result<RunningPlatform, PlatformError> {
    let mut platform = RunningPlatform::default();
    // One line per service. Start a service after the ones it publishes to or calls; the
    // admin service first, as it applies the migrations.
    if let Some(emulator) = config.meta_emulator.take() {
        platform
            .launch("meta-emulator", meta_emulator::start(emulator))
            .await?;
        // The emulator's port is known only now (it may be 0 in tests).
        if let (true, Some(addr)) = (
            config.graph_via_emulator,
            platform.http_addr("meta-emulator"),
        ) {
            let local = format!("http://127.0.0.1:{}", addr.port());
            config.admin.graph_api_base_url = local.clone();
            config.sender.graph_api_base_url = local;
        }
    }
    let bootstrap_token = config.admin.bootstrap_token.clone();
    platform.launch("admin", admin::start(config.admin)).await?;
    platform
        .launch("flow-executor", flow_executor::start(config.executor))
        .await?;
    platform
        .launch("sender", sender::start(config.sender))
        .await?;
    platform
        .launch("api-gateway", api_gateway::start(config.gateway))
        .await?;
    platform
        .launch("whatsapp-ingress", whatsapp_ingress::start(config.ingress))
        .await?;
    if config.demo {
        if let (Some(token), Some(admin), Some(gateway)) = (
            bootstrap_token,
            platform.http_addr("admin"),
            platform.http_addr("api-gateway"),
        ) {
            match demo::first_start(admin, gateway, &token).await {
                Ok(demo) => platform.demo = demo,
                Err(error) => tracing::warn!(%error, "could not set up the demo bot"),
            }
        }
    }
    Ok(platform)
}

/// Runs every service until `shutdown` resolves, then stops them gracefully.
pub async fn run(
    config: PlatformConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), PlatformError> {
    let platform = start(config).await?;
    for service in platform.services() {
        match service.http_addr {
            Some(addr) => tracing::info!(service = service.name, %addr, "listening"),
            None => tracing::info!(service = service.name, "running"),
        }
    }
    tracing::info!("platform ready");
    shutdown.await;
    tracing::info!("shutting down");
    platform.stop().await;
    tracing::info!("platform stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use futures_util::future::BoxFuture;

    use super::*;

    /// Records its stop in a shared log, so tests can see the order.
    struct FakeService {
        name: &'static str,
        addr: Option<SocketAddr>,
        stops: Arc<Mutex<Vec<&'static str>>>,
    }

    impl RunningService for FakeService {
        fn http_addr(&self) -> Option<SocketAddr> {
            self.addr
        }

        fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
            Box::pin(async move { self.stops.lock().unwrap().push(self.name) })
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("port 1 is taken")]
    struct FakeError;

    fn fake(
        name: &'static str,
        port: u16,
        stops: &Arc<Mutex<Vec<&'static str>>>,
    ) -> impl Future<Output = Result<FakeService, FakeError>> {
        let service = FakeService {
            name,
            addr: Some(SocketAddr::from(([127, 0, 0, 1], port))),
            stops: stops.clone(),
        };
        async move { Ok(service) }
    }

    #[tokio::test]
    async fn services_are_listed_in_start_order_and_stopped_in_reverse() {
        let stops = Arc::new(Mutex::new(Vec::new()));
        let mut platform = RunningPlatform::default();
        platform
            .launch("sender", fake("sender", 1001, &stops))
            .await
            .unwrap();
        platform
            .launch("executor", fake("executor", 1002, &stops))
            .await
            .unwrap();
        platform
            .launch("gateway", fake("gateway", 1003, &stops))
            .await
            .unwrap();

        let names: Vec<_> = platform.services().iter().map(|s| s.name).collect();
        assert_eq!(names, ["sender", "executor", "gateway"]);
        assert_eq!(
            platform.http_addr("executor"),
            Some(SocketAddr::from(([127, 0, 0, 1], 1002)))
        );
        assert_eq!(platform.http_addr("missing"), None);

        platform.stop().await;
        assert_eq!(*stops.lock().unwrap(), ["gateway", "executor", "sender"]);
    }

    #[tokio::test]
    async fn a_failed_start_stops_what_was_started_and_names_the_service() {
        let stops = Arc::new(Mutex::new(Vec::new()));
        let mut platform = RunningPlatform::default();
        platform
            .launch("sender", fake("sender", 1001, &stops))
            .await
            .unwrap();
        platform
            .launch("executor", fake("executor", 1002, &stops))
            .await
            .unwrap();

        let failing = async { Err::<FakeService, _>(FakeError) };
        let error = platform.launch("gateway", failing).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "gateway failed to start: port 1 is taken"
        );
        assert_eq!(*stops.lock().unwrap(), ["executor", "sender"]);
        assert!(platform.services().is_empty());
    }
}
