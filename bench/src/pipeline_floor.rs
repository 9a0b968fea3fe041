//! The whole-pipeline floor: the broker and database work of one WhatsApp reply turn, with no
//! logic, in a vhost and database of its own, so that the pipeline's reply turns per second
//! are a ratio measured in the same run. One turn is:
//!
//! 1. the client publishes a webhook-sized `InboundEvent` to `bot.inbound` (conversation key
//!    as routing key, persistent, mandatory, confirmed), as the ingress does;
//! 2. a consumer per shard, with the executor's prefetch, concurrency and per-conversation
//!    lanes, runs one transaction (inbox insert, session upsert, outbox insert: floor.rs's
//!    turn) and publishes the turn's `OutboundWhatsapp` (the echo bot's answer: `got <text>`
//!    and the next question) to `bot.outbound`, confirmed, then acks;
//! 3. a consumer of `sender.whatsapp`, with the sender's prefetch, concurrency and lanes,
//!    makes the three Graph calls of a reply turn (mark as read, two messages) to the local
//!    Graph API (graph_sink.rs) with the sender's HTTP client, and after each accepted message
//!    one statement, its own commit, recording the message and the batch's progress.
//!
//! The client waits until the Graph API received `got <text>`, as the pipeline's client does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use broker::topology::{
    INBOUND_EXCHANGE, OUTBOUND_EXCHANGE, SENDER_WHATSAPP_QUEUE, WHATSAPP_ROUTING_KEY,
};
use broker::{Ack, Broker, BrokerConfig, ConsumeOptions, Delivery, LaneKey, PublishOptions};
use broker::{Publisher, Topology};
use chrono::Utc;
use contracts::v1::{
    BotMessage, Channel, ConversationKey, InboundEvent, Input, OutboundWhatsapp, Recipient,
    SchemaVersion, WhatsappContext,
};
use contracts::IntegrationId;
use crypto::SecretString;
use diesel::sql_types::{Integer, Jsonb, Text};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};
use graph_client::GraphClient;
use tokio::sync::watch;

use crate::graph_sink::Record;
use crate::stats::Samples;
use crate::wa_e2e::since;
use crate::wa_pipeline::PHONE_NUMBER_ID;

const SCHEMA: &str = "CREATE TABLE inbox (event_id TEXT PRIMARY KEY, processed_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE sessions (key TEXT PRIMARY KEY, state JSONB NOT NULL, revision BIGINT NOT NULL);
CREATE TABLE outbox (id BIGSERIAL PRIMARY KEY, payload JSONB NOT NULL);
CREATE TABLE outbound_messages (wamid TEXT PRIMARY KEY, conversation_key TEXT NOT NULL, batch_event_id TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE outbound_batches (event_id TEXT PRIMARY KEY, sent_count INTEGER NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())";

/// How long one publish may take with its retries (the executor's bound).
const PUBLISH_WITHIN: Duration = Duration::from_secs(15);
const INTEGRATION: i64 = 1;
const VERSION: &str = "v21.0";

/// How the floor's consumers are shaped: the executor's and the sender's settings.
#[derive(Debug, Clone)]
pub struct FloorShape {
    pub shards: u16,
    pub turn_prefetch: u16,
    pub turn_concurrency: usize,
    pub sender_concurrency: usize,
    pub sender_prefetch: u16,
    /// Connections of each of the two pools (the executor's, the sender's).
    pub pool_size: usize,
}

pub struct PipelineFloor {
    broker: Broker,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _vhost: testkit::vhost::TestVhost,
    _db: testkit::database::TestDatabase,
}

impl PipelineFloor {
    pub async fn start(shape: &FloorShape, graph_url: &str) -> anyhow::Result<PipelineFloor> {
        let db = testkit::database::TestDatabase::create().await?;
        let vhost = testkit::vhost::TestVhost::create().await;
        let turns = crate::harness::floor_pool(db.url(), shape.pool_size)?;
        let bookkeeping = crate::harness::floor_pool(db.url(), shape.pool_size)?;
        {
            let mut conn = turns.get().await?;
            for statement in SCHEMA.split(';').filter(|s| !s.trim().is_empty()) {
                diesel::sql_query(statement).execute(&mut conn).await?;
            }
        }
        let topology = Topology::with_shards(shape.shards);
        let broker = Broker::connect(
            BrokerConfig::new(vhost.amqp_url(), "pipeline-floor"),
            topology.clone(),
        )
        .await?;
        let (stop, watcher) = watch::channel(false);
        let mut tasks = Vec::new();
        for queue in topology.inbound_queues() {
            let (broker, publisher, pool) = (broker.clone(), broker.publisher(), turns.clone());
            let options = ConsumeOptions {
                prefetch: Some(shape.turn_prefetch),
                consumer_tag: String::new(),
                concurrency: shape.turn_concurrency,
                lanes: Some(LaneKey::conversation()),
            };
            let stopped = stopped(watcher.clone());
            tasks.push(tokio::spawn(async move {
                let handler = move |delivery: Delivery| {
                    let (pool, publisher) = (pool.clone(), publisher.clone());
                    async move {
                        match turn(&pool, &publisher, &delivery).await {
                            Ok(()) => Ack::Ack,
                            Err(error) => {
                                tracing::warn!(%error, "floor turn failed");
                                Ack::Requeue
                            }
                        }
                    }
                };
                let _ = broker.consume(&queue, options, handler, stopped).await;
            }));
        }
        let graph = GraphClient::new(graph_url)?;
        let sender_broker = broker.clone();
        let options = ConsumeOptions {
            prefetch: Some(shape.sender_prefetch),
            consumer_tag: String::new(),
            concurrency: shape.sender_concurrency,
            lanes: Some(LaneKey::new(|delivery| {
                #[derive(serde::Deserialize)]
                struct Keyed {
                    conversation_key: String,
                }
                serde_json::from_slice::<Keyed>(&delivery.body)
                    .ok()
                    .map(|k| k.conversation_key)
            })),
        };
        let stopped = stopped(watcher);
        tasks.push(tokio::spawn(async move {
            let token = Arc::new(SecretString::from("floor-token"));
            let handler = move |delivery: Delivery| {
                let (pool, graph, token) = (bookkeeping.clone(), graph.clone(), token.clone());
                async move {
                    match send(&pool, &graph, &token, &delivery).await {
                        Ok(()) => Ack::Ack,
                        Err(error) => {
                            tracing::warn!(%error, "floor send failed");
                            Ack::Requeue
                        }
                    }
                }
            };
            let _ = sender_broker
                .consume(SENDER_WHATSAPP_QUEUE, options, handler, stopped)
                .await;
        }));
        Ok(PipelineFloor {
            broker,
            stop,
            tasks,
            _vhost: vhost,
            _db: db,
        })
    }

    /// Closed loop: each of `users` publishes a message, waits until the Graph API received
    /// its answer, and publishes the next, for `duration`. Latency from before the publish to
    /// the answer's arrival.
    pub async fn saturate(
        &self,
        record: &Arc<Record>,
        users: &[String],
        duration: Duration,
    ) -> anyhow::Result<(Samples, Duration)> {
        let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let publisher = self.broker.publisher();
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = Vec::new();
        for (u, user) in users.iter().enumerate() {
            let (publisher, record, user, run) =
                (publisher.clone(), record.clone(), user.clone(), run.clone());
            tasks.push(tokio::spawn(async move {
                let mut samples = Samples::default();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let text = format!("f{run}-{u}-{n}");
                    let wamid = format!("wamid.floor{run}{u:06}{n:010}");
                    let event = inbound_event(INTEGRATION, &user, &wamid, &text)?;
                    let body = contracts::v1::encode(&event)?;
                    n += 1;
                    let posted = Utc::now();
                    let options = PublishOptions::json(wamid).mandatory();
                    publisher
                        .publish_with_retry(
                            INBOUND_EXCHANGE,
                            event.conversation_key.as_str(),
                            &body,
                            options,
                            PUBLISH_WITHIN,
                        )
                        .await?;
                    let answered = record
                        .wait_reply(&format!("got {text}"), Duration::from_secs(60))
                        .await
                        .ok_or_else(|| anyhow::anyhow!("floor: no answer to {text}"))?;
                    samples.push(since(posted, answered));
                }
                anyhow::Ok(samples)
            }));
        }
        let mut all = Samples::default();
        for task in tasks {
            all.extend(task.await??);
        }
        Ok((all, started.elapsed()))
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.broker.close().await;
    }
}

async fn stopped(mut watcher: watch::Receiver<bool>) {
    let _ = watcher.wait_for(|s| *s).await;
}

/// The event the ingress publishes for a text message.
pub fn inbound_event(
    integration: i64,
    user: &str,
    wamid: &str,
    text: &str,
) -> anyhow::Result<InboundEvent> {
    let integration = IntegrationId::new(integration)?;
    Ok(InboundEvent {
        schema: SchemaVersion::V1,
        event_id: wamid.into(),
        integration_id: integration,
        channel: Channel::Whatsapp,
        conversation_key: ConversationKey::whatsapp(integration, PHONE_NUMBER_ID, user),
        session_id: user.into(),
        user_identifier: user.into(),
        received_at_unix_ms: Utc::now().timestamp_millis(),
        input: Input::Text { text: text.into() },
        reply: None,
        idempotency: None,
        whatsapp: Some(WhatsappContext {
            phone_number_id: PHONE_NUMBER_ID.into(),
            wa_id: Some(user.into()),
            user_id: None,
            profile_name: Some("Bench User".into()),
            inbound_message_id: wamid.into(),
        }),
    })
}

/// One turn without a turn: the transaction, then the outbound batch, confirmed.
async fn turn(
    pool: &Pool<AsyncPgConnection>,
    publisher: &Publisher,
    delivery: &Delivery,
) -> anyhow::Result<()> {
    let event: InboundEvent = contracts::v1::decode(&delivery.body)?;
    let Input::Text { text } = &event.input else {
        anyhow::bail!("not a text");
    };
    let user = event.user_identifier.clone();
    let batch = OutboundWhatsapp {
        schema: SchemaVersion::V1,
        event_id: format!("{}:out", event.event_id),
        integration_id: event.integration_id,
        conversation_key: event.conversation_key.clone(),
        phone_number_id: PHONE_NUMBER_ID.into(),
        to: Recipient::WaId(user),
        reply_to_message_id: Some(event.event_id.clone()),
        messages: vec![
            BotMessage::Text {
                text: format!("got {text}"),
            },
            BotMessage::Text {
                text: "say something".into(),
            },
        ],
        fallback_template: None,
        template: None,
        sequence: 1,
    };
    let state = serde_json::json!({"seen": text});
    let outputs = serde_json::to_value(&batch)?;
    let mut conn = pool.get().await?;
    AnsiTransactionManager::begin_transaction(&mut *conn).await?;
    let written = async {
        store::prepared::prepared(
            "INSERT INTO inbox (event_id) VALUES ($1) ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(&event.event_id)
        .execute(&mut conn)
        .await?;
        store::prepared::prepared(
            "INSERT INTO sessions (key, state, revision) VALUES ($1, $2, 1) ON CONFLICT (key) \
             DO UPDATE SET state = EXCLUDED.state, revision = sessions.revision + 1",
        )
        .bind::<Text, _>(event.conversation_key.as_str())
        .bind::<Jsonb, _>(&state)
        .execute(&mut conn)
        .await?;
        store::prepared::prepared("INSERT INTO outbox (payload) VALUES ($1)")
            .bind::<Jsonb, _>(&outputs)
            .execute(&mut conn)
            .await?;
        anyhow::Ok(())
    }
    .await;
    if let Err(error) = written {
        let _ = AnsiTransactionManager::rollback_transaction(&mut *conn).await;
        return Err(error);
    }
    AnsiTransactionManager::commit_transaction(&mut *conn).await?;
    drop(conn);
    let body = contracts::v1::encode(&batch)?;
    let options = PublishOptions::json(format!("{}#0", batch.event_id));
    publisher
        .publish_with_retry(
            OUTBOUND_EXCHANGE,
            WHATSAPP_ROUTING_KEY,
            &body,
            options,
            PUBLISH_WITHIN,
        )
        .await?;
    Ok(())
}

/// The sender's part without its logic: mark read, then each message and its record.
async fn send(
    pool: &Pool<AsyncPgConnection>,
    graph: &GraphClient,
    token: &SecretString,
    delivery: &Delivery,
) -> anyhow::Result<()> {
    let batch: OutboundWhatsapp = contracts::v1::decode(&delivery.body)?;
    if let Some(read) = &batch.reply_to_message_id {
        graph
            .mark_read(VERSION, &batch.phone_number_id, token, read)
            .await?;
    }
    for (index, message) in batch.messages.iter().enumerate() {
        let BotMessage::Text { text } = message else {
            anyhow::bail!("not a text");
        };
        let payload =
            graph_client::payload::message(&batch.to, "text", serde_json::json!({"body": text}));
        let sent = graph
            .send_message(VERSION, &batch.phone_number_id, token, &payload)
            .await?;
        let mut conn = pool.get().await?;
        store::prepared::prepared(
            "WITH message AS (INSERT INTO outbound_messages (wamid, conversation_key, \
                                                            batch_event_id) \
                              VALUES ($1, $2, $3) ON CONFLICT DO NOTHING) \
             INSERT INTO outbound_batches (event_id, sent_count) VALUES ($3, $4) \
             ON CONFLICT (event_id) DO UPDATE SET sent_count = EXCLUDED.sent_count, \
                                                  updated_at = now()",
        )
        .bind::<Text, _>(&sent.wamid)
        .bind::<Text, _>(batch.conversation_key.as_str())
        .bind::<Text, _>(&batch.event_id)
        .bind::<Integer, _>(i32::try_from(index + 1)?)
        .execute(&mut conn)
        .await?;
    }
    Ok(())
}
