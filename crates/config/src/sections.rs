use std::time::Duration;

use crypto::{DeploymentKey, SecretString};

use crate::error::ConfigError;
use crate::lookup::{env_lookup, optional_from, parse_or_from, secret_from, Lookup};

/// PostgreSQL connection settings.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `postgres://` or `postgresql://` URL; secret because it may hold a password.
    pub url: SecretString,
    pub max_connections: usize,
    pub connect_timeout: Duration,
}

impl DatabaseConfig {
    pub const DEFAULT_MAX_CONNECTIONS: usize = 16;
    pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;

    /// Reads `DATABASE_URL` (required), `DATABASE_MAX_CONNECTIONS` (default 16) and
    /// `DATABASE_CONNECT_TIMEOUT_MS` (default 5000).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&env_lookup)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let url = secret_from(lookup, "DATABASE_URL")?;
        check_scheme(
            "DATABASE_URL",
            url.expose(),
            &["postgres://", "postgresql://"],
        )?;
        let max_connections = parse_or_from(
            lookup,
            "DATABASE_MAX_CONNECTIONS",
            Self::DEFAULT_MAX_CONNECTIONS,
        )?;
        positive("DATABASE_MAX_CONNECTIONS", max_connections)?;
        let timeout_ms = parse_or_from(
            lookup,
            "DATABASE_CONNECT_TIMEOUT_MS",
            Self::DEFAULT_CONNECT_TIMEOUT_MS,
        )?;
        positive("DATABASE_CONNECT_TIMEOUT_MS", timeout_ms)?;
        Ok(Self {
            url,
            max_connections,
            connect_timeout: Duration::from_millis(timeout_ms),
        })
    }
}

/// RabbitMQ connection settings.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `amqp://` or `amqps://` URL; secret because it holds credentials.
    pub url: SecretString,
    /// Unacknowledged deliveries per consumer (`basic_qos`).
    pub prefetch: u16,
    /// Number of queues behind the inbound hash exchange.
    pub inbound_shards: u16,
}

impl BrokerConfig {
    pub const DEFAULT_PREFETCH: u16 = 64;
    pub const DEFAULT_INBOUND_SHARDS: u16 = 8;

    /// Reads `AMQP_URL` (required), `AMQP_PREFETCH` (default 64) and `AMQP_INBOUND_SHARDS`
    /// (default 8).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&env_lookup)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let url = secret_from(lookup, "AMQP_URL")?;
        check_scheme("AMQP_URL", url.expose(), &["amqp://", "amqps://"])?;
        let prefetch = parse_or_from(lookup, "AMQP_PREFETCH", Self::DEFAULT_PREFETCH)?;
        positive("AMQP_PREFETCH", prefetch)?;
        let inbound_shards =
            parse_or_from(lookup, "AMQP_INBOUND_SHARDS", Self::DEFAULT_INBOUND_SHARDS)?;
        positive("AMQP_INBOUND_SHARDS", inbound_shards)?;
        Ok(Self {
            url,
            prefetch,
            inbound_shards,
        })
    }
}

/// Where an HTTP server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub host: String,
    /// 0 asks the OS for a free port (tests).
    pub port: u16,
}

impl HttpConfig {
    pub const DEFAULT_HOST: &'static str = "0.0.0.0";

    /// Reads `<PREFIX>_HOST` (default `0.0.0.0`) and `<PREFIX>_PORT` (default
    /// `default_port`), e.g. `ADMIN_HOST` / `ADMIN_PORT` for prefix `ADMIN`.
    pub fn from_env(prefix: &str, default_port: u16) -> Result<Self, ConfigError> {
        Self::from_lookup(&env_lookup, prefix, default_port)
    }

    pub fn from_lookup(
        lookup: Lookup<'_>,
        prefix: &str,
        default_port: u16,
    ) -> Result<Self, ConfigError> {
        let prefix = prefix.trim_end_matches('_');
        let name = |suffix: &str| {
            if prefix.is_empty() {
                suffix.to_owned()
            } else {
                format!("{prefix}_{suffix}")
            }
        };
        let host_name = name("HOST");
        let host =
            optional_from(lookup, &host_name).unwrap_or_else(|| Self::DEFAULT_HOST.to_owned());
        if host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(ConfigError::invalid(
                &host_name,
                "must be a host name or IP address",
            ));
        }
        let port = parse_or_from(lookup, &name("PORT"), default_port)?;
        Ok(Self { host, port })
    }

    /// `(host, port)`, as `HttpServer::bind` and `TcpListener::bind` take it.
    pub fn bind_address(&self) -> (&str, u16) {
        (&self.host, self.port)
    }
}

/// The deployment key from `DEPLOYMENT_KEY` (standard base64 of 32 bytes).
pub fn deployment_key() -> Result<DeploymentKey, ConfigError> {
    deployment_key_from(&env_lookup)
}

/// `DEPLOYMENT_KEY`, with `DEPLOYMENT_KEY_PREVIOUS` (the key being rotated out, accepted for
/// opening and verifying until the rotation completes) when set: docs/security.md.
pub fn deployment_key_from(lookup: Lookup<'_>) -> Result<DeploymentKey, ConfigError> {
    const NAME: &str = "DEPLOYMENT_KEY";
    const PREVIOUS: &str = "DEPLOYMENT_KEY_PREVIOUS";
    let parse = |name: &str, encoded: &str| {
        // CryptoError messages describe the problem without the key material.
        DeploymentKey::from_base64(encoded).map_err(|error| {
            ConfigError::invalid(
                name,
                format!("{error} (generate one with `openssl rand -base64 32`)"),
            )
        })
    };
    let key = parse(NAME, secret_from(lookup, NAME)?.expose())?;
    match optional_from(lookup, PREVIOUS).filter(|value| !value.trim().is_empty()) {
        None => Ok(key),
        Some(previous) => key
            .with_previous(parse(PREVIOUS, &previous)?)
            .map_err(|error| ConfigError::invalid(PREVIOUS, error.to_string())),
    }
}

fn check_scheme(name: &str, url: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let Some(rest) = schemes.iter().find_map(|scheme| url.strip_prefix(scheme)) else {
        return Err(ConfigError::invalid(
            name,
            format!("must start with {}", schemes.join(" or ")),
        ));
    };
    if rest.is_empty() {
        return Err(ConfigError::invalid(name, "has nothing after the scheme"));
    }
    Ok(())
}

fn positive<T: PartialOrd + Default>(name: &str, value: T) -> Result<(), ConfigError> {
    if value > T::default() {
        Ok(())
    } else {
        Err(ConfigError::invalid(name, "must be greater than 0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn database_defaults() {
        let lookup = vars(&[("DATABASE_URL", "postgres://app:pw@127.0.0.1:5432/app")]);
        let config = DatabaseConfig::from_lookup(&lookup).unwrap();
        assert_eq!(config.url.expose(), "postgres://app:pw@127.0.0.1:5432/app");
        assert_eq!(config.max_connections, 16);
        assert_eq!(config.connect_timeout, Duration::from_millis(5000));
        assert!(!format!("{config:?}").contains("pw@"));
    }

    #[test]
    fn database_overrides() {
        let lookup = vars(&[
            ("DATABASE_URL", "postgresql://localhost/db"),
            ("DATABASE_MAX_CONNECTIONS", "4"),
            ("DATABASE_CONNECT_TIMEOUT_MS", "250"),
        ]);
        let config = DatabaseConfig::from_lookup(&lookup).unwrap();
        assert_eq!(config.max_connections, 4);
        assert_eq!(config.connect_timeout, Duration::from_millis(250));
    }

    #[test]
    fn database_errors_name_the_variable_without_the_value() {
        let missing = DatabaseConfig::from_lookup(&vars(&[])).unwrap_err();
        assert_eq!(
            missing,
            ConfigError::Missing {
                name: "DATABASE_URL".into()
            }
        );

        let wrong_scheme =
            DatabaseConfig::from_lookup(&vars(&[("DATABASE_URL", "mysql://u:topsecret@h/db")]))
                .unwrap_err();
        assert_eq!(wrong_scheme.name(), "DATABASE_URL");
        let message = wrong_scheme.to_string();
        assert!(message.contains("postgres://"), "{message}");
        assert!(!message.contains("topsecret"), "{message}");

        let no_host =
            DatabaseConfig::from_lookup(&vars(&[("DATABASE_URL", "postgres://")])).unwrap_err();
        assert_eq!(no_host.name(), "DATABASE_URL");

        let zero = DatabaseConfig::from_lookup(&vars(&[
            ("DATABASE_URL", "postgres://h/db"),
            ("DATABASE_MAX_CONNECTIONS", "0"),
        ]))
        .unwrap_err();
        assert_eq!(zero.name(), "DATABASE_MAX_CONNECTIONS");

        let bad_timeout = DatabaseConfig::from_lookup(&vars(&[
            ("DATABASE_URL", "postgres://h/db"),
            ("DATABASE_CONNECT_TIMEOUT_MS", "5s"),
        ]))
        .unwrap_err();
        assert_eq!(bad_timeout.name(), "DATABASE_CONNECT_TIMEOUT_MS");
    }

    #[test]
    fn broker_defaults_overrides_and_errors() {
        let config = BrokerConfig::from_lookup(&vars(&[(
            "AMQP_URL",
            "amqp://guest:guest@127.0.0.1:5672/%2f",
        )]))
        .unwrap();
        assert_eq!(config.prefetch, 64);
        assert_eq!(config.inbound_shards, 8);
        assert!(!format!("{config:?}").contains("guest"));

        let config = BrokerConfig::from_lookup(&vars(&[
            ("AMQP_URL", "amqps://broker.example"),
            ("AMQP_PREFETCH", "10"),
            ("AMQP_INBOUND_SHARDS", "3"),
        ]))
        .unwrap();
        assert_eq!((config.prefetch, config.inbound_shards), (10, 3));

        let wrong = BrokerConfig::from_lookup(&vars(&[("AMQP_URL", "http://x")])).unwrap_err();
        assert_eq!(wrong.name(), "AMQP_URL");
        let too_big = BrokerConfig::from_lookup(&vars(&[
            ("AMQP_URL", "amqp://h"),
            ("AMQP_PREFETCH", "70000"),
        ]))
        .unwrap_err();
        assert_eq!(too_big.name(), "AMQP_PREFETCH");
        let zero_shards = BrokerConfig::from_lookup(&vars(&[
            ("AMQP_URL", "amqp://h"),
            ("AMQP_INBOUND_SHARDS", "0"),
        ]))
        .unwrap_err();
        assert_eq!(zero_shards.name(), "AMQP_INBOUND_SHARDS");
    }

    #[test]
    fn http_reads_prefixed_variables() {
        let lookup = vars(&[("ADMIN_HOST", "127.0.0.1"), ("ADMIN_PORT", "9001")]);
        let config = HttpConfig::from_lookup(&lookup, "ADMIN", 8080).unwrap();
        assert_eq!(config.bind_address(), ("127.0.0.1", 9001));
        let other = HttpConfig::from_lookup(&lookup, "GATEWAY", 8081).unwrap();
        assert_eq!(
            other,
            HttpConfig {
                host: "0.0.0.0".into(),
                port: 8081
            }
        );
        let trailing = HttpConfig::from_lookup(&lookup, "ADMIN_", 1).unwrap();
        assert_eq!(trailing.port, 9001);

        let bad_port = HttpConfig::from_lookup(&vars(&[("X_PORT", "http")]), "X", 1).unwrap_err();
        assert_eq!(bad_port.name(), "X_PORT");
        let bad_host =
            HttpConfig::from_lookup(&vars(&[("X_HOST", "http://h")]), "X", 1).unwrap_err();
        assert_eq!(bad_host.name(), "X_HOST");
    }

    #[test]
    fn deployment_key_is_validated() {
        let key = deployment_key_from(&vars(&[("DEPLOYMENT_KEY", KEY_B64)])).unwrap();
        let sealed = key.seal(b"x", b"id").unwrap();
        assert_eq!(key.open(&sealed, b"id").unwrap().expose(), &b"x".to_vec());

        assert_eq!(
            deployment_key_from(&vars(&[])).unwrap_err(),
            ConfigError::Missing {
                name: "DEPLOYMENT_KEY".into()
            }
        );
        let short = "AAECAwQFBgcICQoLDA0ODw==";
        let error = deployment_key_from(&vars(&[("DEPLOYMENT_KEY", short)])).unwrap_err();
        assert_eq!(error.name(), "DEPLOYMENT_KEY");
        let message = error.to_string();
        assert!(message.contains("32 bytes"), "{message}");
        assert!(!message.contains(short), "{message}");
        let garbage = deployment_key_from(&vars(&[("DEPLOYMENT_KEY", "not*base64")])).unwrap_err();
        assert!(garbage.to_string().contains("base64"));
        assert!(!garbage.to_string().contains("not*base64"));
    }
}
