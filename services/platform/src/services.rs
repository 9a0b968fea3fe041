//! The services started in this process, each with a way to stop it.

use std::future::Future;
use std::net::SocketAddr;

use futures_util::future::BoxFuture;

use crate::PlatformError;

/// What the platform needs of a started service: where it listens and how to stop it.
/// Each service's `Running*` handle implements it here, in one small `impl`.
pub trait RunningService: Send + 'static {
    /// The HTTP address it serves on, if it serves HTTP.
    fn http_addr(&self) -> Option<SocketAddr>;
    /// Stops gracefully: stop taking new work, finish in-flight work, release connections.
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Each service's handle: the field holding its HTTP address, and its own `stop`.
macro_rules! running_service {
    ($($handle:ty => $addr:ident),* $(,)?) => {$(
        impl RunningService for $handle {
            fn http_addr(&self) -> Option<SocketAddr> {
                Some(self.$addr)
            }

            fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
                Box::pin(<$handle>::stop(*self))
            }
        }
    )*};
}

running_service! {
    admin::RunningAdmin => addr,
    api_gateway::RunningGateway => addr,
    flow_executor::RunningExecutor => probe_addr,
    sender::RunningSender => probe_addr,
    whatsapp_ingress::RunningIngress => addr,
    meta_emulator::RunningEmulator => addr,
}

/// One started service, as listed by [`RunningPlatform::services`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceInfo {
    pub name: &'static str,
    pub http_addr: Option<SocketAddr>,
}

/// Every service the platform started, in start order.
#[derive(Default)]
pub struct RunningPlatform {
    started: Vec<(&'static str, Box<dyn RunningService>)>,
    /// The demo integration made on a first start, if this start made one.
    pub demo: Option<crate::DemoIntegration>,
}

impl RunningPlatform {
    /// The started services, in start order.
    pub fn services(&self) -> Vec<ServiceInfo> {
        self.started
            .iter()
            .map(|(name, service)| ServiceInfo {
                name,
                http_addr: service.http_addr(),
            })
            .collect()
    }

    /// The HTTP address of the service called `name`.
    pub fn http_addr(&self, name: &str) -> Option<SocketAddr> {
        self.started
            .iter()
            .find(|(started, _)| *started == name)
            .and_then(|(_, service)| service.http_addr())
    }

    /// Awaits `starting` and keeps the service. If it fails, the services already started are
    /// stopped (a half-started platform would serve requests it cannot complete) and the error
    /// names the service.
    pub(crate) async fn launch<S, E>(
        &mut self,
        name: &'static str,
        starting: impl Future<Output = Result<S, E>>,
    ) -> Result<(), PlatformError>
    where
        S: RunningService,
        E: std::error::Error + Send + Sync + 'static,
    {
        match starting.await {
            Ok(service) => {
                tracing::info!(service = name, addr = ?service.http_addr(), "service started");
                self.started.push((name, Box::new(service)));
                Ok(())
            }
            Err(error) => {
                tracing::error!(service = name, error = %error, "service failed to start");
                std::mem::take(self).stop().await;
                Err(PlatformError::Start {
                    service: name,
                    source: Box::new(error),
                })
            }
        }
    }

    /// Stops every service, last started first: services are started after what they depend
    /// on, so in-flight work can still complete downstream while each one drains.
    pub async fn stop(self) {
        for (name, service) in self.started.into_iter().rev() {
            tracing::info!(service = name, "stopping");
            service.stop().await;
            tracing::info!(service = name, "stopped");
        }
    }
}
