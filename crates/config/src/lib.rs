//! Typed configuration read from environment variables once, at start, and validated there so
//! that a bad value stops the service with a message naming the variable.
//!
//! Every reader has a `*_from` / `from_lookup` form taking a lookup function instead of the
//! process environment, so tests can run in parallel without touching global state;
//! `from_env` passes the real environment.

mod error;
mod lookup;
mod sections;

pub use error::ConfigError;
pub use lookup::{
    env_lookup, optional, optional_from, parse_or, parse_or_from, required, required_from, secret,
    secret_from, Lookup,
};
pub use sections::{deployment_key, deployment_key_from, BrokerConfig, DatabaseConfig, HttpConfig};
