//! Error e-mail alerts: failed sends after retries, token failures, bot execution errors and
//! bursts of bad webhook signatures, mailed over SMTP to the address in the integration's
//! settings.
//!
//! Throttled per integration and kind with state in PostgreSQL, shared by every replica of
//! every service: the first alert of a kind is mailed at once, the next ones within the window
//! are only counted, and the next mail says how many more there were since when. An outage
//! sends a handful of mails, not thousands. See `docs/alerts.md`.
//!
//! ```no_run
//! # async fn example(
//! #     store: store::Store,
//! #     id: contracts::IntegrationId,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use alerts::{Alert, AlertConfig, AlertKind, Alerter};
//! let alerter = Alerter::start(store, AlertConfig::from_env()?)?;
//! alerter
//!     .raise(Alert::new(
//!         id,
//!         AlertKind::SendFailed,
//!         "Sending to +49… failed after 5 attempts",
//!         "Graph API error 131026",
//!     ))
//!     .await;
//! # Ok(()) }
//! ```

mod alerter;
pub mod bursts;
mod config;
mod kind;
mod mail;

pub use alerter::{AlertError, Alerter};
pub use bursts::BurstDetector;
pub use config::AlertConfig;
pub use kind::{Alert, AlertKind};
