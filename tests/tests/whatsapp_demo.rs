#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The demo bot over WhatsApp, from the first "hi" to its end, through the real ingress,
//! executor and sender, with Meta played by the emulator. (Every fixture of
//! `fixtures/meta/webhooks/` and the signature checks are covered by
//! `services/whatsapp-ingress/tests/fixtures.rs` and `security.rs`.)

use std::time::{Duration, Instant};

use e2e::{WhatsappPlatform, WhatsappSetup};

const USER: &str = "4915112345678";

#[tokio::test]
async fn a_user_orders_a_pizza_tapping_picking_and_typing() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", WhatsappSetup::default()).await;
    let mut chat = wp.chat(&shop, USER);
    let mut inbound = Vec::new();

    inbound.push(chat.user_says("hi").await);
    assert_eq!(
        chat.bot_says(2).await,
        ["text: Welcome to Demo Pizza! 🍕", "text: What's your name?"]
    );
    inbound.push(chat.user_says("Ann").await);
    assert_eq!(
        chat.bot_says(1).await,
        ["buttons: Hi Ann! What would you like to do? [Order a pizza|Opening hours|Talk to us]"]
    );
    // A tap on a reply button.
    inbound.push(chat.user_taps("component_id_abc", "Opening hours").await);
    assert_eq!(
        chat.bot_says(2).await,
        [
            "text: We bake every day from 11:00 to 23:00.",
            "buttons: Hi Ann! What would you like to do? [Order a pizza|Opening hours|Talk to us]"
        ]
    );
    inbound.push(chat.user_taps("component_id_xyz", "Order a pizza").await);
    assert_eq!(
        chat.bot_says(1).await,
        ["list: Which pizza would you like? [Margherita|Pepperoni|Funghi|Veggie|Hawaii]"]
    );
    // A pick from the list.
    inbound.push(chat.user_picks("pizza_pepperoni", "Pepperoni").await);
    assert_eq!(chat.bot_says(1).await, ["text: How many Pepperoni pizzas?"]);
    // Free text, refused by the validation, then accepted.
    inbound.push(chat.user_says("two").await);
    assert_eq!(
        chat.bot_says(1).await,
        ["text: Please answer with a number, for example 2."]
    );
    inbound.push(chat.user_says("2").await);
    assert_eq!(
        chat.bot_says(1).await,
        ["text: Which phone number can the driver call?"]
    );
    inbound.push(chat.user_says("+49 170 1234567").await);
    assert_eq!(
        chat.bot_says(1).await,
        [
            "buttons: Please confirm your order: 2 × Pepperoni for Ann (+49 170 1234567) \
             [Confirm|Cancel]"
        ]
    );
    // A button's title typed instead of tapped (any case).
    inbound.push(chat.user_says("confirm").await);
    assert_eq!(
        chat.bot_says(2).await,
        [
            "image: https://example.com/demo-pizza/oven.jpg | Thanks Ann! Your Pepperoni is in \
             the oven.",
            "text: Order confirmed: 2 × Pepperoni for Ann (+49 170 1234567). See you soon!"
        ]
    );
    assert_eq!(
        wp.session(shop.id, USER).await,
        None,
        "the final session is deleted"
    );

    // Every user message was marked read, and every message of the bot was recorded and moved
    // forward by Meta's status webhooks to `read`.
    let wamids: Vec<String> = inbound
        .iter()
        .flat_map(|report| report.deliveries.iter())
        .flat_map(|delivery| delivery.message_ids.clone())
        .collect();
    assert_eq!(wamids.len(), 9);
    let read = wp
        .emulator
        .marked_read(&shop.phone_number_id)
        .await
        .unwrap();
    assert_eq!(read, wamids, "each inbound message marked read, in order");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let statuses = wp.outbound_statuses(shop.id).await;
        assert_eq!(statuses.len(), 12, "{statuses:?}");
        if statuses.iter().all(|s| s == "read") {
            break;
        }
        assert!(Instant::now() < deadline, "statuses stuck: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        wp.processed_events(shop.id).await,
        9,
        "one turn per message"
    );
    wp.stop().await;
}

#[tokio::test]
async fn a_new_message_after_the_end_starts_the_bot_over() {
    let wp = WhatsappPlatform::start().await;
    let shop = wp.demo_integration("Pizza", WhatsappSetup::default()).await;
    let mut chat = wp.chat(&shop, USER);
    chat.user_says("hello").await;
    chat.wait_for_bot(2).await;
    chat.user_says("Bo").await;
    chat.wait_for_bot(1).await;
    chat.user_taps("menu_contact", "Talk to us").await;
    assert_eq!(
        chat.bot_says(1).await,
        ["text: Call us at +49 30 1234567, we are happy to help."]
    );
    assert_eq!(wp.session(shop.id, USER).await, None);
    chat.user_says("hi again").await;
    assert_eq!(
        chat.bot_says(2).await,
        ["text: Welcome to Demo Pizza! 🍕", "text: What's your name?"]
    );
    wp.stop().await;
}
