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

/// How long a request waits for the broker to confirm what it publishes.
const PUBLISH_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

impl InboundLink {
    /// Publishes `body`, confirmed, on the connection's runtime, with the request's span (so
    /// the trace context reaches the AMQP headers). `Err(Some)`: the broker did not take it;
    /// `Err(None)`: the publishing task itself failed.
    pub async fn publish_confirmed(
        &self,
        exchange: String,
        routing_key: String,
        body: Vec<u8>,
        options: broker::PublishOptions,
    ) -> Result<(), Option<broker::BrokerError>> {
        use tracing::Instrument;
        let publisher = self.publisher.clone();
        let span = tracing::Span::current();
        let published = self
            .runtime
            .spawn(
                async move {
                    publisher
                        .publish_with_retry(&exchange, &routing_key, &body, options, PUBLISH_WITHIN)
                        .await
                }
                .instrument(span),
            )
            .await;
        match published {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(Some(err)),
            Err(err) => {
                tracing::error!(error = %err, "publishing task failed");
                Err(None)
            }
        }
    }
}
