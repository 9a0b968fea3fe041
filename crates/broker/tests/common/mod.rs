//! Helpers shared by the broker integration tests (each test has its own vhost).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use broker::{Broker, BrokerConfig, Topology};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use testkit::vhost::TestVhost;
use tokio::sync::watch;

/// A broker on `vhost` that reconnects quickly, as tests want.
pub async fn connect(vhost: &TestVhost, name: &str) -> Broker {
    let config = BrokerConfig {
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(500),
        ..BrokerConfig::new(vhost.amqp_url(), name)
    };
    Broker::connect(config, Topology::default())
        .await
        .expect("connect to the test vhost")
}

/// Ready messages in `queue` (what a passive declare reports).
pub async fn ready_count(broker: &Broker, queue: &str) -> u32 {
    let channel = broker.open_channel().await.expect("channel");
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("passive declare");
    let _ = channel.close(200, "OK".into()).await;
    declared.message_count()
}

/// Takes every ready message out of `queue` (auto-ack) and returns them in queue order.
/// Uses a consumer: quorum queues with single active consumer refuse `basic.get`.
pub async fn take_all(broker: &Broker, queue: &str) -> Vec<lapin::message::Delivery> {
    let expected = ready_count(broker, queue).await as usize;
    let channel = broker.open_channel().await.expect("channel");
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("basic.consume");
    let mut taken = Vec::new();
    while taken.len() < expected {
        let next = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("a ready message is delivered")
            .expect("consumer open")
            .expect("delivery");
        taken.push(next);
    }
    let _ = channel.close(200, "OK".into()).await;
    taken
}

/// A shutdown switch: flip the sender to true and every future made by `signal` resolves.
pub fn shutdown_switch() -> watch::Sender<bool> {
    watch::channel(false).0
}

pub fn signal(switch: &watch::Sender<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut receiver = switch.subscribe();
    async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}

/// Polls `condition` every 50 ms until it holds; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
