#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Meta's delivery habits and the Graph API's failures, end to end: duplicated webhooks run one
//! turn; server errors and throttling delay the bot's replies without losing or reordering
//! any.

use std::time::{Duration, Instant};

use e2e::{WhatsappPlatform, WhatsappSetup};
use meta_emulator::api::{DeliverRequest, FaultSpec, UserMessage};
use meta_emulator::client::user_text;

const USER: &str = "4915112345678";
const QUIET: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn a_webhook_delivered_three_times_runs_one_turn() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", WhatsappSetup::default()).await;
    let mut chat = wp.chat(&shop, USER);
    let report = chat
        .deliver(DeliverRequest {
            messages: vec![user_text(&shop.phone_number_id, USER, "hi")],
            duplicate: 2,
            ..DeliverRequest::default()
        })
        .await;
    assert_eq!(report.deliveries.len(), 3, "three POSTs of the same bytes");
    assert_eq!(report.deliveries[0].body, report.deliveries[2].body);
    assert_eq!(
        chat.bot_says(2).await,
        ["text: Welcome to Demo Pizza! 🍕", "text: What's your name?"]
    );
    chat.expect_no_reply(QUIET).await;
    assert_eq!(wp.processed_events(shop.id).await, 1);
    assert_eq!(wp.outbound_messages(shop.id).await, 2);
    // The conversation goes on from where the one turn left it.
    chat.user_says("Ann").await;
    assert_eq!(
        chat.bot_says(1).await,
        ["buttons: Hi Ann! What would you like to do? [Order a pizza|Opening hours|Talk to us]"]
    );
    wp.stop().await;
}

#[tokio::test]
async fn concurrent_duplicates_run_one_turn() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", WhatsappSetup::default()).await;
    let mut chat = wp.chat(&shop, USER);
    chat.deliver(DeliverRequest {
        messages: vec![user_text(&shop.phone_number_id, USER, "hi")],
        duplicate: 4,
        concurrent: true,
        ..DeliverRequest::default()
    })
    .await;
    assert_eq!(
        chat.bot_says(2).await,
        ["text: Welcome to Demo Pizza! 🍕", "text: What's your name?"]
    );
    chat.expect_no_reply(QUIET).await;
    assert_eq!(wp.processed_events(shop.id).await, 1);
    wp.stop().await;
}

#[tokio::test]
async fn a_late_redelivery_of_an_answered_message_changes_nothing() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", WhatsappSetup::default()).await;
    let mut chat = wp.chat(&shop, USER);
    chat.user_says("hi").await;
    chat.wait_for_bot(2).await;
    let first = chat.user_says("Ann").await;
    chat.wait_for_bot(1).await;
    chat.user_taps("component_id_xyz", "Order a pizza").await;
    chat.wait_for_bot(1).await;
    // Meta redelivers "Ann" (same wamid, same timestamp) after the conversation moved on.
    let wamid = first.deliveries[0].message_ids[0].clone();
    chat.send(UserMessage {
        id: Some(wamid),
        ..user_text(&shop.phone_number_id, USER, "Ann")
    })
    .await;
    chat.expect_no_reply(QUIET).await;
    let state = wp.session(shop.id, USER).await.unwrap();
    assert_eq!(state["current"], "choose_pizza", "the session did not move");
    assert_eq!(wp.processed_events(shop.id).await, 3);
    wp.stop().await;
}

/// The user's messages reach the bot while the Graph API fails; every reply still arrives,
/// in order, once it recovers.
async fn replies_survive(fault: FaultSpec, failure_status: u16) {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", WhatsappSetup::default()).await;
    let mut chat = wp.chat(&shop, USER);
    wp.emulator
        .inject_fault(&FaultSpec {
            phone_number_id: Some(shop.phone_number_id.clone()),
            ..fault
        })
        .await
        .unwrap();
    let started = Instant::now();
    // Two turns published during the outage, one after the other.
    chat.user_says("hi").await;
    chat.user_says("Ann").await;
    assert_eq!(
        chat.bot_says(3).await,
        [
            "text: Welcome to Demo Pizza! 🍕",
            "text: What's your name?",
            "buttons: Hi Ann! What would you like to do? [Order a pizza|Opening hours|Talk to us]"
        ]
    );
    let requests = wp
        .emulator
        .requests(Some(&shop.phone_number_id), None)
        .await
        .unwrap();
    let failed = requests
        .iter()
        .filter(|r| r.status == failure_status)
        .count();
    assert!(failed >= 3, "the outage was hit: {failed} failed calls");
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "replies waited for the outage to end"
    );
    chat.expect_no_reply(QUIET).await;
    assert_eq!(wp.outbound_messages(shop.id).await, 3, "none sent twice");
    wp.stop().await;
}

#[tokio::test]
async fn server_errors_delay_replies_but_lose_none() {
    replies_survive(
        FaultSpec {
            status: Some(500),
            duration_ms: Some(1000),
            ..FaultSpec::default()
        },
        500,
    )
    .await;
}

#[tokio::test]
async fn throttling_delays_replies_but_loses_none() {
    replies_survive(
        FaultSpec {
            code: Some(130429),
            duration_ms: Some(1000),
            ..FaultSpec::default()
        },
        400,
    )
    .await;
}
