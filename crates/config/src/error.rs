use thiserror::Error;

/// A configuration problem, naming the variable. Never contains the variable's value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {name} is required but not set")]
    Missing { name: String },
    #[error("environment variable {name} is set but empty")]
    Empty { name: String },
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: String, reason: String },
}

impl ConfigError {
    /// The variable at fault.
    pub fn name(&self) -> &str {
        match self {
            Self::Missing { name } | Self::Empty { name } | Self::Invalid { name, .. } => name,
        }
    }

    pub(crate) fn invalid(name: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}
