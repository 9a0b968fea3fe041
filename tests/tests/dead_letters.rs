#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Dead letters end to end: an event RabbitMQ dead-lettered reaches the operator through the
//! executor's drain and the admin API, account-scoped; a replay runs it once, a second replay
//! does not run it again; a discarded letter cannot be replayed; the depth is a metric.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker::{Ack, ConsumeOptions, Delivery, PublishOptions};
use contracts::v1::{Channel, ConversationKey, InboundEvent, Input, SchemaVersion};
use contracts::IntegrationId;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use e2e::{AdminHarness, Platform, BOOTSTRAP_TOKEN};
use serde_json::{json, Value};

/// An upstream that counts the calls it gets: each run of the bot's first turn calls it once.
async fn counting_upstream() -> (u16, Arc<AtomicUsize>) {
    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = server.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = server.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 2048];
                let _ = socket.read(&mut buf).await;
                counter.fetch_add(1, Ordering::SeqCst);
                let body = "{\"ok\":true}";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, hits)
}

fn counted_bot(port: u16) -> Value {
    json!({"name": "Counted", "variables": [{"name": "seen"}], "flow": {"start": "call", "components": [
        {"id": "call", "type": "http_request", "method": "GET", "url": format!("http://127.0.0.1:{port}/count"),
         "timeout_ms": 5000, "map": [], "next": "ask"},
        {"id": "ask", "type": "question_text", "text": "say something", "variable": "seen", "next": "say"},
        {"id": "say", "type": "text", "text": "got {{seen}}", "next": "ask"}]}})
}

/// An API session start nobody waits for; `force_restart` so that running it a second time
/// would restart the session and call the upstream again.
fn start_event(integration: i64, session: &str, event_id: &str) -> InboundEvent {
    let integration_id = IntegrationId::new(integration).unwrap();
    InboundEvent {
        schema: SchemaVersion::V1,
        event_id: event_id.into(),
        integration_id,
        channel: Channel::Api,
        conversation_key: ConversationKey::api(integration_id, session),
        session_id: session.into(),
        user_identifier: session.into(),
        received_at_unix_ms: chrono::Utc::now().timestamp_millis(),
        input: Input::Start {
            force_restart: true,
            variables: BTreeMap::new(),
            message_payload: None,
        },
        reply: None,
        idempotency: None,
        whatsapp: None,
    }
}

/// Publishes `event` to `bot.inbound` while no executor runs, and has a consumer of the
/// shards reject it: RabbitMQ dead-letters it to `bot.dead-letter` with its `x-death`
/// headers, as it does with every message a consumer rejects.
async fn dead_letter_through_rabbitmq(p: &Platform, event: &InboundEvent) {
    let settings = config::BrokerConfig {
        url: crypto::SecretString::from(p.vhost.amqp_url()),
        prefetch: 1,
        inbound_shards: 2,
    };
    let broker = broker::Broker::start_from_settings(&settings, "test-rejecter").unwrap();
    broker
        .wait_connected(Duration::from_secs(10))
        .await
        .unwrap();
    broker
        .publisher()
        .publish_with_retry(
            broker::topology::INBOUND_EXCHANGE,
            event.conversation_key.as_str(),
            &contracts::v1::encode(event).unwrap(),
            PublishOptions::default()
                .with_message_id(event.event_id.clone())
                .mandatory(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let (rejected_tx, mut rejected) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut consumers = Vec::new();
    for queue in broker.topology().inbound_queues() {
        let broker = broker.clone();
        let rejected_tx = rejected_tx.clone();
        let mut stop = stop.clone();
        consumers.push(tokio::spawn(async move {
            let handler = move |delivery: Delivery| {
                let rejected_tx = rejected_tx.clone();
                async move {
                    let _ = rejected_tx.send(delivery.message_id);
                    Ack::Reject
                }
            };
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            broker
                .consume(&queue, ConsumeOptions::default(), handler, stopped)
                .await
                .unwrap();
        }));
    }
    let id = tokio::time::timeout(Duration::from_secs(20), rejected.recv())
        .await
        .expect("the event reached a shard consumer");
    assert_eq!(id.flatten().as_deref(), Some(event.event_id.as_str()));
    let _ = stop_tx.send(true);
    for consumer in consumers {
        consumer.await.unwrap();
    }
    broker.close().await;
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_dead_lettered_event_is_listed_replayed_once_and_scoped_to_its_account() {
    let mut p = Platform::start().await;
    let (port, hits) = counting_upstream().await;
    let integration = p.api_integration_for(&counted_bot(port), json!({})).await;
    let (id, key) = (integration.id, integration.key.clone());
    let event = start_event(id, "dl", "dead-start-1");
    let conversation = format!("{id}:dl");

    p.stop_executor(0).await;
    dead_letter_through_rabbitmq(&p, &event).await;
    // A fresh executor drains what waited in bot.dead-letter.
    p.add_executor().await;

    let admin = &p.admin;
    wait_until("the dead letter to be listed", || async {
        let (status, body) = admin.get("/v1/dead-letters", BOOTSTRAP_TOKEN).await;
        assert_eq!(status, 200, "{body}");
        body["dead_letters"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    })
    .await;
    let (_, listed) = admin.get("/v1/dead-letters", BOOTSTRAP_TOKEN).await;
    let letters = listed["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{listed}");
    let letter = &letters[0];
    assert_eq!(letter["event_id"], "dead-start-1");
    assert_eq!(letter["integration_id"], id);
    let (_, account) = admin.get("/v1/account", BOOTSTRAP_TOKEN).await;
    assert_eq!(letter["account_id"], account["id"]);
    assert_eq!(letter["conversation_key"], conversation.as_str());
    assert_eq!(letter["exchange"], "bot.inbound");
    assert_eq!(letter["routing_key"], conversation.as_str());
    assert_eq!(letter["status"], "dead");
    assert_eq!(letter["attempts"], 1);
    assert!(
        letter["source_queue"]
            .as_str()
            .is_some_and(|q| q.starts_with("bot.inbound.")),
        "{letter}"
    );
    assert!(
        letter["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("rejected by its consumer")),
        "{letter}"
    );
    assert!(letter["first_attempt_at"].is_string() && letter["last_attempt_at"].is_string());
    let letter_id = letter["id"].as_i64().unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the turn never ran");

    let (status, shown) = admin
        .get(&format!("/v1/dead-letters/{letter_id}"), BOOTSTRAP_TOKEN)
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["body"]["event_id"], "dead-start-1");
    assert_eq!(shown["body"]["input"]["type"], "start");
    assert_eq!(shown["headers"]["message_id"], "dead-start-1");

    // The depth is exported by the executor.
    let metrics_url = format!("{}/metrics", p.executor_probe_url(0).unwrap());
    wait_until("the dead-letter gauge", || async {
        let text = admin
            .client
            .get(&metrics_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines().any(|line| line == "dead_letters 1")
    })
    .await;

    // Another account sees nothing of it and can do nothing with it.
    let other = admin.new_account("other").await;
    let (status, list) = admin.get("/v1/dead-letters", &other).await;
    assert_eq!((status, list["dead_letters"].clone()), (200, json!([])));
    let path = format!("/v1/dead-letters/{letter_id}");
    assert_eq!(admin.get(&path, &other).await.0, 404);
    assert_eq!(
        admin
            .post(&format!("{path}/replay"), &other, &Value::Null)
            .await
            .0,
        404
    );
    assert_eq!(
        admin
            .post(&format!("{path}/discard"), &other, &Value::Null)
            .await
            .0,
        404
    );
    assert_eq!(admin.delete(&path, &other).await.0, 404);

    // Replayed: the turn runs, once.
    let (status, replayed) = admin
        .post(&format!("{path}/replay"), BOOTSTRAP_TOKEN, &Value::Null)
        .await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["status"], "replayed");
    assert!(replayed["replayed_at"].is_string());
    wait_until("the replayed turn to run", || async {
        hits.load(Ordering::SeqCst) >= 1
    })
    .await;
    let message = format!("/{id}/session/dl/message");
    let (status, answer) = p.api(&message, &key, &json!({"message": "one"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["messages"][0]["text"], "got one");

    // Replayed again: the executor recognises the event and does not run it again. The next
    // message of the conversation is handled after the duplicate (per-conversation order), so
    // once it is answered the duplicate has been seen.
    let (status, again) = admin
        .post(&format!("{path}/replay"), BOOTSTRAP_TOKEN, &Value::Null)
        .await;
    assert_eq!(status, 200, "{again}");
    let (status, answer) = p.api(&message, &key, &json!({"message": "two"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["messages"][0]["text"], "got two",
        "the session was not restarted: {answer}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the turn ran once");

    // Discarded: listed as such, no longer replayable; discarding again answers the same.
    let (status, discarded) = admin
        .post(&format!("{path}/discard"), BOOTSTRAP_TOKEN, &Value::Null)
        .await;
    assert_eq!(
        (status, discarded["status"].as_str()),
        (200, Some("discarded"))
    );
    let (status, refused) = admin
        .post(&format!("{path}/replay"), BOOTSTRAP_TOKEN, &Value::Null)
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("dead_letter_discarded")),
        "{refused}"
    );
    let (status, deleted) = admin.delete(&path, BOOTSTRAP_TOKEN).await;
    assert_eq!(
        (status, deleted["status"].as_str()),
        (200, Some("discarded"))
    );
    let (_, dead) = admin
        .get("/v1/dead-letters?status=dead", BOOTSTRAP_TOKEN)
        .await;
    assert_eq!(dead["dead_letters"], json!([]));
    let (_, gone) = admin
        .get(
            &format!("/v1/dead-letters?status=discarded&integration_id={id}"),
            BOOTSTRAP_TOKEN,
        )
        .await;
    assert_eq!(gone["dead_letters"][0]["id"], letter_id);
    let (status, bad) = admin
        .get("/v1/dead-letters?status=lost", BOOTSTRAP_TOKEN)
        .await;
    assert_eq!(status, 422, "{bad}");
    p.stop().await;
}

#[tokio::test]
async fn replaying_without_a_broker_is_503_and_changes_nothing() {
    use diesel_async::RunQueryDsl;
    let h = AdminHarness::start().await;
    let mut conn = AsyncPgConnection::establish(h.db.url()).await.unwrap();
    diesel::sql_query(
        "INSERT INTO dead_letters (event_id, account_id, source_queue, exchange, routing_key, \
             body, reason, attempts, first_attempt_at, last_attempt_at) \
         SELECT 'ev-x', id, 'bot.inbound.0', 'bot.inbound', '1:x', '{}'::bytea, 'rejected', 1, \
                now(), now() FROM accounts",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let (_, list) = h.get("/v1/dead-letters", BOOTSTRAP_TOKEN).await;
    let id = list["dead_letters"][0]["id"].as_i64().unwrap();
    let (status, body) = h
        .post(
            &format!("/v1/dead-letters/{id}/replay"),
            BOOTSTRAP_TOKEN,
            &Value::Null,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("broker_not_configured")),
        "{body}"
    );
    let (_, shown) = h
        .get(&format!("/v1/dead-letters/{id}"), BOOTSTRAP_TOKEN)
        .await;
    assert_eq!(shown["status"], "dead");
    assert_eq!(shown["body"], json!({}));
    h.stop().await;
}
