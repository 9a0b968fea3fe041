#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Conversations side by side: many users at once, several messages in one webhook, and a
//! user Meta identifies only by a business-scoped user id.

use e2e::{WhatsappPlatform, WhatsappSetup};
use futures_util::future::join_all;
use meta_emulator::api::DeliverRequest;
use meta_emulator::client::user_text;
use serde_json::{json, Value};

#[tokio::test]
async fn many_users_at_once_each_get_their_own_conversation() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", WhatsappSetup::default()).await;
    let names = ["Ann", "Bo", "Cy", "Di", "Ed", "Flo"];
    let conversations = names.iter().enumerate().map(|(n, name)| {
        let wp = &wp;
        let shop = &shop;
        async move {
            let user = format!("4915100000{n:03}");
            let mut chat = wp.chat(shop, &user);
            chat.user_says("hi").await;
            chat.wait_for_bot(2).await;
            chat.user_says(name).await;
            let menu = chat.bot_says(1).await;
            chat.user_taps("component_id_xyz", "Order a pizza").await;
            let list = chat.bot_says(1).await;
            (name, menu, list)
        }
    });
    for (name, menu, list) in join_all(conversations).await {
        assert_eq!(
            menu,
            [format!(
                "buttons: Hi {name}! What would you like to do? \
                 [Order a pizza|Opening hours|Talk to us]"
            )]
        );
        assert!(list[0].starts_with("list: Which pizza"), "{list:?}");
    }
    assert_eq!(wp.processed_events(shop.id).await, 18);
    wp.stop().await;
}

#[tokio::test]
async fn several_messages_in_one_webhook_run_in_order() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", WhatsappSetup::default()).await;
    let user = "4915112345678";
    let mut chat = wp.chat(&shop, user);
    let report = chat
        .deliver(DeliverRequest {
            messages: vec![
                user_text(&shop.phone_number_id, user, "hi"),
                user_text(&shop.phone_number_id, user, "Ann"),
                user_text(&shop.phone_number_id, user, "opening hours"),
            ],
            batch: true,
            ..DeliverRequest::default()
        })
        .await;
    assert_eq!(report.deliveries.len(), 1, "one POST");
    let menu = "buttons: Hi Ann! What would you like to do? \
                [Order a pizza|Opening hours|Talk to us]";
    assert_eq!(
        chat.bot_says(5).await,
        [
            "text: Welcome to Demo Pizza! 🍕",
            "text: What's your name?",
            menu,
            "text: We bake every day from 11:00 to 23:00.",
            menu,
        ]
    );
    wp.stop().await;
}

#[tokio::test]
async fn a_user_known_only_by_a_business_scoped_id_talks_to_the_bot() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", WhatsappSetup::default()).await;
    let bsuid = "US.13491208655302741918";
    let mut chat = wp.chat(&shop, bsuid);
    // Meta's rollout: an empty `wa_id`, no `from`, the sender in `from_user_id`.
    let says = |n: u32, text: &str| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
            "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550009999",
                             "phone_number_id": shop.phone_number_id},
                "contacts": [{"profile": {"name": "Kim"}, "wa_id": "", "user_id": bsuid}],
                "messages": [{"from_user_id": bsuid, "id": format!("wamid.BSUID{n}"),
                              "timestamp": chrono::Utc::now().timestamp().to_string(),
                              "type": "text", "text": {"body": text}}]}}]}]})
    };
    let deliver = |payload: Value| DeliverRequest {
        payload: Some(payload),
        ..DeliverRequest::default()
    };
    chat.deliver(deliver(says(1, "hi"))).await;
    assert_eq!(
        chat.bot_says(2).await,
        ["text: Welcome to Demo Pizza! 🍕", "text: What's your name?"]
    );
    chat.deliver(deliver(says(2, "Kim"))).await;
    let menu = chat.wait_for_bot(1).await;
    assert_eq!(
        menu[0].message["recipient"], bsuid,
        "addressed by recipient"
    );
    assert!(menu[0].message.get("to").is_none());
    assert!(wp.session(shop.id, bsuid).await.is_some());
    wp.stop().await;
}
