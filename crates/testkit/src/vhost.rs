//! A fresh RabbitMQ virtual host per test, made and removed through the management HTTP API,
//! so that tests touching the broker run in parallel without seeing each other's queues.
//!
//! Environment overrides (defaults are the local development broker):
//! `RABBITMQ_MANAGEMENT_URL` (`http://127.0.0.1:15672`), `RABBITMQ_USER` / `RABBITMQ_PASSWORD`
//! (`guest` / `guest`), `RABBITMQ_AMQP_HOST` (`127.0.0.1`), `RABBITMQ_AMQP_PORT` (`5672`).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// How long to wait for the management API to list a connection that was just opened: its
/// view of connections lags the broker by up to a second or two.
const CONNECTION_LIST_PATIENCE: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum VhostError {
    #[error("management API request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("management API answered {status} to {what}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    #[error("timed out: {0}")]
    Timeout(String),
}

/// Where the broker and its management API are.
#[derive(Clone, Debug)]
pub struct RabbitEnv {
    pub management_url: String,
    pub user: String,
    pub password: String,
    pub amqp_host: String,
    pub amqp_port: u16,
}

impl RabbitEnv {
    pub fn from_env() -> Self {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
        Self {
            management_url: var("RABBITMQ_MANAGEMENT_URL", "http://127.0.0.1:15672")
                .trim_end_matches('/')
                .to_string(),
            user: var("RABBITMQ_USER", "guest"),
            password: var("RABBITMQ_PASSWORD", "guest"),
            amqp_host: var("RABBITMQ_AMQP_HOST", "127.0.0.1"),
            amqp_port: var("RABBITMQ_AMQP_PORT", "5672").parse().unwrap_or(5672),
        }
    }

    /// The AMQP URL of `vhost` with these credentials.
    pub fn amqp_url(&self, vhost: &str) -> String {
        format!(
            "amqp://{}:{}@{}:{}/{}",
            encode(&self.user),
            encode(&self.password),
            self.amqp_host,
            self.amqp_port,
            encode(vhost)
        )
    }
}

/// A uniquely named vhost (`t-<uuid>`) with full permissions for the configured user, deleted
/// again on drop (or earlier with [`TestVhost::cleanup`]).
pub struct TestVhost {
    name: String,
    env: RabbitEnv,
    client: reqwest::Client,
    /// Connections this vhost already closed, so that a later call to `close_connections` does
    /// not count a stale entry of the management API's lagging list as a live connection.
    closed: Mutex<HashSet<String>>,
    deleted: bool,
}

impl TestVhost {
    /// Creates the vhost; panics with the reason when the broker cannot be reached, since a
    /// test cannot go on without it.
    pub async fn create() -> TestVhost {
        Self::create_on(RabbitEnv::from_env()).await
    }

    pub async fn try_create() -> Result<TestVhost, VhostError> {
        Self::try_create_on(RabbitEnv::from_env()).await
    }

    /// As `create`, on the broker `env` names instead of the configured one: a test that runs
    /// a RabbitMQ node of its own.
    pub async fn create_on(env: RabbitEnv) -> TestVhost {
        match Self::try_create_on(env).await {
            Ok(vhost) => vhost,
            Err(error) => panic!("cannot create a RabbitMQ test vhost: {error}"),
        }
    }

    pub async fn try_create_on(env: RabbitEnv) -> Result<TestVhost, VhostError> {
        let client = management_client()?;
        let name = format!("t-{}", uuid::Uuid::new_v4());
        let vhost = TestVhost {
            name,
            env,
            client,
            closed: Mutex::new(HashSet::new()),
            deleted: false,
        };
        let url = format!(
            "{}/api/vhosts/{}",
            vhost.env.management_url,
            encode(&vhost.name)
        );
        let response = vhost.request(reqwest::Method::PUT, &url).send().await?;
        expect_success(response, "create vhost").await?;
        let url = format!(
            "{}/api/permissions/{}/{}",
            vhost.env.management_url,
            encode(&vhost.name),
            encode(&vhost.env.user)
        );
        let permissions = serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"});
        let response = vhost
            .request(reqwest::Method::PUT, &url)
            .json(&permissions)
            .send()
            .await?;
        expect_success(response, "grant permissions").await?;
        Ok(vhost)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `amqp://guest:guest@127.0.0.1:5672/<url-encoded vhost>` (or the overridden host).
    pub fn amqp_url(&self) -> String {
        self.env.amqp_url(&self.name)
    }

    /// Names of the connections the management API currently lists for this vhost.
    pub async fn connection_names(&self) -> Result<Vec<String>, VhostError> {
        list_connections(&self.client, &self.env, &self.name).await
    }

    /// The management API's description of a queue of this vhost (`type`, `arguments`,
    /// `durable`, ...). Its message counts lag; count over AMQP instead.
    pub async fn queue_info(&self, queue: &str) -> Result<serde_json::Value, VhostError> {
        let url = format!(
            "{}/api/queues/{}/{}",
            self.env.management_url,
            encode(&self.name),
            encode(queue)
        );
        let response = self.request(reqwest::Method::GET, &url).send().await?;
        let response = expect_success(response, "describe queue").await?;
        Ok(response.json().await?)
    }

    /// Force-closes every connection to this vhost, as an operator would in the management
    /// UI. Waits until at least `expect_at_least` connections not closed before by this
    /// vhost are listed (the list lags), then closes all of those. Returns how many it closed.
    pub async fn close_connections(&self, expect_at_least: usize) -> Result<usize, VhostError> {
        let deadline = Instant::now() + CONNECTION_LIST_PATIENCE;
        let fresh = loop {
            let listed = self.connection_names().await?;
            let fresh: Vec<String> = {
                let closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
                listed.into_iter().filter(|n| !closed.contains(n)).collect()
            };
            if fresh.len() >= expect_at_least {
                break fresh;
            }
            if Instant::now() >= deadline {
                return Err(VhostError::Timeout(format!(
                    "{} of {expect_at_least} connections listed for vhost {}",
                    fresh.len(),
                    self.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        for name in &fresh {
            close_connection(&self.client, &self.env, name).await?;
            self.closed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name.clone());
        }
        Ok(fresh.len())
    }

    /// Deletes the vhost now (all its queues and connections go with it).
    pub async fn cleanup(mut self) {
        self.deleted = true;
        let _ = delete_vhost(&self.client, &self.env, &self.name).await;
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .basic_auth(&self.env.user, Some(&self.env.password))
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        // Drop cannot await; run the delete on a thread of its own with its own small runtime
        // (blocking inside the caller's runtime would panic) and wait for it, so that the vhost
        // is gone before the test process exits.
        let env = self.env.clone();
        let name = self.name.clone();
        let worker = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(client) = management_client() {
                    let _ = delete_vhost(&client, &env, &name).await;
                }
            });
        });
        let _ = worker.join();
    }
}

/// Force-closes every connection the management API lists for `vhost` (at least
/// `expect_at_least` of them, waiting for the lagging list to show them). Returns how many.
pub async fn close_connections(vhost: &str, expect_at_least: usize) -> Result<usize, VhostError> {
    let env = RabbitEnv::from_env();
    let client = management_client()?;
    let deadline = Instant::now() + CONNECTION_LIST_PATIENCE;
    let names = loop {
        let names = list_connections(&client, &env, vhost).await?;
        if names.len() >= expect_at_least {
            break names;
        }
        if Instant::now() >= deadline {
            return Err(VhostError::Timeout(format!(
                "{} of {expect_at_least} connections listed for vhost {vhost}",
                names.len()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for name in &names {
        close_connection(&client, &env, name).await?;
    }
    Ok(names.len())
}

fn management_client() -> Result<reqwest::Client, VhostError> {
    // reqwest is built without a bundled crypto provider; it wants one installed even for
    // plain http. Installing twice is harmless (the second attempt just reports an error).
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?)
}

#[derive(Deserialize)]
struct ConnectionEntry {
    name: String,
}

async fn list_connections(
    client: &reqwest::Client,
    env: &RabbitEnv,
    vhost: &str,
) -> Result<Vec<String>, VhostError> {
    let url = format!(
        "{}/api/vhosts/{}/connections",
        env.management_url,
        encode(vhost)
    );
    let response = client
        .get(&url)
        .basic_auth(&env.user, Some(&env.password))
        .send()
        .await?;
    let response = expect_success(response, "list connections").await?;
    let entries: Vec<ConnectionEntry> = response.json().await?;
    Ok(entries.into_iter().map(|e| e.name).collect())
}

async fn close_connection(
    client: &reqwest::Client,
    env: &RabbitEnv,
    name: &str,
) -> Result<(), VhostError> {
    let url = format!("{}/api/connections/{}", env.management_url, encode(name));
    let response = client
        .delete(&url)
        .basic_auth(&env.user, Some(&env.password))
        .header("X-Reason", "closed by test")
        .send()
        .await?;
    // 404: the connection was already gone (the list lags behind).
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(());
    }
    expect_success(response, "close connection").await?;
    Ok(())
}

async fn delete_vhost(
    client: &reqwest::Client,
    env: &RabbitEnv,
    name: &str,
) -> Result<(), VhostError> {
    let url = format!("{}/api/vhosts/{}", env.management_url, encode(name));
    let response = client
        .delete(&url)
        .basic_auth(&env.user, Some(&env.password))
        .send()
        .await?;
    expect_success(response, "delete vhost").await?;
    Ok(())
}

async fn expect_success(
    response: reqwest::Response,
    what: &str,
) -> Result<reqwest::Response, VhostError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(VhostError::Status {
        what: what.to_string(),
        status: status.as_u16(),
        body,
    })
}

/// Percent-encodes everything but RFC 3986 unreserved characters: vhost and connection names
/// contain `/`, spaces and `>`, which must not be read as path syntax.
pub fn encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn encodes_path_syntax_and_keeps_unreserved() {
        assert_eq!(encode("/"), "%2F");
        assert_eq!(encode("127.0.0.1:5 -> 1:2"), "127.0.0.1%3A5%20-%3E%201%3A2");
        assert_eq!(encode("t-abc_1.~"), "t-abc_1.~");
    }
}
