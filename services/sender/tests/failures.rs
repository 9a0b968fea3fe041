#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Graph API failures: retried with backoff and delivered in order, never retried when
//! permanent, given up with an alert, replaced by the template outside the 24-hour window.

mod common;

use std::time::{Duration, Instant};

use common::{batch, bodies, text, Harness, USER};
use meta_emulator::api::{FaultSpec, Settings};
use sender::AlertKind;
use store::sender::BatchOutcome;

#[tokio::test]
async fn server_errors_and_throttling_delay_but_deliver_in_order() {
    let harness = Harness::start().await;
    let integration = harness.integration("200001").await;
    let control = &harness.emulator_client;
    control
        .inject_fault(&FaultSpec {
            phone_number_id: Some("200001".into()),
            status: Some(500),
            count: Some(3),
            ..FaultSpec::default()
        })
        .await
        .unwrap();
    control
        .inject_fault(&FaultSpec::error("200001", 130429, 2))
        .await
        .unwrap();
    let mut first = batch(
        &integration,
        "wamid.A:out",
        vec![text("a1"), text("a2"), text("a3")],
    );
    first.reply_to_message_id = Some("wamid.A".into());
    let mut second = batch(&integration, "wamid.B:out", vec![text("b1")]);
    second.sequence = 2;
    harness.publish(&first).await;
    harness.publish(&second).await;

    assert_eq!(harness.outcome("wamid.A:out").await, BatchOutcome::Sent);
    assert_eq!(harness.outcome("wamid.B:out").await, BatchOutcome::Sent);
    assert_eq!(
        bodies(&harness.conversation("200001", USER).await),
        ["a1", "a2", "a3", "b1"]
    );
    let statuses: Vec<u16> = harness
        .requests(Some("200001"))
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [500, 500, 500, 400, 400, 200, 200, 200, 200, 200]);
    assert!(harness.alerts.all().is_empty());
    harness.stop().await;
}

#[tokio::test]
async fn a_stuck_conversation_does_not_hold_up_the_others() {
    let harness = Harness::start_with(|config| config.retry.max_attempts = 100).await;
    let stuck = harness.integration("200002").await;
    let flowing = harness.integration("200003").await;
    harness
        .emulator_client
        .inject_fault(&FaultSpec {
            phone_number_id: Some("200002".into()),
            status: Some(503),
            ..FaultSpec::default()
        })
        .await
        .unwrap();
    harness
        .publish(&batch(&stuck, "wamid.S:out", vec![text("late")]))
        .await;
    harness
        .publish(&batch(&flowing, "wamid.F:out", vec![text("on time")]))
        .await;
    assert_eq!(harness.outcome("wamid.F:out").await, BatchOutcome::Sent);
    assert_eq!(
        harness
            .store
            .batch_progress("wamid.S:out")
            .await
            .unwrap()
            .and_then(|p| p.outcome),
        None,
        "the other number is still retrying"
    );
    harness.emulator_client.clear_faults(None).await.unwrap();
    assert_eq!(harness.outcome("wamid.S:out").await, BatchOutcome::Sent);
    assert_eq!(
        bodies(&harness.conversation("200002", USER).await),
        ["late"]
    );
    harness.stop().await;
}

#[tokio::test]
async fn permanent_errors_are_not_retried_and_raise_an_alert() {
    let harness = Harness::start().await;
    let integration = harness.integration("200004").await;
    harness
        .emulator_client
        .inject_fault(&FaultSpec::error("200004", 131026, 1))
        .await
        .unwrap();
    harness
        .publish(&batch(
            &integration,
            "wamid.P:out",
            vec![text("lost"), text("also lost")],
        ))
        .await;
    harness
        .publish(&batch(&integration, "wamid.Q:out", vec![text("next turn")]))
        .await;
    assert_eq!(harness.outcome("wamid.P:out").await, BatchOutcome::Failed);
    assert_eq!(harness.outcome("wamid.Q:out").await, BatchOutcome::Sent);

    let requests = harness.requests(Some("200004")).await;
    assert_eq!(
        requests.len(),
        2,
        "one refused send, not retried, then the next batch"
    );
    assert_eq!(requests[0].status, 400);
    assert_eq!(
        bodies(&harness.conversation("200004", USER).await),
        ["next turn"]
    );
    let alerts = harness.alerts.all();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].0, alerts[0].1),
        (integration.id, AlertKind::SendFailed)
    );
    assert!(alerts[0].2.contains("131026"), "{}", alerts[0].2);
    assert!(alerts[0].2.contains("message 1 of 2"), "{}", alerts[0].2);
    harness.stop().await;
}

#[tokio::test]
async fn retries_are_bounded_then_the_batch_is_given_up() {
    let harness = Harness::start_with(|config| config.retry.max_attempts = 3).await;
    let integration = harness.integration("200005").await;
    harness
        .emulator_client
        .inject_fault(&FaultSpec {
            phone_number_id: Some("200005".into()),
            status: Some(503),
            ..FaultSpec::default()
        })
        .await
        .unwrap();
    harness
        .publish(&batch(&integration, "wamid.X:out", vec![text("never")]))
        .await;
    assert_eq!(harness.outcome("wamid.X:out").await, BatchOutcome::Failed);
    assert_eq!(harness.requests(Some("200005")).await.len(), 3);
    let alerts = harness.alerts.all();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].1, AlertKind::SendFailed);
    assert!(
        alerts[0].2.contains("gave up after 3 attempts"),
        "{}",
        alerts[0].2
    );
    harness.stop().await;
}

#[tokio::test]
async fn outside_the_window_the_template_is_sent_instead_once() {
    let harness = Harness::start().await;
    let template = contracts::v1::FallbackTemplate {
        name: "hello_world".into(),
        language_code: "en_US".into(),
    };
    let integration = harness
        .integration_with("200006", None, Some(&template))
        .await;
    harness
        .emulator_client
        .configure(
            Some("200006"),
            Settings {
                enforce_window: Some(true),
                ..Settings::default()
            },
        )
        .await
        .unwrap();
    let mut outbound = batch(&integration, "wamid.W:out", vec![text("hi"), text("there")]);
    outbound.fallback_template = Some(template);
    harness.publish(&outbound).await;
    assert_eq!(harness.outcome("wamid.W:out").await, BatchOutcome::Fallback);
    let sent = harness.conversation("200006", USER).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message_type, "template");
    assert_eq!(sent[0].message["template"]["name"], "hello_world");
    assert_eq!(sent[0].message["template"]["language"]["code"], "en_US");
    let statuses: Vec<u16> = harness
        .requests(Some("200006"))
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        [400, 200],
        "the refused text, then the template, nothing more"
    );
    assert!(harness.alerts.all().is_empty());

    // Without a template the batch is given up with an alert.
    harness
        .publish(&batch(&integration, "wamid.W2:out", vec![text("hi")]))
        .await;
    assert_eq!(harness.outcome("wamid.W2:out").await, BatchOutcome::Failed);
    let alerts = harness.alerts.all();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].1, AlertKind::SendFailed);
    assert!(alerts[0].2.contains("24-hour window"), "{}", alerts[0].2);
    harness.stop().await;
}

#[tokio::test]
async fn stopping_mid_backoff_hands_the_batch_back_and_the_next_sender_resumes_it() {
    let mut harness = Harness::start_with(|config| config.retry.max_attempts = 1000).await;
    let integration = harness.integration("200007").await;
    // The first message goes through, then the number fails until the fault is removed.
    harness
        .publish(&batch(&integration, "wamid.R0:out", vec![text("warm-up")]))
        .await;
    harness.finished("wamid.R0:out").await;
    harness
        .emulator_client
        .inject_fault(&FaultSpec {
            phone_number_id: Some("200007".into()),
            status: Some(500),
            ..FaultSpec::default()
        })
        .await
        .unwrap();
    harness
        .publish(&batch(
            &integration,
            "wamid.R:out",
            vec![text("one"), text("two")],
        ))
        .await;
    let mut second = batch(&integration, "wamid.R2:out", vec![text("three")]);
    second.sequence = 2;
    harness.publish(&second).await;
    let started = Instant::now();
    while harness.requests(Some("200007")).await.len() < 3 {
        assert!(started.elapsed() < common::WAIT);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopping = Instant::now();
    harness.stop_sender().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "stopped without waiting out retries"
    );
    harness.emulator_client.clear_faults(None).await.unwrap();
    harness.restart_sender(|_| {}).await;
    assert_eq!(harness.outcome("wamid.R:out").await, BatchOutcome::Sent);
    assert_eq!(harness.outcome("wamid.R2:out").await, BatchOutcome::Sent);
    assert_eq!(
        bodies(&harness.conversation("200007", USER).await),
        ["warm-up", "one", "two", "three"]
    );
    harness.stop().await;
}

/// A fallback request for `failed_batch` of `integration`, as whatsapp-ingress publishes it for
/// a 131047 that Meta reported later in a `failed` status.
fn window_fallback(
    integration: &common::TestIntegration,
    failed_batch: &str,
) -> contracts::v1::WindowFallback {
    let sample = batch(integration, failed_batch, vec![]);
    contracts::v1::WindowFallback {
        schema: contracts::v1::SchemaVersion::V1,
        event_id: contracts::v1::WindowFallback::event_id_for(failed_batch),
        integration_id: integration.id,
        conversation_key: sample.conversation_key,
        phone_number_id: sample.phone_number_id,
        to: sample.to,
        failed_batch: failed_batch.into(),
        failed_message_id: "wamid.failed-later".into(),
    }
}

#[tokio::test]
async fn a_131047_reported_later_sends_the_integrations_template_once_per_batch() {
    let harness = Harness::start().await;
    let template = contracts::v1::FallbackTemplate {
        name: "hello_world".into(),
        language_code: "en_US".into(),
    };
    let integration = harness
        .integration_with("200009", None, Some(&template))
        .await;
    harness
        .publish(&batch(&integration, "wamid.L:out", vec![text("hi")]))
        .await;
    assert_eq!(harness.outcome("wamid.L:out").await, BatchOutcome::Sent);

    // Two failed messages of the batch, or one webhook delivered twice: two requests.
    let request = contracts::v1::encode(&window_fallback(&integration, "wamid.L:out")).unwrap();
    harness.publish_raw(&request).await;
    harness.publish_raw(&request).await;
    // The conversation's next batch is sent after both (one lane per conversation).
    harness
        .publish(&batch(&integration, "wamid.M:out", vec![text("next")]))
        .await;
    assert_eq!(harness.outcome("wamid.M:out").await, BatchOutcome::Sent);
    assert_eq!(
        harness.outcome("wamid.L:out:fallback").await,
        BatchOutcome::Fallback
    );
    let sent = harness.conversation("200009", USER).await;
    let kinds: Vec<&str> = sent.iter().map(|m| m.message_type.as_str()).collect();
    assert_eq!(kinds, ["text", "template", "text"], "{sent:#?}");
    assert_eq!(sent[1].message["template"]["name"], "hello_world");

    // A batch that already fell back at once (a later message refused with 131047) gets no
    // second template.
    harness
        .store
        .save_batch_progress(
            integration.id,
            "wamid.P:out",
            0,
            Some(BatchOutcome::Fallback),
        )
        .await
        .unwrap();
    harness
        .publish_raw(&contracts::v1::encode(&window_fallback(&integration, "wamid.P:out")).unwrap())
        .await;
    assert_eq!(
        harness.outcome("wamid.P:out:fallback").await,
        BatchOutcome::Sent
    );
    assert_eq!(harness.conversation("200009", USER).await.len(), 3);
    assert!(harness.alerts.all().is_empty());

    // Without a template: given up with an alert, as for a refused send.
    let bare = harness.integration("200010").await;
    harness
        .publish_raw(&contracts::v1::encode(&window_fallback(&bare, "wamid.B:out")).unwrap())
        .await;
    assert_eq!(
        harness.outcome("wamid.B:out:fallback").await,
        BatchOutcome::Failed
    );
    let alerts = harness.alerts.all();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].1, AlertKind::SendFailed);
    assert!(alerts[0].2.contains("24-hour window"), "{}", alerts[0].2);
    harness.stop().await;
}
