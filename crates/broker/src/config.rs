//! How to reach the broker and how patiently to reconnect.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use lapin::uri::AMQPUri;

use crate::error::BrokerError;

#[derive(Clone)]
pub struct BrokerConfig {
    /// `amqp://user:password@host:port/<url-encoded vhost>`; query parameters such as
    /// `heartbeat` are honoured.
    pub url: String,
    /// Shown in the management UI; one per service, e.g. `flow-executor`.
    pub connection_name: String,
    /// Default prefetch (unacked deliveries in flight) for consumers that do not set their own.
    pub prefetch: u16,
    /// First wait before a reconnect attempt; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Bound on one connection attempt (TCP + AMQP handshake + topology declaration).
    pub connect_timeout: Duration,
    /// Heartbeat interval asked of the broker when the URL does not say; a silent peer is
    /// detected after about two intervals.
    pub heartbeat: Duration,
}

impl BrokerConfig {
    pub fn new(url: impl Into<String>, connection_name: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connection_name: connection_name.into(),
            ..Self::default()
        }
    }

    pub(crate) fn amqp_uri(&self) -> Result<AMQPUri, BrokerError> {
        let mut uri = AMQPUri::from_str(&self.url)
            // The parser's message can echo the URL, password included: do not repeat it.
            .map_err(|_| BrokerError::Config("the broker URL cannot be parsed".into()))?;
        if uri.query.heartbeat.is_none() {
            let seconds = u16::try_from(self.heartbeat.as_secs()).unwrap_or(u16::MAX);
            uri.query.heartbeat = Some(seconds);
        }
        Ok(uri)
    }

    pub(crate) fn validate(&self) -> Result<(), BrokerError> {
        self.amqp_uri()?;
        if self.prefetch == 0 {
            return Err(BrokerError::Config("prefetch must be at least 1".into()));
        }
        if self.reconnect_min.is_zero() || self.reconnect_max < self.reconnect_min {
            return Err(BrokerError::Config(
                "reconnect backoff needs 0 < reconnect_min <= reconnect_max".into(),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for BrokerConfig {
    /// The URL carries the password: print it masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerConfig")
            .field("url", &redact_password(&self.url))
            .field("connection_name", &self.connection_name)
            .field("prefetch", &self.prefetch)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("connect_timeout", &self.connect_timeout)
            .field("heartbeat", &self.heartbeat)
            .finish()
    }
}

/// `amqp://user:secret@host/v` -> `amqp://user:***@host/v`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            connection_name: "chatbot-platform".into(),
            prefetch: 32,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            heartbeat: Duration::from_secs(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_heartbeat_is_added_unless_the_url_sets_one() {
        let config = BrokerConfig::new("amqp://u:p@h:5672/v", "t");
        assert_eq!(
            config.amqp_uri().ok().and_then(|u| u.query.heartbeat),
            Some(10)
        );
        let config = BrokerConfig::new("amqp://u:p@h:5672/v?heartbeat=3", "t");
        assert_eq!(
            config.amqp_uri().ok().and_then(|u| u.query.heartbeat),
            Some(3)
        );
    }

    #[test]
    fn debug_output_masks_the_password() {
        let config = BrokerConfig::new("amqp://bot:s3cret@rabbit:5672/prod", "t");
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(
            printed.contains("amqp://bot:***@rabbit:5672/prod"),
            "{printed}"
        );
    }

    #[test]
    fn rejects_unusable_settings_without_echoing_the_url() {
        let bad = BrokerConfig::new("http://secret@nowhere", "t");
        let message = bad
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("cannot be parsed"), "{message}");
        assert!(!message.contains("secret"));
        let zero = BrokerConfig {
            prefetch: 0,
            ..BrokerConfig::default()
        };
        assert!(zero.validate().is_err());
    }
}
