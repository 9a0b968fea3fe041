//! The whole API pipeline in-process: admin, flow-executor and api-gateway against a fresh
//! database and a fresh RabbitMQ vhost of their own.

use std::time::Duration;

use config::{BrokerConfig, DatabaseConfig, HttpConfig};
use crypto::SecretString;
use serde_json::{json, Value};
use testkit::vhost::TestVhost;

use crate::{AdminHarness, BOOTSTRAP_TOKEN};

/// Shards in tests: enough to spread conversations, few enough to declare quickly.
const TEST_SHARDS: u16 = 2;

/// How to start the pipeline.
#[derive(Debug, Clone)]
pub struct PlatformOptions {
    pub reply_deadline: Duration,
    pub inbound_shards: u16,
    /// Flow executors side by side (they share the shards: one active consumer per shard).
    pub executors: usize,
    pub max_connections: usize,
    /// Where executors mail alerts (log only by default).
    pub alerts: alerts::AlertConfig,
    /// How executors retry an event before dead-lettering it.
    pub retry: flow_executor::RetryPolicy,
    /// Executors' row lock timeout per turn.
    pub lock_timeout: Duration,
    /// Turns of different conversations one shard runs at once.
    pub turn_concurrency: usize,
}

impl Default for PlatformOptions {
    fn default() -> Self {
        PlatformOptions {
            reply_deadline: Duration::from_secs(10),
            inbound_shards: TEST_SHARDS,
            executors: 1,
            max_connections: 8,
            alerts: alerts::AlertConfig::log_only(),
            retry: flow_executor::RetryPolicy::default(),
            lock_timeout: Duration::from_secs(5),
            turn_concurrency: 32,
        }
    }
}

pub struct Platform {
    pub admin: AdminHarness,
    pub vhost: TestVhost,
    pub api_base_url: String,
    executors: Vec<flow_executor::RunningExecutor>,
    /// What `add_executor` starts another executor with.
    executor_config: flow_executor::ExecutorConfig,
    gateway: Option<api_gateway::RunningGateway>,
    gateway_config: api_gateway::GatewayConfig,
}

/// An active API integration of the demo bot.
pub struct ApiIntegration {
    pub id: i64,
    pub key: String,
    pub bot_id: i64,
}

fn local() -> HttpConfig {
    HttpConfig {
        host: "127.0.0.1".into(),
        port: 0,
    }
}

impl Platform {
    pub async fn start() -> Platform {
        Self::start_with_deadline(Duration::from_secs(10)).await
    }

    pub async fn start_with_deadline(reply_deadline: Duration) -> Platform {
        Self::start_with(PlatformOptions {
            reply_deadline,
            ..PlatformOptions::default()
        })
        .await
    }

    pub async fn start_with(options: PlatformOptions) -> Platform {
        let reply_deadline = options.reply_deadline;
        let vhost = TestVhost::create().await;
        let broker = BrokerConfig {
            url: SecretString::from(vhost.amqp_url()),
            prefetch: 64,
            inbound_shards: options.inbound_shards,
        };
        // Admin publishes proactive WhatsApp starts to the same vhost.
        let admin = AdminHarness::start_with_broker(Some(broker.clone())).await;
        let database = DatabaseConfig {
            url: SecretString::from(admin.db.url().to_owned()),
            max_connections: options.max_connections,
            connect_timeout: Duration::from_secs(5),
        };
        let executor_config = flow_executor::ExecutorConfig {
            http: local(),
            database: database.clone(),
            broker: broker.clone(),
            instance_name: "test-executor-0".into(),
            api_session_ttl: Duration::from_secs(3600),
            max_steps_per_turn: 200,
            allow_private_network: true,
            http_max_response_bytes: 1024 * 1024,
            history_retention: Duration::from_secs(7 * 24 * 3600),
            alerts: options.alerts.clone(),
            turn_concurrency: options.turn_concurrency,
            prefetch: 512,
            lock_timeout: options.lock_timeout,
            retry: options.retry,
            shard_leases: flow_executor::ShardLeaseConfig::default(),
        };
        let mut executors = Vec::new();
        for n in 0..options.executors.max(1) {
            let executor = flow_executor::start(flow_executor::ExecutorConfig {
                instance_name: format!("test-executor-{n}"),
                ..executor_config.clone()
            })
            .await
            .expect("executor starts");
            executors.push(executor);
        }
        let gateway_config = api_gateway::GatewayConfig {
            http: local(),
            database,
            broker,
            deployment_key: admin.deployment_key.clone(),
            instance_id: format!("test-{}", std::process::id()),
            reply_deadline,
            max_body_bytes: 64 * 1024,
            body_limits: api_gateway::BodyLimits::default(),
        };
        let gateway = api_gateway::start(gateway_config.clone())
            .await
            .expect("gateway starts");
        Platform {
            api_base_url: format!("http://{}/api/integrations/api", gateway.addr),
            admin,
            vhost,
            executors,
            executor_config,
            gateway: Some(gateway),
            gateway_config,
        }
    }

    /// Starts another gateway replica beside the first (its own reply queue, the same
    /// database and vhost); returns its API base URL. Stopped with the platform.
    pub async fn add_gateway_replica(
        &mut self,
        name: &str,
    ) -> (String, api_gateway::RunningGateway) {
        let mut config = self.gateway_config.clone();
        config.instance_id = format!("test-{}-{name}", std::process::id());
        let gateway = api_gateway::start(config)
            .await
            .expect("gateway replica starts");
        (
            format!("http://{}/api/integrations/api", gateway.addr),
            gateway,
        )
    }

    /// Restarts admin and the gateway on their addresses under `key` (the executors do not
    /// hold the key).
    pub async fn restart_with_key(&mut self, key: crypto::DeploymentKey) {
        if let Some(gateway) = self.gateway.take() {
            self.gateway_config.http.port = gateway.addr.port();
            gateway.stop().await;
        }
        self.admin.restart_with_key(key.clone()).await;
        self.gateway_config.deployment_key = key;
        let gateway = api_gateway::start(self.gateway_config.clone())
            .await
            .expect("gateway restarts");
        self.gateway = Some(gateway);
    }

    /// Publishes the demo bot (under `name`) and connects an active API integration to it.
    pub async fn demo_integration(&self, name: &str, variable_injection: bool) -> ApiIntegration {
        let mut bot = crate::demo_bot();
        bot["name"] = Value::from(name);
        self.api_integration_for(
            &bot,
            json!({"name": name, "variable_injection": variable_injection}),
        )
        .await
    }

    /// Creates and publishes `bot` (a bot file: name, variables, flow), then connects an active
    /// API integration to it; `settings` adds fields to the integration (name, alert_email, ...).
    pub async fn api_integration_for(&self, bot: &Value, settings: Value) -> ApiIntegration {
        let (status, created) = self.admin.post("/v1/bots", BOOTSTRAP_TOKEN, bot).await;
        assert_eq!(status, 201, "{created}");
        let bot_id = created["id"].as_i64().expect("bot id");
        let (status, published) = self
            .admin
            .post(
                &format!("/v1/bots/{bot_id}/publish"),
                BOOTSTRAP_TOKEN,
                &Value::Null,
            )
            .await;
        assert_eq!(status, 201, "{published}");
        let mut integration = json!({"kind": "api", "bot_id": bot_id});
        if let (Some(fields), Value::Object(extra)) = (integration.as_object_mut(), settings) {
            fields.extend(extra);
        }
        let (status, created) = self
            .admin
            .post("/v1/integrations", BOOTSTRAP_TOKEN, &integration)
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_i64().expect("id");
        let (status, _) = self
            .admin
            .post(
                &format!("/v1/integrations/{id}/activate"),
                BOOTSTRAP_TOKEN,
                &Value::Null,
            )
            .await;
        assert_eq!(status, 200);
        ApiIntegration {
            id,
            key: created["api_key"].as_str().expect("key").to_owned(),
            bot_id,
        }
    }

    /// POSTs `body` to `path` (relative to the API base URL) with `X-API-Key: key`.
    pub async fn api(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        self.api_with(path, &[("X-API-Key", key)], body).await
    }

    pub async fn api_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> (u16, Value) {
        let mut request = self
            .admin
            .client
            .post(format!("{}{path}", self.api_base_url))
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        crate::read(request.send().await.expect("request sent")).await
    }

    /// The Prometheus text of the first executor's `/metrics` (every service of the process
    /// records into one registry).
    pub async fn executor_metrics(&self) -> String {
        let addr = self.executors.first().expect("an executor").probe_addr;
        self.admin
            .client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .expect("metrics answered")
            .text()
            .await
            .expect("metrics text")
    }

    /// The value of a counter in the executor's metrics (0 when absent); `series` is the
    /// name with its labels, e.g. `turn_retries_total{channel="api"}`.
    pub async fn executor_counter(&self, series: &str) -> f64 {
        self.executor_metrics()
            .await
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Stops one executor (gracefully: its in-flight turns finish); the others take over its
    /// shards.
    pub async fn stop_executor(&mut self, index: usize) {
        if index < self.executors.len() {
            self.executors.remove(index).stop().await;
        }
    }

    /// Starts one more executor (after `stop_executor`, say); it takes the shards no one else
    /// holds.
    pub async fn add_executor(&mut self) {
        let executor = flow_executor::start(flow_executor::ExecutorConfig {
            instance_name: format!("test-executor-added-{}", self.executors.len()),
            ..self.executor_config.clone()
        })
        .await
        .expect("executor starts");
        self.executors.push(executor);
    }

    /// The probe server (`/health`, `/ready`, `/metrics`) of a running executor.
    pub fn executor_probe_url(&self, index: usize) -> Option<String> {
        self.executors
            .get(index)
            .map(|executor| format!("http://{}", executor.probe_addr))
    }

    pub async fn stop(mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.stop().await;
        }
        for executor in self.executors.drain(..) {
            executor.stop().await;
        }
    }
}
