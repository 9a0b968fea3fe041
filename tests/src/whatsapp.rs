//! The whole WhatsApp pipeline in-process: the [`Platform`] (admin, flow-executor, api-gateway,
//! and the Meta emulator inside the admin harness) plus whatsapp-ingress and the sender, all on
//! one fresh database and RabbitMQ vhost. Users talk to a bot through the emulator: their
//! messages are signed webhooks the emulator delivers to the ingress, and what the bot answers
//! is read from the emulator's conversation log, exactly as Meta would carry both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use config::{BrokerConfig, DatabaseConfig, HttpConfig};
use crypto::SecretString;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use meta_emulator::api::{DeliverReport, DeliverRequest, OutboundMessage, UserMessage};
use meta_emulator::client::{button_reply, list_reply, user_text, EmulatorClient, WebhookTarget};
use serde_json::{json, Value};

use crate::{Platform, PlatformOptions, BOOTSTRAP_TOKEN};

/// How long a test waits for the bot before it fails.
pub const BOT_WAIT: Duration = Duration::from_secs(20);

/// How to start the WhatsApp pipeline.
#[derive(Debug, Clone)]
pub struct WhatsappOptions {
    /// Admin, executors, gateway; `platform.alerts` also configures the ingress's and the
    /// sender's alerts.
    pub platform: PlatformOptions,
    /// The sender's backoff (fast by default: tests inject faults).
    pub sender_retry: sender::RetryPolicy,
}

impl Default for WhatsappOptions {
    fn default() -> Self {
        WhatsappOptions {
            platform: PlatformOptions::default(),
            sender_retry: sender::RetryPolicy {
                // About 3.5 s of retries: tests' outages stay shorter.
                max_attempts: 20,
                base_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(200),
            },
        }
    }
}

/// How to create a WhatsApp integration of the demo bot.
#[derive(Debug, Clone, Default)]
pub struct WhatsappSetup {
    /// `(name, language_code)`.
    pub template: Option<(String, String)>,
    pub trigger_recipients: Vec<String>,
    pub conversation_expiry_minutes: Option<u32>,
    /// Alerts on, to this address.
    pub alert_email: Option<String>,
    /// Left inactive when true.
    pub inactive: bool,
}

/// A WhatsApp integration as the tests address it.
#[derive(Debug, Clone)]
pub struct WhatsappIntegration {
    pub id: i64,
    pub bot_id: i64,
    pub phone_number_id: String,
    /// Its webhook URL at the ingress and its app secret.
    pub webhook: WebhookTarget,
}

pub struct WhatsappPlatform {
    pub platform: Platform,
    /// `http://127.0.0.1:<port>` of the ingress.
    pub ingress_base_url: String,
    /// The Meta emulator's control API.
    pub emulator: EmulatorClient,
    ingress: Option<whatsapp_ingress::RunningIngress>,
    sender: Option<sender::RunningSender>,
    ingress_config: whatsapp_ingress::IngressConfig,
    sender_config: sender::SenderConfig,
    numbers: AtomicU64,
}

fn local() -> HttpConfig {
    HttpConfig {
        host: "127.0.0.1".into(),
        port: 0,
    }
}

impl WhatsappPlatform {
    pub async fn start() -> WhatsappPlatform {
        Self::start_with(WhatsappOptions::default()).await
    }

    pub async fn start_with(options: WhatsappOptions) -> WhatsappPlatform {
        let alerts = options.platform.alerts.clone();
        let shards = options.platform.inbound_shards;
        let platform = Platform::start_with(options.platform).await;
        let database = DatabaseConfig {
            url: SecretString::from(platform.admin.db.url().to_owned()),
            max_connections: 4,
            connect_timeout: Duration::from_secs(5),
        };
        let broker = BrokerConfig {
            url: SecretString::from(platform.vhost.amqp_url()),
            prefetch: 64,
            inbound_shards: shards,
        };
        let deployment_key = platform.admin.deployment_key.clone();
        let ingress_config = whatsapp_ingress::IngressConfig {
            http: local(),
            database: database.clone(),
            broker: broker.clone(),
            deployment_key: deployment_key.clone(),
            instance_name: "test-ingress".into(),
            publish_timeout: Duration::from_secs(5),
            // Read integrations on every request: tests change them between messages.
            integration_cache_ttl: Duration::ZERO,
            receipt_retention: Duration::from_secs(30 * 24 * 3600),
            workers: Some(2),
            alerts: alerts.clone(),
        };
        let ingress = whatsapp_ingress::start(ingress_config.clone())
            .await
            .expect("ingress starts");
        let sender_config = sender::SenderConfig {
            http: local(),
            database,
            broker,
            deployment_key,
            instance_name: "test-sender".into(),
            graph_api_base_url: platform.admin.emulator.base_url(),
            rate_per_second: 1_000.0,
            concurrency: 8,
            retry: options.sender_retry,
            http_timeout: Duration::from_secs(5),
            token_refresh_window: Duration::from_secs(7 * 24 * 3600),
            token_check_interval: Duration::from_secs(3600),
            batch_retention: Duration::from_secs(72 * 3600),
            activity_interval: Duration::from_secs(60),
            alerts,
        };
        let sender = sender::start(sender_config.clone())
            .await
            .expect("sender starts");
        let emulator = platform.admin.emulator.client().expect("emulator client");
        WhatsappPlatform {
            ingress_base_url: format!("http://{}", ingress.addr),
            emulator,
            platform,
            ingress: Some(ingress),
            sender: Some(sender),
            ingress_config,
            sender_config,
            numbers: AtomicU64::new(1),
        }
    }

    /// Restarts every service that holds the deployment key (admin, gateway, ingress, sender)
    /// on its address under `key`, as an operator does in a key rotation; the executors and
    /// the emulator keep running.
    pub async fn restart_with_key(&mut self, key: crypto::DeploymentKey) {
        if let Some(ingress) = self.ingress.take() {
            self.ingress_config.http.port = ingress.addr.port();
            ingress.stop().await;
        }
        if let Some(sender) = self.sender.take() {
            sender.stop().await;
        }
        self.platform.restart_with_key(key.clone()).await;
        self.ingress_config.deployment_key = key.clone();
        self.sender_config.deployment_key = key;
        self.ingress = Some(
            whatsapp_ingress::start(self.ingress_config.clone())
                .await
                .expect("ingress restarts"),
        );
        self.sender = Some(
            sender::start(self.sender_config.clone())
                .await
                .expect("sender restarts"),
        );
    }

    /// Publishes the demo bot (under `name`) and connects a WhatsApp integration to it through
    /// the admin API (which exchanges the token with the emulator); activates it unless
    /// `setup.inactive`, and has the emulator send its status webhooks to the ingress.
    pub async fn demo_integration(&self, name: &str, setup: WhatsappSetup) -> WhatsappIntegration {
        let admin = &self.platform.admin;
        let bot_id = admin.published_demo_bot(BOOTSTRAP_TOKEN, name).await;
        let n = self.numbers.fetch_add(1, Ordering::Relaxed);
        let phone_number_id = format!("10654035224{n:04}");
        let app_secret = format!("app-secret-{n}-0123456789abcdef");
        let mut body = json!({
            "kind": "whatsapp", "name": name, "bot_id": bot_id,
            "business_account_id": "102290129340398",
            "phone_number_id": phone_number_id,
            "app_id": "1234567890",
            "app_secret": app_secret,
            "access_token": format!("EAAshortlived{n}"),
            "verify_token": format!("verify-token-{n}"),
            "trigger_recipients": setup.trigger_recipients,
        });
        if let Some((template, language)) = &setup.template {
            body["template"] = json!({"name": template, "language_code": language});
        }
        if let Some(minutes) = setup.conversation_expiry_minutes {
            body["conversation_expiry_minutes"] = json!(minutes);
        }
        if let Some(address) = &setup.alert_email {
            body["alert_email"] = json!({"enabled": true, "address": address});
        }
        let (status, created) = admin.post("/v1/integrations", BOOTSTRAP_TOKEN, &body).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_i64().expect("integration id");
        if !setup.inactive {
            let (status, activated) = admin
                .post(
                    &format!("/v1/integrations/{id}/activate"),
                    BOOTSTRAP_TOKEN,
                    &Value::Null,
                )
                .await;
            assert_eq!(status, 200, "{activated}");
        }
        let webhook = WebhookTarget {
            url: format!("{}/webhooks/whatsapp/{id}", self.ingress_base_url),
            app_secret,
        };
        self.emulator
            .send_statuses_to(&phone_number_id, &webhook)
            .await
            .expect("status webhooks configured");
        WhatsappIntegration {
            id,
            bot_id,
            phone_number_id,
            webhook,
        }
    }

    /// A conversation of `user` (a `wa_id`: digits) with `integration`.
    pub fn chat(&self, integration: &WhatsappIntegration, user: &str) -> Chat<'_> {
        Chat {
            platform: self,
            integration: integration.clone(),
            user: user.to_owned(),
            seen: 0,
        }
    }

    /// A connection to the test database, for checks the API does not show.
    pub async fn db(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(self.platform.admin.db.url())
            .await
            .expect("database connection")
    }

    /// Events of `integration` the executor handled (`processed_events` rows).
    pub async fn processed_events(&self, integration: i64) -> i64 {
        self.count(
            "SELECT count(*) AS n FROM processed_events WHERE integration_id = $1",
            integration,
        )
        .await
    }

    /// Messages the sender recorded as accepted by Meta for `integration`.
    pub async fn outbound_messages(&self, integration: i64) -> i64 {
        self.count(
            "SELECT count(*) AS n FROM outbound_messages WHERE integration_id = $1",
            integration,
        )
        .await
    }

    /// The delivery status of each message the sender recorded for `integration` (as the
    /// ingress moved them forward from Meta's status webhooks), oldest first.
    pub async fn outbound_statuses(&self, integration: i64) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            status: String,
        }
        let mut conn = self.db().await;
        diesel::sql_query(
            "SELECT status FROM outbound_messages WHERE integration_id = $1 \
             ORDER BY created_at, wamid",
        )
        .bind::<BigInt, _>(integration)
        .get_results::<Row>(&mut conn)
        .await
        .expect("status query")
        .into_iter()
        .map(|row| row.status)
        .collect()
    }

    async fn count(&self, query: &str, integration: i64) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = self.db().await;
        diesel::sql_query(query)
            .bind::<BigInt, _>(integration)
            .get_result::<Count>(&mut conn)
            .await
            .expect("count query")
            .n
    }

    /// The session of `user` on `integration`: its stored state (`current`, `variables`), or
    /// `None` when there is none.
    pub async fn session(&self, integration: i64, user: &str) -> Option<Value> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Jsonb)]
            state: Value,
        }
        let mut conn = self.db().await;
        diesel::sql_query(
            "SELECT state FROM sessions WHERE integration_id = $1 AND session_id = $2",
        )
        .bind::<BigInt, _>(integration)
        .bind::<Text, _>(user)
        .get_results::<Row>(&mut conn)
        .await
        .expect("session query")
        .pop()
        .map(|row| row.state)
    }

    /// When the session of `user` expires (`None`: never, or no session).
    pub async fn session_expiry(
        &self,
        integration: i64,
        user: &str,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
            expires_at: Option<chrono::DateTime<chrono::Utc>>,
        }
        let mut conn = self.db().await;
        diesel::sql_query(
            "SELECT expires_at FROM sessions WHERE integration_id = $1 AND session_id = $2",
        )
        .bind::<BigInt, _>(integration)
        .bind::<Text, _>(user)
        .get_results::<Row>(&mut conn)
        .await
        .expect("session query")
        .pop()
        .and_then(|row| row.expires_at)
    }

    /// The sealed access token stored for `integration` (to tell whether it was replaced).
    pub async fn sealed_access_token(&self, integration: i64) -> Vec<u8> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Binary)]
            access_token_sealed: Vec<u8>,
        }
        let mut conn = self.db().await;
        diesel::sql_query(
            "SELECT access_token_sealed FROM whatsapp_integrations WHERE integration_id = $1",
        )
        .bind::<BigInt, _>(integration)
        .get_result::<Row>(&mut conn)
        .await
        .expect("token query")
        .access_token_sealed
    }

    /// The kinds of the webhook receipts the ingress recorded for `integration`, oldest first.
    pub async fn receipt_kinds(&self, integration: i64) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            kind: String,
        }
        let mut conn = self.db().await;
        diesel::sql_query("SELECT kind FROM webhook_receipts WHERE integration_id = $1 ORDER BY id")
            .bind::<BigInt, _>(integration)
            .get_results::<Row>(&mut conn)
            .await
            .expect("receipt query")
            .into_iter()
            .map(|row| row.kind)
            .collect()
    }

    /// Makes the session of `user` expired, as if its conversation had been idle past the
    /// integration's expiry; returns whether there was one.
    pub async fn expire_session(&self, integration: i64, user: &str) -> bool {
        let mut conn = self.db().await;
        diesel::sql_query(
            "UPDATE sessions SET expires_at = now() - interval '1 minute' \
             WHERE integration_id = $1 AND session_id = $2",
        )
        .bind::<BigInt, _>(integration)
        .bind::<Text, _>(user)
        .execute(&mut conn)
        .await
        .expect("session update")
            == 1
    }

    /// Stops the ingress first (no new events), then the executors, then the sender.
    pub async fn stop(mut self) {
        if let Some(ingress) = self.ingress.take() {
            ingress.stop().await;
        }
        let WhatsappPlatform {
            platform, sender, ..
        } = self;
        platform.stop().await;
        if let Some(sender) = sender {
            sender.stop().await;
        }
    }
}

/// One user's conversation with a bot, over the emulator.
pub struct Chat<'a> {
    platform: &'a WhatsappPlatform,
    pub integration: WhatsappIntegration,
    /// The user's `wa_id`.
    pub user: String,
    /// The conversation log's last `seq` already returned by [`Chat::wait_for_bot`].
    seen: u64,
}

impl Chat<'_> {
    /// The user types `text`.
    pub async fn user_says(&self, text: &str) -> DeliverReport {
        self.send(user_text(
            &self.integration.phone_number_id,
            &self.user,
            text,
        ))
        .await
    }

    /// The user taps the reply button `option_id` (shown as `title`).
    pub async fn user_taps(&self, option_id: &str, title: &str) -> DeliverReport {
        self.send(button_reply(
            &self.integration.phone_number_id,
            &self.user,
            option_id,
            title,
        ))
        .await
    }

    /// The user picks the list row `row_id` (shown as `title`).
    pub async fn user_picks(&self, row_id: &str, title: &str) -> DeliverReport {
        self.send(list_reply(
            &self.integration.phone_number_id,
            &self.user,
            row_id,
            title,
        ))
        .await
    }

    /// Delivers one message as Meta would (signed; retried until a 200) and checks that the
    /// ingress acknowledged it.
    pub async fn send(&self, message: UserMessage) -> DeliverReport {
        self.deliver(DeliverRequest {
            messages: vec![message],
            ..DeliverRequest::default()
        })
        .await
    }

    /// Delivers `request` to this integration's webhook (its URL and app secret filled in) and
    /// checks that every POST was acknowledged.
    pub async fn deliver(&self, mut request: DeliverRequest) -> DeliverReport {
        request.target_url = Some(self.integration.webhook.url.clone());
        request.app_secret = Some(self.integration.webhook.app_secret.clone());
        let report = self
            .platform
            .emulator
            .deliver(&request)
            .await
            .expect("emulator delivers");
        for delivery in &report.deliveries {
            assert!(
                delivery.acknowledged,
                "the ingress refused a delivery: {:?}",
                delivery.attempts
            );
        }
        report
    }

    /// Waits for exactly `n` new messages from the bot (new since the last call) and returns
    /// them in the order Meta accepted them. More than `n` fails the test.
    pub async fn wait_for_bot(&mut self, n: usize) -> Vec<OutboundMessage> {
        let messages = self
            .platform
            .emulator
            .wait_for_outbound(
                &self.integration.phone_number_id,
                &self.user,
                n,
                Some(self.seen),
                BOT_WAIT,
            )
            .await
            .unwrap_or_else(|err| panic!("waiting for {n} bot messages: {err}"));
        assert_eq!(
            messages.len(),
            n,
            "the bot sent more than expected: {:#?}",
            messages.iter().map(describe).collect::<Vec<_>>()
        );
        if let Some(last) = messages.last() {
            self.seen = last.seq;
        }
        messages
    }

    /// [`Chat::wait_for_bot`], described (see [`describe`]).
    pub async fn bot_says(&mut self, n: usize) -> Vec<String> {
        self.wait_for_bot(n).await.iter().map(describe).collect()
    }

    /// Checks that the bot sends nothing new for `quiet`.
    pub async fn expect_no_reply(&self, quiet: Duration) {
        let started = Instant::now();
        while started.elapsed() < quiet {
            let messages = self
                .platform
                .emulator
                .conversation(
                    &self.integration.phone_number_id,
                    &self.user,
                    Some(self.seen),
                )
                .await
                .expect("conversation log");
            assert!(
                messages.is_empty(),
                "the bot answered: {:#?}",
                messages.iter().map(describe).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One line per message the business sent, for assertions:
/// `text: <body>`, `buttons: <body> [<title>|<title>]`, `list: <body> [<row>|<row>]`,
/// `image: <link> | <caption>`, `template: <name> (<language>)`.
pub fn describe(message: &OutboundMessage) -> String {
    let m = &message.message;
    let str_of = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    match message.message_type.as_str() {
        "text" => format!("text: {}", str_of(&m["text"]["body"])),
        "interactive" => {
            let body = str_of(&m["interactive"]["body"]["text"]);
            match m["interactive"]["type"].as_str() {
                Some("button") => {
                    let titles: Vec<String> = m["interactive"]["action"]["buttons"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|b| str_of(&b["reply"]["title"]))
                        .collect();
                    format!("buttons: {body} [{}]", titles.join("|"))
                }
                Some("list") => {
                    let rows: Vec<String> = m["interactive"]["action"]["sections"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|s| s["rows"].as_array().cloned().unwrap_or_default())
                        .map(|r| str_of(&r["title"]))
                        .collect();
                    format!("list: {body} [{}]", rows.join("|"))
                }
                other => format!("interactive {other:?}: {body}"),
            }
        }
        "template" => format!(
            "template: {} ({})",
            str_of(&m["template"]["name"]),
            str_of(&m["template"]["language"]["code"])
        ),
        media @ ("image" | "video" | "audio" | "document") => format!(
            "{media}: {} | {}",
            str_of(&m[media]["link"]),
            str_of(&m[media]["caption"])
        ),
        other => format!("{other}: {m}"),
    }
}
