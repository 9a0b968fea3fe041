//! The sender and the meta emulator started in-process, with a fresh database and RabbitMQ
//! vhost, WhatsApp integrations created through the store (tokens sealed as admin seals them
//! and registered with the emulator), and batches published to `bot.outbound` as the executor
//! publishes them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker::topology::{OUTBOUND_EXCHANGE, WHATSAPP_ROUTING_KEY};
use broker::{Broker, BrokerConfig, PublishOptions, Topology};
use chrono::{DateTime, Utc};
use config::{DatabaseConfig, HttpConfig};
use contracts::v1::{
    BotMessage, ConversationKey, FallbackTemplate, OutboundWhatsapp, Recipient, SchemaVersion,
};
use contracts::{AccountId, BotId, IntegrationId};
use crypto::{DeploymentKey, SecretString};
use meta_emulator::api::{OutboundMessage, RecordedRequest, TokenRequest};
use meta_emulator::client::EmulatorClient;
use meta_emulator::{EmulatorConfig, RunningEmulator};
use sender::{AlertKind, AlertSink, RetryPolicy, RunningSender, SenderConfig};
use serde_json::json;
use store::accounts::NewToken;
use store::bots::NewBot;
use store::integrations::{secret_aad, IntegrationDetails, NewIntegration, NewWhatsappDetails};
use store::sender::{BatchOutcome, BatchProgress};
use store::{Store, StoreOptions};
use testkit::database::TestDatabase;
use testkit::vhost::TestVhost;

pub const USER: &str = "16505551234";
pub const VERSION: &str = "v21.0";
pub const APP_ID: &str = "app-1";
pub const WAIT: Duration = Duration::from_secs(20);

/// Alerts kept for the test to read.
#[derive(Default)]
pub struct RecordedAlerts(Mutex<Vec<(IntegrationId, AlertKind, String)>>);

impl AlertSink for RecordedAlerts {
    fn alert(&self, integration_id: IntegrationId, kind: AlertKind, detail: String) {
        self.0.lock().unwrap().push((integration_id, kind, detail));
    }
}

impl RecordedAlerts {
    pub fn all(&self) -> Vec<(IntegrationId, AlertKind, String)> {
        self.0.lock().unwrap().clone()
    }
}

/// A WhatsApp integration as the tests use it.
#[derive(Clone)]
pub struct TestIntegration {
    pub id: IntegrationId,
    pub phone_number_id: String,
    pub token: String,
}

pub struct Harness {
    pub db: TestDatabase,
    pub vhost: TestVhost,
    pub emulator: RunningEmulator,
    pub emulator_client: EmulatorClient,
    pub store: Store,
    pub key: DeploymentKey,
    pub account: AccountId,
    pub bot: BotId,
    pub alerts: Arc<RecordedAlerts>,
    pub publisher_broker: Broker,
    sender: Option<RunningSender>,
}

/// Fast retries, a generous rate, no background token work unless a test asks.
pub fn test_config(
    db: &TestDatabase,
    vhost: &TestVhost,
    key: &DeploymentKey,
    graph: &str,
) -> SenderConfig {
    SenderConfig {
        http: HttpConfig {
            host: "127.0.0.1".into(),
            port: 0,
        },
        database: DatabaseConfig {
            url: SecretString::from(db.url().to_owned()),
            max_connections: 4,
            connect_timeout: Duration::from_secs(5),
        },
        broker: config::BrokerConfig {
            url: SecretString::from(vhost.amqp_url()),
            prefetch: 16,
            inbound_shards: 8,
        },
        deployment_key: key.clone(),
        instance_name: "sender-test".into(),
        graph_api_base_url: graph.to_owned(),
        rate_per_second: 1_000.0,
        concurrency: 8,
        retry: RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
        },
        http_timeout: Duration::from_secs(5),
        token_refresh_window: Duration::from_secs(7 * 24 * 3600),
        token_check_interval: Duration::from_secs(3600),
        batch_retention: Duration::from_secs(72 * 3600),
        activity_interval: Duration::from_secs(60),
        alerts: alerts::AlertConfig::log_only(),
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(|_| {}).await
    }

    /// Starts with `adjust` applied to [`test_config`].
    pub async fn start_with(adjust: impl FnOnce(&mut SenderConfig)) -> Harness {
        crypto::install_tls_crypto_provider();
        telemetry::init_for_tests();
        let db = TestDatabase::create().await.expect("test database");
        let vhost = TestVhost::create().await;
        let (key, _) = DeploymentKey::generate().expect("deployment key");
        let emulator = meta_emulator::start(EmulatorConfig::for_tests())
            .await
            .expect("emulator");
        let emulator_client = emulator.client().unwrap();
        let store = Store::connect(&StoreOptions {
            url: db.url().to_owned(),
            max_connections: 4,
            connect_timeout: Duration::from_secs(5),
        })
        .await
        .expect("store");
        let account = new_account(&store).await;
        let bot = published_bot(&store, account).await;
        let mut config = test_config(&db, &vhost, &key, &emulator.base_url());
        adjust(&mut config);
        let alerts = Arc::new(RecordedAlerts::default());
        let sender = sender::start_with_alerts(config, alerts.clone())
            .await
            .expect("sender starts");
        let publisher_broker = Broker::connect(
            BrokerConfig::new(vhost.amqp_url(), "test-publisher"),
            Topology::with_shards(8),
        )
        .await
        .expect("publisher connects");
        Harness {
            db,
            vhost,
            emulator,
            emulator_client,
            store,
            key,
            account,
            bot,
            alerts,
            publisher_broker,
            sender: Some(sender),
        }
    }

    /// An active WhatsApp integration on `phone_number_id` whose token the emulator knows
    /// (never expiring unless `expires_at` says otherwise, in which case the emulator gives
    /// it the same lifetime).
    pub async fn integration(&self, phone_number_id: &str) -> TestIntegration {
        self.integration_with(phone_number_id, None, None).await
    }

    pub async fn integration_with(
        &self,
        phone_number_id: &str,
        expires_at: Option<DateTime<Utc>>,
        template: Option<&FallbackTemplate>,
    ) -> TestIntegration {
        let id = self.store.allocate_integration_id().await.unwrap();
        let token = format!("EAAsender-test-{id}");
        let expires_in_seconds = expires_at.map(|at| (at - Utc::now()).num_seconds().max(1) as u64);
        self.emulator_client
            .register_token(&TokenRequest {
                token: Some(token.clone()),
                kind: Some(
                    if expires_at.is_some() {
                        "long_lived"
                    } else {
                        "system_user"
                    }
                    .into(),
                ),
                expires_in_seconds,
            })
            .await
            .unwrap();
        let seal = |value: &str, field: &str| {
            self.key
                .seal(value.as_bytes(), &secret_aad(id, field))
                .unwrap()
        };
        let verify = format!("verify-{id}");
        self.store
            .create_whatsapp_integration(
                self.account,
                id,
                NewIntegration {
                    name: phone_number_id,
                    bot_id: Some(self.bot),
                    alert_email_enabled: false,
                    alert_email: None,
                },
                NewWhatsappDetails {
                    business_account_id: "102290129340398".into(),
                    phone_number_id: phone_number_id.into(),
                    app_id: APP_ID.into(),
                    app_secret_sealed: seal("app-secret", "app_secret"),
                    access_token_sealed: seal(&token, "access_token"),
                    access_token_expires_at: expires_at,
                    verify_token_sealed: seal(&verify, "verify_token"),
                    verify_token_digest: self.key.digest_key().digest(&verify).to_vec(),
                    api_version: VERSION.into(),
                    conversation_expiry_seconds: None,
                    template_name: template.map(|t| t.name.clone()),
                    template_language: template.map(|t| t.language_code.clone()),
                    trigger_recipients: vec![],
                },
            )
            .await
            .unwrap();
        self.store
            .set_integration_active(self.account, id, true)
            .await
            .unwrap();
        TestIntegration {
            id,
            phone_number_id: phone_number_id.into(),
            token,
        }
    }

    /// The access token stored for an integration, opened, with its expiry.
    pub async fn stored_token(&self, id: IntegrationId) -> (String, Option<DateTime<Utc>>) {
        let IntegrationDetails::Whatsapp(details) =
            self.store.find_integration(id).await.unwrap().details
        else {
            panic!("not WhatsApp");
        };
        let token = self
            .key
            .open_string(
                &details.access_token_sealed,
                &secret_aad(id, "access_token"),
            )
            .unwrap();
        (token.expose().clone(), details.access_token_expires_at)
    }

    /// Publishes a batch as the executor does.
    pub async fn publish(&self, batch: &OutboundWhatsapp) {
        let body = contracts::v1::encode(batch).unwrap();
        self.publish_raw(&body).await;
    }

    pub async fn publish_raw(&self, body: &[u8]) {
        self.publisher_broker
            .publisher()
            .publish_with_retry(
                OUTBOUND_EXCHANGE,
                WHATSAPP_ROUTING_KEY,
                body,
                PublishOptions::default().mandatory(),
                Duration::from_secs(10),
            )
            .await
            .expect("published");
    }

    /// Waits until a batch is finished and returns its progress.
    pub async fn finished(&self, event_id: &str) -> BatchProgress {
        let started = Instant::now();
        loop {
            if let Some(progress) = self.store.batch_progress(event_id).await.unwrap() {
                if progress.outcome.is_some() {
                    return progress;
                }
            }
            assert!(started.elapsed() < WAIT, "batch {event_id} not finished");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn outcome(&self, event_id: &str) -> BatchOutcome {
        self.finished(event_id).await.outcome.unwrap()
    }

    /// What the emulator accepted for `user` on a number, oldest first.
    pub async fn conversation(&self, phone_number_id: &str, user: &str) -> Vec<OutboundMessage> {
        self.emulator_client
            .conversation(phone_number_id, user, None)
            .await
            .unwrap()
    }

    /// Waits for at least `count` accepted messages to `user`.
    pub async fn wait_messages(
        &self,
        phone_number_id: &str,
        user: &str,
        count: usize,
    ) -> Vec<OutboundMessage> {
        self.emulator_client
            .wait_for_outbound(phone_number_id, user, count, None, WAIT)
            .await
            .unwrap()
    }

    /// Every Graph request the emulator saw for a number (the token exchange has none).
    pub async fn requests(&self, phone_number_id: Option<&str>) -> Vec<RecordedRequest> {
        self.emulator_client
            .requests(phone_number_id, None)
            .await
            .unwrap()
    }

    /// The sender's probe server, e.g. `/ready`.
    pub fn probe_url(&self, path: &str) -> String {
        let addr = self.sender.as_ref().expect("sender running").probe_addr;
        format!("http://{addr}{path}")
    }

    pub async fn stop(mut self) {
        if let Some(sender) = self.sender.take() {
            sender.stop().await;
        }
        self.publisher_broker.close().await;
        self.emulator.stop().await;
    }

    /// Stops the sender only (the broker, database and emulator stay).
    pub async fn stop_sender(&mut self) {
        if let Some(sender) = self.sender.take() {
            sender.stop().await;
        }
    }

    /// Crashes the sender (`RunningSender::crash`): its batches in flight go back to the queue.
    pub async fn crash_sender(&mut self) {
        if let Some(sender) = self.sender.take() {
            sender.crash().await;
        }
    }

    /// Starts a sender again on the same database, vhost and emulator.
    pub async fn restart_sender(&mut self, adjust: impl FnOnce(&mut SenderConfig)) {
        self.stop_sender().await;
        let mut config = test_config(&self.db, &self.vhost, &self.key, &self.emulator.base_url());
        adjust(&mut config);
        self.sender = Some(
            sender::start_with_alerts(config, self.alerts.clone())
                .await
                .expect("sender restarts"),
        );
    }
}

/// A batch of `messages` for [`USER`] on an integration, answering `reply_to`.
pub fn batch(
    integration: &TestIntegration,
    event_id: &str,
    messages: Vec<BotMessage>,
) -> OutboundWhatsapp {
    OutboundWhatsapp {
        schema: SchemaVersion::V1,
        event_id: event_id.into(),
        integration_id: integration.id,
        conversation_key: ConversationKey::whatsapp(
            integration.id,
            &integration.phone_number_id,
            USER,
        ),
        phone_number_id: integration.phone_number_id.clone(),
        to: Recipient::WaId(USER.into()),
        reply_to_message_id: None,
        messages,
        fallback_template: None,
        template: None,
        sequence: 1,
    }
}

pub fn text(text: &str) -> BotMessage {
    BotMessage::Text { text: text.into() }
}

/// The `text.body` of accepted text messages, in order.
pub fn bodies(messages: &[OutboundMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            m.message["text"]["body"]
                .as_str()
                .unwrap_or("<not text>")
                .to_owned()
        })
        .collect()
}

async fn new_account(store: &Store) -> AccountId {
    let (account, _) = store
        .create_account(
            "acme",
            false,
            NewToken {
                name: "first",
                digest: b"digest-acme",
                hint: "abcd",
            },
        )
        .await
        .unwrap();
    account.id
}

async fn published_bot(store: &Store, account: AccountId) -> BotId {
    let flow =
        json!({"start": "hello", "components": [{"id": "hello", "type": "end", "text": "hi"}]});
    let bot = store
        .create_bot(
            account,
            NewBot {
                name: "Echo",
                variables: &json!([]),
                draft_flow: &flow,
            },
        )
        .await
        .unwrap();
    store
        .publish_bot(account, bot.id, bot.draft_revision)
        .await
        .unwrap();
    bot.id
}
