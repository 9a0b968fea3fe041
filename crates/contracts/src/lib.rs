//! Contracts shared between services: validated identifiers, and (versioned under `proto/v1/`)
//! the messages that cross the broker.

pub mod ids;
pub mod phone;

pub use ids::{AccountId, BotId, IdError, IntegrationId, TokenId};
pub use phone::{PhoneNumber, PhoneNumberError};
