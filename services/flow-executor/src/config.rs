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
    /// Turns of different conversations one shard consumer runs at once
    /// (`EXECUTOR_TURN_CONCURRENCY`); each conversation still runs one turn at a time.
    pub turn_concurrency: usize,
    /// Deliveries a shard consumer may hold unacked (`EXECUTOR_PREFETCH`): the running turns
    /// and the events waiting behind them in their conversations' lanes.
    pub prefetch: u16,
    /// A session row lock not granted within this fails the attempt, transiently
    /// (`EXECUTOR_LOCK_TIMEOUT_MS`).
    pub lock_timeout: Duration,
    /// Bounds on retrying one event before it is dead-lettered (`EXECUTOR_RETRY_*`).
    pub retry: crate::RetryPolicy,
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
        let defaults = crate::RetryPolicy::default();
        let turn_concurrency: usize =
            config::parse_or_from(lookup, "EXECUTOR_TURN_CONCURRENCY", 32)?;
        let prefetch: u16 = config::parse_or_from(lookup, "EXECUTOR_PREFETCH", 512)?;
        let max_attempts: u32 =
            config::parse_or_from(lookup, "EXECUTOR_RETRY_MAX_ATTEMPTS", defaults.max_attempts)?;
        let positive = |name: &str, value: u64| {
            if value == 0 {
                Err(ConfigError::Invalid {
                    name: name.into(),
                    reason: "must be positive".into(),
                })
            } else {
                Ok(())
            }
        };
        positive("EXECUTOR_TURN_CONCURRENCY", turn_concurrency as u64)?;
        positive("EXECUTOR_PREFETCH", u64::from(prefetch))?;
        positive("EXECUTOR_RETRY_MAX_ATTEMPTS", u64::from(max_attempts))?;
        if usize::from(prefetch) < turn_concurrency {
            return Err(ConfigError::Invalid {
                name: "EXECUTOR_PREFETCH".into(),
                reason: "must be at least EXECUTOR_TURN_CONCURRENCY".into(),
            });
        }
        let millis = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            let ms: u64 = config::parse_or_from(lookup, name, default.as_millis() as u64)?;
            positive(name, ms)?;
            Ok(Duration::from_millis(ms))
        };
        let retry = crate::RetryPolicy {
            max_attempts,
            budget: millis("EXECUTOR_RETRY_BUDGET_MS", defaults.budget)?,
            base_pause: millis("EXECUTOR_RETRY_BASE_MS", defaults.base_pause)?,
            max_pause: millis("EXECUTOR_RETRY_MAX_PAUSE_MS", defaults.max_pause)?,
            outage_budget: millis("EXECUTOR_OUTAGE_BUDGET_MS", defaults.outage_budget)?,
        };
        let lock_timeout = millis("EXECUTOR_LOCK_TIMEOUT_MS", Duration::from_secs(5))?;
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
            turn_concurrency,
            prefetch,
            lock_timeout,
            retry,
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
