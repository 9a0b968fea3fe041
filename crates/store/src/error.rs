//! The persistence layer's errors, classified once, here, at the edge of the store: every
//! caller asks [`StoreError::class`] whether a failure is worth retrying instead of guessing
//! from the variant.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Errors of the persistence layer. Services map these to HTTP in one place.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique, foreign-key or check constraint refused the change; `constraint` names it so
    /// that the caller can say which rule was broken.
    #[error("conflict with constraint {constraint}")]
    Conflict { constraint: String },
    /// A domain rule refused the change (for example `bot_not_published`); the code is stable
    /// and meant for the caller's error mapping.
    #[error("rule violated: {0}")]
    Rule(&'static str),
    /// Someone else changed the row in between (optimistic concurrency), or the database
    /// resolved contention by failing us: a serialisation failure, a deadlock, a lock or
    /// statement timeout. Retrying soon usually succeeds.
    #[error("the object changed concurrently; retry")]
    Concurrent,
    /// The database cannot be reached or is restarting: connection loss, an exhausted or
    /// broken pool, a server shutting down.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The data itself cannot be stored (a NUL character, an invalid escape, a value out of
    /// range, a missing required value): no retry can fix it.
    #[error("the database refused the data: {0}")]
    Invalid(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Anything else the database said. Not known to be transient: retried a bounded number
    /// of times at most, then treated as permanent ([`FailureClass::Unknown`]).
    #[error("database error: {0}")]
    Database(DieselError),
}

/// What a caller should do about a store failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Retry (bounded): the same operation is expected to succeed once the database is back
    /// or the contention is gone.
    Transient,
    /// Do not retry: the same operation fails the same way every time.
    Permanent,
    /// Not recognised: retry a few times at most, then give up as if permanent.
    Unknown,
}

impl StoreError {
    /// The name of the constraint a conflict broke, if this is one.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            StoreError::Conflict { constraint } => Some(constraint.as_str()),
            _ => None,
        }
    }

    /// Whether retrying can help. A `Conflict` is permanent for the operation that caused
    /// it; callers that know a conflict can come from a race (two writers creating the same
    /// row) decide otherwise for themselves.
    pub fn class(&self) -> FailureClass {
        match self {
            StoreError::Unavailable(_) | StoreError::Concurrent => FailureClass::Transient,
            StoreError::NotFound
            | StoreError::Conflict { .. }
            | StoreError::Rule(_)
            | StoreError::Invalid(_)
            | StoreError::Migration(_)
            | StoreError::Corrupt(_) => FailureClass::Permanent,
            StoreError::Database(_) => FailureClass::Unknown,
        }
    }
}

impl From<DieselError> for StoreError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(
                kind @ (DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::CheckViolation
                | DatabaseErrorKind::ExclusionViolation
                | DatabaseErrorKind::RestrictViolation),
                info,
            ) => StoreError::Conflict {
                constraint: info
                    .constraint_name()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{kind:?}")),
            },
            DieselError::DatabaseError(DatabaseErrorKind::NotNullViolation, info) => {
                StoreError::Invalid(info.message().to_owned())
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StoreError::Unavailable(info.message().to_owned()),
            DieselError::DatabaseError(
                DatabaseErrorKind::SerializationFailure | DatabaseErrorKind::ReadOnlyTransaction,
                _,
            ) => StoreError::Concurrent,
            DieselError::DatabaseError(kind, info) => match classify_message(info.message()) {
                Some(MessageClass::Contention) => StoreError::Concurrent,
                Some(MessageClass::Unavailable) => {
                    StoreError::Unavailable(info.message().to_owned())
                }
                Some(MessageClass::Invalid) => StoreError::Invalid(info.message().to_owned()),
                None => StoreError::Database(DieselError::DatabaseError(kind, info)),
            },
            DieselError::SerializationError(error) => StoreError::Invalid(error.to_string()),
            DieselError::BrokenTransactionManager => {
                StoreError::Unavailable("the connection's transaction state is broken".into())
            }
            other => StoreError::Database(other),
        }
    }
}

enum MessageClass {
    Contention,
    Unavailable,
    Invalid,
}

/// diesel-async keeps PostgreSQL's SQLSTATE for a handful of kinds only and passes the rest as
/// `Unknown` with the server's message, so the remaining classes are told apart by the
/// message (PostgreSQL's English texts, stable across versions). A server configured with
/// translated messages (`lc_messages`) falls through to `Database`, which callers retry a
/// bounded number of times and then treat as permanent: safe, only slower to give up.
fn classify_message(message: &str) -> Option<MessageClass> {
    const CONTENTION: &[&str] = &[
        "deadlock detected",                                 // 40P01
        "due to lock timeout",                               // 55P03
        "could not obtain lock",                             // 55P03
        "due to statement timeout",                          // 57014
        "could not serialize access",                        // 40001
        "canceling statement due to conflict with recovery", // 40001 on a standby
    ];
    const UNAVAILABLE: &[&str] = &[
        "terminating connection", // 57P01, 57P02, 57P05
        "the database system is", // 57P03: starting up, shutting down, in recovery
        "server closed the connection",
        "connection",           // 08xxx: connection_exception and friends
        "too many clients",     // 53300
        "out of shared memory", // 53200
        "cannot execute",       // 25006 read-only transaction after a failover
    ];
    const INVALID: &[&str] = &[
        "unsupported unicode escape sequence", // 22P05
        "invalid byte sequence",               // 22021
        "invalid input syntax",                // 22P02
        "out of range",                        // 22003, 22008
        "value too long",                      // 22001
        "invalid escape",                      // 22025
        "cannot be represented",               // 22P05 untranslatable character
        "string too long",                     // 54000
        "exceeds the maximum",                 // 54000: jsonb and array size limits
        "invalid regular expression",          // 2201B
        "null value in column",                // 23502
        "division by zero",                    // 22012
    ];
    let message = message.to_ascii_lowercase();
    let matches = |needles: &[&str]| needles.iter().any(|n| message.contains(n));
    if matches(CONTENTION) {
        Some(MessageClass::Contention)
    } else if matches(INVALID) {
        Some(MessageClass::Invalid)
    } else if matches(UNAVAILABLE) {
        Some(MessageClass::Unavailable)
    } else {
        None
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for StoreError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_classified() {
        let class = |m: &str| match classify_message(m) {
            Some(MessageClass::Contention) => "contention",
            Some(MessageClass::Unavailable) => "unavailable",
            Some(MessageClass::Invalid) => "invalid",
            None => "unknown",
        };
        assert_eq!(class("deadlock detected"), "contention");
        assert_eq!(
            class("canceling statement due to lock timeout"),
            "contention"
        );
        assert_eq!(class("unsupported Unicode escape sequence"), "invalid");
        assert_eq!(
            class("invalid byte sequence for encoding \"UTF8\": 0x00"),
            "invalid"
        );
        assert_eq!(
            class("value \"99999999999\" is out of range for type integer"),
            "invalid"
        );
        assert_eq!(
            class("terminating connection due to administrator command"),
            "unavailable"
        );
        assert_eq!(class("the database system is starting up"), "unavailable");
        assert_eq!(class("something nobody has seen"), "unknown");
    }

    #[test]
    fn classes_of_variants() {
        assert_eq!(StoreError::Concurrent.class(), FailureClass::Transient);
        assert_eq!(
            StoreError::Unavailable("x".into()).class(),
            FailureClass::Transient
        );
        assert_eq!(
            StoreError::Invalid("x".into()).class(),
            FailureClass::Permanent
        );
        assert_eq!(
            StoreError::Database(DieselError::RollbackTransaction).class(),
            FailureClass::Unknown
        );
    }
}
