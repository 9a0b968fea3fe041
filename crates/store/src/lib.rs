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
pub mod prepared;
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
use diesel_async::pooled_connection::deadpool::{Hook, HookError, Object, Pool};
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
        Ok(Store {
            pool: pool(options)?,
        })
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

/// The platform's connection pool, as every service's [`Store`] uses it; the benchmarks'
/// floors build theirs here too, so that a floor pays what a service pays per checkout.
pub fn pool(options: &StoreOptions) -> Result<Pool<AsyncPgConnection>, StoreError> {
    // Checkout verifies a connection with `SELECT 1` only when it has not been checked out
    // for `VERIFY_IDLE_AFTER` (diesel-async's default, `Verified`, does it every time: one
    // of the executor turn's five round trips, one of every other statement's two). A
    // connection in steady use has just answered; one that sat idle is the kind a restart,
    // a firewall or an idle timeout can have dropped without a word, and is verified within
    // the recycle timeout or replaced. Every checkout still refuses a connection whose
    // socket is closed or whose transaction state is broken (diesel-async's `is_broken`).
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        options.url.clone(),
        config,
    );
    let verify_within = options.connect_timeout;
    Pool::builder(manager)
        .max_size(options.max_connections.max(1))
        .wait_timeout(Some(options.connect_timeout))
        .create_timeout(Some(options.connect_timeout))
        .recycle_timeout(Some(options.connect_timeout))
        .pre_recycle(Hook::async_fn(move |conn, metrics| {
            Box::pin(verify_if_idle(conn, metrics.last_used(), verify_within))
        }))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|err| StoreError::Unavailable(err.to_string()))
}

/// A pooled connection unused for longer than this is verified at checkout.
const VERIFY_IDLE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The pool's checkout check (see [`pool`]): a test query for a
/// connection idle for `VERIFY_IDLE_AFTER` or more, answered within `within`, else the
/// connection is dropped and the pool takes or makes another.
async fn verify_if_idle(
    conn: &mut AsyncPgConnection,
    idle: std::time::Duration,
    within: std::time::Duration,
) -> Result<(), HookError> {
    use diesel_async::RunQueryDsl;
    if idle < VERIFY_IDLE_AFTER {
        return Ok(());
    }
    match tokio::time::timeout(within, diesel::sql_query("SELECT 1").execute(conn)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(HookError::Message(format!("idle connection: {err}").into())),
        Err(_) => Err(HookError::Message(
            "idle connection: no answer to the test query".into(),
        )),
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
