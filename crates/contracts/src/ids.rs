//! Validated identifiers. The edges (HTTP paths, broker messages) parse raw input into these so
//! that the core never handles a raw, possibly negative or non-numeric id.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be a positive integer")]
pub struct IdError {
    pub kind: &'static str,
}

macro_rules! positive_id {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            schemars::JsonSchema,
        )]
        #[serde(try_from = "i64", into = "i64")]
        #[schemars(extend("minimum" = 1))]
        pub struct $name(i64);

        impl TryFrom<i64> for $name {
            type Error = IdError;
            fn try_from(raw: i64) -> Result<Self, IdError> {
                Self::new(raw)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl $name {
            pub const LABEL: &'static str = $label;

            pub fn new(raw: i64) -> Result<Self, IdError> {
                if raw > 0 {
                    Ok(Self(raw))
                } else {
                    Err(IdError { kind: $label })
                }
            }

            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let raw: i64 = s.parse().map_err(|_| IdError { kind: $label })?;
                Self::new(raw)
            }
        }
    };
}

positive_id!(
    /// A tenant.
    AccountId,
    "account id"
);
positive_id!(
    /// A bot (its draft and all its published versions).
    BotId,
    "bot id"
);
positive_id!(
    /// An integration of either kind; the number in the manual's URLs.
    IntegrationId,
    "integration id"
);
positive_id!(
    /// An operator token (not the secret itself).
    TokenId,
    "token id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_positive_ids_only() {
        assert_eq!(
            "31".parse::<IntegrationId>().map(IntegrationId::get),
            Ok(31)
        );
        assert!("0".parse::<IntegrationId>().is_err());
        assert!("-4".parse::<BotId>().is_err());
        assert!("abc".parse::<AccountId>().is_err());
        assert!("9999999999999999999999".parse::<BotId>().is_err());
        let err = "x".parse::<BotId>().unwrap_err();
        assert_eq!(err.to_string(), "bot id must be a positive integer");
    }

    #[test]
    fn serialises_as_a_bare_number() {
        let id = BotId::new(7).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "7");
        assert_eq!(serde_json::from_str::<BotId>("7").unwrap(), id);
        assert!(serde_json::from_str::<BotId>("-1").is_err());
    }
}
