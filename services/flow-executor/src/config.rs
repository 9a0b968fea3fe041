//! The executor's configuration, read from the environment once and validated at start.

use std::time::Duration;

use config::{BrokerConfig, ConfigError, DatabaseConfig, HttpConfig, Lookup};

#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Health and readiness endpoints.
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub broker: BrokerConfig,
    /// Shown in the broker's management UI and the logs.
    pub instance_name: String,
    /// API sessions idle this long expire (PRODUCT.md 3).
    pub api_session_ttl: Duration,
    /// Components one turn may enter.
    pub max_steps_per_turn: u32,
    /// `http_request` components may call private and loopback addresses (development only).
    pub allow_private_network: bool,
    /// Largest `http_request` answer read, in bytes.
    pub http_max_response_bytes: usize,
    /// Handled events and Idempotency-Keys are kept this long (Meta redelivers for days;
    /// keys must live at least 24 hours).
    pub history_retention: Duration,
    /// Error e-mails for bot execution errors (SMTP_URL, ALERT_*).
    pub alerts: alerts::AlertConfig,
    /// How the executors share the inbound shards (SHARD_LEASE_TTL_MS, SHARD_HEARTBEAT_MS).
    pub shard_leases: crate::shards::ShardLeaseConfig,
}

pub const DEFAULT_PORT: u16 = 8083;

impl ExecutorConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&config::env_lookup)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let ttl_seconds: u64 = config::parse_or_from(lookup, "API_SESSION_TTL_SECONDS", 86_400)?;
        let retention_hours: u64 =
            config::parse_or_from(lookup, "EVENT_HISTORY_RETENTION_HOURS", 7 * 24)?;
        if retention_hours < 24 {
            return Err(ConfigError::Invalid {
                name: "EVENT_HISTORY_RETENTION_HOURS".into(),
                reason: "must be at least 24 (Idempotency-Keys live at least a day)".into(),
            });
        }
        if ttl_seconds == 0 {
            return Err(ConfigError::Invalid {
                name: "API_SESSION_TTL_SECONDS".into(),
                reason: "must be positive".into(),
            });
        }
        let shard_leases = crate::shards::ShardLeaseConfig {
            lease_ttl: Duration::from_millis(config::parse_or_from(
                lookup,
                "SHARD_LEASE_TTL_MS",
                5_000,
            )?),
            heartbeat: Duration::from_millis(config::parse_or_from(
                lookup,
                "SHARD_HEARTBEAT_MS",
                1_000,
            )?),
        };
        shard_leases
            .validate()
            .map_err(|reason| ConfigError::Invalid {
                name: "SHARD_HEARTBEAT_MS".into(),
                reason,
            })?;
        Ok(ExecutorConfig {
            http: HttpConfig::from_lookup(lookup, "EXECUTOR", DEFAULT_PORT)?,
            database: DatabaseConfig::from_lookup(lookup)?,
            broker: BrokerConfig::from_lookup(lookup)?,
            instance_name: config::optional_from(lookup, "EXECUTOR_INSTANCE")
                .unwrap_or_else(|| "flow-executor".into()),
            api_session_ttl: Duration::from_secs(ttl_seconds),
            max_steps_per_turn: config::parse_or_from(lookup, "FLOW_MAX_STEPS_PER_TURN", 200)?,
            allow_private_network: config::parse_or_from(
                lookup,
                "FLOW_HTTP_ALLOW_PRIVATE_NETWORK",
                false,
            )?,
            http_max_response_bytes: config::parse_or_from(
                lookup,
                "FLOW_HTTP_MAX_RESPONSE_BYTES",
                1024 * 1024,
            )?,
            history_retention: Duration::from_secs(retention_hours * 3600),
            alerts: alerts::AlertConfig::from_lookup(lookup)?,
            shard_leases,
        })
    }
}
