//! Test-only helpers: isolated broker vhosts (and databases) per test, and a recording SMTP
//! server.

pub mod database;
pub mod smtp;
pub mod snapshot;
pub mod vhost;
