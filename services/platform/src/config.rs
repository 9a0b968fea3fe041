//! The platform's configuration: each service's own configuration, read from the same
//! environment. Services use distinct variable prefixes (`ADMIN_PORT`, ...), so one
//! environment configures all of them, exactly as it would configure separate processes.

use config::{ConfigError, Lookup};

/// Everything `start` needs: one field per service.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub admin: admin::AdminConfig,
    pub executor: flow_executor::ExecutorConfig,
    pub gateway: api_gateway::GatewayConfig,
    pub ingress: whatsapp_ingress::IngressConfig,
    pub sender: sender::SenderConfig,
    /// `PLATFORM_META_EMULATOR=true`: also run the Meta emulator, and point the admin service
    /// and the sender at it unless `GRAPH_API_BASE_URL` says otherwise (local use, no Meta
    /// account needed).
    pub meta_emulator: Option<meta_emulator::EmulatorConfig>,
    /// The emulator runs and `GRAPH_API_BASE_URL` is unset: admin and sender use the emulator.
    pub graph_via_emulator: bool,
    /// `PLATFORM_DEMO` (default true): on a first start (no bot yet), leave the demo bot
    /// connected to an active API integration and print how to talk to it.
    pub demo: bool,
}

impl PlatformConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&config::env_lookup)
    }

    /// Reads every service's configuration; the first invalid variable stops the start.
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let emulator_on: bool = config::parse_or_from(lookup, "PLATFORM_META_EMULATOR", false)?;
        let meta_emulator = if emulator_on {
            Some(meta_emulator::EmulatorConfig::from_lookup(lookup)?)
        } else {
            None
        };
        let graph_via_emulator = meta_emulator.is_some()
            && config::optional_from(lookup, "GRAPH_API_BASE_URL").is_none();
        Ok(Self {
            admin: admin::AdminConfig::from_lookup(lookup)?,
            executor: flow_executor::ExecutorConfig::from_lookup(lookup)?,
            gateway: api_gateway::GatewayConfig::from_lookup(lookup)?,
            ingress: whatsapp_ingress::IngressConfig::from_lookup(lookup)?,
            sender: sender::SenderConfig::from_lookup(lookup)?,
            meta_emulator,
            graph_via_emulator,
            demo: config::parse_or_from(lookup, "PLATFORM_DEMO", true)?,
        })
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
    fn reads_each_service_from_the_shared_environment() {
        let lookup = vars(&[
            (
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/botplatform",
            ),
            ("DEPLOYMENT_KEY", KEY_B64),
            ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            ("ADMIN_HOST", "127.0.0.1"),
            ("ADMIN_PORT", "9090"),
        ]);
        let config = PlatformConfig::from_lookup(&lookup).unwrap();
        assert_eq!(config.admin.http.bind_address(), ("127.0.0.1", 9090));
        assert_eq!(
            config.admin.database.url.expose(),
            "postgres://postgres@127.0.0.1:5432/botplatform"
        );
        assert!(config.admin.bootstrap_token.is_none());
        assert_eq!(config.gateway.http.bind_address().1, 8081);
        assert!(config.meta_emulator.is_none() && !config.graph_via_emulator);
        assert!(config.demo);
    }

    #[test]
    fn a_missing_variable_is_named() {
        let error = PlatformConfig::from_lookup(&vars(&[("DEPLOYMENT_KEY", KEY_B64)])).unwrap_err();
        assert_eq!(error.name(), "DATABASE_URL");
    }
}
