//! Harness for the end-to-end tests: starts real services in-process on random ports, each
//! against its own fresh database, and gives tests an HTTP client that speaks to them as an
//! operator or a client backend would.

#![allow(clippy::expect_used)]

use std::time::Duration;

use config::{DatabaseConfig, HttpConfig};
use crypto::{DeploymentKey, SecretString};
use serde_json::Value;
use testkit::database::TestDatabase;

pub mod cluster;
pub mod faults;
mod http_stub;
mod platform;
pub mod servers;
mod whatsapp;
pub use http_stub::HttpStub;
pub use platform::{ApiIntegration, Platform, PlatformOptions};
pub use whatsapp::{
    describe, Chat, WhatsappIntegration, WhatsappOptions, WhatsappPlatform, WhatsappSetup, BOT_WAIT,
};

/// The bootstrap operator token every harness configures.
pub const BOOTSTRAP_TOKEN: &str = "op_bootstrap_token_for_end_to_end_tests_0123456789";

/// A running admin service with its own database.
pub struct AdminHarness {
    pub base_url: String,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    pub deployment_key: DeploymentKey,
    /// The key's configuration form (base64), for tests that look for it where it must not be.
    pub deployment_key_base64: SecretString,
    /// Meta's Graph API as the admin service sees it (token exchange at creation).
    pub emulator: meta_emulator::RunningEmulator,
    running: Option<admin::RunningAdmin>,
    config: admin::AdminConfig,
}

impl AdminHarness {
    /// Admin without a message broker (proactive starts answer 503).
    pub async fn start() -> AdminHarness {
        Self::start_with_broker(None).await
    }

    /// Admin publishing proactive starts to `broker`.
    pub async fn start_with_broker(broker: Option<config::BrokerConfig>) -> AdminHarness {
        crypto::install_tls_crypto_provider();
        telemetry::init_for_tests();
        let db = TestDatabase::create().await.expect("test database");
        let (deployment_key, encoded) = DeploymentKey::generate().expect("deployment key");
        let emulator = meta_emulator::start(meta_emulator::EmulatorConfig {
            // Any short-lived token exchanges; tests that need a refusal revoke one.
            accept_any_token: true,
            ..meta_emulator::EmulatorConfig::for_tests()
        })
        .await
        .expect("meta emulator starts");
        let config = admin::AdminConfig {
            http: HttpConfig {
                host: "127.0.0.1".into(),
                port: 0,
            },
            database: DatabaseConfig {
                url: SecretString::from(db.url().to_owned()),
                max_connections: 4,
                connect_timeout: Duration::from_secs(5),
            },
            deployment_key: deployment_key.clone(),
            bootstrap_token: Some(SecretString::from(BOOTSTRAP_TOKEN)),
            public_api_base_url: "http://api.test".into(),
            public_webhook_base_url: "http://hooks.test".into(),
            max_body_bytes: 256 * 1024,
            body_limits: Default::default(),
            default_api_rate_limit_per_minute: 600,
            graph_api_base_url: emulator.base_url(),
            broker,
            signin_failures: admin::SigninFailureLimit::default(),
        };
        let running = admin::start(config.clone()).await.expect("admin starts");
        AdminHarness {
            base_url: format!("http://{}", running.addr),
            client: reqwest::Client::new(),
            db,
            deployment_key,
            deployment_key_base64: SecretString::from(encoded),
            emulator,
            running: Some(running),
            config,
        }
    }

    /// Restarts the service on the same address and database under `key` (a deployment-key
    /// rotation's restart).
    pub async fn restart_with_key(&mut self, key: DeploymentKey) {
        if let Some(running) = self.running.take() {
            self.config.http.port = running.addr.port();
            running.stop().await;
        }
        self.config.deployment_key = key.clone();
        self.deployment_key = key;
        let running = admin::start(self.config.clone())
            .await
            .expect("admin restarts");
        self.base_url = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    /// The database the services use, as their configuration names it.
    pub fn database_config(&self) -> DatabaseConfig {
        self.config.database.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends a request as `token` with an optional JSON body; returns status and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request sent");
        read(response).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, token, None).await
    }

    /// Creates a second tenant and returns its operator token.
    pub async fn new_account(&self, name: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/accounts",
                BOOTSTRAP_TOKEN,
                &serde_json::json!({ "name": name }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Creates a bot from `examples/demo-bot.json` (renamed) and publishes it; returns its id.
    pub async fn published_demo_bot(&self, token: &str, name: &str) -> i64 {
        let mut bot = demo_bot();
        bot["name"] = Value::from(name);
        let (status, created) = self.post("/v1/bots", token, &bot).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_i64().expect("bot id");
        let (status, published) = self
            .post(&format!("/v1/bots/{id}/publish"), token, &Value::Null)
            .await;
        assert_eq!(status, 201, "{published}");
        id
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
        self.emulator.stop().await;
    }
}

/// Status and JSON body (`Value::Null` for an empty body). Panics on a non-JSON body: every
/// answer of our services is JSON.
pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body read");
    if bytes.is_empty() {
        return (status, Value::Null);
    }
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|err| {
        panic!(
            "status {status}: body is not JSON ({err}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, body)
}

/// The demo bot shipped in `examples/`.
pub fn demo_bot() -> Value {
    serde_json::from_str(include_str!("../../examples/demo-bot.json")).expect("demo bot JSON")
}
