//! RabbitMQ for the platform: one self-healing connection per process, the topology declared
//! in one place, a confirming publisher, a manual-ack consumer, and trace context carried in
//! message headers. See `docs/messaging.md` for the topology and the delivery guarantees.

mod config;
mod connection;
mod consumer;
pub mod dead_letter;
mod error;
mod publisher;
pub mod topology;
pub mod trace;

pub use config::BrokerConfig;
pub use connection::Broker;
pub use consumer::{Ack, ConsumeOptions, Delivery, LaneKey};
pub use error::BrokerError;
pub use publisher::{PublishOptions, Publisher};
pub use topology::Topology;

/// Header tables and values as lapin spells them, for `PublishOptions::headers` and
/// `Delivery::headers`.
pub use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
