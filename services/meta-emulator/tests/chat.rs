//! The terminal chat: typed lines reach the ingress as signed user webhooks, `/N` picks an
//! option as a button or list reply, and what the bot sends is printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Emulator, Receiver, APP_SECRET, PNID, USER};
use meta_emulator::chat::{self, ChatOptions, ChatSession};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);

fn options(emulator: &Emulator, receiver: &Receiver) -> ChatOptions {
    ChatOptions {
        emulator_url: emulator.running.base_url(),
        ingress_url: receiver.url(),
        app_secret: APP_SECRET.into(),
        phone_number_id: PNID.into(),
        from: USER.into(),
        name: Some("Ann".into()),
        statuses: false,
        poll_interval: Duration::from_millis(30),
        quiet: Duration::from_millis(400),
    }
}

fn message_of(body: &Value) -> Value {
    body["entry"][0]["changes"][0]["value"]["messages"][0].clone()
}

fn buttons() -> Value {
    json!({"messaging_product": "whatsapp", "to": USER, "type": "interactive",
           "interactive": {"type": "button", "body": {"text": "Fruit?"}, "action": {"buttons": [
               {"type": "reply", "reply": {"id": "a", "title": "Apples"}},
               {"type": "reply", "reply": {"id": "b", "title": "Pears"}}]}}})
}

#[tokio::test]
async fn typed_lines_and_picked_options_reach_the_ingress() {
    let emulator = Emulator::start().await;
    let receiver = Receiver::start().await;
    let mut session = ChatSession::start(options(&emulator, &receiver))
        .await
        .unwrap();

    assert_eq!(session.send_line("menu").await.unwrap(), None);
    let first = message_of(&receiver.wait_for(1, WAIT).await[0].json());
    assert_eq!(
        (first["type"].as_str(), first["text"]["body"].as_str()),
        (Some("text"), Some("menu"))
    );

    let (_, answer) = emulator.send(&buttons()).await;
    let buttons_wamid = answer["messages"][0]["id"].as_str().unwrap().to_owned();
    let shown = session.poll().await.unwrap();
    assert_eq!(shown.len(), 1);
    assert!(chat::render(&shown[0].message).contains("2) Pears"));
    assert_eq!(session.choices().len(), 2);
    assert!(
        session.poll().await.unwrap().is_empty(),
        "each message is shown once"
    );

    session.send_line("/2").await.unwrap();
    session.send_line("2").await.unwrap();
    session.send_line("/7").await.unwrap();
    let received = receiver.wait_for(4, WAIT).await;
    assert!(received.iter().all(|r| r.verified));
    let picked = message_of(&received[1].json());
    assert_eq!(picked["interactive"]["type"], "button_reply");
    assert_eq!(picked["interactive"]["button_reply"]["id"], "b");
    assert_eq!(picked["interactive"]["button_reply"]["title"], "Pears");
    assert_eq!(picked["context"]["id"], buttons_wamid.as_str());
    assert_eq!(message_of(&received[2].json())["text"]["body"], "2");
    assert_eq!(
        message_of(&received[3].json())["text"]["body"],
        "/7",
        "no 7th option: sent as text"
    );
    let contacts = &received[0].json()["entry"][0]["changes"][0]["value"]["contacts"][0];
    assert_eq!(contacts["profile"]["name"], "Ann");

    // A list replaces the choices; its rows are picked as list replies.
    let list = json!({"messaging_product": "whatsapp", "to": USER, "type": "interactive",
        "interactive": {"type": "list", "body": {"text": "Ship?"}, "action": {"button": "Options",
            "sections": [{"title": "Speed", "rows": [{"id": "express", "title": "Express"}]}]}}});
    emulator.send(&list).await;
    session.poll().await.unwrap();
    session.send_line("/1").await.unwrap();
    let received = receiver.wait_for(5, WAIT).await;
    let picked = message_of(&received[4].json());
    assert_eq!(picked["interactive"]["list_reply"]["id"], "express");

    // An ingress that refuses says so.
    receiver.script(&[500, 500, 500]);
    let note = session.send_line("anyone?").await.unwrap().unwrap();
    assert!(note.contains("500"), "{note}");
}

/// Answers like a bot: "menu" gets buttons, anything else an echo.
async fn bot(emulator: &Emulator, receiver: &Receiver, handled: &mut usize) {
    let received = receiver.received();
    for webhook in &received[*handled..] {
        let message = message_of(&webhook.json());
        let reply = match message["text"]["body"].as_str() {
            Some("menu") => buttons(),
            Some(text) => common::text(&format!("echo: {text}")),
            None => common::text("picked"),
        };
        emulator.send(&reply).await;
    }
    *handled = received.len();
}

#[tokio::test]
async fn a_chat_session_prints_the_bots_answers() {
    let emulator = Emulator::start().await;
    let receiver = Receiver::start().await;
    // Sent before the session: not printed again.
    emulator.send(&common::text("old news")).await;
    let (lines, rx) = tokio::sync::mpsc::channel(8);
    for line in ["hello", "", "menu", "/quit", "never sent"] {
        lines.send(line.to_owned()).await.unwrap();
    }
    drop(lines);
    let chat_options = options(&emulator, &receiver);
    let chat = tokio::spawn(async move {
        let mut out: Vec<u8> = Vec::new();
        chat::run(chat_options, rx, &mut out).await.unwrap();
        String::from_utf8(out).unwrap()
    });
    let mut handled = 0;
    while !chat.is_finished() {
        bot(&emulator, &receiver, &mut handled).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = chat.await.unwrap();
    assert!(out.contains("bot> echo: hello"), "{out}");
    assert!(
        out.contains("bot> Fruit?\n       1) Apples\n       2) Pears"),
        "{out}"
    );
    assert!(!out.contains("old news"), "{out}");
    assert_eq!(
        handled, 2,
        "the empty line is skipped and nothing after /quit is sent"
    );
}
