#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Batches, routing by phone number id, inactive integrations, trigger recipients, BSUID-only
//! users and delivery statuses.

mod common;

use common::{fixture, messages_payload, text_payload, Harness, Published, Spec};
use contracts::v1::{ConversationKey, Input};
use serde_json::json;
use store::whatsapp::{MessageStatus, ReceiptKind};

const A: &str = "111000111";
const B: &str = "222000222";

fn text(from: &str, id: &str, timestamp: &str, body: &str) -> serde_json::Value {
    json!({"from": from, "id": id, "timestamp": timestamp, "type": "text", "text": {"body": body}})
}

fn change(
    number: &str,
    contacts: serde_json::Value,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": number},
        "contacts": contacts,
    });
    value
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"field": "messages", "value": value})
}

fn ids_of(published: &[Published], key: &ConversationKey) -> Vec<String> {
    published
        .iter()
        .filter(|p| &p.event.conversation_key == key)
        .map(|p| p.event.event_id.clone())
        .collect()
}

#[tokio::test]
async fn a_batch_is_published_whole_keeping_each_conversations_order() {
    let harness = Harness::start().await;
    let a = harness.integration(Spec::active(A)).await;
    let b = harness.integration(Spec::active(B)).await;
    let (x, y, z) = ("15550000001", "15550000002", "15550000003");
    let contacts = json!([{"wa_id": x, "profile": {"name": "X"}}, {"wa_id": y}]);
    let payload = json!({"object": "whatsapp_business_account", "entry": [
        {"id": "waba", "changes": [
            change(A, contacts.clone(), json!({"messages": [
                text(x, "wamid.x3", "30", "third"),
                text(y, "wamid.y1", "10", "y"),
                text(x, "wamid.x1", "10", "first"),
                text(x, "wamid.x2", "10", "second, same second as first"),
            ]})),
            change(B, json!([{"wa_id": z}]), json!({"messages": [
                text(z, "wamid.z2", "6", "z later"),
                text(z, "wamid.z1", "5", "z earlier"),
            ]})),
        ]},
        {"id": "waba", "changes": [
            change(A, contacts, json!({
                "statuses": [{"id": "wamid.out1", "status": "sent", "timestamp": "9",
                              "recipient_id": x}],
                "messages": [text(x, "wamid.x4", "40", "fourth")],
            })),
        ]},
    ]});
    let body = serde_json::to_vec(&payload).unwrap();
    let (status, answer) = harness.post(&a, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"events": 7, "statuses": 1, "recorded": 0}));

    let published = harness.drain().await;
    assert_eq!(published.len(), 7);
    let key_x = ConversationKey::whatsapp(a.id, A, x);
    let key_y = ConversationKey::whatsapp(a.id, A, y);
    let key_z = ConversationKey::whatsapp(b.id, B, z);
    // Within a conversation: Meta's timestamp, then the place in the payload.
    assert_eq!(
        ids_of(&published, &key_x),
        ["wamid.x1", "wamid.x2", "wamid.x3", "wamid.x4"]
    );
    assert_eq!(ids_of(&published, &key_y), ["wamid.y1"]);
    assert_eq!(ids_of(&published, &key_z), ["wamid.z1", "wamid.z2"]);
    let z1 = published
        .iter()
        .find(|p| p.event.event_id == "wamid.z1")
        .unwrap();
    assert_eq!(z1.event.integration_id, b.id, "routed by phone number id");
    let x1 = published
        .iter()
        .find(|p| p.event.event_id == "wamid.x1")
        .unwrap();
    assert_eq!(
        x1.event.whatsapp.as_ref().unwrap().profile_name.as_deref(),
        Some("X")
    );
    let sent = harness
        .store
        .outbound_message("wamid.out1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent.status, MessageStatus::Sent);

    // Meta redelivers: the same events again, under the same ids the executor deduplicates by.
    // (This time with a trace context, which every event carries on.)
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let status = harness
        .post_traced(&a, &body, &format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .await;
    assert_eq!(status, 200);
    let again = harness.drain().await;
    for published in &again {
        let traceparent = published.traceparent.as_deref().unwrap_or_default();
        assert!(traceparent.contains(trace_id), "{traceparent:?}");
    }
    let mut first: Vec<_> = published.iter().map(|p| p.message_id.clone()).collect();
    let mut second: Vec<_> = again.iter().map(|p| p.message_id.clone()).collect();
    first.sort();
    second.sort();
    assert_eq!(first, second);
    harness.stop().await;
}

#[tokio::test]
async fn numbers_not_served_by_an_active_integration_of_the_app_are_recorded_only() {
    let harness = Harness::start().await;
    let a = harness.integration(Spec::active(A)).await;
    let message = |number: &str, wamid: &str| text_payload(number, "15550000001", wamid, "hi");

    // Created inactive.
    let idle = harness
        .integration(Spec {
            active: false,
            ..Spec::active("333000333")
        })
        .await;
    let (status, _) = harness.post(&idle, &message("333000333", "wamid.1")).await;
    assert_eq!(status, 200);
    assert_eq!(
        harness.receipt_kinds(idle.id).await,
        [ReceiptKind::IgnoredInactive]
    );

    // Deactivated.
    harness
        .store
        .set_integration_active(harness.account, a.id, false)
        .await
        .unwrap();
    let (status, _) = harness.post(&a, &message(A, "wamid.2")).await;
    assert_eq!(status, 200);
    assert_eq!(
        harness.receipt_kinds(a.id).await,
        [ReceiptKind::IgnoredInactive]
    );
    harness
        .store
        .set_integration_active(harness.account, a.id, true)
        .await
        .unwrap();

    // A number nobody serves; a number of another Meta app; a number of another account:
    // signed with A's secret, none of them may reach another integration.
    harness
        .integration(Spec {
            app_id: "another-app",
            ..Spec::active("444000444")
        })
        .await;
    let stranger = harness.other_account("globex").await;
    let foreign = harness
        .integration(Spec {
            account: Some(stranger),
            ..Spec::active("555000555")
        })
        .await;
    for (number, wamid) in [
        ("999", "wamid.3"),
        ("444000444", "wamid.4"),
        ("555000555", "wamid.5"),
    ] {
        let (status, _) = harness.post(&a, &message(number, wamid)).await;
        assert_eq!(status, 200, "{number}");
    }
    let receipts = harness.receipts(a.id).await;
    assert_eq!(receipts.len(), 4);
    assert!(receipts
        .iter()
        .all(|r| r.kind == ReceiptKind::IgnoredInactive));
    assert_eq!(receipts[3].detail["phone_number_id"], "555000555");
    assert_eq!(receipts[3].detail["messages"], json!(["wamid.5"]));
    assert!(harness.receipts(foreign.id).await.is_empty());
    assert!(
        harness.drain().await.is_empty(),
        "no bot turn for any of them"
    );

    // An inactive URL whose number is now served by another active integration of the same
    // account and app: routed to the active one.
    let successor = harness.integration(Spec::active("333000333")).await;
    let (status, _) = harness.post(&idle, &message("333000333", "wamid.6")).await;
    assert_eq!(status, 200);
    let published = harness.drain().await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].event.integration_id, successor.id);
    harness.stop().await;
}

#[tokio::test]
async fn trigger_recipients_decide_who_reaches_the_bot() {
    let harness = Harness::start().await;
    let limited = harness
        .integration(Spec {
            trigger_recipients: vec!["15550001111".into()],
            ..Spec::active(A)
        })
        .await;
    let (status, _) = harness
        .post(
            &limited,
            &text_payload(A, "15550001111", "wamid.allowed", "hi"),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = harness
        .post(
            &limited,
            &text_payload(A, "15550002222", "wamid.other", "hi"),
        )
        .await;
    assert_eq!(status, 200);
    // Known only by BSUID: no number to check against the list.
    let bsuid_only = messages_payload(
        A,
        json!([{"wa_id": "", "user_id": "US.42", "profile": {"name": "Anon"}}]),
        json!([{"id": "wamid.bsuid", "timestamp": "1", "type": "text", "text": {"body": "hi"}}]),
    );
    let (status, _) = harness.post(&limited, &bsuid_only).await;
    assert_eq!(status, 200);
    let published = harness.drain().await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].event.event_id, "wamid.allowed");
    let receipts = harness.receipts(limited.id).await;
    assert_eq!(receipts.len(), 2);
    assert!(receipts
        .iter()
        .all(|r| r.kind == ReceiptKind::IgnoredRecipient));
    assert_eq!(receipts[0].detail["wa_id"], "15550002222");
    assert_eq!(receipts[1].detail["user_id"], "US.42");
    harness.stop().await;
}

#[tokio::test]
async fn users_known_only_by_their_business_scoped_id_get_a_conversation() {
    let harness = Harness::start().await;
    let a = harness.integration(Spec::active(A)).await;
    let body = messages_payload(
        A,
        json!([{"wa_id": "", "user_id": "US.13491208655302741918",
                "parent_user_id": "US.ENT.1", "profile": {"name": "Anon", "username": "anon"}}]),
        json!([{"from": "", "id": "wamid.b1", "timestamp": "1", "type": "interactive",
                "interactive": {"type": "button_reply",
                                "button_reply": {"id": "yes", "title": "Yes"}}}]),
    );
    let (status, _) = harness.post(&a, &body).await;
    assert_eq!(status, 200);
    let published = harness.drain().await;
    let event = &published[0].event;
    assert_eq!(event.session_id, "US.13491208655302741918");
    assert_eq!(
        event.conversation_key,
        ConversationKey::whatsapp(a.id, A, "US.13491208655302741918")
    );
    let whatsapp = event.whatsapp.as_ref().unwrap();
    assert_eq!(whatsapp.wa_id, None);
    assert_eq!(whatsapp.user_id.as_deref(), Some("US.13491208655302741918"));
    assert_eq!(whatsapp.profile_name.as_deref(), Some("Anon"));
    assert_eq!(
        event.input,
        Input::SelectedOption {
            option_id: "yes".into()
        }
    );
    harness.stop().await;
}

#[tokio::test]
async fn statuses_move_forward_only_and_start_no_turn() {
    let harness = Harness::start().await;
    // The fixtures' business number: their status payloads are posted unchanged.
    let a = harness.integration(Spec::active("1122334455667")).await;
    harness
        .store
        .record_outbound_message(
            a.id,
            "wamid.xyzxyz",
            "1:1122334455667:972987654321",
            "972987654321",
            "event-1:out",
        )
        .await
        .unwrap();
    let status_of = || async {
        harness
            .store
            .outbound_message("wamid.xyzxyz")
            .await
            .unwrap()
            .unwrap()
            .status
    };
    assert_eq!(status_of().await, MessageStatus::Accepted);
    for (name, expected) in [
        ("status_read.json", MessageStatus::Read),
        // Late: delivered and sent after read change nothing.
        ("status_delivered.json", MessageStatus::Read),
        ("status_sent.json", MessageStatus::Read),
        ("status_failed_130472.json", MessageStatus::Failed),
        ("status_read.json", MessageStatus::Failed),
    ] {
        let (status, answer) = harness.post(&a, &fixture(name)).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(answer["events"], 0, "{name}");
        assert_eq!(status_of().await, expected, "after {name}");
    }
    let stored = harness
        .store
        .outbound_message("wamid.xyzxyz")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.errors.unwrap()[0]["code"], 130472);
    assert_eq!(
        stored.conversation_key.as_deref(),
        Some("1:1122334455667:972987654321")
    );

    // Statuses about our messages are kept even while the integration is inactive.
    harness
        .store
        .set_integration_active(harness.account, a.id, false)
        .await
        .unwrap();
    let (status, _) = harness
        .post(
            &a,
            &fixture("status_sent_biz_opaque_callback_data.json").replace_wamid("wamid.late"),
        )
        .await;
    assert_eq!(status, 200);
    let late = harness
        .store
        .outbound_message("wamid.late")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(late.status, MessageStatus::Sent);
    assert_eq!(late.integration_id, a.id.get());

    // An unknown status value is recorded, not guessed.
    let odd = serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [
        {"id": "waba", "changes": [change("1122334455667", json!([]), json!({"statuses": [
            {"id": "wamid.odd", "status": "deleted", "timestamp": "1"}]}))]}]}))
    .unwrap();
    let (status, _) = harness.post(&a, &odd).await;
    assert_eq!(status, 200);
    assert!(harness
        .store
        .outbound_message("wamid.odd")
        .await
        .unwrap()
        .is_none());
    let last = harness.receipts(a.id).await.pop().unwrap();
    assert_eq!(
        (last.kind, last.detail["reason"].as_str()),
        (ReceiptKind::Error, Some("unknown_status"))
    );
    assert!(harness.drain().await.is_empty());
    harness.stop().await;
}

trait ReplaceWamid {
    fn replace_wamid(self, wamid: &str) -> Vec<u8>;
}

impl ReplaceWamid for Vec<u8> {
    /// The fixture with its `wamid.xyzxyz` renamed.
    fn replace_wamid(self, wamid: &str) -> Vec<u8> {
        String::from_utf8(self)
            .unwrap()
            .replace("wamid.xyzxyz", wamid)
            .into_bytes()
    }
}
