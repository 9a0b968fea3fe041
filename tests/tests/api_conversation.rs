#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The manual's API chapter through the real pipeline: api-gateway → RabbitMQ → flow-executor
//! (PostgreSQL) → RabbitMQ → back to the waiting request.

use e2e::Platform;
use serde_json::json;

#[tokio::test]
async fn the_demo_bot_runs_to_its_end_over_the_api() {
    let p = Platform::start().await;
    let i = p.demo_integration("Demo", false).await;
    let base = format!("/{}/session", i.id);

    let (status, started) = p
        .api(
            &format!("{base}/"),
            &i.key,
            &json!({"session_id": "user-123", "user_identifier": "user-123"}),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["session_id"], "user-123");
    assert_eq!(started["state"], "ask_name");
    assert_eq!(started["is_final"], false);
    assert_eq!(
        started["message"],
        json!({"type": "text", "text": "Welcome to Demo Pizza! 🍕"})
    );
    assert_eq!(started["messages"].as_array().unwrap().len(), 2);
    assert_eq!(started["messages"][1]["text"], "What's your name?");
    assert!(started.get("idempotency_replayed").is_none());

    let msg = format!("{base}/user-123/message/");
    let (status, menu) = p.api(&msg, &i.key, &json!({"message": "Ada"})).await;
    assert_eq!(status, 200, "{menu}");
    assert_eq!(menu["state"], "main_menu");
    assert_eq!(menu["message"]["type"], "buttons");
    assert_eq!(
        menu["message"]["text"],
        "Hi Ada! What would you like to do?"
    );
    assert_eq!(
        menu["message"]["options"],
        json!([{"id": "component_id_xyz", "text": "Order a pizza"},
               {"id": "component_id_abc", "text": "Opening hours"},
               {"id": "menu_contact", "text": "Talk to us"}])
    );

    // Buttons by id; a list by typing its title (case-insensitive); a re-prompt on no match.
    let (_, list) = p
        .api(
            &msg,
            &i.key,
            &json!({"selected_option_id": "component_id_xyz"}),
        )
        .await;
    assert_eq!(list["message"]["type"], "list");
    assert_eq!(list["message"]["options"].as_array().unwrap().len(), 5);
    let (_, again) = p.api(&msg, &i.key, &json!({"message": "sushi"})).await;
    assert_eq!(again["state"], "choose_pizza");
    assert_eq!(again["message"]["type"], "list");
    let (_, quantity) = p.api(&msg, &i.key, &json!({"message": "pepperoni"})).await;
    assert_eq!(quantity["state"], "ask_quantity");
    // Validation with a retry prompt, then a condition on the number.
    let (_, retry) = p.api(&msg, &i.key, &json!({"message": "lots"})).await;
    assert_eq!(retry["state"], "ask_quantity");
    assert_eq!(
        retry["message"]["text"],
        "Please answer with a number, for example 2."
    );
    let (_, too_many) = p.api(&msg, &i.key, &json!({"message": "11"})).await;
    assert_eq!(
        too_many["message"]["text"],
        "We can bake between 1 and 10 pizzas per order."
    );
    assert_eq!(too_many["state"], "ask_quantity");
    let (_, phone) = p.api(&msg, &i.key, &json!({"message": "2"})).await;
    assert_eq!(phone["state"], "ask_phone");
    let (_, confirm) = p
        .api(&msg, &i.key, &json!({"message": "+49 170 1234567"}))
        .await;
    assert_eq!(confirm["state"], "confirm_order");
    assert_eq!(confirm["message"]["type"], "buttons");
    let (status, done) = p
        .api(
            &msg,
            &i.key,
            &json!({"selected_option_id": "order_confirm"}),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["is_final"], true);
    assert_eq!(done["message"]["type"], "media");
    assert_eq!(
        done["message"]["media_url"],
        "https://example.com/demo-pizza/oven.jpg"
    );
    let last = done["messages"].as_array().unwrap().last().unwrap().clone();
    assert!(
        last["text"]
            .as_str()
            .unwrap()
            .starts_with("Order confirmed: 2 × "),
        "{last}"
    );

    // Final sessions are deleted: the next message is 404.
    let (status, gone) = p.api(&msg, &i.key, &json!({"message": "hello?"})).await;
    assert_eq!(status, 404, "{gone}");
    assert_eq!(gone["error"]["code"], "session_not_found");
    p.stop().await;
}

#[tokio::test]
async fn message_payload_and_injected_variables_reach_the_flow() {
    let p = Platform::start().await;
    let i = p.demo_integration("Injected", true).await;
    let (status, started) = p
        .api(
            &format!("/{}/session", i.id),
            &i.key,
            &json!({"session_id": "vip", "variables": {"customer_name": "Grace"}, "message_payload": "hi"}),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    // The condition saw the injected name and skipped the question.
    assert_eq!(started["state"], "main_menu");
    assert_eq!(
        started["messages"][1]["text"],
        "Hi Grace! What would you like to do?"
    );

    let (status, refused) = p
        .api(
            &format!("/{}/session", i.id),
            &i.key,
            &json!({"variables": {"nope": "x"}}),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "undeclared_variables");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nope"));
    p.stop().await;
}

#[tokio::test]
async fn a_generated_session_id_is_returned_and_usable() {
    let p = Platform::start().await;
    let i = p.demo_integration("Generated", false).await;
    let (status, started) = p
        .api(&format!("/{}/session", i.id), &i.key, &json!({}))
        .await;
    assert_eq!(status, 200, "{started}");
    let id = started["session_id"].as_str().unwrap().to_owned();
    assert!(!id.is_empty());
    let (status, next) = p
        .api(
            &format!("/{}/session/{id}/message", i.id),
            &i.key,
            &json!({"message": "Lin"}),
        )
        .await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["session_id"], id.as_str());
    p.stop().await;
}

#[tokio::test]
async fn an_api_conversation_shows_as_the_integrations_last_activity() {
    let p = Platform::start().await;
    let i = p.demo_integration("Active", false).await;
    let activity = || async {
        let (status, list) = p.admin.get("/v1/integrations", e2e::BOOTSTRAP_TOKEN).await;
        assert_eq!(status, 200, "{list}");
        let row = list["integrations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["id"] == i.id)
            .cloned()
            .unwrap();
        row["last_activity_at"].clone()
    };
    assert!(activity().await.is_null(), "no traffic yet");

    let before = chrono::Utc::now();
    let (status, started) = p
        .api(
            &format!("/{}/session/", i.id),
            &i.key,
            &json!({"session_id": "active-1"}),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    // Written in the background, moments after the request was admitted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let seen = loop {
        let seen = activity().await;
        if !seen.is_null() || std::time::Instant::now() > deadline {
            break seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let at: chrono::DateTime<chrono::Utc> = seen
        .as_str()
        .unwrap_or_else(|| panic!("last_activity_at still {seen}"))
        .parse()
        .unwrap();
    assert!(
        at >= before - chrono::Duration::seconds(1),
        "{at} is not this conversation"
    );
    p.stop().await;
}
