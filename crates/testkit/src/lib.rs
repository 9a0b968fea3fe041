//! Test-only helpers: isolated broker vhosts (and databases) per test.

pub mod database;
pub mod vhost;
