//! The ingress's configuration, read from the environment once and validated at start.

use std::time::Duration;

use config::{BrokerConfig, ConfigError, DatabaseConfig, HttpConfig, Lookup};
use crypto::DeploymentKey;

#[derive(Debug, Clone)]
pub struct IngressConfig {
    /// The webhook server (`INGRESS_HOST`, `INGRESS_PORT`), which also serves `/health` and
    /// `/ready`.
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub broker: BrokerConfig,
    /// Opens the integrations' sealed app secrets and digests verify tokens.
    pub deployment_key: DeploymentKey,
    /// Shown in the broker's management UI and the logs (`INGRESS_INSTANCE`).
    pub instance_name: String,
    /// How long a POST waits for the broker to confirm its events (reconnects included)
    /// before answering 503 so that Meta retries (`INGRESS_PUBLISH_TIMEOUT_MS`).
    pub publish_timeout: Duration,
    /// How long an integration (its state and opened app secret) is reused before it is read
    /// again (`INGRESS_INTEGRATION_CACHE_SECONDS`; 0 reads it on every request).
    pub integration_cache_ttl: Duration,
    /// Webhook receipts older than this are deleted (`WEBHOOK_RECEIPT_RETENTION_DAYS`).
    pub receipt_retention: Duration,
    /// HTTP worker threads (`INGRESS_WORKERS`; default: one per CPU).
    pub workers: Option<usize>,
    /// Error e-mails for bursts of bad signatures (`SMTP_URL`, `ALERT_*`; see docs/alerts.md).
    /// Without `SMTP_URL` they are only logged.
    pub alerts: alerts::AlertConfig,
}

pub const DEFAULT_PORT: u16 = 8082;

fn invalid(name: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
}

impl IngressConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&config::env_lookup)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let publish_timeout_ms: u64 =
            config::parse_or_from(lookup, "INGRESS_PUBLISH_TIMEOUT_MS", 5_000)?;
        if publish_timeout_ms == 0 {
            return Err(invalid("INGRESS_PUBLISH_TIMEOUT_MS", "must be positive"));
        }
        let retention_days: u64 =
            config::parse_or_from(lookup, "WEBHOOK_RECEIPT_RETENTION_DAYS", 30)?;
        if retention_days == 0 {
            return Err(invalid(
                "WEBHOOK_RECEIPT_RETENTION_DAYS",
                "must be at least 1",
            ));
        }
        let workers = config::optional_from(lookup, "INGRESS_WORKERS")
            .map(|raw| match raw.parse::<usize>() {
                Ok(count) if count > 0 => Ok(count),
                _ => Err(invalid("INGRESS_WORKERS", "must be a positive integer")),
            })
            .transpose()?;
        Ok(IngressConfig {
            http: HttpConfig::from_lookup(lookup, "INGRESS", DEFAULT_PORT)?,
            database: DatabaseConfig::from_lookup(lookup)?,
            broker: BrokerConfig::from_lookup(lookup)?,
            deployment_key: config::deployment_key_from(lookup)?,
            instance_name: config::optional_from(lookup, "INGRESS_INSTANCE")
                .unwrap_or_else(|| "whatsapp-ingress".into()),
            publish_timeout: Duration::from_millis(publish_timeout_ms),
            integration_cache_ttl: Duration::from_secs(config::parse_or_from(
                lookup,
                "INGRESS_INTEGRATION_CACHE_SECONDS",
                30,
            )?),
            receipt_retention: Duration::from_secs(retention_days * 24 * 3600),
            workers,
            alerts: alerts::AlertConfig::from_lookup(lookup)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn lookup_from(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let base = lookup_from(&[
            ("DATABASE_URL", "postgres://localhost/db"),
            ("AMQP_URL", "amqp://localhost"),
            ("DEPLOYMENT_KEY", KEY),
        ]);
        let config = IngressConfig::from_lookup(&base).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.http.port, DEFAULT_PORT);
        assert_eq!(config.publish_timeout, Duration::from_secs(5));
        assert_eq!(config.integration_cache_ttl, Duration::from_secs(30));
        assert_eq!(config.workers, None);

        let custom = lookup_from(&[
            ("DATABASE_URL", "postgres://localhost/db"),
            ("AMQP_URL", "amqp://localhost"),
            ("DEPLOYMENT_KEY", KEY),
            ("INGRESS_PORT", "9000"),
            ("INGRESS_PUBLISH_TIMEOUT_MS", "250"),
            ("INGRESS_INTEGRATION_CACHE_SECONDS", "0"),
            ("INGRESS_WORKERS", "2"),
        ]);
        let config = IngressConfig::from_lookup(&custom).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.http.port, 9000);
        assert_eq!(config.publish_timeout, Duration::from_millis(250));
        assert_eq!(config.integration_cache_ttl, Duration::ZERO);
        assert_eq!(config.workers, Some(2));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let bad = lookup_from(&[
            ("DATABASE_URL", "postgres://localhost/db"),
            ("AMQP_URL", "amqp://localhost"),
            ("DEPLOYMENT_KEY", KEY),
            ("INGRESS_PUBLISH_TIMEOUT_MS", "0"),
        ]);
        let error = IngressConfig::from_lookup(&bad)
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("INGRESS_PUBLISH_TIMEOUT_MS")));
        let missing_key = lookup_from(&[
            ("DATABASE_URL", "postgres://localhost/db"),
            ("AMQP_URL", "amqp://localhost"),
        ]);
        let error = IngressConfig::from_lookup(&missing_key)
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("DEPLOYMENT_KEY")));
    }
}
