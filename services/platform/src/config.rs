//! The platform's configuration: each service's own configuration, read from the same
//! environment. Services use distinct variable prefixes (`ADMIN_PORT`, ...), so one
//! environment configures all of them, exactly as it would configure separate processes.

use config::{ConfigError, Lookup};

/// Everything `start` needs: one field per service.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub admin: admin::AdminConfig,
}

impl PlatformConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&config::env_lookup)
    }

    /// Reads every service's configuration; the first invalid variable stops the start.
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            admin: admin::AdminConfig::from_lookup(lookup)?,
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
    }

    #[test]
    fn a_missing_variable_is_named() {
        let error = PlatformConfig::from_lookup(&vars(&[("DEPLOYMENT_KEY", KEY_B64)])).unwrap_err();
        assert_eq!(error.name(), "DATABASE_URL");
    }
}
