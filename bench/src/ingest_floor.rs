//! The ingest floor: the least the WhatsApp ingress must do per accepted webhook, without
//! HTTP, the signature or parsing. For a text message that is one event published to
//! `bot.inbound` (the conversation key as routing key, persistent, mandatory) and the broker's
//! confirm, through one confirming channel shared by every publisher, as the ingress does
//! (`Publisher::publish_with_retry`); the ingress writes nothing to PostgreSQL for it (the
//! integration is cached; receipts are written only for payloads it does not act on).
//!
//! The second variant adds one small INSERT per message (autocommit, run beside the publish
//! as the ingress runs its receipts beside its publishing): the broker-and-database floor,
//! which is what a recorded payload costs.
//!
//! Same broker client, same sharded quorum queues as the platform, in a vhost and database of
//! its own. Nobody consumes: the ingress phases run without consumers either.

use std::time::{Duration, Instant};

use broker::topology::INBOUND_EXCHANGE;
use broker::{Broker, BrokerConfig, PublishOptions, Topology};
use contracts::v1::{
    Channel, ConversationKey, InboundEvent, Input, SchemaVersion, WhatsappContext,
};
use contracts::IntegrationId;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::stats::Samples;

const SCHEMA: &str =
    "CREATE TABLE receipts (id BIGSERIAL PRIMARY KEY, integration_id BIGINT NOT NULL, \
     received_at TIMESTAMPTZ NOT NULL DEFAULT now(), kind TEXT NOT NULL, detail JSONB NOT NULL)";

/// How long one publish may take with its retries, as the ingress's default.
const PUBLISH_WITHIN: Duration = Duration::from_secs(5);

pub struct IngestFloor {
    broker: Broker,
    pool: Pool<AsyncPgConnection>,
    /// An encoded `InboundEvent` as the ingress publishes for a text message.
    body: Vec<u8>,
    _vhost: testkit::vhost::TestVhost,
    _db: testkit::database::TestDatabase,
}

/// Which floor to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorKind {
    Publish,
    PublishAndInsert,
}

impl IngestFloor {
    pub async fn start(shards: u16, pool_size: usize) -> anyhow::Result<IngestFloor> {
        let db = testkit::database::TestDatabase::create().await?;
        let vhost = testkit::vhost::TestVhost::create().await;
        let pool = crate::harness::floor_pool(db.url(), pool_size)?;
        diesel::sql_query(SCHEMA)
            .execute(&mut pool.get().await?)
            .await?;
        let broker = Broker::connect(
            BrokerConfig::new(vhost.amqp_url(), "ingest-floor"),
            Topology::with_shards(shards),
        )
        .await?;
        Ok(IngestFloor {
            broker,
            pool,
            body: sample_event()?,
            _vhost: vhost,
            _db: db,
        })
    }

    /// `publishers` tasks publishing one after another for `duration`, each message for
    /// another conversation. Returns each message's latency and the wall time.
    pub async fn run(
        &self,
        publishers: usize,
        duration: Duration,
        kind: FloorKind,
    ) -> anyhow::Result<(Samples, Duration)> {
        let run = uuid::Uuid::new_v4().simple().to_string();
        let publisher = self.broker.publisher();
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = Vec::new();
        for p in 0..publishers {
            let publisher = publisher.clone();
            let pool = self.pool.clone();
            let body = self.body.clone();
            let run = run.clone();
            tasks.push(tokio::spawn(async move {
                let mut samples = Samples::default();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let id = format!("wamid.floor-{run}-{p}-{n}");
                    let key = format!("1:1122334455667:1650{p:03}{n:07}");
                    let sent = Instant::now();
                    let options = PublishOptions::json(id.clone()).mandatory();
                    let publishing = publisher.publish_with_retry(
                        INBOUND_EXCHANGE,
                        &key,
                        &body,
                        options,
                        PUBLISH_WITHIN,
                    );
                    match kind {
                        FloorKind::Publish => {
                            publishing.await?;
                        }
                        FloorKind::PublishAndInsert => {
                            let (published, inserted) =
                                tokio::join!(publishing, insert(&pool, &id));
                            published?;
                            inserted?;
                        }
                    }
                    samples.push(sent.elapsed());
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
        self.broker.close().await;
    }
}

/// One receipt-sized row, in its own (implicit) transaction.
async fn insert(pool: &Pool<AsyncPgConnection>, id: &str) -> anyhow::Result<()> {
    let mut conn = pool.get().await?;
    store::prepared::prepared(
        "INSERT INTO receipts (integration_id, kind, detail) VALUES (1, 'ignored', \
         jsonb_build_object('wamid', $1::text))",
    )
    .bind::<diesel::sql_types::Text, _>(id)
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// The event the ingress publishes for one text message (the bytes differ only in ids).
fn sample_event() -> anyhow::Result<Vec<u8>> {
    let integration = IntegrationId::new(1)?;
    let user = "16505550123";
    let wamid = "wamid.HBgLMTY1MDU1NTAxMjMVAgASGBQzQUI1RjREMEI5QjhFQjZBMkE2MwA=";
    let event = InboundEvent {
        schema: SchemaVersion::V1,
        event_id: wamid.into(),
        integration_id: integration,
        channel: Channel::Whatsapp,
        conversation_key: ConversationKey::whatsapp(integration, "1122334455667", user),
        session_id: user.into(),
        user_identifier: user.into(),
        received_at_unix_ms: 1_764_000_000_000,
        input: Input::Text {
            text: "hello, is the shop open on sunday?".into(),
        },
        reply: None,
        idempotency: None,
        whatsapp: Some(WhatsappContext {
            phone_number_id: "1122334455667".into(),
            wa_id: Some(user.into()),
            user_id: None,
            profile_name: Some("Bench User".into()),
            inbound_message_id: wamid.into(),
        }),
    };
    Ok(contracts::v1::encode(&event)?)
}
