#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Batches published to `bot.outbound` arrive at the (emulated) Graph API as Meta expects
//! them: marked read first, split, interactive, numbered, media; recorded; sent once.

mod common;

use std::time::{Duration, Instant};

use common::{batch, bodies, text, Harness, USER};
use contracts::v1::{BotMessage, BotOption, MediaType, Recipient};
use store::sender::BatchOutcome;
use store::whatsapp::MessageStatus;

fn options(count: usize) -> Vec<BotOption> {
    (1..=count)
        .map(|n| BotOption {
            id: format!("opt_{n}"),
            text: format!("Option {n}"),
            description: None,
        })
        .collect()
}

#[tokio::test]
async fn marks_read_then_sends_long_text_split_and_records_what_meta_accepted() {
    let harness = Harness::start().await;
    let integration = harness.integration("100001").await;
    let long = "lorem ipsum ".repeat(500); // 6000 characters
    let mut outbound = batch(
        &integration,
        "wamid.IN1:out",
        vec![text(&long), text("bye")],
    );
    outbound.reply_to_message_id = Some("wamid.IN1".into());
    harness.publish(&outbound).await;

    let progress = harness.finished("wamid.IN1:out").await;
    assert_eq!(progress.outcome, Some(BatchOutcome::Sent));
    assert_eq!(progress.sent_count, 3);
    let requests = harness.requests(Some("100001")).await;
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0].body["status"], "read", "marked read first");
    assert_eq!(requests[0].body["message_id"], "wamid.IN1");
    let sent = harness.conversation("100001", USER).await;
    let texts = bodies(&sent);
    assert_eq!(texts.len(), 3);
    assert!(texts[0].chars().count() <= 4096 && texts[1].chars().count() <= 4096);
    assert_eq!(format!("{} {}", texts[0], texts[1]), long.trim_end());
    assert_eq!(texts[2], "bye");
    assert!(sent.iter().all(|m| m.message["to"] == format!("+{USER}")));
    // Sent with the integration's token.
    let fingerprint = meta_emulator::token_fingerprint(&integration.token);
    assert!(requests
        .iter()
        .all(|r| r.token_fingerprint.as_deref() == Some(fingerprint.as_str())));

    // Every accepted message is recorded for the status webhooks to move forward.
    for message in &sent {
        let stored = harness
            .store
            .outbound_message(&message.wamid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.integration_id, integration.id.get());
        assert_eq!(stored.recipient.as_deref(), Some(USER));
        assert_eq!(
            stored.conversation_key.as_deref(),
            Some(outbound.conversation_key.as_str())
        );
        assert!(matches!(
            stored.status,
            MessageStatus::Accepted
                | MessageStatus::Sent
                | MessageStatus::Delivered
                | MessageStatus::Read
        ));
    }
    let activity = harness
        .store
        .find_integration(integration.id)
        .await
        .unwrap();
    assert!(activity.last_activity_at.is_some(), "activity recorded");
    let ready = reqwest::get(harness.probe_url("/ready")).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200, "{:?}", ready.text().await);
    harness.stop().await;
}

#[tokio::test]
async fn buttons_lists_numbered_text_and_media_arrive_as_meta_expects() {
    let harness = Harness::start().await;
    let integration = harness.integration("100002").await;
    let outbound = batch(
        &integration,
        "wamid.IN2:out",
        vec![
            BotMessage::Buttons {
                text: "Three buttons".into(),
                options: options(3),
            },
            BotMessage::Buttons {
                text: "Five options".into(),
                options: options(5),
            },
            BotMessage::List {
                text: "Twelve options".into(),
                options: options(12),
                button_text: None,
            },
            BotMessage::Media {
                text: "A cat".into(),
                media_url: "https://example.com/cat.jpg".into(),
                caption: Some("A cat".into()),
                media_type: MediaType::Image,
            },
            BotMessage::Media {
                text: "Listen".into(),
                media_url: "https://example.com/a.ogg".into(),
                caption: Some("Listen".into()),
                media_type: MediaType::Audio,
            },
        ],
    );
    harness.publish(&outbound).await;
    assert_eq!(harness.outcome("wamid.IN2:out").await, BatchOutcome::Sent);

    let sent = harness.wait_messages("100002", USER, 6).await;
    let types: Vec<&str> = sent.iter().map(|m| m.message_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "interactive",
            "interactive",
            "text",
            "image",
            "text",
            "audio"
        ]
    );
    let buttons = &sent[0].message["interactive"];
    assert_eq!(buttons["type"], "button");
    assert_eq!(buttons["action"]["buttons"].as_array().unwrap().len(), 3);
    assert_eq!(buttons["action"]["buttons"][2]["reply"]["id"], "opt_3");
    let list = &sent[1].message["interactive"];
    assert_eq!(list["type"], "list");
    assert_eq!(list["action"]["button"], "Choose");
    assert_eq!(
        list["action"]["sections"][0]["rows"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let numbered = sent[2].message["text"]["body"].as_str().unwrap();
    assert!(numbered.starts_with("Twelve options\n\n1. Option 1\n2. Option 2"));
    assert!(numbered.ends_with("12. Option 12"));
    assert_eq!(
        sent[3].message["image"],
        serde_json::json!({"link": "https://example.com/cat.jpg", "caption": "A cat"})
    );
    assert_eq!(sent[4].message["text"]["body"], "Listen");
    assert_eq!(
        sent[5].message["audio"]["link"],
        "https://example.com/a.ogg"
    );
    assert!(harness.alerts.all().is_empty());
    harness.stop().await;
}

#[tokio::test]
async fn business_scoped_users_are_addressed_by_recipient() {
    let harness = Harness::start().await;
    let integration = harness.integration("100003").await;
    let mut outbound = batch(&integration, "wamid.IN3:out", vec![text("hello")]);
    outbound.to = Recipient::UserId("US.1349120865530274".into());
    harness.publish(&outbound).await;
    let sent = harness
        .wait_messages("100003", "US.1349120865530274", 1)
        .await;
    assert_eq!(sent[0].message["recipient"], "US.1349120865530274");
    assert!(sent[0].message.get("to").is_none());
    harness.finished("wamid.IN3:out").await;
    let stored = harness
        .store
        .outbound_message(&sent[0].wamid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.recipient.as_deref(), Some("US.1349120865530274"));
    harness.stop().await;
}

#[tokio::test]
async fn a_redelivered_batch_is_not_sent_twice_and_a_partial_one_resumes() {
    let mut harness = Harness::start().await;
    let integration = harness.integration("100004").await;
    let outbound = batch(
        &integration,
        "wamid.IN4:out",
        vec![text("one"), text("two")],
    );
    harness.publish(&outbound).await;
    harness.finished("wamid.IN4:out").await;
    // The broker delivers it again (a lost ack, a restart).
    harness.publish(&outbound).await;
    let marker = batch(&integration, "wamid.IN5:out", vec![text("after")]);
    harness.publish(&marker).await;
    harness.finished("wamid.IN5:out").await;
    assert_eq!(
        bodies(&harness.conversation("100004", USER).await),
        ["one", "two", "after"]
    );

    // A batch whose first message was accepted before the sender stopped resumes after it.
    harness.stop_sender().await;
    harness
        .store
        .save_batch_progress(integration.id, "wamid.IN6:out", 1, None)
        .await
        .unwrap();
    let resumed = batch(
        &integration,
        "wamid.IN6:out",
        vec![text("already sent"), text("rest")],
    );
    harness.publish(&resumed).await;
    harness.restart_sender(|_| {}).await;
    assert_eq!(harness.outcome("wamid.IN6:out").await, BatchOutcome::Sent);
    assert_eq!(
        bodies(&harness.conversation("100004", USER).await),
        ["one", "two", "after", "rest"]
    );
    harness.stop().await;
}

#[tokio::test]
async fn inactive_integrations_send_nothing_and_undecodable_batches_are_dead_lettered() {
    let harness = Harness::start().await;
    let integration = harness.integration("100005").await;
    harness
        .store
        .set_integration_active(harness.account, integration.id, false)
        .await
        .unwrap();
    harness
        .publish(&batch(&integration, "wamid.IN7:out", vec![text("hidden")]))
        .await;
    harness
        .publish_raw(b"{\"schema\":\"v1\",\"nonsense\":true}")
        .await;

    let started = Instant::now();
    loop {
        let dead = harness.vhost.queue_info("bot.dead-letter").await.unwrap();
        let outbound = harness.vhost.queue_info("sender.whatsapp").await.unwrap();
        let settled =
            dead["messages"].as_u64() == Some(1) && outbound["messages"].as_u64() == Some(0);
        if settled {
            break;
        }
        assert!(
            started.elapsed() < common::WAIT,
            "not settled: {dead} / {outbound}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(harness.requests(Some("100005")).await.is_empty());
    assert_eq!(
        harness.store.batch_progress("wamid.IN7:out").await.unwrap(),
        None
    );
    harness.stop().await;
}

#[tokio::test]
async fn sends_are_paced_per_phone_number() {
    let harness = Harness::start_with(|config| config.rate_per_second = 5.0).await;
    let integration = harness.integration("100006").await;
    let messages = (1..=10).map(|n| text(&format!("m{n}"))).collect();
    let started = Instant::now();
    harness
        .publish(&batch(&integration, "wamid.IN8:out", messages))
        .await;
    harness.finished("wamid.IN8:out").await;
    let elapsed = started.elapsed();
    // 10 sends at 5 per second: nine gaps of 200 ms.
    assert!(elapsed >= Duration::from_millis(1700), "{elapsed:?}");
    assert_eq!(
        bodies(&harness.conversation("100006", USER).await),
        (1..=10).map(|n| format!("m{n}")).collect::<Vec<_>>()
    );
    harness.stop().await;
}

#[tokio::test]
async fn a_proactive_start_sends_its_template_first_and_marks_nothing_read() {
    let harness = Harness::start().await;
    let integration = harness.integration("100007").await;
    // Outside any 24-hour window: only a template gets through.
    harness
        .emulator_client
        .configure(
            Some("100007"),
            meta_emulator::api::Settings {
                enforce_window: Some(true),
                ..meta_emulator::api::Settings::default()
            },
        )
        .await
        .unwrap();
    let mut outbound = batch(&integration, "proactive-1:out", Vec::new());
    outbound.template = Some(contracts::v1::FallbackTemplate {
        name: "order_follow_up".into(),
        language_code: "de".into(),
    });
    harness.publish(&outbound).await;
    let progress = harness.finished("proactive-1:out").await;
    assert_eq!(progress.outcome, Some(BatchOutcome::Sent));
    assert_eq!(progress.sent_count, 1);
    let requests = harness.requests(Some("100007")).await;
    assert_eq!(
        requests.len(),
        1,
        "no mark-read: there is no inbound message"
    );
    let sent = harness.conversation("100007", USER).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message_type, "template");
    assert_eq!(sent[0].message["template"]["name"], "order_follow_up");
    assert_eq!(sent[0].message["template"]["language"]["code"], "de");
    assert_eq!(sent[0].message["to"], format!("+{USER}"));
    harness.stop().await;
}
