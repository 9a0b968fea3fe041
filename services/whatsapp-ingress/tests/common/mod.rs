//! The ingress started in-process on a random port, with its own database and RabbitMQ vhost,
//! integrations created through the store (sealed as admin seals them), signed POSTs, and the
//! events it published read back from the `bot.inbound.*` shard queues.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use broker::{Broker, BrokerConfig, Topology};
use config::{DatabaseConfig, HttpConfig};
use contracts::v1::InboundEvent;
use contracts::{AccountId, BotId, IntegrationId};
use crypto::{DeploymentKey, SecretString};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde_json::{json, Value};
use store::accounts::NewToken;
use store::bots::NewBot;
use store::integrations::{secret_aad, NewIntegration, NewWhatsappDetails};
use store::whatsapp::{Receipt, ReceiptKind};
use store::{Store, StoreOptions};
use testkit::database::TestDatabase;
use testkit::vhost::TestVhost;
use whatsapp_ingress::{IngressConfig, RunningIngress};

pub const SHARDS: u16 = 8;
pub const APP_ID: &str = "app-1";

/// One published event with the AMQP properties that matter.
#[derive(Debug, Clone)]
pub struct Published {
    pub event: InboundEvent,
    pub message_id: Option<String>,
    /// The shard's number (the inbound exchange routes by it).
    pub routing_key: String,
    /// The conversation the publisher addressed (`x-conversation-key`).
    pub conversation: Option<String>,
    pub persistent: bool,
    /// The W3C trace context the ingress put in the message headers.
    pub traceparent: Option<String>,
}

pub struct TestIntegration {
    pub id: IntegrationId,
    pub phone_number_id: String,
    pub app_secret: String,
    pub verify_token: String,
}

/// How to create an integration.
pub struct Spec<'a> {
    pub phone_number_id: &'a str,
    pub active: bool,
    pub trigger_recipients: Vec<String>,
    pub app_id: &'a str,
    pub account: Option<AccountId>,
}

impl<'a> Spec<'a> {
    pub fn active(phone_number_id: &'a str) -> Self {
        Spec {
            phone_number_id,
            active: true,
            trigger_recipients: Vec::new(),
            app_id: APP_ID,
            account: None,
        }
    }
}

pub struct Harness {
    pub db: TestDatabase,
    pub vhost: Option<TestVhost>,
    pub store: Store,
    pub key: DeploymentKey,
    pub account: AccountId,
    pub bot: BotId,
    pub base_url: String,
    pub client: reqwest::Client,
    pub reader: Broker,
    ingress: Option<RunningIngress>,
}

impl Harness {
    pub async fn start() -> Harness {
        crypto::install_tls_crypto_provider();
        telemetry::init_for_tests();
        let db = TestDatabase::create().await.expect("test database");
        let vhost = TestVhost::create().await;
        let (key, _) = DeploymentKey::generate().expect("deployment key");
        let config = IngressConfig {
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
                inbound_shards: SHARDS,
            },
            deployment_key: key.clone(),
            instance_name: "whatsapp-ingress-test".into(),
            publish_timeout: Duration::from_secs(2),
            // Read integrations on every request: tests change them between POSTs.
            integration_cache_ttl: Duration::ZERO,
            receipt_retention: Duration::from_secs(30 * 24 * 3600),
            workers: Some(2),
            alerts: alerts::AlertConfig::log_only(),
        };
        let ingress = whatsapp_ingress::start(config)
            .await
            .expect("ingress starts");
        let store = Store::connect(&StoreOptions {
            url: db.url().to_owned(),
            max_connections: 4,
            connect_timeout: Duration::from_secs(5),
        })
        .await
        .expect("store");
        let reader = Broker::connect(
            BrokerConfig::new(vhost.amqp_url(), "test-reader"),
            Topology::with_shards(SHARDS),
        )
        .await
        .expect("reader connects");
        let account = new_account(&store, "acme").await;
        let bot = published_bot(&store, account).await;
        let harness = Harness {
            base_url: format!("http://{}", ingress.addr),
            db,
            vhost: Some(vhost),
            store,
            key,
            account,
            bot,
            client: reqwest::Client::new(),
            reader,
            ingress: Some(ingress),
        };
        harness.wait_ready().await;
        harness
    }

    /// Waits for `/ready` (the ingress's broker connection is made in the background).
    pub async fn wait_ready(&self) {
        for _ in 0..200 {
            let response = self.client.get(self.url("/ready")).send().await.unwrap();
            if response.status() == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the ingress did not become ready");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn webhook_url(&self, id: impl std::fmt::Display) -> String {
        self.url(&format!("/webhooks/whatsapp/{id}"))
    }

    /// A WhatsApp integration sealed as admin seals it; active ones are connected to the
    /// harness's published bot.
    pub async fn integration(&self, spec: Spec<'_>) -> TestIntegration {
        let id = self.store.allocate_integration_id().await.unwrap();
        let app_secret = format!("app-secret-{id}");
        let verify_token = format!("verify token {id} +&=/é");
        let seal = |value: &str, field: &str| {
            self.key
                .seal(value.as_bytes(), &secret_aad(id, field))
                .unwrap()
        };
        let account = spec.account.unwrap_or(self.account);
        let bot = if account == self.account {
            self.bot
        } else {
            published_bot(&self.store, account).await
        };
        self.store
            .create_whatsapp_integration(
                account,
                id,
                NewIntegration {
                    name: spec.phone_number_id,
                    bot_id: Some(bot),
                    alert_email_enabled: false,
                    alert_email: None,
                },
                NewWhatsappDetails {
                    business_account_id: "102290129340398".into(),
                    phone_number_id: spec.phone_number_id.into(),
                    app_id: spec.app_id.into(),
                    app_secret_sealed: seal(&app_secret, "app_secret"),
                    access_token_sealed: seal("access-token", "access_token"),
                    access_token_expires_at: None,
                    verify_token_sealed: seal(&verify_token, "verify_token"),
                    verify_token_digest: self.key.digest_key().digest(&verify_token).to_vec(),
                    api_version: "v21.0".into(),
                    conversation_expiry_seconds: None,
                    template_name: None,
                    template_language: None,
                    trigger_recipients: spec.trigger_recipients,
                },
            )
            .await
            .unwrap();
        if spec.active {
            self.store
                .set_integration_active(account, id, true)
                .await
                .unwrap();
        }
        TestIntegration {
            id,
            phone_number_id: spec.phone_number_id.into(),
            app_secret,
            verify_token,
        }
    }

    /// POSTs `body` to an integration's webhook with the given signature header.
    pub async fn post_raw(
        &self,
        id: impl std::fmt::Display,
        body: Vec<u8>,
        signature: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.webhook_url(id))
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "status {status}: not JSON: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, body)
    }

    /// POSTs `body` signed, as Meta would, carrying a W3C `traceparent`.
    pub async fn post_traced(
        &self,
        integration: &TestIntegration,
        body: &[u8],
        traceparent: &str,
    ) -> u16 {
        let signature = crypto::sign_meta_payload(integration.app_secret.as_bytes(), body);
        let response = self
            .client
            .post(self.webhook_url(integration.id))
            .header("X-Hub-Signature-256", signature)
            .header("traceparent", traceparent)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }

    /// POSTs `body` signed with the integration's app secret, as Meta would.
    pub async fn post(&self, integration: &TestIntegration, body: &[u8]) -> (u16, Value) {
        let signature = crypto::sign_meta_payload(integration.app_secret.as_bytes(), body);
        self.post_raw(integration.id, body.to_vec(), Some(&signature))
            .await
    }

    /// Takes every event waiting in the inbound shards, shard by shard, each shard in queue
    /// order.
    pub async fn drain(&self) -> Vec<Published> {
        let mut taken = Vec::new();
        for queue in Topology::with_shards(SHARDS).inbound_queues() {
            let channel = self.reader.open_channel().await.expect("channel");
            let declared = channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .expect("passive declare");
            let expected = declared.message_count() as usize;
            if expected > 0 {
                let mut consumer = channel
                    .basic_consume(
                        queue.as_str().into(),
                        "".into(),
                        BasicConsumeOptions {
                            no_ack: true,
                            ..BasicConsumeOptions::default()
                        },
                        FieldTable::default(),
                    )
                    .await
                    .expect("basic.consume");
                for _ in 0..expected {
                    let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
                        .await
                        .expect("a ready message is delivered")
                        .expect("consumer open")
                        .expect("delivery");
                    taken.push(Published {
                        event: contracts::v1::decode(&delivery.data).expect("an InboundEvent"),
                        message_id: delivery
                            .properties
                            .message_id()
                            .as_ref()
                            .map(|id| id.to_string()),
                        routing_key: delivery.routing_key.to_string(),
                        conversation: header(&delivery, broker::topology::CONVERSATION_HEADER),
                        persistent: *delivery.properties.delivery_mode() == Some(2),
                        traceparent: header(&delivery, "traceparent"),
                    });
                }
            }
            let _ = channel.close(200, "OK".into()).await;
        }
        taken
    }

    /// The receipts of an integration, oldest first.
    pub async fn receipts(&self, integration: IntegrationId) -> Vec<Receipt> {
        let mut receipts = self
            .store
            .webhook_receipts(integration, 1000)
            .await
            .unwrap();
        receipts.reverse();
        receipts
    }

    pub async fn receipt_kinds(&self, integration: IntegrationId) -> Vec<ReceiptKind> {
        self.receipts(integration)
            .await
            .into_iter()
            .map(|r| r.kind)
            .collect()
    }

    /// Deletes the vhost: the ingress loses its broker for good.
    pub async fn break_broker(&mut self) {
        if let Some(vhost) = self.vhost.take() {
            vhost.cleanup().await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(ingress) = self.ingress.take() {
            ingress.stop().await;
        }
        self.reader.close().await;
    }
}

async fn new_account(store: &Store, name: &str) -> AccountId {
    let digest = format!("digest-{name}");
    let (account, _) = store
        .create_account(
            name,
            false,
            NewToken {
                name: "first",
                digest: digest.as_bytes(),
                hint: "abcd",
            },
        )
        .await
        .unwrap();
    account.id
}

impl Harness {
    pub async fn other_account(&self, name: &str) -> AccountId {
        new_account(&self.store, name).await
    }
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

/// A fixture's bytes, exactly as stored (Meta-escaped unicode included).
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/meta/webhooks")
}

/// A minimal `messages` webhook for `phone_number_id` carrying `messages` (and `contacts`).
pub fn messages_payload(phone_number_id: &str, contacts: Value, messages: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
            "contacts": contacts,
            "messages": messages,
        }}]}],
    }))
    .unwrap()
}

/// A text message from `from` (contacts carry the same wa_id).
pub fn text_payload(phone_number_id: &str, from: &str, wamid: &str, text: &str) -> Vec<u8> {
    messages_payload(
        phone_number_id,
        json!([{"profile": {"name": "Tester"}, "wa_id": from}]),
        json!([{"from": from, "id": wamid, "timestamp": "1750000000", "type": "text",
                "text": {"body": text}}]),
    )
}

/// A text header of a delivery.
fn header(delivery: &lapin::message::Delivery, name: &str) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get(name) {
        Some(lapin::types::AMQPValue::LongString(value)) => Some(value.to_string()),
        _ => None,
    }
}
