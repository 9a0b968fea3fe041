#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The proactive start (PRODUCT.md 5, docs/whatsapp.md): an admin call sends the configured
//! template to a number and opens a session, so that the user's reply continues the bot.

use std::time::Duration;

use e2e::{AdminHarness, WhatsappPlatform, WhatsappSetup, BOOTSTRAP_TOKEN};
use serde_json::{json, Value};

const USER: &str = "4915112345678";
const QUIET: Duration = Duration::from_millis(1500);

fn with_template() -> WhatsappSetup {
    WhatsappSetup {
        template: Some(("order_follow_up".into(), "en_US".into())),
        ..WhatsappSetup::default()
    }
}

async fn start(wp: &WhatsappPlatform, id: i64, body: Value) -> (u16, Value) {
    wp.platform
        .admin
        .post(
            &format!("/v1/integrations/{id}/whatsapp/start"),
            BOOTSTRAP_TOKEN,
            &body,
        )
        .await
}

#[tokio::test]
async fn the_template_goes_out_and_the_reply_continues_the_bot() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", with_template()).await;
    let (status, started) = start(
        &wp,
        shop.id,
        json!({"to": "+49 151 12345678", "variables": {"customer_name": "Kerry"}}),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["to"], "+4915112345678");
    assert_eq!(started["wa_id"], USER);
    assert_eq!(started["template"]["name"], "order_follow_up");

    // Only the template: none of the flow's messages, nothing marked read.
    let mut chat = wp.chat(&shop, USER);
    assert_eq!(
        chat.bot_says(1).await,
        ["template: order_follow_up (en_US)"]
    );
    chat.expect_no_reply(QUIET).await;
    assert!(wp
        .emulator
        .marked_read(&shop.phone_number_id)
        .await
        .unwrap()
        .is_empty());
    // The session waits at the first waiting component with the given variables (the
    // demo bot skips asking the name of a known customer).
    let state = wp.session(shop.id, USER).await.unwrap();
    assert_eq!(state["current"], "main_menu");
    assert_eq!(state["variables"]["customer_name"], "Kerry");

    // A reply the waiting component does not take makes it ask: the user now sees the menu.
    chat.user_says("yes").await;
    assert_eq!(
        chat.bot_says(1).await,
        ["buttons: Hi Kerry! What would you like to do? [Order a pizza|Opening hours|Talk to us]"]
    );
    // A template's quick-reply button arrives as its text, and is taken like a typed title.
    chat.user_says("Order a pizza").await;
    assert_eq!(
        chat.bot_says(1).await,
        ["list: Which pizza would you like? [Margherita|Pepperoni|Funghi|Veggie|Hawaii]"]
    );
    // A second start while the conversation is in progress is refused.
    let (status, refused) = start(&wp, shop.id, json!({"to": "+4915112345678"})).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "conversation_in_progress");
    chat.expect_no_reply(QUIET).await;
    wp.stop().await;
}

#[tokio::test]
async fn the_reply_answers_the_first_waiting_component() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", with_template()).await;
    let (status, body) = start(&wp, shop.id, json!({"to": format!("+{USER}")})).await;
    assert_eq!(status, 202, "{body}");
    let mut chat = wp.chat(&shop, USER);
    chat.wait_for_bot(1).await;
    // Without a name the demo bot waits at "What's your name?", which it has not said: the
    // user's reply to the template is taken as the answer.
    assert_eq!(
        wp.session(shop.id, USER).await.unwrap()["current"],
        "ask_name"
    );
    chat.user_says("Kerry").await;
    assert_eq!(
        chat.bot_says(1).await,
        ["buttons: Hi Kerry! What would you like to do? [Order a pizza|Opening hours|Talk to us]"]
    );
    wp.stop().await;
}

#[tokio::test]
async fn a_start_racing_the_users_first_message_never_interrupts_it() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", with_template()).await;
    let mut chat = wp.chat(&shop, USER);
    chat.user_says("hi").await;
    // Admin may see the session already (409) or not yet (202, and the executor, which runs
    // the conversation's events in order, refuses the start): either way no template.
    let (status, body) = start(&wp, shop.id, json!({"to": format!("+{USER}")})).await;
    assert!(status == 202 || status == 409, "{status} {body}");
    assert_eq!(
        chat.bot_says(2).await,
        ["text: Welcome to Demo Pizza! 🍕", "text: What's your name?"]
    );
    chat.expect_no_reply(QUIET).await;
    wp.stop().await;
}

#[tokio::test]
async fn refusals_say_why_and_send_nothing() {
    let wp = WhatsappPlatform::start().await;
    let admin = &wp.platform.admin;
    let shop = wp.demo_integration("Pizza", with_template()).await;
    let bare = wp.demo_integration("Bare", WhatsappSetup::default()).await;
    let sleeping = wp
        .demo_integration(
            "Sleeping",
            WhatsappSetup {
                inactive: true,
                ..with_template()
            },
        )
        .await;
    let listed = wp
        .demo_integration(
            "Listed",
            WhatsappSetup {
                trigger_recipients: vec!["+15550001111".into()],
                ..with_template()
            },
        )
        .await;
    let api = wp.platform.demo_integration("Web", false).await;
    let to = json!({"to": format!("+{USER}")});
    let cases = [
        (shop.id, json!({"to": "not a number"}), 422, "invalid_field"),
        (
            shop.id,
            json!({"to": "+4915112345678", "variables": {"nope": "x"}}),
            422,
            "undeclared_variables",
        ),
        (
            shop.id,
            json!({"to": "+4915112345678", "variables": {"pizza": ["x"]}}),
            422,
            "invalid_field",
        ),
        (
            shop.id,
            json!({"to": "+4915112345678", "extra": 1}),
            422,
            "invalid_body",
        ),
        (bare.id, to.clone(), 422, "template_required"),
        (sleeping.id, to.clone(), 409, "integration_inactive"),
        (listed.id, to.clone(), 422, "recipient_not_allowed"),
        (api.id, to.clone(), 422, "not_whatsapp"),
        (999_999, to.clone(), 404, "not_found"),
    ];
    for (id, body, status, code) in cases {
        let (got, answer) = start(&wp, id, body.clone()).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
        assert!(answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // Another account's integration is not found.
    let other = admin.new_account("Other").await;
    let (status, _) = admin
        .post(
            &format!("/v1/integrations/{}/whatsapp/start", shop.id),
            &other,
            &to,
        )
        .await;
    assert_eq!(status, 404);
    // The listed number does get its start.
    let (status, body) = start(&wp, listed.id, json!({"to": "+1 555 000 1111"})).await;
    assert_eq!(status, 202, "{body}");
    let mut listed_chat = wp.chat(&listed, "15550001111");
    listed_chat.wait_for_bot(1).await;

    tokio::time::sleep(QUIET).await;
    for integration in [&shop, &bare, &sleeping] {
        assert!(wp
            .emulator
            .conversation(&integration.phone_number_id, USER, None)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(wp.processed_events(integration.id).await, 0);
    }
    wp.stop().await;
}

#[tokio::test]
async fn an_expired_conversation_may_be_started_again() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", with_template()).await;
    let mut chat = wp.chat(&shop, USER);
    chat.user_says("hi").await;
    chat.wait_for_bot(2).await;
    assert!(wp.expire_session(shop.id, USER).await);
    let (status, body) = start(&wp, shop.id, json!({"to": format!("+{USER}")})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        chat.bot_says(1).await,
        ["template: order_follow_up (en_US)"]
    );
    assert_eq!(
        wp.session(shop.id, USER).await.unwrap()["current"],
        "ask_name"
    );
    wp.stop().await;
}

#[tokio::test]
async fn without_a_broker_admin_answers_503() {
    let h = AdminHarness::start().await;
    let bot = h.published_demo_bot(BOOTSTRAP_TOKEN, "Pizza").await;
    let (status, created) = h
        .post(
            "/v1/integrations",
            BOOTSTRAP_TOKEN,
            &json!({"kind": "whatsapp", "name": "Shop", "bot_id": bot,
                    "business_account_id": "102290129340398", "phone_number_id": "106540352242922",
                    "app_id": "1234567890", "app_secret": "app-secret-0123456789",
                    "access_token": "EAAshortlived", "verify_token": "verify-token-1",
                    "template": {"name": "order_follow_up", "language_code": "en_US"}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    h.post(
        &format!("/v1/integrations/{id}/activate"),
        BOOTSTRAP_TOKEN,
        &Value::Null,
    )
    .await;
    let (status, body) = h
        .post(
            &format!("/v1/integrations/{id}/whatsapp/start"),
            BOOTSTRAP_TOKEN,
            &json!({"to": "+4915112345678"}),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "broker_not_configured");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("AMQP_URL"));
    h.stop().await;
}

#[tokio::test]
async fn botctl_starts_a_whatsapp_conversation() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", with_template()).await;
    let id = shop.id.to_string();
    let argv: Vec<String> = [
        "botctl",
        "--url",
        &wp.platform.admin.base_url,
        "--token",
        BOOTSTRAP_TOKEN,
        "integrations",
        "start-whatsapp",
        &id,
        "--to",
        "+4915112345678",
        "--var",
        "customer_name=Kerry",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = botctl::run(argv, &mut out, &mut err).await;
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{out} {}", String::from_utf8_lossy(&err));
    assert!(
        out.contains("Sending template order_follow_up (en_US) to +4915112345678"),
        "{out}"
    );
    let mut chat = wp.chat(&shop, USER);
    assert_eq!(
        chat.bot_says(1).await,
        ["template: order_follow_up (en_US)"]
    );
    assert_eq!(
        wp.session(shop.id, USER).await.unwrap()["variables"]["customer_name"],
        "Kerry"
    );
    wp.stop().await;
}
