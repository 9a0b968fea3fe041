//! The one error type of the broker crate.

use lapin::protocol::AMQPErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The configuration cannot work (bad URL, name too long for AMQP, ...).
    #[error("invalid broker configuration: {0}")]
    Config(String),
    /// An argument cannot be sent over AMQP (for example a name longer than 255 bytes).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// There is no usable connection right now (the broker is down or a reconnect is under
    /// way); retrying after the reconnect can succeed.
    #[error("not connected to the broker")]
    NotConnected,
    /// The wait for a connection, a confirm or a retry ran past its deadline.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The broker refused the message (`basic.nack`): it did not take responsibility for it.
    #[error("the broker did not accept the message (nack)")]
    Nacked,
    /// A mandatory message matched no queue and was returned.
    #[error("unroutable message returned by the broker: {reply_code} {reply_text}")]
    Unroutable { reply_code: u16, reply_text: String },
    /// The broker itself is being shut down by its owner.
    #[error("the broker handle was closed")]
    Closed,
    #[error("AMQP error: {0}")]
    Amqp(#[from] lapin::Error),
}

impl BrokerError {
    /// Whether the same operation can succeed after a reconnect: the connection or channel
    /// went away, or the broker refused under pressure. Refusals that will repeat (unknown
    /// exchange, access refused, unroutable, bad arguments) are not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            BrokerError::NotConnected | BrokerError::Timeout(_) | BrokerError::Nacked => true,
            BrokerError::Config(_)
            | BrokerError::Invalid(_)
            | BrokerError::Unroutable { .. }
            | BrokerError::Closed => false,
            BrokerError::Amqp(error) => is_transient_amqp(error),
        }
    }
}

fn is_transient_amqp(error: &lapin::Error) -> bool {
    use lapin::ErrorKind;
    match error.kind() {
        // The broker closed the channel for a reason that will happen again.
        ErrorKind::ProtocolError(amqp) => matches!(amqp.kind(), AMQPErrorKind::Hard(_)),
        ErrorKind::InvalidChannel(_)
        | ErrorKind::InvalidChannelState(..)
        | ErrorKind::InvalidConnectionState(_)
        | ErrorKind::IOError(_)
        | ErrorKind::MissingHeartbeatError => true,
        _ => false,
    }
}

/// Short AMQP strings (names, routing keys, ids) are at most 255 bytes; lapin would panic on
/// a longer one, so check first.
pub(crate) fn short(
    value: &str,
    what: &'static str,
) -> Result<lapin::types::ShortString, BrokerError> {
    lapin::types::ShortString::try_new(value)
        .map_err(|_| BrokerError::Invalid(format!("{what} is longer than 255 bytes")))
}
