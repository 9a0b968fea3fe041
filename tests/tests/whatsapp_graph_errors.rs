#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Graph API errors that change what the sender does, end to end: a refused token (190) is
//! exchanged and stored, and the reply still arrives; a message outside the 24-hour window
//! (131047) is replaced by the integration's template, whether Meta refuses it at once or
//! reports it later in a `failed` status.

use e2e::{WhatsappPlatform, WhatsappSetup};
use meta_emulator::api::{FaultSpec, Settings, UserMessage};
use meta_emulator::client::user_text;

const USER: &str = "4915112345678";

#[tokio::test]
async fn a_refused_token_is_refreshed_and_the_reply_delivered() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", WhatsappSetup::default()).await;
    let mut chat = wp.chat(&shop, USER);
    let sealed_before = wp.sealed_access_token(shop.id).await;
    let since = wp
        .emulator
        .requests(None, None)
        .await
        .unwrap()
        .last()
        .map(|r| r.seq);
    wp.emulator
        .inject_fault(&FaultSpec::error(&shop.phone_number_id, 190, 1))
        .await
        .unwrap();
    chat.user_says("hi").await;
    assert_eq!(
        chat.bot_says(2).await,
        ["text: Welcome to Demo Pizza! 🍕", "text: What's your name?"]
    );
    let requests = wp.emulator.requests(None, since).await.unwrap();
    let refused = requests
        .iter()
        .position(|r| r.status == 401)
        .expect("a call refused with 190");
    let exchange = requests
        .iter()
        .position(|r| r.path.ends_with("/oauth/access_token") && r.status == 200)
        .expect("the token was exchanged");
    assert!(refused < exchange);
    let refused_with = requests[refused].token_fingerprint.clone();
    let after: Vec<_> = requests[exchange + 1..]
        .iter()
        .filter(|r| r.status == 200)
        .collect();
    assert!(after.len() >= 2, "the messages went after the exchange");
    assert!(
        after.iter().all(|r| r.token_fingerprint != refused_with),
        "with the new token"
    );
    assert_ne!(
        wp.sealed_access_token(shop.id).await,
        sealed_before,
        "the new token is stored"
    );
    // The next turn uses the stored token without another exchange.
    chat.user_says("Ann").await;
    chat.wait_for_bot(1).await;
    let exchanges = wp
        .emulator
        .requests(None, since)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.path.ends_with("/oauth/access_token"))
        .count();
    assert_eq!(exchanges, 1);
    wp.stop().await;
}

#[tokio::test]
async fn outside_the_window_the_template_goes_instead() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp
        .demo_integration(
            "Pizza",
            WhatsappSetup {
                template: Some(("order_follow_up".into(), "en_US".into())),
                ..WhatsappSetup::default()
            },
        )
        .await;
    wp.emulator
        .configure(
            Some(&shop.phone_number_id),
            Settings {
                enforce_window: Some(true),
                ..Settings::default()
            },
        )
        .await
        .unwrap();
    let mut chat = wp.chat(&shop, USER);
    // Meta delivers a message written 25 hours ago (after an outage of ours, say): the
    // 24-hour window it opened has closed, so Meta refuses free-form replies with 131047.
    let written = chrono::Utc::now().timestamp() - 25 * 3600;
    chat.send(UserMessage {
        timestamp: Some(written),
        ..user_text(&shop.phone_number_id, USER, "hi")
    })
    .await;
    assert_eq!(
        chat.bot_says(1).await,
        ["template: order_follow_up (en_US)"]
    );
    let refused = wp
        .emulator
        .requests(Some(&shop.phone_number_id), None)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.response["error"]["code"] == 131047)
        .count();
    assert_eq!(
        refused, 1,
        "one refusal, then the template instead of the rest"
    );
    // The session is where the turn left it: the user's reply (which opens a new window)
    // continues the bot.
    let state = wp.session(shop.id, USER).await.unwrap();
    assert_eq!(state["current"], "ask_name");
    chat.user_says("Ann").await;
    assert_eq!(
        chat.bot_says(1).await,
        ["buttons: Hi Ann! What would you like to do? [Order a pizza|Opening hours|Talk to us]"]
    );
    wp.stop().await;
}

#[tokio::test]
async fn a_131047_reported_later_in_a_status_sends_the_template_once() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp
        .demo_integration(
            "Pizza",
            WhatsappSetup {
                template: Some(("order_follow_up".into(), "en_US".into())),
                ..WhatsappSetup::default()
            },
        )
        .await;
    wp.emulator
        .configure(
            Some(&shop.phone_number_id),
            Settings {
                enforce_window: Some(true),
                // Meta's usual way: accept the send, then report it failed with 131047.
                window_failure: Some("async".into()),
                ..Settings::default()
            },
        )
        .await
        .unwrap();
    let mut chat = wp.chat(&shop, USER);
    let written = chrono::Utc::now().timestamp() - 25 * 3600;
    chat.send(UserMessage {
        timestamp: Some(written),
        ..user_text(&shop.phone_number_id, USER, "hi")
    })
    .await;
    // Both replies are accepted, both are reported failed; the template follows once.
    assert_eq!(
        chat.bot_says(3).await,
        [
            "text: Welcome to Demo Pizza! 🍕",
            "text: What's your name?",
            "template: order_follow_up (en_US)"
        ]
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let statuses = wp.outbound_statuses(shop.id).await;
        if statuses.iter().filter(|s| *s == "failed").count() == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "both failures recorded: {statuses:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The user's reply opens a new window and continues the bot. Its answer goes through the
    // same sender lane after the second failure's request: had that sent the template again,
    // it would arrive before this answer.
    chat.user_says("Ann").await;
    assert_eq!(
        chat.bot_says(1).await,
        ["buttons: Hi Ann! What would you like to do? [Order a pizza|Opening hours|Talk to us]"]
    );
    let templates = wp
        .emulator
        .requests(Some(&shop.phone_number_id), None)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.body["type"] == "template" && r.status == 200)
        .count();
    assert_eq!(templates, 1, "the template went once");
    wp.stop().await;
}
