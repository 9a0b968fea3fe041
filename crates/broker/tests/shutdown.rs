#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use broker::topology::{OUTBOUND_EXCHANGE, SENDER_WHATSAPP_QUEUE, WHATSAPP_ROUTING_KEY};
use broker::{Ack, ConsumeOptions, PublishOptions};
use testkit::vhost::TestVhost;
use tokio::sync::mpsc;

#[tokio::test]
async fn shutdown_finishes_and_acks_in_flight_work_and_returns_the_rest_to_the_queue() {
    let vhost = TestVhost::create().await;
    let broker = common::connect(&vhost, "shutdown-test").await;
    let publisher = broker.publisher();
    for i in 0..5 {
        publisher
            .publish(
                OUTBOUND_EXCHANGE,
                WHATSAPP_ROUTING_KEY,
                format!("m{i}").as_bytes(),
                &PublishOptions::default(),
            )
            .await
            .expect("publish");
    }

    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let finished = Arc::new(AtomicUsize::new(0));
    let stop = common::shutdown_switch();
    let consumer = tokio::spawn({
        let broker = broker.clone();
        let finished = finished.clone();
        let shutdown = common::signal(&stop);
        async move {
            broker
                .consume(
                    SENDER_WHATSAPP_QUEUE,
                    ConsumeOptions {
                        prefetch: Some(5),
                        ..ConsumeOptions::default()
                    },
                    move |_delivery| {
                        let started_tx = started_tx.clone();
                        let finished = finished.clone();
                        async move {
                            let _ = started_tx.send(());
                            // Slow work that shutdown must wait for.
                            tokio::time::sleep(Duration::from_millis(700)).await;
                            finished.fetch_add(1, Ordering::SeqCst);
                            Ack::Ack
                        }
                    },
                    shutdown,
                )
                .await
        }
    });

    tokio::time::timeout(Duration::from_secs(10), started.recv())
        .await
        .expect("first handler started");
    stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(10), consumer)
        .await
        .expect("consumer returns after shutdown")
        .unwrap()
        .expect("consumer ends cleanly");

    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the in-flight handler ran to its end and no new one started"
    );
    // Its message was acked; the four prefetched but never handled are back in the queue
    // (the quorum queue applies the return a moment after the channel closed).
    let counting = broker.clone();
    common::eventually(Duration::from_secs(10), "four messages ready", move || {
        let broker = counting.clone();
        async move { common::ready_count(&broker, SENDER_WHATSAPP_QUEUE).await == 4 }
    })
    .await;
    let remaining = common::take_all(&broker, SENDER_WHATSAPP_QUEUE).await;
    let bodies: Vec<String> = remaining
        .iter()
        .map(|d| String::from_utf8(d.data.clone()).unwrap())
        .collect();
    assert_eq!(bodies, ["m1", "m2", "m3", "m4"]);
    broker.close().await;
    assert!(!broker.is_connected());
}
