//! PostgreSQL persistence for the platform.
//!
//! `Store` owns a diesel-async + deadpool pool. Migrations are embedded in the binary and run at
//! start-up (`Store::connect`). Each aggregate has its own module with an `impl Store` block;
//! every query on an account's object takes the `AccountId`, so that another account's object
//! is indistinguishable from a missing one.

mod error;
#[doc(hidden)]
pub mod schema;

pub mod accounts;
pub mod activity;
pub mod alerts;
pub mod bots;
pub mod dead_letters;
pub mod idempotency;
pub mod integrations;
pub mod keys;
pub mod rate_limits;
pub mod sandbox;
pub mod saved_scenarios;
pub mod sender;
pub mod shard_leases;
pub mod test_runs;
pub mod transcripts;
pub mod turns;
pub mod whatsapp;

use std::time::Duration;

use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub use error::{FailureClass, StoreError};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Connection options; services build them from `config::DatabaseConfig`.
#[derive(Clone)]
pub struct StoreOptions {
    /// A `postgres://` URL. Kept out of `Debug` because it may hold a password.
    pub url: String,
    pub max_connections: usize,
    /// How long a caller waits for a free connection, and for a new one to be made.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("url", &"[redacted]")
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl From<&config::DatabaseConfig> for StoreOptions {
    fn from(database: &config::DatabaseConfig) -> Self {
        StoreOptions {
            url: database.url.expose().clone(),
            max_connections: database.max_connections,
            connect_timeout: database.connect_timeout,
        }
    }
}

/// The handle every service uses to reach PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool<AsyncPgConnection>,
}

pub(crate) type Conn = Object<AsyncPgConnection>;

impl Store {
    /// Runs pending migrations, then builds the pool. Fails if the database cannot be reached.
    pub async fn connect(options: &StoreOptions) -> Result<Self, StoreError> {
        run_migrations(&options.url).await?;
        Self::connect_without_migrations(options)
    }

    /// Builds the pool only; connections are made lazily. For services that must start (and
    /// report "not ready") while the database is away.
    pub fn connect_without_migrations(options: &StoreOptions) -> Result<Self, StoreError> {
        // No `SELECT 1` on every checkout (diesel-async's default, `Verified`): it was one of
        // the executor turn's five round trips, and one of every other statement's two. A
        // checkout still refuses a connection whose socket is closed or whose transaction
        // state is broken (`is_broken`), which is what a PostgreSQL restart leaves behind; a
        // connection that dies unnoticed fails its first statement as `Unavailable`, which every
        // caller already treats as an outage (waited out, no attempt used up).
        let mut config = ManagerConfig::default();
        config.recycling_method = RecyclingMethod::Fast;
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
            options.url.clone(),
            config,
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|err| StoreError::Unavailable(err.to_string()))?;
        Ok(Store { pool })
    }

    pub(crate) async fn conn(&self) -> Result<Conn, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// Readiness probe: a connection can be checked out and answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        use diesel_async::RunQueryDsl;
        let mut conn = self.conn().await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await?;
        Ok(())
    }
}

/// Applies every embedded migration not yet applied. Runs diesel's synchronous harness through
/// `AsyncConnectionWrapper` on a blocking thread: diesel-async's own harness uses
/// `block_in_place`, which panics on current-thread runtimes (tests, actix workers).
pub async fn run_migrations(url: &str) -> Result<(), StoreError> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        use diesel::RunQueryDsl;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(|err| StoreError::Unavailable(err.to_string()))?;
        // Services start side by side (docker compose): one migrates, the others wait here.
        diesel::sql_query("SELECT pg_advisory_lock(7243001)")
            .execute(&mut conn)
            .map_err(|err| StoreError::Migration(err.to_string()))?;
        let result = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|applied| {
                for version in applied {
                    tracing::info!(%version, "applied migration");
                }
            })
            .map_err(|err| StoreError::Migration(err.to_string()));
        let _ = diesel::sql_query("SELECT pg_advisory_unlock(7243001)").execute(&mut conn);
        result
    })
    .await
    .map_err(|err| StoreError::Migration(format!("migration task failed: {err}")))?
}
