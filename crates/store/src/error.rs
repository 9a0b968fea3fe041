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
    /// Someone else changed the row in between (optimistic concurrency).
    #[error("the object changed concurrently; retry")]
    Concurrent,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(DieselError),
}

impl StoreError {
    /// The name of the constraint a conflict broke, if this is one.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            StoreError::Conflict { constraint } => Some(constraint.as_str()),
            _ => None,
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
                | DatabaseErrorKind::CheckViolation),
                info,
            ) => StoreError::Conflict {
                constraint: info
                    .constraint_name()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{kind:?}")),
            },
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            other => StoreError::Database(other),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for StoreError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}
