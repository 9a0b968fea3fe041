//! The gateway's configuration, read from the environment once and validated at start.

use std::time::Duration;

use config::{BrokerConfig, ConfigError, DatabaseConfig, HttpConfig, Lookup};
use crypto::DeploymentKey;

use crate::requests::{BodyLimits, DEFAULT_MAX_MESSAGE_CHARS, DEFAULT_MAX_VARIABLES};

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub broker: BrokerConfig,
    /// Digests API keys (the same key the admin service stored them with).
    pub deployment_key: DeploymentKey,
    /// This replica's name: its reply queue is `gateway.replies.<instance_id>`.
    pub instance_id: String,
    /// How long a request waits for the executor's answer before 504.
    pub reply_deadline: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// The text rules and field limits of the two bodies (`EDGE_*`, `API_MAX_MESSAGE_CHARS`,
    /// `API_MAX_VARIABLES`).
    pub body_limits: BodyLimits,
}

pub const DEFAULT_PORT: u16 = 8081;

fn body_limits_from(lookup: Lookup<'_>) -> Result<BodyLimits, ConfigError> {
    let at_least_one = |name: &str, default: usize| -> Result<usize, ConfigError> {
        match config::parse_or_from(lookup, name, default)? {
            0 => Err(ConfigError::Invalid {
                name: name.into(),
                reason: "must be at least 1".into(),
            }),
            value => Ok(value),
        }
    };
    Ok(BodyLimits {
        text: service_kit::edge::limits_from_lookup(lookup)?,
        max_message_chars: at_least_one("API_MAX_MESSAGE_CHARS", DEFAULT_MAX_MESSAGE_CHARS)?,
        max_variables: at_least_one("API_MAX_VARIABLES", DEFAULT_MAX_VARIABLES)?,
    })
}

impl GatewayConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&config::env_lookup)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let deadline_ms: u64 = config::parse_or_from(lookup, "API_REPLY_DEADLINE_MS", 10_000)?;
        if !(100..=120_000).contains(&deadline_ms) {
            return Err(ConfigError::Invalid {
                name: "API_REPLY_DEADLINE_MS".into(),
                reason: "must be between 100 and 120000".into(),
            });
        }
        let instance_id = config::optional_from(lookup, "GATEWAY_INSTANCE_ID")
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        if !instance_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(ConfigError::Invalid {
                name: "GATEWAY_INSTANCE_ID".into(),
                reason: "may contain only letters, digits, '-', '_' and '.'".into(),
            });
        }
        Ok(GatewayConfig {
            http: HttpConfig::from_lookup(lookup, "API_GATEWAY", DEFAULT_PORT)?,
            database: DatabaseConfig::from_lookup(lookup)?,
            broker: BrokerConfig::from_lookup(lookup)?,
            deployment_key: config::deployment_key_from(lookup)?,
            instance_id,
            reply_deadline: Duration::from_millis(deadline_ms),
            max_body_bytes: config::parse_or_from(lookup, "API_MAX_BODY_BYTES", 256 * 1024)?,
            body_limits: body_limits_from(lookup)?,
        })
    }
}
