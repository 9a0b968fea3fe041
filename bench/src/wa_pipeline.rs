//! The WhatsApp pipeline in this process, started in two steps: first admin (with the Meta
//! emulator) and whatsapp-ingress alone, so the ingest phases measure the ingress like the
//! floor (nobody consuming); then flow-executor and sender for the end-to-end phases.
//! Each service is started through its library's `start(config)`, with its configuration read
//! from a lookup table the way its `main` reads the environment.

use std::collections::HashMap;
use std::time::Duration;

use broker::{Broker, BrokerConfig, Topology};
use e2e::{AdminHarness, BOOTSTRAP_TOKEN};
use lapin::options::QueuePurgeOptions;
use serde_json::{json, Value};
use testkit::vhost::TestVhost;

use crate::pipeline_floor::FloorShape;

pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const APP_SECRET: &str = "b7e2c4a19f0d4e6a8c3b5d7f9e1a2c4b";
const ACCESS_TOKEN: &str = "EAAGbenchShortLivedTokenFromTheMetaDashboard0123456789";

#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub shards: u16,
    /// Ingress HTTP workers (`INGRESS_WORKERS`); 0 keeps the default (one per CPU).
    pub ingress_workers: usize,
    /// The sender's pacing per phone number (`SENDER_RATE_PER_SECOND`).
    pub sender_rate: f64,
    /// Batches the sender handles at once (`SENDER_CONCURRENCY`).
    pub sender_concurrency: usize,
    /// The Graph API the sender calls (`GRAPH_API_BASE_URL`): the local sink.
    pub graph_url: String,
}

/// The services' settings for this benchmark, beside the database, broker and key.
fn service_settings(options: &PipelineOptions) -> HashMap<&'static str, String> {
    let mut settings = HashMap::from([
        ("AMQP_INBOUND_SHARDS", options.shards.to_string()),
        ("INGRESS_HOST", "127.0.0.1".into()),
        ("INGRESS_PORT", "0".into()),
        ("EXECUTOR_HOST", "127.0.0.1".into()),
        ("EXECUTOR_PORT", "0".into()),
        ("SENDER_HOST", "127.0.0.1".into()),
        ("SENDER_PORT", "0".into()),
        ("GRAPH_API_BASE_URL", options.graph_url.clone()),
        ("SENDER_RATE_PER_SECOND", options.sender_rate.to_string()),
        ("SENDER_CONCURRENCY", options.sender_concurrency.to_string()),
    ]);
    if options.ingress_workers > 0 {
        settings.insert("INGRESS_WORKERS", options.ingress_workers.to_string());
    }
    settings
}

/// The executor's and the sender's consumer settings and pool size, as the services read
/// them from these options, for the whole-pipeline floor to take the same shape.
pub fn floor_shape(options: &PipelineOptions) -> anyhow::Result<FloorShape> {
    let (_, key) = crypto::DeploymentKey::generate()?;
    let mut settings = service_settings(options);
    settings.insert("DATABASE_URL", "postgres://unused@127.0.0.1/unused".into());
    settings.insert("AMQP_URL", "amqp://unused@127.0.0.1/unused".into());
    settings.insert("DEPLOYMENT_KEY", key);
    let lookup = |name: &str| settings.get(name).cloned();
    let executor = flow_executor::ExecutorConfig::from_lookup(&lookup)?;
    let sender = sender::SenderConfig::from_lookup(&lookup)?;
    Ok(FloorShape {
        shards: options.shards,
        turn_prefetch: executor.prefetch,
        turn_concurrency: executor.turn_concurrency,
        sender_concurrency: sender.concurrency,
        sender_prefetch: sender
            .broker
            .prefetch
            .max(u16::try_from(sender.concurrency).unwrap_or(u16::MAX)),
        pool_size: executor.database.max_connections,
    })
}

pub struct Pipeline {
    pub admin: AdminHarness,
    pub vhost: TestVhost,
    /// `http://.../webhooks/whatsapp/{integration_id}`
    pub webhook_url: String,
    settings: HashMap<&'static str, String>,
    ingress: Option<whatsapp_ingress::RunningIngress>,
    executor: Option<flow_executor::RunningExecutor>,
    sender: Option<sender::RunningSender>,
}

impl Pipeline {
    /// Admin, the emulator and the ingress, with an active WhatsApp integration of the echo
    /// bot.
    pub async fn start(options: &PipelineOptions) -> anyhow::Result<Pipeline> {
        let admin = AdminHarness::start().await;
        let vhost = TestVhost::create().await;
        // Any valid key makes the configurations parse; each is then given the admin's.
        let (_, throwaway_key) = crypto::DeploymentKey::generate()?;
        let mut settings = service_settings(options);
        settings.insert("DATABASE_URL", admin.db.url().to_owned());
        settings.insert("AMQP_URL", vhost.amqp_url());
        settings.insert("DEPLOYMENT_KEY", throwaway_key);
        let lookup = |name: &str| settings.get(name).cloned();
        let mut ingress_config = whatsapp_ingress::IngressConfig::from_lookup(&lookup)?;
        ingress_config.deployment_key = admin.deployment_key.clone();
        let ingress = whatsapp_ingress::start(ingress_config).await?;
        let integration = echo_integration(&admin).await?;
        Ok(Pipeline {
            webhook_url: format!("http://{}/webhooks/whatsapp/{integration}", ingress.addr),
            admin,
            vhost,
            settings,
            ingress: Some(ingress),
            executor: None,
            sender: None,
        })
    }

    /// Empties the inbound shards (what the ingest phases published, nobody consuming) and
    /// returns how many messages they held.
    pub async fn purge_inbound(&self, shards: u16) -> anyhow::Result<u64> {
        let topology = Topology::with_shards(shards);
        let broker = Broker::connect(
            BrokerConfig::new(self.vhost.amqp_url(), "bench-purge"),
            topology.clone(),
        )
        .await?;
        let channel = broker.open_channel().await?;
        let mut purged = 0u64;
        for queue in topology.inbound_queues() {
            purged += u64::from(
                channel
                    .queue_purge(queue.as_str().into(), QueuePurgeOptions::default())
                    .await?,
            );
        }
        broker.close().await;
        Ok(purged)
    }

    /// Starts the flow executor and the sender.
    pub async fn start_consumers(&mut self) -> anyhow::Result<()> {
        let lookup = |name: &str| self.settings.get(name).cloned();
        let executor_config = flow_executor::ExecutorConfig::from_lookup(&lookup)?;
        let mut sender_config = sender::SenderConfig::from_lookup(&lookup)?;
        sender_config.deployment_key = self.admin.deployment_key.clone();
        self.executor = Some(flow_executor::start(executor_config).await?);
        self.sender = Some(sender::start(sender_config).await?);
        Ok(())
    }

    pub async fn stop(mut self) {
        if let Some(ingress) = self.ingress.take() {
            ingress.stop().await;
        }
        if let Some(executor) = self.executor.take() {
            executor.stop().await;
        }
        if let Some(sender) = self.sender.take() {
            sender.stop().await;
        }
        self.admin.stop().await;
    }
}

/// Publishes the echo bot and connects an active WhatsApp integration to it (everyone may
/// write: no trigger recipients). Returns the integration id.
pub async fn echo_integration(admin: &AdminHarness) -> anyhow::Result<i64> {
    let bot: Value = serde_json::from_str(crate::harness::ECHO_BOT)?;
    let (status, created) = admin.post("/v1/bots", BOOTSTRAP_TOKEN, &bot).await;
    anyhow::ensure!(status == 201, "bot not created: {created}");
    let bot_id = created["id"].as_i64().unwrap_or_default();
    let (status, published) = admin
        .post(
            &format!("/v1/bots/{bot_id}/publish"),
            BOOTSTRAP_TOKEN,
            &Value::Null,
        )
        .await;
    anyhow::ensure!(status == 201, "bot not published: {published}");
    let (status, integration) = admin
        .post(
            "/v1/integrations",
            BOOTSTRAP_TOKEN,
            &json!({
                "kind": "whatsapp",
                "name": "Bench line",
                "bot_id": bot_id,
                "business_account_id": "102290129340398",
                "phone_number_id": PHONE_NUMBER_ID,
                "app_id": "1234567890",
                "app_secret": APP_SECRET,
                "access_token": ACCESS_TOKEN,
                "verify_token": "bench_verify_token_0123456789",
                "conversation_expiry_minutes": 60,
                "template": {"name": "hello_world", "language_code": "en_US"},
            }),
        )
        .await;
    anyhow::ensure!(status == 201, "integration not created: {integration}");
    let id = integration["id"].as_i64().unwrap_or_default();
    let (status, activated) = admin
        .post(
            &format!("/v1/integrations/{id}/activate"),
            BOOTSTRAP_TOKEN,
            &Value::Null,
        )
        .await;
    anyhow::ensure!(status == 200, "integration not activated: {activated}");
    Ok(id)
}

/// Gives the services a moment to settle between phases (connections, background tasks).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}
