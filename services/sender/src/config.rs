//! The sender's configuration, read from the environment once and validated at start.

use std::time::Duration;

use config::{BrokerConfig, ConfigError, DatabaseConfig, HttpConfig, Lookup};
use crypto::DeploymentKey;

use crate::retry::RetryPolicy;

pub const DEFAULT_PORT: u16 = 8084;

#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Health and readiness endpoints (`SENDER_HOST`, `SENDER_PORT`).
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub broker: BrokerConfig,
    /// Opens the integrations' sealed access tokens and app secrets, seals refreshed tokens.
    pub deployment_key: DeploymentKey,
    /// Shown in the broker's management UI and the logs (`SENDER_INSTANCE`).
    pub instance_name: String,
    /// `GRAPH_API_BASE_URL` (default `https://graph.facebook.com`; the emulator's in tests).
    pub graph_api_base_url: String,
    /// Graph calls per second per phone number id (`SENDER_RATE_PER_SECOND`, default 80,
    /// Meta's default throughput; may be fractional).
    pub rate_per_second: f64,
    /// Batches handled at once (`SENDER_CONCURRENCY`, default 16); a conversation's batches
    /// still go one after another.
    pub concurrency: usize,
    /// Backoff of retryable Graph errors (`SENDER_RETRY_MAX_ATTEMPTS` default 6,
    /// `SENDER_RETRY_BASE_MS` default 1000, `SENDER_RETRY_MAX_DELAY_MS` default 30000).
    pub retry: RetryPolicy,
    /// Bound on one Graph request (`SENDER_HTTP_TIMEOUT_MS`, default 20000).
    pub http_timeout: Duration,
    /// Tokens expiring within this are refreshed (`SENDER_TOKEN_REFRESH_DAYS`, default 7).
    pub token_refresh_window: Duration,
    /// How often expiring tokens are looked for (`SENDER_TOKEN_CHECK_INTERVAL_SECONDS`,
    /// default 3600).
    pub token_check_interval: Duration,
    /// Batch progress records are kept this long (`SENDER_BATCH_RETENTION_HOURS`, default 72);
    /// a batch redelivered later than that would be sent again.
    pub batch_retention: Duration,
    /// An integration's `last_activity_at` is written at most this often
    /// (`SENDER_ACTIVITY_INTERVAL_SECONDS`, default 60).
    pub activity_interval: Duration,
    /// Error e-mails for given-up sends and token failures (`SMTP_URL`, `ALERT_*`; see
    /// docs/alerts.md). Without `SMTP_URL` they are only logged.
    pub alerts: alerts::AlertConfig,
}

fn invalid(name: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
}

fn positive(lookup: Lookup<'_>, name: &str, default: u64) -> Result<u64, ConfigError> {
    let value: u64 = config::parse_or_from(lookup, name, default)?;
    if value == 0 {
        return Err(invalid(name, "must be greater than 0"));
    }
    Ok(value)
}

impl SenderConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&config::env_lookup)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let graph_api_base_url = config::optional_from(lookup, "GRAPH_API_BASE_URL")
            .unwrap_or_else(|| graph_client::DEFAULT_BASE_URL.to_owned());
        if !(graph_api_base_url.starts_with("https://")
            || graph_api_base_url.starts_with("http://"))
        {
            return Err(invalid("GRAPH_API_BASE_URL", "must be an http(s) URL"));
        }
        let rate_per_second: f64 = config::parse_or_from(lookup, "SENDER_RATE_PER_SECOND", 80.0)?;
        if !(rate_per_second.is_finite() && rate_per_second > 0.0) {
            return Err(invalid(
                "SENDER_RATE_PER_SECOND",
                "must be a positive number",
            ));
        }
        let max_attempts = positive(lookup, "SENDER_RETRY_MAX_ATTEMPTS", 6)?;
        let base_ms = positive(lookup, "SENDER_RETRY_BASE_MS", 1_000)?;
        let max_delay_ms = positive(lookup, "SENDER_RETRY_MAX_DELAY_MS", 30_000)?;
        if max_delay_ms < base_ms {
            return Err(invalid(
                "SENDER_RETRY_MAX_DELAY_MS",
                "must be at least SENDER_RETRY_BASE_MS",
            ));
        }
        Ok(SenderConfig {
            http: HttpConfig::from_lookup(lookup, "SENDER", DEFAULT_PORT)?,
            database: DatabaseConfig::from_lookup(lookup)?,
            broker: BrokerConfig::from_lookup(lookup)?,
            deployment_key: config::deployment_key_from(lookup)?,
            instance_name: config::optional_from(lookup, "SENDER_INSTANCE")
                .unwrap_or_else(|| "sender".into()),
            graph_api_base_url,
            rate_per_second,
            concurrency: usize::try_from(positive(lookup, "SENDER_CONCURRENCY", 16)?)
                .map_err(|_| invalid("SENDER_CONCURRENCY", "too large"))?,
            retry: RetryPolicy {
                max_attempts: u32::try_from(max_attempts)
                    .map_err(|_| invalid("SENDER_RETRY_MAX_ATTEMPTS", "too large"))?,
                base_delay: Duration::from_millis(base_ms),
                max_delay: Duration::from_millis(max_delay_ms),
            },
            http_timeout: Duration::from_millis(positive(
                lookup,
                "SENDER_HTTP_TIMEOUT_MS",
                20_000,
            )?),
            token_refresh_window: Duration::from_secs(
                positive(lookup, "SENDER_TOKEN_REFRESH_DAYS", 7)? * 24 * 3600,
            ),
            token_check_interval: Duration::from_secs(positive(
                lookup,
                "SENDER_TOKEN_CHECK_INTERVAL_SECONDS",
                3_600,
            )?),
            batch_retention: Duration::from_secs(
                positive(lookup, "SENDER_BATCH_RETENTION_HOURS", 72)? * 3600,
            ),
            activity_interval: Duration::from_secs(positive(
                lookup,
                "SENDER_ACTIVITY_INTERVAL_SECONDS",
                60,
            )?),
            alerts: alerts::AlertConfig::from_lookup(lookup)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn vars(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let base = [
            ("DATABASE_URL", "postgres://h/db"),
            ("AMQP_URL", "amqp://h"),
            ("DEPLOYMENT_KEY", KEY),
        ];
        let all: Vec<(&str, &str)> = base.iter().chain(pairs.iter()).copied().collect();
        move |name: &str| {
            all.iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults() {
        let config = SenderConfig::from_lookup(&vars(&[])).unwrap();
        assert_eq!(config.http.port, 8084);
        assert_eq!(config.graph_api_base_url, "https://graph.facebook.com");
        assert_eq!(config.rate_per_second, 80.0);
        assert_eq!(config.concurrency, 16);
        assert_eq!(config.retry.max_attempts, 6);
        assert_eq!(config.retry.base_delay, Duration::from_secs(1));
        assert_eq!(config.token_refresh_window, Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn overrides_and_refusals_name_the_variable() {
        let config = SenderConfig::from_lookup(&vars(&[
            ("SENDER_PORT", "9100"),
            ("GRAPH_API_BASE_URL", "http://127.0.0.1:8090"),
            ("SENDER_RATE_PER_SECOND", "2.5"),
            ("SENDER_RETRY_MAX_ATTEMPTS", "3"),
        ]))
        .unwrap();
        assert_eq!(config.http.port, 9100);
        assert_eq!(config.graph_api_base_url, "http://127.0.0.1:8090");
        assert_eq!(config.rate_per_second, 2.5);
        assert_eq!(config.retry.max_attempts, 3);

        for (name, value) in [
            ("GRAPH_API_BASE_URL", "graph.facebook.com"),
            ("SENDER_RATE_PER_SECOND", "0"),
            ("SENDER_RATE_PER_SECOND", "NaN"),
            ("SENDER_CONCURRENCY", "0"),
            ("SENDER_RETRY_MAX_ATTEMPTS", "0"),
            ("SENDER_RETRY_MAX_DELAY_MS", "10"),
            ("SENDER_TOKEN_REFRESH_DAYS", "-1"),
        ] {
            let error = SenderConfig::from_lookup(&vars(&[(name, value)])).unwrap_err();
            assert_eq!(error.name(), name, "{name}={value}");
        }
    }
}
