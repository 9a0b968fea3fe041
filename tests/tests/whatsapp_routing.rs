#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Who gets an answer: an inactive integration and numbers outside the trigger list get none
//! (Meta still gets its 200); an expired conversation starts the bot over.

use std::time::Duration;

use e2e::{WhatsappPlatform, WhatsappSetup, BOOTSTRAP_TOKEN};
use serde_json::Value;

const USER: &str = "4915112345678";
const QUIET: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn an_inactive_integration_answers_meta_but_not_the_user() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp
        .demo_integration(
            "Pizza",
            WhatsappSetup {
                inactive: true,
                ..WhatsappSetup::default()
            },
        )
        .await;
    let chat = wp.chat(&shop, USER);
    // `deliver` checks every POST was answered 200.
    chat.user_says("hi").await;
    chat.expect_no_reply(QUIET).await;
    assert_eq!(wp.processed_events(shop.id).await, 0, "no bot turn");
    assert_eq!(wp.receipt_kinds(shop.id).await, ["ignored_inactive"]);
    wp.stop().await;
}

#[tokio::test]
async fn a_deactivated_integration_stops_answering_mid_conversation() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", WhatsappSetup::default()).await;
    let mut chat = wp.chat(&shop, USER);
    chat.user_says("hi").await;
    chat.wait_for_bot(2).await;
    let (status, _) = wp
        .platform
        .admin
        .post(
            &format!("/v1/integrations/{}/deactivate", shop.id),
            BOOTSTRAP_TOKEN,
            &Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    chat.user_says("Ann").await;
    chat.expect_no_reply(QUIET).await;
    assert_eq!(wp.processed_events(shop.id).await, 1);
    wp.stop().await;
}

#[tokio::test]
async fn only_trigger_recipients_reach_the_bot() {
    let wp = WhatsappPlatform::start().await;
    let allowed = "15550001111";
    let shop = wp
        .demo_integration(
            "Pizza",
            WhatsappSetup {
                trigger_recipients: vec![format!("+{allowed}")],
                ..WhatsappSetup::default()
            },
        )
        .await;
    let stranger = wp.chat(&shop, USER);
    stranger.user_says("hi").await;
    stranger.expect_no_reply(QUIET).await;
    assert_eq!(wp.receipt_kinds(shop.id).await, ["ignored_recipient"]);
    assert_eq!(wp.session(shop.id, USER).await, None);

    let mut listed = wp.chat(&shop, allowed);
    listed.user_says("hi").await;
    assert_eq!(
        listed.bot_says(2).await,
        ["text: Welcome to Demo Pizza! 🍕", "text: What's your name?"]
    );
    assert_eq!(wp.processed_events(shop.id).await, 1);
    wp.stop().await;
}

#[tokio::test]
async fn an_expired_conversation_starts_over() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp
        .demo_integration(
            "Pizza",
            WhatsappSetup {
                conversation_expiry_minutes: Some(30),
                ..WhatsappSetup::default()
            },
        )
        .await;
    let mut chat = wp.chat(&shop, USER);
    chat.user_says("hi").await;
    chat.wait_for_bot(2).await;
    chat.user_says("Ann").await;
    chat.wait_for_bot(1).await;
    // Each turn pushes the expiry to 30 minutes from now.
    let expires = wp.session_expiry(shop.id, USER).await.unwrap();
    let left = expires - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(29) && left <= chrono::Duration::minutes(30),
        "{left}"
    );
    // Idle past the expiry: the next message, an answer to the old menu, starts over.
    assert!(wp.expire_session(shop.id, USER).await);
    chat.user_taps("component_id_xyz", "Order a pizza").await;
    assert_eq!(
        chat.bot_says(2).await,
        ["text: Welcome to Demo Pizza! 🍕", "text: What's your name?"]
    );
    let state = wp.session(shop.id, USER).await.unwrap();
    assert_eq!(state["current"], "ask_name");
    assert_eq!(
        state["variables"].get("customer_name"),
        None,
        "nothing carried over from the expired conversation"
    );
    wp.stop().await;
}
