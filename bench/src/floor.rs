//! The floor: the same broker round trip and one PostgreSQL transaction per message as the
//! platform's turn (inbox insert, session upsert, outbox insert), with no HTTP, no flow and no
//! contracts. Same broker client, same sharded quorum queues with single active consumers, same
//! per-replica reply queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker::{Ack, Broker, BrokerConfig, ConsumeOptions, Delivery, PublishOptions, Topology};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};
use tokio::sync::{oneshot, watch};

use crate::stats::Samples;

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>;

pub struct Floor {
    broker: Broker,
    reply_queue: String,
    waiting: Waiting,
    stop: watch::Sender<bool>,
    _vhost: testkit::vhost::TestVhost,
    _db: testkit::database::TestDatabase,
}

const SCHEMA: &str = "CREATE TABLE inbox (event_id TEXT PRIMARY KEY, processed_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE sessions (key TEXT PRIMARY KEY, state JSONB NOT NULL, revision BIGINT NOT NULL);
CREATE TABLE outbox (id BIGSERIAL PRIMARY KEY, payload JSONB NOT NULL);";

impl Floor {
    pub async fn start(shards: u16, pool_size: usize) -> anyhow::Result<Floor> {
        let db = testkit::database::TestDatabase::create().await?;
        let vhost = testkit::vhost::TestVhost::create().await;
        let pool = crate::harness::floor_pool(db.url(), pool_size)?;
        {
            let mut conn = pool.get().await?;
            for statement in SCHEMA.split(';').filter(|s| !s.trim().is_empty()) {
                diesel::sql_query(statement).execute(&mut conn).await?;
            }
        }
        let topology = Topology::with_shards(shards);
        let broker = Broker::connect(
            BrokerConfig::new(vhost.amqp_url(), "floor"),
            topology.clone(),
        )
        .await?;
        let reply_queue = broker.declare_reply_queue("floor").await?;
        let (stop, watcher) = watch::channel(false);
        let waiting: Waiting = Arc::default();

        for queue in topology.inbound_queues() {
            let broker_for_task = broker.clone();
            let publisher = broker.publisher();
            let pool = pool.clone();
            let mut watcher = watcher.clone();
            tokio::spawn(async move {
                let handler = move |delivery: Delivery| {
                    let pool = pool.clone();
                    let publisher = publisher.clone();
                    async move {
                        if work(&pool, &delivery).await.is_err() {
                            return Ack::Requeue;
                        }
                        let options = PublishOptions {
                            correlation_id: delivery.correlation_id.clone(),
                            persistent: false,
                            ..PublishOptions::default()
                        };
                        let reply_to = delivery.reply_to.clone().unwrap_or_default();
                        match publisher.publish("", &reply_to, b"{}", &options).await {
                            Ok(()) => Ack::Ack,
                            Err(_) => Ack::Requeue,
                        }
                    }
                };
                let options = ConsumeOptions {
                    prefetch: Some(32),
                    consumer_tag: String::new(),
                    concurrency: 1,
                    lanes: None,
                };
                let shutdown = async move {
                    let _ = watcher.wait_for(|s| *s).await;
                };
                let _ = broker_for_task
                    .consume(&queue, options, handler, shutdown)
                    .await;
            });
        }
        let replies = waiting.clone();
        let reply_broker = broker.clone();
        let queue = reply_queue.clone();
        let mut watcher = watcher.clone();
        tokio::spawn(async move {
            let handler = move |delivery: Delivery| {
                let replies = replies.clone();
                async move {
                    let id = delivery.correlation_id.unwrap_or_default();
                    if let Some(sender) = replies.lock().ok().and_then(|mut w| w.remove(&id)) {
                        let _ = sender.send(());
                    }
                    Ack::Ack
                }
            };
            let options = ConsumeOptions {
                prefetch: Some(512),
                consumer_tag: String::new(),
                concurrency: 64,
                lanes: None,
            };
            let shutdown = async move {
                let _ = watcher.wait_for(|s| *s).await;
            };
            let _ = reply_broker
                .consume(&queue, options, handler, shutdown)
                .await;
        });
        Ok(Floor {
            broker,
            reply_queue,
            waiting,
            stop,
            _vhost: vhost,
            _db: db,
        })
    }

    /// One request: publish to the conversation's shard, wait for the reply.
    pub async fn round_trip(
        &self,
        publisher: &broker::Publisher,
        conversation: &str,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let id = uuid::Uuid::new_v4().to_string();
        let (sender, receiver) = oneshot::channel();
        self.waiting
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .insert(id.clone(), sender);
        let body = serde_json::to_vec(
            &serde_json::json!({"event_id": id, "conversation": conversation, "text": "hello"}),
        )?;
        let options = PublishOptions {
            message_id: Some(id.clone()),
            correlation_id: Some(id),
            reply_to: Some(self.reply_queue.clone()),
            ..PublishOptions::default()
        };
        publisher
            .publish("bot.inbound", conversation, &body, &options)
            .await?;
        tokio::time::timeout(Duration::from_secs(30), receiver).await??;
        Ok(started.elapsed())
    }

    pub fn publisher(&self) -> broker::Publisher {
        self.broker.publisher()
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.broker.close().await;
    }
}

/// The transaction of one turn, without a turn.
async fn work(pool: &Pool<AsyncPgConnection>, delivery: &Delivery) -> anyhow::Result<()> {
    let message: serde_json::Value = serde_json::from_slice(&delivery.body)?;
    let event_id = message["event_id"].as_str().unwrap_or_default().to_owned();
    let key = message["conversation"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut conn = pool.get().await?;
    AnsiTransactionManager::begin_transaction(&mut *conn).await?;
    store::prepared::prepared("INSERT INTO inbox (event_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind::<diesel::sql_types::Text, _>(&event_id)
        .execute(&mut conn)
        .await?;
    store::prepared::prepared(
        "INSERT INTO sessions (key, state, revision) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, revision = sessions.revision + 1",
    )
    .bind::<diesel::sql_types::Text, _>(&key)
    .bind::<diesel::sql_types::Jsonb, _>(&message)
    .execute(&mut conn)
    .await?;
    store::prepared::prepared("INSERT INTO outbox (payload) VALUES ($1)")
        .bind::<diesel::sql_types::Jsonb, _>(&message)
        .execute(&mut conn)
        .await?;
    AnsiTransactionManager::commit_transaction(&mut *conn).await?;
    Ok(())
}

/// `sessions` conversations in parallel, each sending `per_session` requests one after another.
pub async fn drive(
    floor: &Arc<Floor>,
    sessions: usize,
    per_session: usize,
) -> anyhow::Result<(Samples, Duration)> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    // One confirming channel for all, as the gateway has.
    let shared = floor.publisher();
    for s in 0..sessions {
        let floor = floor.clone();
        let publisher = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            for _ in 0..per_session {
                samples.push(floor.round_trip(&publisher, &format!("floor-{s}")).await?);
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
