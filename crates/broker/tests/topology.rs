#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeSet, HashMap};

use broker::topology::{
    DEAD_LETTER_QUEUE, INBOUND_EXCHANGE, OUTBOUND_EXCHANGE, SENDER_WHATSAPP_QUEUE,
    WHATSAPP_ROUTING_KEY,
};
use broker::{PublishOptions, Topology};
use testkit::vhost::TestVhost;

#[tokio::test]
async fn declares_the_topology_with_the_arguments_the_guarantees_rely_on() {
    let vhost = TestVhost::create().await;
    let broker = common::connect(&vhost, "topology-test").await;

    for shard in Topology::default().inbound_queues() {
        let info = vhost
            .queue_info(&shard)
            .await
            .expect("inbound shard exists");
        assert_eq!(info["type"], "quorum", "{shard}");
        assert_eq!(info["durable"], true, "{shard}");
        assert_eq!(
            info["arguments"]["x-single-active-consumer"], true,
            "{shard}"
        );
        assert_eq!(info["arguments"]["x-delivery-limit"], 5, "{shard}");
        assert_eq!(
            info["arguments"]["x-dead-letter-exchange"], "bot.dead",
            "{shard}"
        );
    }
    let sender = vhost
        .queue_info(SENDER_WHATSAPP_QUEUE)
        .await
        .expect("sender queue");
    assert_eq!(sender["type"], "quorum");
    assert_eq!(sender["arguments"]["x-delivery-limit"], 5);
    let dead = vhost
        .queue_info(DEAD_LETTER_QUEUE)
        .await
        .expect("dead-letter queue");
    assert_eq!(dead["durable"], true);

    // Declaring again (a second process, or a reconnect) is accepted as is.
    let second = common::connect(&vhost, "topology-test-2").await;
    assert!(second.is_connected());

    // The whatsapp route reaches the sender queue.
    broker
        .publisher()
        .publish(
            OUTBOUND_EXCHANGE,
            WHATSAPP_ROUTING_KEY,
            b"out",
            &PublishOptions::default().mandatory(),
        )
        .await
        .expect("outbound route exists");
    assert_eq!(common::ready_count(&broker, SENDER_WHATSAPP_QUEUE).await, 1);
}

#[tokio::test]
async fn one_conversation_key_always_lands_in_one_shard_and_keys_spread_over_shards() {
    let vhost = TestVhost::create().await;
    let broker = common::connect(&vhost, "sharding-test").await;
    let publisher = broker.publisher();

    let keys: Vec<String> = (0..40).map(|i| format!("integration-7:user-{i}")).collect();
    for round in 0..5 {
        for key in &keys {
            publisher
                .publish(
                    INBOUND_EXCHANGE,
                    key,
                    format!("{key}#{round}").as_bytes(),
                    &PublishOptions::default().mandatory(),
                )
                .await
                .expect("publish to the inbound exchange");
        }
    }

    let mut shards_of_key: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut total = 0;
    for shard in broker.topology().inbound_queues() {
        for delivery in common::take_all(&broker, &shard).await {
            total += 1;
            shards_of_key
                .entry(conversation_of(&delivery))
                .or_default()
                .insert(shard.clone());
        }
    }
    assert_eq!(total, keys.len() * 5, "every message landed in some shard");
    for key in &keys {
        assert_eq!(
            shards_of_key.get(key).map(BTreeSet::len),
            Some(1),
            "all messages of {key} are in exactly one shard: {:?}",
            shards_of_key.get(key)
        );
    }
    let used: BTreeSet<&String> = shards_of_key.values().flatten().collect();
    assert!(
        used.len() >= 4,
        "40 keys should spread over several of the 8 shards, used {used:?}"
    );
}

/// The conversation a delivery was published for: its body says (`<key>#<round>`), and the
/// `x-conversation-key` header, which the executor's lanes go by, must say the same.
fn conversation_of(delivery: &lapin::message::Delivery) -> String {
    let body = String::from_utf8_lossy(&delivery.data);
    let key = body.split('#').next().unwrap_or_default().to_owned();
    let header = delivery.properties.headers().as_ref().and_then(|h| {
        h.inner()
            .get(broker::topology::CONVERSATION_HEADER)
            .cloned()
    });
    assert_eq!(
        header,
        Some(lapin::types::AMQPValue::LongString(key.as_str().into())),
        "the conversation travels in its header"
    );
    key
}
