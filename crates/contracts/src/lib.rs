//! Contracts shared between services: validated identifiers, and (versioned, with their JSON
//! Schema committed under `proto/v1/`) the messages that cross the broker. No I/O here.

pub mod edge;
pub mod ids;
pub mod phone;
pub mod v1;

pub use ids::{AccountId, BotId, IdError, IntegrationId, TokenId};
pub use phone::{PhoneNumber, PhoneNumberError};
