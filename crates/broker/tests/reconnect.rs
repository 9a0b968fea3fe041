#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Nothing is lost when the broker drops connections mid-stream: the publisher retries until
//! confirmed, the consumer resumes after the reconnect and unacked messages come back.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker::topology::INBOUND_EXCHANGE;
use broker::{Ack, ConsumeOptions, Delivery, PublishOptions};
use testkit::vhost::TestVhost;

const MESSAGES: usize = 2_000;
const PUBLISHER_TASKS: usize = 4;
/// Kill all connections when this many messages are confirmed.
const KILL_AT: [usize; 3] = [400, 900, 1_400];
/// The last messages wait until every kill is done, so that each kill lands mid-stream even
/// though the management API lists a new connection only up to 5 s after it opened.
const HELD_BACK: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_survives_connections_closed_mid_stream_without_losing_a_message() {
    let vhost = TestVhost::create().await;
    // Two processes: an ingress that publishes and an executor that consumes.
    let ingress = common::connect(&vhost, "ingress").await;
    let executor = common::connect(&vhost, "executor").await;

    let received: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let stop = common::shutdown_switch();
    let mut consumers = Vec::new();
    for queue in executor.topology().inbound_queues() {
        let received = received.clone();
        let executor = executor.clone();
        let shutdown = common::signal(&stop);
        consumers.push(tokio::spawn(async move {
            executor
                .consume(
                    &queue,
                    ConsumeOptions {
                        prefetch: Some(20),
                        ..ConsumeOptions::default()
                    },
                    move |delivery: Delivery| {
                        let received = received.clone();
                        async move {
                            let id = delivery.message_id.clone().expect("message id");
                            *received.lock().unwrap().entry(id).or_default() += 1;
                            Ack::Ack
                        }
                    },
                    shutdown,
                )
                .await
        }));
    }

    let confirmed = Arc::new(AtomicUsize::new(0));
    let kill_pending = Arc::new(AtomicBool::new(false));
    let kills_done = Arc::new(AtomicUsize::new(0));
    let published: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut publishers = Vec::new();
    for task in 0..PUBLISHER_TASKS {
        let publisher = ingress.publisher();
        let confirmed = confirmed.clone();
        let published = published.clone();
        let kill_pending = kill_pending.clone();
        let kills_done = kills_done.clone();
        publishers.push(tokio::spawn(async move {
            for n in (task..MESSAGES).step_by(PUBLISHER_TASKS) {
                if n >= MESSAGES - HELD_BACK {
                    while kills_done.load(Ordering::SeqCst) < KILL_AT.len() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                let id = format!("m-{n}");
                publisher
                    .publish_with_retry(
                        INBOUND_EXCHANGE,
                        &format!("conversation-{}", n % 50),
                        id.as_bytes(),
                        PublishOptions::default().with_message_id(id.clone()),
                        Duration::from_secs(60),
                    )
                    .await
                    .expect("published within the deadline");
                published.lock().unwrap().push(id);
                confirmed.fetch_add(1, Ordering::SeqCst);
                // A steady stream, slower while a kill waits for the management API, so
                // that the kill lands while messages are flowing.
                let pause = if kill_pending.load(Ordering::SeqCst) {
                    50
                } else {
                    2
                };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }));
    }

    let mut progress_at_kills = Vec::new();
    for threshold in KILL_AT {
        let counter = confirmed.clone();
        common::eventually(
            Duration::from_secs(60),
            "publishing progresses",
            move || {
                let reached = counter.load(Ordering::SeqCst) >= threshold;
                async move { reached }
            },
        )
        .await;
        kill_pending.store(true, Ordering::SeqCst);
        // Both processes' connections, i.e. the publisher's and the consumer's.
        let closed = vhost.close_connections(2).await.expect("close connections");
        assert!(closed >= 2, "closed {closed} connections");
        progress_at_kills.push((
            confirmed.load(Ordering::SeqCst),
            received.lock().unwrap().len(),
        ));
        kill_pending.store(false, Ordering::SeqCst);
        kills_done.fetch_add(1, Ordering::SeqCst);
    }

    for publisher in publishers {
        publisher.await.unwrap();
    }
    let published = published.lock().unwrap().clone();
    assert_eq!(published.len(), MESSAGES);

    let waiting = received.clone();
    let expected = published.clone();
    common::eventually(
        Duration::from_secs(60),
        "every message received",
        move || {
            let received = waiting.lock().unwrap();
            let all = expected.iter().all(|id| received.contains_key(id));
            async move { all }
        },
    )
    .await;
    stop.send_replace(true);
    for consumer in consumers {
        consumer.await.unwrap().expect("consumer ends cleanly");
    }

    let received = received.lock().unwrap();
    let missing: Vec<&String> = published
        .iter()
        .filter(|id| !received.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "lost messages: {missing:?}");
    let duplicates: usize = received.values().map(|count| count - 1).sum();
    eprintln!(
        "kills at (confirmed, received) = {progress_at_kills:?}; {} distinct received, {duplicates} duplicates",
        received.len()
    );
    // Every kill cut both processes off: each made a new connection per kill.
    for process in [&ingress, &executor] {
        assert!(
            process.connections_made() > KILL_AT.len() as u64,
            "reconnected after each kill: {} connections",
            process.connections_made()
        );
    }
    assert!(
        ingress.is_connected() && executor.is_connected(),
        "both reconnected"
    );
}
