//! The admin service's configuration, read from the environment once and validated at start.

use config::{BrokerConfig, ConfigError, DatabaseConfig, HttpConfig, Lookup};
use crypto::{DeploymentKey, SecretString};

/// Everything `run` needs. Build it with `from_env` in `main`, or by hand in tests.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub deployment_key: DeploymentKey,
    /// The operator token that the first start registers for the first (platform-admin) account.
    pub bootstrap_token: Option<SecretString>,
    /// The public base URL of the API gateway, shown in API integrations' endpoint links.
    pub public_api_base_url: String,
    /// The public base URL of the WhatsApp ingress, shown as each integration's webhook URL.
    pub public_webhook_base_url: String,
    /// Largest accepted request body (flows are the big ones).
    pub max_body_bytes: usize,
    /// The text rules every body is held to (`EDGE_*`; see docs/configuration.md).
    pub body_limits: service_kit::edge::TextLimits,
    /// Default rate limit of new API integrations, requests per minute.
    pub default_api_rate_limit_per_minute: u32,
    /// Meta's Graph API (or the emulator): short-lived WhatsApp access tokens are exchanged for
    /// long-lived ones there when an integration is created.
    pub graph_api_base_url: String,
    /// RabbitMQ (`AMQP_URL`, `AMQP_INBOUND_SHARDS`: the executors' shard count), optional: the
    /// proactive WhatsApp start publishes to `bot.inbound`. Without it that route answers 503
    /// and everything else works.
    pub broker: Option<BrokerConfig>,
    /// Failed sign-ins allowed per client address (docs/security.md, "Rate limits").
    pub signin_failures: SigninFailureLimit,
}

/// Operator-token guessing is slowed per client address: `max_failures` wrong tokens, then
/// 429 until the shared bucket (PostgreSQL, all replicas) refills over `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigninFailureLimit {
    pub max_failures: u32,
    pub window: std::time::Duration,
    /// A header set by a trusted reverse proxy with the client's address (`X-Real-IP`); without
    /// it the peer address counts, which behind a proxy is the proxy's.
    pub client_ip_header: Option<String>,
}

impl Default for SigninFailureLimit {
    fn default() -> Self {
        Self {
            max_failures: 20,
            window: std::time::Duration::from_secs(600),
            client_ip_header: None,
        }
    }
}

pub const DEFAULT_PORT: u16 = 8080;

impl AdminConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&config::env_lookup)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let bootstrap_token = config::optional_from(lookup, "ADMIN_BOOTSTRAP_TOKEN")
            .map(|token| {
                if token.len() < 32 {
                    Err(ConfigError::Invalid {
                        name: "ADMIN_BOOTSTRAP_TOKEN".into(),
                        reason: "must be at least 32 characters".into(),
                    })
                } else {
                    Ok(SecretString::from(token))
                }
            })
            .transpose()?;
        Ok(AdminConfig {
            http: HttpConfig::from_lookup(lookup, "ADMIN", DEFAULT_PORT)?,
            database: DatabaseConfig::from_lookup(lookup)?,
            deployment_key: config::deployment_key_from(lookup)?,
            bootstrap_token,
            public_api_base_url: config::optional_from(lookup, "PUBLIC_API_BASE_URL")
                .unwrap_or_else(|| "http://localhost:8081".into()),
            public_webhook_base_url: config::optional_from(lookup, "PUBLIC_WEBHOOK_BASE_URL")
                .unwrap_or_else(|| "http://localhost:8082".into()),
            max_body_bytes: config::parse_or_from(lookup, "ADMIN_MAX_BODY_BYTES", 1024 * 1024)?,
            body_limits: service_kit::edge::limits_from_lookup(lookup)?,
            default_api_rate_limit_per_minute: config::parse_or_from(
                lookup,
                "API_DEFAULT_RATE_LIMIT_PER_MINUTE",
                600,
            )?,
            graph_api_base_url: config::optional_from(lookup, "GRAPH_API_BASE_URL")
                .unwrap_or_else(|| graph_client::DEFAULT_BASE_URL.to_owned()),
            broker: config::optional_from(lookup, "AMQP_URL")
                .map(|_| BrokerConfig::from_lookup(lookup))
                .transpose()?,
            signin_failures: signin_failures_from(lookup)?,
        })
    }
}

fn signin_failures_from(lookup: Lookup<'_>) -> Result<SigninFailureLimit, ConfigError> {
    let defaults = SigninFailureLimit::default();
    let max_failures: u32 =
        config::parse_or_from(lookup, "ADMIN_SIGNIN_MAX_FAILURES", defaults.max_failures)?;
    let window_seconds: u64 = config::parse_or_from(
        lookup,
        "ADMIN_SIGNIN_FAILURE_WINDOW_SECONDS",
        defaults.window.as_secs(),
    )?;
    if max_failures == 0 || window_seconds == 0 {
        return Err(ConfigError::Invalid {
            name: "ADMIN_SIGNIN_MAX_FAILURES".into(),
            reason: "failures and window must both be positive".into(),
        });
    }
    Ok(SigninFailureLimit {
        max_failures,
        window: std::time::Duration::from_secs(window_seconds),
        client_ip_header: config::optional_from(lookup, "ADMIN_CLIENT_IP_HEADER")
            .filter(|name| !name.trim().is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn vars(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let base = [("DATABASE_URL", "postgres://h/db"), ("DEPLOYMENT_KEY", KEY)];
        let all: Vec<(&str, &str)> = base.iter().chain(pairs.iter()).copied().collect();
        move |name: &str| {
            all.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_broker_is_optional_and_read_with_the_executors_shard_count() {
        let without = AdminConfig::from_lookup(&vars(&[])).unwrap_or_else(|e| panic!("{e}"));
        assert!(without.broker.is_none());
        let with = AdminConfig::from_lookup(&vars(&[
            ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            ("AMQP_INBOUND_SHARDS", "4"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(with.broker.map(|b| b.inbound_shards), Some(4));
        let bad = AdminConfig::from_lookup(&vars(&[("AMQP_URL", "http://broker")]));
        assert_eq!(
            bad.err().map(|e| e.name().to_owned()).as_deref(),
            Some("AMQP_URL")
        );
    }
}
