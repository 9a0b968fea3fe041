//! Webhook delivery to a receiver that verifies Meta signatures over the exact bytes:
//! escaping, shapes, duplicates, batches, reordering, retries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Emulator, Receiver, APP_SECRET, PNID, USER};
use meta_emulator::api::{DeliverRequest, RetryPolicy, UserMessage};
use meta_emulator::client::{button_reply, list_reply, user_text};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(5);

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

/// Every field path of a JSON value (`entry[].changes[].value.metadata`), arrays merged.
pub fn key_paths(value: &Value) -> BTreeSet<String> {
    fn walk(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    out.insert(path.clone());
                    walk(child, &path, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, &format!("{prefix}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(value, "", &mut out);
    out
}

fn assert_shape_within(sent: &Value, fixture_name: &str) {
    let allowed = key_paths(&serde_json::from_str(&fixture(fixture_name)).unwrap());
    let extra: Vec<_> = key_paths(sent).difference(&allowed).cloned().collect();
    assert!(extra.is_empty(), "fields not in {fixture_name}: {extra:?}");
}

fn deliver_messages(receiver: &Receiver, messages: Vec<UserMessage>) -> DeliverRequest {
    DeliverRequest {
        target_url: Some(receiver.url()),
        app_secret: Some(APP_SECRET.into()),
        messages,
        ..DeliverRequest::default()
    }
}

#[tokio::test]
async fn a_user_text_arrives_signed_escaped_and_shaped_like_meta() {
    let emulator = Emulator::start().await;
    let receiver = Receiver::start().await;
    let report = emulator
        .client
        .deliver_text(&receiver.target(), PNID, USER, "Grüße 😮 / ok")
        .await
        .unwrap();
    assert!(report.all_acknowledged());
    let received = receiver.wait_for(1, WAIT).await;
    let got = &received[0];
    assert!(got.verified, "signature must match the exact bytes");
    assert_eq!(got.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        got.signature.as_deref(),
        Some(report.deliveries[0].signature.as_str())
    );
    assert_eq!(got.text(), report.deliveries[0].body);
    assert!(got.body.is_ascii());
    assert!(
        got.text()
            .contains(r#""text":{"body":"Gr\u00fc\u00dfe \ud83d\ude2e / ok"}"#),
        "{}",
        got.text()
    );
    assert!(got
        .text()
        .starts_with(r#"{"object":"whatsapp_business_account","entry":[{"id":""#));
    let body = got.json();
    let value = &body["entry"][0]["changes"][0]["value"];
    assert_eq!(body["entry"][0]["changes"][0]["field"], "messages");
    assert_eq!(value["metadata"]["phone_number_id"], PNID);
    assert_eq!(value["contacts"][0]["wa_id"], USER);
    let message = &value["messages"][0];
    assert_eq!(message["from"], USER);
    assert_eq!(message["type"], "text");
    assert_eq!(message["text"]["body"], "Grüße 😮 / ok");
    assert!(message["timestamp"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .is_ok());
    assert_eq!(
        report.deliveries[0].message_ids,
        vec![message["id"].as_str().unwrap().to_owned()]
    );
    assert_shape_within(&body, "text.json");
}

#[tokio::test]
async fn bodies_are_escaped_byte_for_byte() {
    let emulator = Emulator::start().await;
    let receiver = Receiver::start().await;
    let send = |request: DeliverRequest| {
        let client = emulator.client.clone();
        async move { client.deliver(&request).await.unwrap() }
    };
    let base = DeliverRequest {
        target_url: Some(receiver.url()),
        app_secret: Some(APP_SECRET.into()),
        ..DeliverRequest::default()
    };
    // A fixture's text as Meta wrote it goes out unchanged.
    let reaction = fixture("reaction.json");
    send(DeliverRequest {
        raw_body: Some(reaction.clone()),
        ..base.clone()
    })
    .await;
    // The same body as a JSON value: compact, the emoji escaped again as Meta does.
    let value: Value = serde_json::from_str(&reaction).unwrap();
    assert_eq!(
        value
            .pointer("/entry/0/changes/0/value/messages/0/reaction/emoji")
            .unwrap(),
        "😮"
    );
    send(DeliverRequest {
        payload: Some(value.clone()),
        ..base.clone()
    })
    .await;
    // Raw characters in a raw body are escaped in place, everything else kept.
    let raw = "{\"a\": \"é😮\u{7f}\", \"url\": \"https://x/y\"}";
    send(DeliverRequest {
        raw_body: Some(raw.into()),
        ..base.clone()
    })
    .await;
    send(DeliverRequest {
        raw_body: Some(raw.into()),
        escape_slashes: true,
        ..base.clone()
    })
    .await;

    let received = receiver.wait_for(4, WAIT).await;
    assert!(received.iter().all(|r| r.verified));
    assert_eq!(received[0].body, reaction.as_bytes());
    let compact = serde_json::to_string(&value)
        .unwrap()
        .replace('😮', r"\ud83d\ude2e");
    assert_eq!(received[1].text(), compact);
    assert!(received[1].text().contains(r#""emoji":"\ud83d\ude2e""#));
    assert_eq!(
        received[2].text(),
        "{\"a\": \"\\u00e9\\ud83d\\ude2e\u{7f}\", \"url\": \"https://x/y\"}"
    );
    assert_eq!(
        received[3].text(),
        "{\"a\": \"\\u00e9\\ud83d\\ude2e\u{7f}\", \"url\": \"https:\\/\\/x\\/y\"}"
    );
    // Escaped or not, each parses to the value it stands for.
    assert_eq!(received[1].json(), value);
    assert_eq!(received[3].json()["url"], "https://x/y");
}

#[tokio::test]
async fn button_and_list_replies_have_metas_shape() {
    let emulator = Emulator::start().await;
    let receiver = Receiver::start().await;
    let mut button = button_reply(PNID, USER, "yes-id", "Yes ✅");
    button.context_message_id = Some("wamid.OUT".into());
    let mut list = list_reply(PNID, USER, "express", "Express");
    list.list_reply_description = Some("Next day".into());
    let request = deliver_messages(&receiver, vec![button, list]);
    assert!(emulator
        .client
        .deliver(&request)
        .await
        .unwrap()
        .all_acknowledged());
    let received = receiver.wait_for(2, WAIT).await;
    let button = received[0].json();
    let message = &button["entry"][0]["changes"][0]["value"]["messages"][0];
    assert_eq!(message["type"], "interactive");
    assert_eq!(message["interactive"]["type"], "button_reply");
    assert_eq!(message["interactive"]["button_reply"]["id"], "yes-id");
    assert_eq!(message["interactive"]["button_reply"]["title"], "Yes ✅");
    assert_eq!(message["context"]["id"], "wamid.OUT");
    assert!(received[0].text().contains(r"Yes \u2705"));
    assert_shape_within(&button, "interactive_button_reply.json");
    let list = received[1].json();
    let reply = &list["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"];
    assert_eq!(reply["type"], "list_reply");
    assert_eq!(reply["list_reply"]["id"], "express");
    assert_eq!(reply["list_reply"]["description"], "Next day");
    assert_shape_within(&list, "interactive_list_reply.json");
}

fn three_texts() -> Vec<UserMessage> {
    ["one", "two", "three"]
        .iter()
        .map(|t| user_text(PNID, USER, t))
        .collect()
}

fn texts_of(received: &[common::Received]) -> Vec<Vec<String>> {
    received
        .iter()
        .map(|r| {
            let body = r.json();
            body["entry"][0]["changes"][0]["value"]["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["text"]["body"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn duplicates_repeat_the_same_bytes() {
    let emulator = Emulator::start().await;
    let receiver = Receiver::start().await;
    let request = DeliverRequest {
        duplicate: 1,
        ..deliver_messages(&receiver, three_texts())
    };
    let report = emulator.client.deliver(&request).await.unwrap();
    assert_eq!(report.deliveries.len(), 6);
    let received = receiver.wait_for(6, WAIT).await;
    for pair in received.chunks(2) {
        assert_eq!(pair[0].body, pair[1].body);
        assert!(pair[0].verified && pair[1].verified);
    }
    assert_eq!(
        texts_of(&received).concat(),
        vec!["one", "one", "two", "two", "three", "three"]
    );
}

#[tokio::test]
async fn batches_hold_every_message_in_one_body() {
    let emulator = Emulator::start().await;
    let receiver = Receiver::start().await;
    let mut messages = three_texts();
    messages.push(user_text("other-number", "15550009999", "elsewhere"));
    let request = DeliverRequest {
        batch: true,
        ..deliver_messages(&receiver, messages)
    };
    let report = emulator.client.deliver(&request).await.unwrap();
    assert_eq!(report.deliveries.len(), 1);
    assert_eq!(report.deliveries[0].message_ids.len(), 4);
    let received = receiver.wait_for(1, WAIT).await;
    let body = received[0].json();
    let changes = body["entry"][0]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "one change per phone number");
    let first = &changes[0]["value"];
    assert_eq!(
        first["contacts"].as_array().unwrap().len(),
        1,
        "one contact per user"
    );
    assert_eq!(first["messages"].as_array().unwrap().len(), 3);
    assert_eq!(
        changes[1]["value"]["metadata"]["phone_number_id"],
        "other-number"
    );
}

#[tokio::test]
async fn reorder_reverses_and_concurrent_sends_all_at_once() {
    let emulator = Emulator::start().await;
    let receiver = Receiver::start().await;
    let request = DeliverRequest {
        reorder: true,
        ..deliver_messages(&receiver, three_texts())
    };
    emulator.client.deliver(&request).await.unwrap();
    let received = receiver.wait_for(3, WAIT).await;
    assert_eq!(texts_of(&received).concat(), vec!["three", "two", "one"]);

    let second = Receiver::start().await;
    let request = DeliverRequest {
        concurrent: true,
        duplicate: 2,
        ..deliver_messages(&second, three_texts())
    };
    let report = emulator.client.deliver(&request).await.unwrap();
    assert!(report.all_acknowledged());
    let received = second.wait_for(9, WAIT).await;
    let mut texts = texts_of(&received).concat();
    texts.sort();
    assert_eq!(
        texts,
        vec!["one", "one", "one", "three", "three", "three", "two", "two", "two"]
    );
}

#[tokio::test]
async fn non_200_answers_are_retried_with_backoff() {
    let emulator = Emulator::start().await;
    let receiver = Receiver::start().await;
    receiver.script(&[500, 204, 401]);
    let request = DeliverRequest {
        retry: Some(RetryPolicy {
            max_attempts: 5,
            backoff_ms: 100,
        }),
        ..deliver_messages(&receiver, vec![user_text(PNID, USER, "retry me")])
    };
    let report = emulator.client.deliver(&request).await.unwrap();
    let attempts: Vec<_> = report.deliveries[0]
        .attempts
        .iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(attempts, vec![Some(500), Some(204), Some(401), Some(200)]);
    assert!(report.deliveries[0].acknowledged);
    let received = receiver.wait_for(4, WAIT).await;
    assert!(
        received.windows(2).all(|w| w[0].body == w[1].body),
        "a retry resends the same bytes"
    );
    // Backoff doubles: 100, 200, 400 ms.
    let gaps: Vec<_> = received.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps[0] >= Duration::from_millis(100), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(400), "{gaps:?}");

    receiver.script(&[503, 503]);
    let request = DeliverRequest {
        retry: Some(RetryPolicy {
            max_attempts: 2,
            backoff_ms: 10,
        }),
        ..deliver_messages(&receiver, vec![user_text(PNID, USER, "given up")])
    };
    let report = emulator.client.deliver(&request).await.unwrap();
    assert!(!report.all_acknowledged());
    assert_eq!(report.deliveries[0].attempts.len(), 2);
}

#[tokio::test]
async fn a_wrong_secret_or_unreachable_target_shows_in_the_report() {
    let emulator = Emulator::start().await;
    let receiver = Receiver::start().await;
    let request = DeliverRequest {
        app_secret: Some("not-the-secret".into()),
        retry: Some(RetryPolicy {
            max_attempts: 1,
            backoff_ms: 0,
        }),
        ..deliver_messages(&receiver, vec![user_text(PNID, USER, "forged")])
    };
    let report = emulator.client.deliver(&request).await.unwrap();
    assert_eq!(report.deliveries[0].attempts[0].status, Some(401));
    assert!(!receiver.received()[0].verified);

    // Nothing listens on port 1 (a freed random port could be taken by a parallel test).
    let request = DeliverRequest {
        target_url: Some("http://127.0.0.1:1/webhook".into()),
        app_secret: Some(APP_SECRET.into()),
        retry: Some(RetryPolicy {
            max_attempts: 2,
            backoff_ms: 10,
        }),
        messages: vec![user_text(PNID, USER, "nobody home")],
        ..DeliverRequest::default()
    };
    let report = emulator.client.deliver(&request).await.unwrap();
    let attempts = &report.deliveries[0].attempts;
    assert_eq!(attempts.len(), 2);
    assert!(
        attempts
            .iter()
            .all(|a| a.status.is_none() && a.error.is_some()),
        "{attempts:?}"
    );
}

#[tokio::test]
async fn bad_deliver_requests_are_refused() {
    let emulator = Emulator::start().await;
    let no_target = DeliverRequest {
        messages: vec![user_text(PNID, USER, "x")],
        ..DeliverRequest::default()
    };
    let error = emulator
        .client
        .deliver(&no_target)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("422") && error.contains("target_url"),
        "{error}"
    );
    let nothing = DeliverRequest {
        target_url: Some("http://127.0.0.1:1/".into()),
        ..DeliverRequest::default()
    };
    assert!(emulator.client.deliver(&nothing).await.is_err());
    let mut empty = user_text(PNID, USER, "x");
    empty.text = None;
    let request = DeliverRequest {
        messages: vec![empty],
        ..no_target.clone()
    };
    assert!(emulator
        .client
        .deliver(&request)
        .await
        .unwrap_err()
        .to_string()
        .contains("exactly one"));
}
