//! Status webhooks after accepted sends, and the 24-hour window opened by delivered messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{assert_meta_error, text, Emulator, Receiver, APP_SECRET, PNID, USER};
use meta_emulator::api::{DeliverRequest, Settings, UserMessage};
use meta_emulator::client::user_text;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);

fn fixture_paths(name: &str) -> BTreeSet<String> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    paths(&serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
}

fn paths(value: &Value) -> BTreeSet<String> {
    fn walk(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                let path = format!("{prefix}.{k}");
                out.insert(path.clone());
                walk(v, &path, out);
            }),
            Value::Array(items) => items
                .iter()
                .for_each(|v| walk(v, &format!("{prefix}[]"), out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(value, "", &mut out);
    out
}

fn status_of(body: &Value) -> &Value {
    &body["entry"][0]["changes"][0]["value"]["statuses"][0]
}

async fn emulator_with_statuses(receiver: &Receiver, extra: Settings) -> Emulator {
    let emulator = Emulator::start().await;
    let settings = Settings {
        webhook_target_url: Some(receiver.url()),
        app_secret: Some(APP_SECRET.into()),
        status_delay_ms: Some(20),
        display_phone_number: Some("15550783881".into()),
        ..extra
    };
    emulator
        .client
        .configure(Some(PNID), settings)
        .await
        .unwrap();
    emulator
}

#[tokio::test]
async fn an_accepted_send_is_followed_by_sent_delivered_read() {
    let receiver = Receiver::start().await;
    let emulator = emulator_with_statuses(&receiver, Settings::default()).await;
    let mut body = text("hello");
    body["biz_opaque_callback_data"] = json!("tracker-1");
    let (status, answer) = emulator.send(&body).await;
    assert_eq!(status, 200);
    let wamid = answer["messages"][0]["id"].as_str().unwrap();
    let received = receiver.wait_for(3, WAIT).await;
    let statuses: Vec<Value> = received
        .iter()
        .map(|r| status_of(&r.json()).clone())
        .collect();
    assert_eq!(
        statuses
            .iter()
            .map(|s| s["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["sent", "delivered", "read"]
    );
    for (got, status) in received.iter().zip(&statuses) {
        assert!(got.verified, "status webhooks are signed");
        assert_eq!(status["id"], wamid);
        assert_eq!(status["recipient_id"], USER);
        assert_eq!(status["biz_opaque_callback_data"], "tracker-1");
        assert!(status["timestamp"].as_str().unwrap().parse::<i64>().is_ok());
        let body = got.json();
        assert_eq!(
            body["entry"][0]["changes"][0]["value"]["metadata"]["display_phone_number"],
            "15550783881"
        );
        let allowed: BTreeSet<String> = fixture_paths("meta_doc_status_sent_pmp.json")
            .union(&fixture_paths("status_read.json"))
            .cloned()
            .chain([".entry[].changes[].value.statuses[].biz_opaque_callback_data".to_owned()])
            .collect();
        let extra: Vec<_> = paths(&body).difference(&allowed).cloned().collect();
        assert!(extra.is_empty(), "fields Meta does not send: {extra:?}");
    }
    // Pricing on sent and delivered only; a free-form reply is a free service message.
    assert_eq!(statuses[0]["pricing"]["type"], "free_customer_service");
    assert!(statuses[1]["pricing"].is_object());
    assert!(statuses[2].get("pricing").is_none());
    // The conversation log follows.
    let log = emulator
        .client
        .conversation(PNID, USER, None)
        .await
        .unwrap();
    assert_eq!(log[0].status, "read");
}

#[tokio::test]
async fn statuses_follow_the_configured_order_and_can_be_off() {
    let receiver = Receiver::start().await;
    let order = Settings {
        statuses: Some(vec!["sent".into(), "read".into(), "delivered".into()]),
        ..Settings::default()
    };
    let emulator = emulator_with_statuses(&receiver, order).await;
    emulator.send(&text("out of order")).await;
    let received = receiver.wait_for(3, WAIT).await;
    let order: Vec<_> = received
        .iter()
        .map(|r| status_of(&r.json())["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, vec!["sent", "read", "delivered"]);

    let off = Settings {
        emit_statuses: Some(false),
        ..Settings::default()
    };
    emulator.client.configure(Some(PNID), off).await.unwrap();
    emulator.send(&text("quiet")).await;
    // A template's statuses are priced as billable utility messages (when on again).
    emulator
        .client
        .configure(
            Some(PNID),
            Settings {
                emit_statuses: Some(true),
                ..Settings::default()
            },
        )
        .await
        .unwrap();
    let template = json!({"messaging_product": "whatsapp", "to": USER, "type": "template",
                          "template": {"name": "t", "language": {"code": "en"}}});
    emulator.send(&template).await;
    let received = receiver.wait_for(6, WAIT).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received().len(), 6, "no statuses while off");
    let sent = status_of(&received[3].json()).clone();
    assert_eq!(sent["status"], "sent");
    assert_eq!(sent["pricing"]["category"], "utility");
    assert_eq!(sent["pricing"]["billable"], true);
}

#[tokio::test]
async fn status_webhooks_are_retried_until_acknowledged() {
    let receiver = Receiver::start().await;
    let only_sent = Settings {
        statuses: Some(vec!["sent".into()]),
        retry: Some(meta_emulator::api::RetryPolicy {
            max_attempts: 3,
            backoff_ms: 20,
        }),
        ..Settings::default()
    };
    let emulator = emulator_with_statuses(&receiver, only_sent).await;
    receiver.script(&[500, 500]);
    emulator.send(&text("retry")).await;
    let received = receiver.wait_for(3, WAIT).await;
    assert_eq!(
        received.iter().map(|r| r.answered).collect::<Vec<_>>(),
        vec![500, 500, 200]
    );
    assert!(received.iter().all(|r| r.body == received[0].body));
}

#[tokio::test]
async fn a_closed_window_in_async_mode_accepts_then_fails() {
    let receiver = Receiver::start().await;
    let settings = Settings {
        enforce_window: Some(true),
        window_failure: Some("async".into()),
        ..Settings::default()
    };
    let emulator = emulator_with_statuses(&receiver, settings).await;
    let (status, answer) = emulator.send(&text("too late")).await;
    assert_eq!(status, 200, "{answer}");
    let received = receiver.wait_for(1, WAIT).await;
    let failed = status_of(&received[0].json()).clone();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["id"], answer["messages"][0]["id"]);
    assert_eq!(failed["errors"][0]["code"], 131047);
    assert_eq!(failed["errors"][0]["title"], "Re-engagement message");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received().len(), 1, "nothing after failed");
    let log = emulator
        .client
        .conversation(PNID, USER, None)
        .await
        .unwrap();
    assert_eq!(log[0].status, "failed");
}

#[tokio::test]
async fn delivered_user_messages_open_the_window() {
    let receiver = Receiver::start().await;
    let emulator = emulator_with_statuses(
        &receiver,
        Settings {
            enforce_window: Some(true),
            emit_statuses: Some(false),
            ..Settings::default()
        },
    )
    .await;
    assert_meta_error(&emulator.send(&text("before")).await, 400, 131047);
    emulator
        .client
        .deliver_text(&receiver.target(), PNID, USER, "hi")
        .await
        .unwrap();
    assert_eq!(emulator.send(&text("after")).await.0, 200);

    // A message written 30 hours ago does not open it; a raw body opens it too.
    let old = UserMessage {
        timestamp: Some(chrono::Utc::now().timestamp() - 30 * 3600),
        ..user_text(PNID, "4915100000001", "old")
    };
    emulator
        .client
        .deliver_message(&receiver.target(), old)
        .await
        .unwrap();
    let to_old = json!({"messaging_product": "whatsapp", "to": "4915100000001", "type": "text", "text": {"body": "x"}});
    assert_meta_error(&emulator.send(&to_old).await, 400, 131047);
    let now = chrono::Utc::now().timestamp();
    let raw = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "1", "phone_number_id": PNID},
                  "messages": [{"from": "4915100000001", "id": "wamid.RAW", "timestamp": now.to_string(),
                                "type": "text", "text": {"body": "back"}}]}}]}]});
    let request = DeliverRequest {
        payload: Some(raw),
        ..DeliverRequest::default()
    };
    // Target and secret come from the phone number's configuration.
    assert!(emulator
        .client
        .deliver(&request)
        .await
        .unwrap()
        .all_acknowledged());
    assert_eq!(emulator.send(&to_old).await.0, 200);
}
