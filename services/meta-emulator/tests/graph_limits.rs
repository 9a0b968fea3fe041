//! `/messages`: every limit answers with Meta's code and envelope; valid sends and
//! mark-as-read answer as Meta's samples.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_meta_error, text, Emulator, PNID, USER};
use serde_json::{json, Value};

fn buttons(titles: &[(&str, &str)]) -> Value {
    let buttons: Vec<Value> = titles
        .iter()
        .map(|(id, title)| json!({"type": "reply", "reply": {"id": id, "title": title}}))
        .collect();
    json!({"messaging_product": "whatsapp", "to": USER, "type": "interactive",
           "interactive": {"type": "button", "body": {"text": "Pick"}, "action": {"buttons": buttons}}})
}

fn list(sections: Value, button: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": USER, "type": "interactive",
           "interactive": {"type": "list", "body": {"text": "Choose"},
                           "action": {"button": button, "sections": sections}}})
}

fn rows(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"id": format!("r{i}"), "title": format!("Row {i}")}))
        .collect()
}

#[tokio::test]
async fn a_valid_text_send_answers_like_meta() {
    let emulator = Emulator::start().await;
    let (status, body) = emulator.send(&text("hello")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["contacts"][0]["input"], format!("+{USER}"));
    assert_eq!(body["contacts"][0]["wa_id"], USER);
    let wamid = body["messages"][0]["id"].as_str().unwrap();
    assert!(wamid.starts_with("wamid."));
    assert!(body["messages"][0].get("message_status").is_none());
    // A fresh id per message.
    let (_, second) = emulator.send(&text("again")).await;
    assert_ne!(second["messages"][0]["id"], wamid);
    // Both are in the conversation log, in order.
    let sent = emulator
        .client
        .conversation(PNID, USER, None)
        .await
        .unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].wamid, wamid);
    assert_eq!(sent[0].message["text"]["body"], "hello");
    assert_eq!(sent[0].status, "accepted");
}

#[tokio::test]
async fn every_supported_type_is_accepted() {
    let emulator = Emulator::start().await;
    let bodies = [
        buttons(&[("a", "Apples"), ("b", "Pears"), ("c", "Plums")]),
        list(json!([{"title": "Fruit", "rows": rows(10)}]), "Options"),
        json!({"messaging_product": "whatsapp", "to": USER, "type": "image",
               "image": {"link": "https://example.com/a.png", "caption": "x".repeat(1024)}}),
        json!({"messaging_product": "whatsapp", "to": USER, "type": "document",
               "document": {"link": "https://example.com/a.pdf", "filename": "a.pdf"}}),
        json!({"messaging_product": "whatsapp", "to": USER, "type": "audio", "audio": {"id": "123"}}),
        json!({"messaging_product": "whatsapp", "to": USER, "type": "video",
               "video": {"link": "http://example.com/v.mp4", "caption": "v"}}),
        text(&"é".repeat(4096)),
    ];
    for body in &bodies {
        let (status, answer) = emulator.send(body).await;
        assert_eq!(status, 200, "{body} -> {answer}");
    }
    let template = json!({"messaging_product": "whatsapp", "to": USER, "type": "template",
        "template": {"name": "welcome", "language": {"code": "en_US"},
                     "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}]}});
    let (status, answer) = emulator.send(&template).await;
    assert_eq!(status, 200);
    assert_eq!(answer["messages"][0]["message_status"], "accepted");
    let log = emulator
        .client
        .conversation(PNID, USER, None)
        .await
        .unwrap();
    assert_eq!(log.len(), bodies.len() + 1);
    assert_eq!(log.last().unwrap().message_type, "template");
}

#[tokio::test]
async fn mark_as_read_answers_success() {
    let emulator = Emulator::start().await;
    let read = json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN",
                      "typing_indicator": {"type": "text"}});
    assert_eq!(emulator.send(&read).await, (200, json!({"success": true})));
    let no_id = json!({"messaging_product": "whatsapp", "status": "read"});
    assert_meta_error(&emulator.send(&no_id).await, 400, 100);
    assert_eq!(
        emulator.client.marked_read(PNID).await.unwrap(),
        vec!["wamid.IN".to_owned()],
        "the refused one is not counted"
    );
    // Not a message to anyone.
    assert!(emulator
        .client
        .conversation(PNID, USER, None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn parameters_are_checked_with_code_100() {
    let emulator = Emulator::start().await;
    let cases = [
        (
            json!({"to": USER, "type": "text", "text": {"body": "x"}}),
            "messaging_product",
        ),
        (
            json!({"messaging_product": "sms", "to": USER, "text": {"body": "x"}}),
            "messaging_product",
        ),
        (
            json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}),
            "to",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {}}),
            "text['body']",
        ),
        (text(&"a".repeat(4097)), "4096"),
        (
            json!({"messaging_product": "whatsapp", "to": USER, "type": "image",
                "image": {"link": "https://e.com/a.png", "caption": "c".repeat(1025)}}),
            "1024",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": USER, "type": "image", "image": {}}),
            "id or link",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": USER, "type": "image",
                "image": {"link": "ftp://e.com/a.png"}}),
            "URL",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": USER, "type": "template",
                "template": {"name": "t"}}),
            "language",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": USER, "type": "poll", "poll": {}}),
            "type",
        ),
    ];
    for (body, mention) in cases {
        let answer = emulator.send(&body).await;
        let error = assert_meta_error(&answer, 400, 100);
        assert_eq!(error["message"], "(#100) Invalid parameter");
        assert_eq!(error["error_data"]["messaging_product"], "whatsapp");
        let details = error["error_data"]["details"].as_str().unwrap();
        assert!(
            details.contains(mention),
            "{details} should mention {mention}"
        );
    }
    let (status, body) = emulator
        .send_as(PNID, Some(&emulator.token), &json!("not an object"))
        .await;
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(100)));
    // Refused sends are not in the conversation.
    assert!(emulator
        .client
        .conversation(PNID, USER, None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn interactive_limits_answer_131009() {
    let emulator = Emulator::start().await;
    let too_long_body = {
        let mut b = buttons(&[("a", "A")]);
        b["interactive"]["body"]["text"] = json!("b".repeat(1025));
        b
    };
    let cases = [
        (
            buttons(&[("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]),
            "Buttons count",
        ),
        (buttons(&[]), "Buttons count"),
        (
            buttons(&[("a", "This title is 21 char")]),
            "Button title length",
        ),
        (
            buttons(&[("a", "Same id"), ("a", "Other")]),
            "Duplicate button id",
        ),
        (
            buttons(&[("a", "Same"), ("b", "Same")]),
            "Duplicate button title",
        ),
        (too_long_body, "1024"),
        (
            list(json!([{"title": "S", "rows": rows(11)}]), "Options"),
            "Total row count",
        ),
        (
            list(
                json!([{"title": "S1", "rows": rows(6)},
                     {"title": "S2", "rows": (0..5).map(|i| json!({"id": format!("x{i}"), "title": "t"})).collect::<Vec<_>>()}]),
                "Options",
            ),
            "Total row count",
        ),
        (
            list(
                json!([{"title": "S", "rows": [{"id": "r", "title": "x".repeat(25)}]}]),
                "Options",
            ),
            "Row title",
        ),
        (
            list(
                json!([{"title": "S", "rows": [{"id": "r", "title": "ok", "description": "d".repeat(73)}]}]),
                "Options",
            ),
            "Row description",
        ),
        (
            list(
                json!([{"title": "S", "rows": rows(2)}]),
                "This label is too long",
            ),
            "Button label",
        ),
        (
            list(
                json!([{"rows": rows(1)}, {"title": "B", "rows": [{"id": "z", "title": "z"}]}]),
                "Options",
            ),
            "Section title is required",
        ),
        (
            list(
                json!([{"title": "S", "rows": [{"id": "r", "title": "a"}, {"id": "r", "title": "b"}]}]),
                "Options",
            ),
            "Duplicate row id",
        ),
    ];
    for (body, mention) in cases {
        let answer = emulator.send(&body).await;
        let error = assert_meta_error(&answer, 400, 131009);
        assert_eq!(error["message"], "(#131009) Parameter value is not valid");
        let details = error["error_data"]["details"].as_str().unwrap();
        assert!(
            details.contains(mention),
            "{details} should mention {mention}"
        );
    }
    // At the limits exactly: accepted (titles counted in characters, not bytes).
    let at_limits = buttons(&[("a", "ééééééééééééééééééé😮"), ("b", "B"), ("c", "C")]);
    assert_eq!(emulator.send(&at_limits).await.0, 200);
    let row = json!({"id": "r", "title": "t".repeat(24), "description": "d".repeat(72)});
    let list_at_limits = list(
        json!([{"title": "s".repeat(24), "rows": [row]}]),
        &"b".repeat(20),
    );
    assert_eq!(emulator.send(&list_at_limits).await.0, 200);
}

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let emulator = Emulator::start().await;
    let missing = emulator.send_as(PNID, None, &text("x")).await;
    assert_meta_error(&missing, 401, 190);
    let unknown = emulator
        .send_as(PNID, Some("EAAnot-issued"), &text("x"))
        .await;
    let error = assert_meta_error(&unknown, 401, 190);
    assert!(error.get("error_data").is_none());
    // Graph's access_token query parameter works as the header does.
    let url = emulator.url(&format!(
        "/v21.0/{PNID}/messages?access_token={}",
        emulator.token
    ));
    let response = emulator
        .http
        .post(url)
        .json(&text("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn bad_versions_and_unknown_paths_answer_graph_errors() {
    let emulator = Emulator::start().await;
    let response = emulator
        .http
        .post(emulator.url(&format!("/latest/{PNID}/messages")))
        .bearer_auth(&emulator.token)
        .json(&text("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 2500);
    let response = emulator
        .http
        .get(emulator.url("/v21.0/12345/media_nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 100);
    assert_eq!(body["error"]["error_subcode"], 33);
    // Both are recorded.
    let recorded = emulator.client.requests(None, None).await.unwrap();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[1].path, "/v21.0/12345/media_nope");
}
