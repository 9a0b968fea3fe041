use crypto::{DeploymentKey, DigestKey};
use store::Store;

/// Shared by every request handler.
pub struct AppState {
    pub store: Store,
    pub deployment_key: DeploymentKey,
    pub digest_key: DigestKey,
    pub public_api_base_url: String,
    pub public_webhook_base_url: String,
    pub default_api_rate_limit_per_minute: u32,
    pub graph: graph_client::GraphClient,
    /// Where proactive starts are published; `None` without `AMQP_URL`.
    pub inbound: Option<InboundLink>,
    pub signin_failures: crate::config::SigninFailureLimit,
}

/// A confirming publisher to `bot.inbound`, and the runtime its connection lives on:
/// publishing runs there, not on the HTTP worker's runtime (which a request's future may not
/// outlive).
pub struct InboundLink {
    pub publisher: broker::Publisher,
    pub runtime: tokio::runtime::Handle,
}
