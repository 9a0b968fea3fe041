//! The emulator's configuration, from `META_EMULATOR_*` environment variables.

use config::{ConfigError, HttpConfig, Lookup};

use crate::api::Settings;

pub const DEFAULT_PORT: u16 = 8090;

#[derive(Clone)]
pub struct EmulatorConfig {
    /// `META_EMULATOR_HOST` (default `0.0.0.0`) / `META_EMULATOR_PORT` (default 8090).
    pub http: HttpConfig,
    /// `META_EMULATOR_ACCEPT_ANY_TOKEN`: any bearer token is valid (default false: only tokens
    /// registered or issued by the emulator).
    pub accept_any_token: bool,
    /// `META_EMULATOR_TOKENS`: comma-separated tokens registered at start, never expiring
    /// (e.g. the access token configured in the platform's integration).
    pub tokens: Vec<String>,
    /// Global settings: `META_EMULATOR_WEBHOOK_URL`, `META_EMULATOR_APP_SECRET`,
    /// `META_EMULATOR_ENFORCE_WINDOW`, `META_EMULATOR_STATUS_DELAY_MS`.
    pub settings: Settings,
    /// `META_EMULATOR_MAX_RECORDED_REQUESTS` (default 10000): older requests are forgotten.
    pub max_recorded_requests: usize,
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("http", &self.http)
            .field("accept_any_token", &self.accept_any_token)
            .field(
                "tokens",
                &format_args!("[{} registered]", self.tokens.len()),
            )
            .field("webhook_target_url", &self.settings.webhook_target_url)
            .field("max_recorded_requests", &self.max_recorded_requests)
            .finish_non_exhaustive()
    }
}

impl EmulatorConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&config::env_lookup)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let tokens = config::optional_from(lookup, "META_EMULATOR_TOKENS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let enforce_window: bool =
            config::parse_or_from(lookup, "META_EMULATOR_ENFORCE_WINDOW", false)?;
        let status_delay_ms: u64 =
            config::parse_or_from(lookup, "META_EMULATOR_STATUS_DELAY_MS", 50)?;
        let max_recorded_requests =
            config::parse_or_from(lookup, "META_EMULATOR_MAX_RECORDED_REQUESTS", 10_000)?;
        if max_recorded_requests == 0 {
            return Err(ConfigError::Invalid {
                name: "META_EMULATOR_MAX_RECORDED_REQUESTS".into(),
                reason: "must be greater than 0".into(),
            });
        }
        Ok(EmulatorConfig {
            http: HttpConfig::from_lookup(lookup, "META_EMULATOR", DEFAULT_PORT)?,
            accept_any_token: config::parse_or_from(
                lookup,
                "META_EMULATOR_ACCEPT_ANY_TOKEN",
                false,
            )?,
            tokens,
            settings: Settings {
                webhook_target_url: config::optional_from(lookup, "META_EMULATOR_WEBHOOK_URL"),
                app_secret: config::optional_from(lookup, "META_EMULATOR_APP_SECRET"),
                enforce_window: Some(enforce_window),
                status_delay_ms: Some(status_delay_ms),
                ..Settings::default()
            },
            max_recorded_requests,
        })
    }

    /// Loopback, a free port, no tokens: what tests start.
    pub fn for_tests() -> Self {
        EmulatorConfig {
            http: HttpConfig {
                host: "127.0.0.1".into(),
                port: 0,
            },
            accept_any_token: false,
            tokens: Vec::new(),
            settings: Settings::default(),
            max_recorded_requests: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_environment() {
        let lookup = |name: &str| match name {
            "META_EMULATOR_PORT" => Some("9999".to_owned()),
            "META_EMULATOR_TOKENS" => Some(" a, b ,,".to_owned()),
            "META_EMULATOR_ENFORCE_WINDOW" => Some("true".to_owned()),
            "META_EMULATOR_APP_SECRET" => Some("s3cret".to_owned()),
            _ => None,
        };
        let config = EmulatorConfig::from_lookup(&lookup).unwrap();
        assert_eq!(config.http.port, 9999);
        assert_eq!(config.tokens, vec!["a", "b"]);
        assert_eq!(config.settings.enforce_window, Some(true));
        assert!(!config.accept_any_token);
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn defaults() {
        let config = EmulatorConfig::from_lookup(&|_: &str| None).unwrap();
        assert_eq!(config.http.port, DEFAULT_PORT);
        assert!(config.tokens.is_empty());
        assert_eq!(config.settings.webhook_target_url, None);
    }
}
