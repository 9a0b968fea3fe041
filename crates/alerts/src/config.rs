//! Alert settings from the environment.

use std::time::Duration;

use config::{env_lookup, optional_from, parse_or_from, ConfigError, Lookup};
use crypto::SecretString;
use lettre::message::Mailbox;

/// How alerts are mailed.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// `smtp://host:port`, `smtp://host:port?tls=required`, `smtps://host:port`, with optional
    /// `user:password@`; `None` means alerts are only logged. Secret: it may hold a password.
    pub smtp_url: Option<SecretString>,
    /// The sender of alert mails.
    pub from: Mailbox,
    /// At most one mail per integration and kind in this time; the rest are counted.
    pub throttle_window: Duration,
    /// How often counted alerts that no later alert carried are mailed as a summary once their
    /// window has ended; `None` turns that off (the count then waits for the next alert).
    pub sweep_interval: Option<Duration>,
    /// Alerts waiting for the background task; past it, new alerts are dropped (and logged).
    pub queue_capacity: usize,
    /// How long sending one mail may take, from connecting to the server's last answer.
    pub smtp_timeout: Duration,
}

impl AlertConfig {
    pub const DEFAULT_FROM: &'static str = "alerts@localhost";
    pub const DEFAULT_THROTTLE_SECONDS: u64 = 15 * 60;
    pub const DEFAULT_SWEEP_SECONDS: u64 = 60;
    pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
    pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(30);

    /// Reads `SMTP_URL` (unset: alerts are only logged), `ALERT_FROM` (default
    /// `alerts@localhost`), `ALERT_THROTTLE_SECONDS` (default 900) and `ALERT_SWEEP_SECONDS`
    /// (default 60; 0 turns the sweep off).
    pub fn from_env() -> Result<AlertConfig, ConfigError> {
        AlertConfig::from_lookup(&env_lookup)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<AlertConfig, ConfigError> {
        let smtp_url = optional_from(lookup, "SMTP_URL").map(SecretString::from);
        if let Some(url) = &smtp_url {
            check_smtp_url(url.expose())?;
        }
        let from = optional_from(lookup, "ALERT_FROM")
            .unwrap_or_else(|| AlertConfig::DEFAULT_FROM.to_owned())
            .parse::<Mailbox>()
            .map_err(|_| invalid("ALERT_FROM", "is not an e-mail address"))?;
        let throttle_seconds = parse_or_from(
            lookup,
            "ALERT_THROTTLE_SECONDS",
            AlertConfig::DEFAULT_THROTTLE_SECONDS,
        )?;
        if throttle_seconds == 0 {
            return Err(invalid("ALERT_THROTTLE_SECONDS", "must be greater than 0"));
        }
        let sweep_seconds = parse_or_from(
            lookup,
            "ALERT_SWEEP_SECONDS",
            AlertConfig::DEFAULT_SWEEP_SECONDS,
        )?;
        Ok(AlertConfig {
            smtp_url,
            from,
            throttle_window: Duration::from_secs(throttle_seconds),
            sweep_interval: (sweep_seconds > 0).then(|| Duration::from_secs(sweep_seconds)),
            queue_capacity: AlertConfig::DEFAULT_QUEUE_CAPACITY,
            smtp_timeout: AlertConfig::DEFAULT_SMTP_TIMEOUT,
        })
    }

    /// Mails through `smtp_url` with the defaults otherwise; for tests and tools.
    pub fn with_smtp_url(smtp_url: impl Into<String>) -> AlertConfig {
        AlertConfig {
            smtp_url: Some(SecretString::from(smtp_url.into())),
            ..AlertConfig::log_only()
        }
    }

    /// No SMTP: alerts are only logged.
    pub fn log_only() -> AlertConfig {
        AlertConfig {
            smtp_url: None,
            // A constant that `Address::new` accepts (the tests check it).
            from: Mailbox::new(None, lettre::Address::new_dangerous("alerts", "localhost")),
            throttle_window: Duration::from_secs(AlertConfig::DEFAULT_THROTTLE_SECONDS),
            sweep_interval: Some(Duration::from_secs(AlertConfig::DEFAULT_SWEEP_SECONDS)),
            queue_capacity: AlertConfig::DEFAULT_QUEUE_CAPACITY,
            smtp_timeout: AlertConfig::DEFAULT_SMTP_TIMEOUT,
        }
    }
}

fn invalid(name: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Refuses what lettre would refuse at start, without repeating the value (it may hold a
/// password) in the message.
fn check_smtp_url(url: &str) -> Result<(), ConfigError> {
    use lettre::{AsyncSmtpTransport, Tokio1Executor};
    if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
        return Err(invalid("SMTP_URL", "must start with smtp:// or smtps://"));
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(|_| ())
        .map_err(|_| {
            invalid(
                "SMTP_URL",
                "is not a valid SMTP URL (smtp://host:port, smtps://host:port or \
                 smtp://host:port?tls=required|opportunistic)",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_log_only() -> Result<(), ConfigError> {
        let config = AlertConfig::from_lookup(&vars(&[]))?;
        assert!(config.smtp_url.is_none());
        assert_eq!(config.from.to_string(), "alerts@localhost");
        assert_eq!(config.throttle_window, Duration::from_secs(900));
        assert_eq!(config.sweep_interval, Some(Duration::from_secs(60)));
        Ok(())
    }

    #[test]
    fn the_built_in_sender_is_a_valid_address() {
        let built_in = AlertConfig::log_only().from;
        assert_eq!(built_in.to_string(), AlertConfig::DEFAULT_FROM);
        assert_eq!(
            Some(built_in.email),
            lettre::Address::new("alerts", "localhost").ok()
        );
    }

    #[test]
    fn reads_every_variable() -> Result<(), ConfigError> {
        let config = AlertConfig::from_lookup(&vars(&[
            ("SMTP_URL", "smtps://user:pw@mail.example.com:465"),
            ("ALERT_FROM", "Bot platform <ops@example.com>"),
            ("ALERT_THROTTLE_SECONDS", "60"),
            ("ALERT_SWEEP_SECONDS", "0"),
        ]))?;
        assert_eq!(
            config.smtp_url.as_ref().map(|url| url.expose().as_str()),
            Some("smtps://user:pw@mail.example.com:465")
        );
        assert_eq!(config.from.email.to_string(), "ops@example.com");
        assert_eq!(config.throttle_window, Duration::from_secs(60));
        assert_eq!(config.sweep_interval, None);
        // The password never shows in Debug.
        assert!(!format!("{config:?}").contains("pw@"));
        Ok(())
    }

    #[test]
    fn refuses_bad_values_without_echoing_them() {
        for (name, value) in [
            ("SMTP_URL", "http://user:hunter2@mail.example.com"),
            (
                "SMTP_URL",
                "smtp://user:hunter2@mail.example.com?tls=sometimes",
            ),
            ("ALERT_FROM", "not an address hunter2"),
            ("ALERT_THROTTLE_SECONDS", "0"),
            ("ALERT_THROTTLE_SECONDS", "soon"),
        ] {
            let error = AlertConfig::from_lookup(&vars(&[(name, value)]))
                .err()
                .unwrap_or_else(|| panic!("{name}={value} was accepted"));
            assert_eq!(error.name(), name);
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
    }
}
