#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Per-key lanes inside one consumer: deliveries of one key run one after another in queue
//! order, while other keys run beside them, so a slow key holds only itself.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker::topology::INBOUND_EXCHANGE;
use broker::{Ack, ConsumeOptions, Delivery, LaneKey, PublishOptions};
use testkit::vhost::TestVhost;

const QUEUE: &str = "bot.inbound.0";

fn parse(delivery: &Delivery) -> (String, usize) {
    let body = String::from_utf8(delivery.body.clone()).unwrap();
    let (key, seq) = body.split_once('#').unwrap();
    (key.to_string(), seq.parse().unwrap())
}

/// Publishes `key#seq` for every key, `per_key` rounds, straight to one shard queue so that
/// every key shares it.
async fn publish(vhost: &TestVhost, keys: &[String], per_key: usize) {
    let broker = common::connect(vhost, "ingress").await;
    let publisher = broker.publisher();
    for seq in 0..per_key {
        for key in keys {
            publisher
                .publish(
                    "",
                    QUEUE,
                    format!("{key}#{seq}").as_bytes(),
                    &PublishOptions::default().with_message_id(format!("{key}-{seq}")),
                )
                .await
                .expect("publish");
        }
    }
    broker.close().await;
}

fn by_key(calls: &[(String, usize)]) -> BTreeMap<String, Vec<usize>> {
    let mut per_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (key, seq) in calls {
        per_key.entry(key.clone()).or_default().push(*seq);
    }
    per_key
}

fn lanes_by_body() -> LaneKey {
    LaneKey::new(|delivery| Some(parse(delivery).0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_key_holds_only_its_own_lane() {
    let vhost = TestVhost::create().await;
    let _ = INBOUND_EXCHANGE;
    let keys: Vec<String> = (0..8).map(|k| format!("k{k}")).collect();
    let mut all_keys = vec!["slow".to_string()];
    all_keys.extend(keys.iter().cloned());
    const PER_KEY: usize = 10;
    publish(&vhost, &all_keys, PER_KEY).await;

    // (key, seq, finished at) in completion order; `running` tracks the keys in flight.
    let done: Arc<Mutex<Vec<(String, usize, Instant)>>> = Arc::default();
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    let overlapping = Arc::new(Mutex::new(false));
    let broker = common::connect(&vhost, "executor").await;
    let stop = common::shutdown_switch();
    let consumer = {
        let (done, running, overlapping) = (done.clone(), running.clone(), overlapping.clone());
        let broker = broker.clone();
        let shutdown = common::signal(&stop);
        tokio::spawn(async move {
            broker
                .consume(
                    QUEUE,
                    ConsumeOptions {
                        prefetch: Some(200),
                        concurrency: 4,
                        lanes: Some(lanes_by_body()),
                        ..ConsumeOptions::default()
                    },
                    move |delivery: Delivery| {
                        let (done, running, overlapping) =
                            (done.clone(), running.clone(), overlapping.clone());
                        async move {
                            let (key, seq) = parse(&delivery);
                            if !running.lock().unwrap().insert(key.clone()) {
                                // Two handlers of one key at once: the lane is broken.
                                *overlapping.lock().unwrap() = true;
                            }
                            let pause = if key == "slow" && seq == 0 { 2_000 } else { 2 };
                            tokio::time::sleep(Duration::from_millis(pause)).await;
                            running.lock().unwrap().remove(&key);
                            done.lock().unwrap().push((key, seq, Instant::now()));
                            Ack::Ack
                        }
                    },
                    shutdown,
                )
                .await
        })
    };
    let expected = all_keys.len() * PER_KEY;
    let waiting = done.clone();
    common::eventually(
        Duration::from_secs(30),
        "every message handled",
        move || {
            let finished = waiting.lock().unwrap().len() >= expected;
            async move { finished }
        },
    )
    .await;
    stop.send_replace(true);
    consumer.await.unwrap().expect("consumer ends cleanly");
    assert_eq!(
        common::ready_count(&broker, QUEUE).await,
        0,
        "everything acked"
    );

    let done = done.lock().unwrap();
    assert!(
        !*overlapping.lock().unwrap(),
        "one handler per key at a time"
    );
    let slow_first = done
        .iter()
        .find(|(key, seq, _)| key == "slow" && *seq == 0)
        .map(|(_, _, at)| *at)
        .unwrap();
    for (key, seq, at) in done.iter().filter(|(key, _, _)| key != "slow") {
        assert!(
            *at < slow_first,
            "{key}#{seq} waited behind the slow key's first message"
        );
    }
    let calls: Vec<(String, usize)> = done.iter().map(|(k, s, _)| (k.clone(), *s)).collect();
    for (key, seqs) in by_key(&calls) {
        assert_eq!(seqs, (0..PER_KEY).collect::<Vec<_>>(), "order of {key}");
    }
}

fn requeues(message: &(String, usize)) -> bool {
    message.1 == 3 && (message.0 == "c0" || message.0 == "c3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_keep_each_keys_order_across_requeues() {
    let vhost = TestVhost::create().await;
    let keys: Vec<String> = (0..6).map(|k| format!("c{k}")).collect();
    const PER_KEY: usize = 30;
    publish(&vhost, &keys, PER_KEY).await;

    let calls: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    let requeued: Arc<Mutex<HashSet<(String, usize)>>> = Arc::default();
    let broker = common::connect(&vhost, "executor").await;
    let stop = common::shutdown_switch();
    let consumer = {
        let (calls, requeued) = (calls.clone(), requeued.clone());
        let broker = broker.clone();
        let shutdown = common::signal(&stop);
        tokio::spawn(async move {
            broker
                .consume(
                    QUEUE,
                    ConsumeOptions {
                        prefetch: Some(50),
                        concurrency: 3,
                        lanes: Some(lanes_by_body()),
                        ..ConsumeOptions::default()
                    },
                    move |delivery: Delivery| {
                        let (calls, requeued) = (calls.clone(), requeued.clone());
                        async move {
                            let message = parse(&delivery);
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            calls.lock().unwrap().push(message.clone());
                            // Two messages fail once and go back to the queue. (Every hand-back
                            // returns all that the channel holds, which raises their delivery
                            // count: the broker dead-letters a message returned more than
                            // `x-delivery-limit` times, so hand-backs must stay rare.)
                            if requeues(&message) && requeued.lock().unwrap().insert(message) {
                                Ack::Requeue
                            } else {
                                Ack::Ack
                            }
                        }
                    },
                    shutdown,
                )
                .await
        })
    };
    let expected_requeues = keys
        .iter()
        .flat_map(|key| (0..PER_KEY).map(move |seq| (key.clone(), seq)))
        .filter(requeues)
        .count();
    let waiting = calls.clone();
    let expected_done = keys.len() * PER_KEY;
    let acked = requeued.clone();
    common::eventually(
        Duration::from_secs(30),
        "every message handled",
        move || {
            let calls = waiting.lock().unwrap().len();
            let requeues = acked.lock().unwrap().len();
            async move { calls >= expected_done + requeues && requeues == expected_requeues }
        },
    )
    .await;
    stop.send_replace(true);
    consumer.await.unwrap().expect("consumer ends cleanly");
    assert_eq!(
        common::ready_count(&broker, QUEUE).await,
        0,
        "everything acked"
    );
    assert_eq!(
        common::ready_count(&broker, "bot.dead-letter").await,
        0,
        "nothing dead-lettered"
    );

    // Messages of other keys run in between, and a requeued message comes back with
    // everything that was held behind it: a key's messages may then run again (a redelivery
    // that a real handler recognises by message id). What must hold: per key, the first
    // handling of every message is in order, and nothing overtakes a message before its
    // final (acked) handling.
    let calls = calls.lock().unwrap();
    for (key, seqs) in by_key(&calls) {
        let mut highest_acked: Option<usize> = None;
        let mut seen = HashSet::new();
        for seq in &seqs {
            if seen.insert(*seq) {
                assert!(
                    highest_acked.is_none_or(|h| *seq == h + 1),
                    "{key}: {seq} handled out of order: {seqs:?}"
                );
            }
            highest_acked = Some(highest_acked.map_or(*seq, |h| h.max(*seq)));
        }
        assert_eq!(seen.len(), PER_KEY, "{key}: every message handled");
    }
}
