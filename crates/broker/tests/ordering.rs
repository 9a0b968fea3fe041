#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Per-conversation order with several executors: every executor consumes every shard,
//! single active consumer lets one of them at a time take a shard, and a Requeue does not
//! let later messages overtake the requeued one.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker::topology::INBOUND_EXCHANGE;
use broker::{Ack, ConsumeOptions, Delivery, PublishOptions};
use testkit::vhost::TestVhost;

const KEYS: usize = 6;
const PER_KEY: usize = 40;

#[derive(Default)]
struct Log {
    /// (key, seq) for every handler call, in call order.
    calls: Vec<(String, usize)>,
    /// Which executor made each call.
    executors: Vec<usize>,
    /// Messages requeued once already.
    requeued: HashSet<(String, usize)>,
}

fn parse(delivery: &Delivery) -> (String, usize) {
    let body = String::from_utf8(delivery.body.clone()).unwrap();
    let (key, seq) = body.split_once('#').unwrap();
    (key.to_string(), seq.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_one_key_are_handled_in_publish_order_across_executors_and_requeues() {
    let vhost = TestVhost::create().await;
    let log = Arc::new(Mutex::new(Log::default()));
    let stop = common::shutdown_switch();

    // Two executors, each consuming every shard with a prefetch that lets messages queue up
    // behind one that will be requeued.
    let mut consumers = Vec::new();
    let mut executors = Vec::new();
    for executor in 0..2 {
        let broker = common::connect(&vhost, &format!("executor-{executor}")).await;
        for queue in broker.topology().inbound_queues() {
            let log = log.clone();
            let broker = broker.clone();
            let shutdown = common::signal(&stop);
            consumers.push(tokio::spawn(async move {
                broker
                    .consume(
                        &queue,
                        ConsumeOptions {
                            prefetch: Some(10),
                            ..ConsumeOptions::default()
                        },
                        move |delivery: Delivery| {
                            let log = log.clone();
                            async move {
                                let message = parse(&delivery);
                                // A little work, so that prefetched messages wait behind it.
                                tokio::time::sleep(Duration::from_millis(1)).await;
                                let mut log = log.lock().unwrap();
                                log.calls.push(message.clone());
                                log.executors.push(executor);
                                // Every 7th message fails once and is requeued.
                                if message.1 % 7 == 3 && log.requeued.insert(message) {
                                    Ack::Requeue
                                } else {
                                    Ack::Ack
                                }
                            }
                        },
                        shutdown,
                    )
                    .await
            }));
        }
        executors.push(broker);
    }

    let publisher_broker = common::connect(&vhost, "ingress").await;
    let publisher = publisher_broker.publisher();
    for seq in 0..PER_KEY {
        for key in 0..KEYS {
            let key = format!("conversation-{key}");
            publisher
                .publish(
                    INBOUND_EXCHANGE,
                    &key,
                    format!("{key}#{seq}").as_bytes(),
                    &PublishOptions::default().with_message_id(format!("{key}-{seq}")),
                )
                .await
                .expect("publish");
        }
    }

    let requeues_per_key = (0..PER_KEY).filter(|seq| seq % 7 == 3).count();
    let expected_calls = KEYS * (PER_KEY + requeues_per_key);
    let waiting = log.clone();
    common::eventually(Duration::from_secs(30), "all messages handled", move || {
        let done = waiting.lock().unwrap().calls.len() >= expected_calls;
        async move { done }
    })
    .await;
    stop.send_replace(true);
    for consumer in consumers {
        consumer.await.unwrap().expect("consumer ends cleanly");
    }

    let log = log.lock().unwrap();
    // A Requeue closes the consumer's channel, and the other executor's waiting consumer
    // takes the shard over: order must hold across that hand-over.
    assert!(
        log.executors.contains(&0) && log.executors.contains(&1),
        "both executors handled messages"
    );
    let mut per_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (key, seq) in &log.calls {
        per_key.entry(key).or_default().push(*seq);
    }
    assert_eq!(per_key.len(), KEYS);
    for (key, calls) in per_key {
        // Each requeued message is handled twice in a row; nothing overtakes it.
        let expected: Vec<usize> = (0..PER_KEY)
            .flat_map(|seq| {
                if seq % 7 == 3 {
                    vec![seq, seq]
                } else {
                    vec![seq]
                }
            })
            .collect();
        assert_eq!(calls, expected, "handling order of {key}");
    }
}

/// A message whose handler always answers Requeue must not circulate forever: the delivery
/// limit dead-letters it, whichever way the consumer hands it back (a nack with prefetch 1,
/// closing the channel with a larger prefetch), and the messages behind it still get through.
#[tokio::test]
async fn an_always_requeued_message_is_dead_lettered_by_the_delivery_limit() {
    for prefetch in [1_u16, 10] {
        let vhost = TestVhost::create().await;
        let broker = common::connect(&vhost, "delivery-limit-test").await;
        let queue = broker.topology().inbound_queues()[0].clone();
        let publisher = broker.publisher();
        // Publish straight to one shard so that the poison message is first in its queue.
        for body in ["poison", "after-1", "after-2"] {
            publisher
                .publish(
                    "",
                    &queue,
                    body.as_bytes(),
                    &PublishOptions::default().with_message_id(body),
                )
                .await
                .expect("publish");
        }
        let handled: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
        let stop = common::shutdown_switch();
        let consumer = tokio::spawn({
            let broker = broker.clone();
            let handled = handled.clone();
            let shutdown = common::signal(&stop);
            let queue = queue.clone();
            async move {
                broker
                    .consume(
                        &queue,
                        ConsumeOptions {
                            prefetch: Some(prefetch),
                            ..ConsumeOptions::default()
                        },
                        move |delivery: Delivery| {
                            let handled = handled.clone();
                            async move {
                                let body = String::from_utf8(delivery.body.clone()).unwrap();
                                let poison = body == "poison";
                                handled
                                    .lock()
                                    .unwrap()
                                    .push((body, delivery.delivery_count()));
                                if poison {
                                    Ack::Requeue
                                } else {
                                    Ack::Ack
                                }
                            }
                        },
                        shutdown,
                    )
                    .await
            }
        });
        let dead_letters = broker.clone();
        common::eventually(Duration::from_secs(20), "poison dead-lettered", move || {
            let broker = dead_letters.clone();
            async move { common::ready_count(&broker, broker::topology::DEAD_LETTER_QUEUE).await == 1 }
        })
        .await;
        let waiting = handled.clone();
        common::eventually(
            Duration::from_secs(10),
            "later messages handled",
            move || {
                let done = waiting
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(b, _)| b != "poison")
                    .count()
                    >= 2;
                async move { done }
            },
        )
        .await;
        stop.send_replace(true);
        consumer.await.unwrap().expect("consumer ends cleanly");

        let handled = handled.lock().unwrap().clone();
        let poison_attempts = handled.iter().filter(|(b, _)| b == "poison").count();
        eprintln!("prefetch {prefetch}: {handled:?}");
        assert!(
            (2..=6).contains(&poison_attempts),
            "prefetch {prefetch}: the limit of 5 stopped the poison message after {poison_attempts} attempts"
        );
        let after: Vec<&str> = handled
            .iter()
            .filter(|(b, _)| b != "poison")
            .map(|(b, _)| b.as_str())
            .collect();
        assert_eq!(after, ["after-1", "after-2"], "prefetch {prefetch}");
    }
}
