use std::str::FromStr;

use crypto::SecretString;

use crate::error::ConfigError;

/// Where values come from: the process environment in services, a map in tests.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment. A value that is not valid Unicode is converted lossily, so it
/// fails validation instead of looking unset.
pub fn env_lookup(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

/// The trimmed value of `name`; unset and empty are errors.
pub fn required(name: &str) -> Result<String, ConfigError> {
    required_from(&env_lookup, name)
}

/// The trimmed value of `name`, or `None` when unset or empty.
pub fn optional(name: &str) -> Option<String> {
    optional_from(&env_lookup, name)
}

/// `name` parsed as `T`, or `default` when unset or empty.
pub fn parse_or<T: FromStr>(name: &str, default: T) -> Result<T, ConfigError> {
    parse_or_from(&env_lookup, name, default)
}

/// A required secret value; error messages never contain it.
pub fn secret(name: &str) -> Result<SecretString, ConfigError> {
    secret_from(&env_lookup, name)
}

pub fn required_from(lookup: Lookup<'_>, name: &str) -> Result<String, ConfigError> {
    let value = lookup(name).ok_or_else(|| ConfigError::Missing {
        name: name.to_owned(),
    })?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ConfigError::Empty {
            name: name.to_owned(),
        });
    }
    Ok(trimmed.to_owned())
}

pub fn optional_from(lookup: Lookup<'_>, name: &str) -> Option<String> {
    lookup(name)
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

pub fn parse_or_from<T: FromStr>(
    lookup: Lookup<'_>,
    name: &str,
    default: T,
) -> Result<T, ConfigError> {
    match optional_from(lookup, name) {
        None => Ok(default),
        // The parse error is not shown: for some types its message repeats the input.
        Some(value) => value.parse().map_err(|_| {
            ConfigError::invalid(
                name,
                format!("cannot be parsed as {}", friendly_type_name::<T>()),
            )
        }),
    }
}

pub fn secret_from(lookup: Lookup<'_>, name: &str) -> Result<SecretString, ConfigError> {
    required_from(lookup, name).map(SecretString::from)
}

fn friendly_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    match full {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "bool" => "true or false",
        _ => full.rsplit("::").next().unwrap_or(full),
    }
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
    fn required_distinguishes_missing_and_empty() {
        let lookup = vars(&[("SET", "  value \n"), ("BLANK", "  ")]);
        assert_eq!(required_from(&lookup, "SET").unwrap(), "value");
        assert_eq!(
            required_from(&lookup, "BLANK"),
            Err(ConfigError::Empty {
                name: "BLANK".into()
            })
        );
        let missing = required_from(&lookup, "UNSET").unwrap_err();
        assert_eq!(missing.name(), "UNSET");
        assert_eq!(
            missing.to_string(),
            "environment variable UNSET is required but not set"
        );
    }

    #[test]
    fn optional_treats_empty_as_unset() {
        let lookup = vars(&[("SET", "x"), ("BLANK", "")]);
        assert_eq!(optional_from(&lookup, "SET").as_deref(), Some("x"));
        assert_eq!(optional_from(&lookup, "BLANK"), None);
        assert_eq!(optional_from(&lookup, "UNSET"), None);
    }

    #[test]
    fn parse_or_uses_the_default_and_reports_bad_values() {
        let lookup = vars(&[
            ("N", " 42 "),
            ("BAD", "forty-two"),
            ("NEG", "-1"),
            ("B", "true"),
        ]);
        assert_eq!(parse_or_from(&lookup, "N", 7u32), Ok(42));
        assert_eq!(parse_or_from(&lookup, "UNSET", 7u32), Ok(7));
        assert_eq!(parse_or_from(&lookup, "B", false), Ok(true));
        let error = parse_or_from(&lookup, "BAD", 7u32).unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable BAD is invalid: cannot be parsed as a non-negative integer"
        );
        assert!(parse_or_from(&lookup, "NEG", 7usize).is_err());
        assert_eq!(parse_or_from(&lookup, "NEG", 7i64), Ok(-1));
    }

    #[test]
    fn secret_errors_never_echo_the_value() {
        let lookup = vars(&[("TOKEN", "s3cr3t-value")]);
        let token = secret_from(&lookup, "TOKEN").unwrap();
        assert_eq!(token.expose(), "s3cr3t-value");
        assert!(!format!("{token:?}").contains("s3cr3t"));
        assert!(matches!(
            secret_from(&lookup, "OTHER"),
            Err(ConfigError::Missing { .. })
        ));
    }

    #[test]
    fn process_environment_is_read() {
        // PATH is set for every test process; reading is safe in parallel, writing is not.
        assert!(required("PATH").is_ok());
        assert!(optional("PATH").is_some());
        let unset = "CONFIG_CRATE_TEST_VARIABLE_THAT_IS_NEVER_SET";
        assert!(matches!(required(unset), Err(ConfigError::Missing { .. })));
        assert_eq!(parse_or(unset, 3u8), Ok(3));
        assert!(secret(unset).is_err());
    }
}
