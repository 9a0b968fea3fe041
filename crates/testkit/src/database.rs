//! A fresh PostgreSQL database per test, dropped when the test ends, so that tests run in
//! parallel against the real server without seeing each other's rows.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// The server tests use; override with `TEST_DATABASE_URL` (a URL of any database on it).
fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("test database: {0}")]
pub struct TestDatabaseError(String);

/// An empty database named `t_<uuid>`; dropped (with `FORCE`, closing leftover connections) when
/// this value is dropped.
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    pub async fn create() -> Result<TestDatabase, TestDatabaseError> {
        Self::create_on(&server_url()).await
    }

    /// As `create`, on the server of `admin_url` (a URL of any database on it) instead of the
    /// configured one: a test that runs a PostgreSQL of its own.
    pub async fn create_on(admin_url: &str) -> Result<TestDatabase, TestDatabaseError> {
        let admin_url = admin_url.to_owned();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = AsyncPgConnection::establish(&admin_url)
            .await
            .map_err(|err| TestDatabaseError(err.to_string()))?;
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .map_err(|err| TestDatabaseError(err.to_string()))?;
        Ok(TestDatabase {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        })
    }

    /// A URL to this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be shutting down: use a thread with a
        // runtime of its own and wait for it, so the database is gone when the test returns.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut conn) = AsyncPgConnection::establish(&admin_url).await {
                    let _ = diesel::sql_query(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    ))
                    .execute(&mut conn)
                    .await;
                }
            });
        });
        let _ = dropper.join();
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t_1"),
            "postgres://postgres@127.0.0.1:5432/t_1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t_2"),
            "postgres://u:p@h/t_2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t_3"),
            "postgres://h:5432/t_3"
        );
    }
}
