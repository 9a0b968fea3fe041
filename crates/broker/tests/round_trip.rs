#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use broker::topology::{
    DEAD_LETTER_QUEUE, INBOUND_EXCHANGE, OUTBOUND_EXCHANGE, SENDER_WHATSAPP_QUEUE,
    WHATSAPP_ROUTING_KEY,
};
use broker::{AMQPValue, Ack, BrokerError, ConsumeOptions, Delivery, FieldTable, PublishOptions};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use testkit::vhost::TestVhost;
use tokio::sync::mpsc;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test]
async fn a_message_arrives_with_its_properties_headers_and_trace_context() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("broker-test")));
    // Thread-local default: the current-thread test runtime keeps every task on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);

    let vhost = TestVhost::create().await;
    let broker = common::connect(&vhost, "round-trip-test").await;
    let reply_queue = broker
        .declare_reply_queue("gw-1")
        .await
        .expect("reply queue");
    assert_eq!(reply_queue, "gateway.replies.gw-1");

    let (received_tx, mut received) = mpsc::unbounded_channel::<Delivery>();
    let stop = common::shutdown_switch();
    let consumer = tokio::spawn({
        let broker = broker.clone();
        let shutdown = common::signal(&stop);
        async move {
            broker
                .consume(
                    SENDER_WHATSAPP_QUEUE,
                    ConsumeOptions::default(),
                    move |delivery| {
                        let received_tx = received_tx.clone();
                        async move {
                            let _ = received_tx.send(delivery);
                            Ack::Ack
                        }
                    },
                    shutdown,
                )
                .await
        }
    });

    let mut headers = FieldTable::default();
    headers.insert(
        "integration-id".into(),
        AMQPValue::LongString("int-42".into()),
    );
    let options = PublishOptions {
        message_id: Some("msg-1".into()),
        correlation_id: Some("req-7".into()),
        reply_to: Some(reply_queue.clone()),
        content_type: Some("application/json".into()),
        headers,
        ..PublishOptions::default()
    };
    let span = tracing::info_span!("publish-turn");
    let sent_trace_id = span.context().span().span_context().trace_id();
    broker
        .publisher()
        .publish(
            OUTBOUND_EXCHANGE,
            WHATSAPP_ROUTING_KEY,
            br#"{"n":1}"#,
            &options,
        )
        .instrument(span)
        .await
        .expect("confirmed publish");

    let delivery = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("delivered in time")
        .expect("consumer alive");
    assert_eq!(delivery.body, br#"{"n":1}"#);
    assert_eq!(delivery.message_id.as_deref(), Some("msg-1"));
    assert_eq!(delivery.correlation_id.as_deref(), Some("req-7"));
    assert_eq!(delivery.reply_to.as_deref(), Some(reply_queue.as_str()));
    assert_eq!(delivery.header_str("integration-id"), Some("int-42"));
    assert_eq!(delivery.routing_key, WHATSAPP_ROUTING_KEY);
    assert_eq!(delivery.queue, SENDER_WHATSAPP_QUEUE);
    assert!(!delivery.redelivered);
    let traceparent = delivery
        .header_str("traceparent")
        .expect("traceparent header");
    assert!(
        traceparent.contains(&sent_trace_id.to_string()),
        "{traceparent} carries trace {sent_trace_id}"
    );
    let parent = delivery.parent_context();
    assert!(parent.span().span_context().is_remote());
    assert_eq!(parent.span().span_context().trace_id(), sent_trace_id);

    // A reply goes to the default exchange with the reply queue's name as routing key.
    broker
        .publisher()
        .publish(
            "",
            &reply_queue,
            b"reply",
            &PublishOptions::default().mandatory(),
        )
        .await
        .expect("reply routed to the reply queue");
    assert_eq!(common::ready_count(&broker, &reply_queue).await, 1);

    stop.send_replace(true);
    consumer.await.unwrap().expect("consumer ends cleanly");
}

#[tokio::test]
async fn unroutable_mandatory_and_unknown_exchange_publishes_fail_permanently() {
    let vhost = TestVhost::create().await;
    let broker = common::connect(&vhost, "refusals-test").await;
    let publisher = broker.publisher();

    let unroutable = publisher
        .publish(
            OUTBOUND_EXCHANGE,
            "no-such-channel",
            b"x",
            &PublishOptions::default().mandatory(),
        )
        .await;
    assert!(
        matches!(
            unroutable,
            Err(BrokerError::Unroutable {
                reply_code: 312,
                ..
            })
        ),
        "{unroutable:?}"
    );

    let retried = publisher
        .publish_with_retry(
            "no-such-exchange",
            "k",
            b"x",
            PublishOptions::default(),
            Duration::from_secs(5),
        )
        .await;
    let error = retried.expect_err("unknown exchange is refused");
    assert!(!error.is_transient(), "not retried: {error}");

    // The publisher recovers from the channel the broker closed on it.
    publisher
        .publish(INBOUND_EXCHANGE, "conv", b"ok", &PublishOptions::default())
        .await
        .expect("publisher usable again");
}

#[tokio::test]
async fn a_rejected_message_is_dead_lettered() {
    let vhost = TestVhost::create().await;
    let broker = common::connect(&vhost, "reject-test").await;
    let stop = common::shutdown_switch();
    let consumer = tokio::spawn({
        let broker = broker.clone();
        let shutdown = common::signal(&stop);
        async move {
            broker
                .consume(
                    SENDER_WHATSAPP_QUEUE,
                    ConsumeOptions::default(),
                    |delivery: Delivery| async move {
                        if delivery.body == b"poison" {
                            Ack::Reject
                        } else {
                            Ack::Ack
                        }
                    },
                    shutdown,
                )
                .await
        }
    });

    let publisher = broker.publisher();
    for (id, body) in [("good-1", "fine"), ("bad-1", "poison"), ("good-2", "fine")] {
        publisher
            .publish(
                OUTBOUND_EXCHANGE,
                WHATSAPP_ROUTING_KEY,
                body.as_bytes(),
                &PublishOptions::default().with_message_id(id),
            )
            .await
            .expect("publish");
    }

    let dead_queue = DEAD_LETTER_QUEUE;
    common::eventually(Duration::from_secs(10), "dead-lettered", || {
        let broker = broker.clone();
        async move { common::ready_count(&broker, dead_queue).await >= 1 }
    })
    .await;
    stop.send_replace(true);
    consumer.await.unwrap().expect("consumer ends cleanly");

    let dead = common::take_all(&broker, DEAD_LETTER_QUEUE).await;
    let ids: Vec<String> = dead
        .iter()
        .filter_map(|d| d.properties.message_id().as_ref().map(|s| s.to_string()))
        .collect();
    assert_eq!(ids, ["bad-1"], "only the rejected message is dead-lettered");
    assert_eq!(common::ready_count(&broker, SENDER_WHATSAPP_QUEUE).await, 0);
}

#[tokio::test]
async fn consuming_a_missing_queue_is_an_error_not_an_endless_retry() {
    let vhost = TestVhost::create().await;
    let broker = common::connect(&vhost, "missing-queue-test").await;
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        broker.consume(
            "no-such-queue",
            ConsumeOptions::default(),
            |_delivery| async { Ack::Ack },
            std::future::pending(),
        ),
    )
    .await
    .expect("gives up in time");
    let error = result.expect_err("missing queue");
    assert!(!error.is_transient(), "{error}");
    assert!(
        broker.is_connected(),
        "the connection survives a refused consumer"
    );
}
