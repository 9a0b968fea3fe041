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

impl AppState {
    /// The account's bot, or the 404 every bot-scoped route answers for a bot that does not
    /// exist or belongs to another account (the two must not look different).
    pub async fn bot(
        &self,
        account: contracts::AccountId,
        bot: contracts::BotId,
    ) -> Result<store::bots::Bot, crate::error::ApiError> {
        use crate::error::FromStore;
        self.store
            .get_bot(account, bot)
            .await
            .map_err(|err| crate::error::ApiError::from_store(err, "bot"))
    }
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
