#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every Meta fixture in `fixtures/meta/webhooks/`, POSTed byte for byte with Meta's signature:
//! each is answered 200 and produces exactly the expected normalised events, status changes
//! or receipts. A fixture added to the directory without a row here fails the test.

mod common;

use std::collections::HashMap;

use broker::Topology;
use common::{fixture, fixtures_dir, Harness, Spec, TestIntegration, SHARDS};
use contracts::v1::{Channel, ConversationKey, InboundMediaType, Input};
use store::whatsapp::{MessageStatus, ReceiptKind};

/// The fixtures use two business numbers.
const PABLO_NUMBER: &str = "106540352242922";
const TEST_NUMBER: &str = "1122334455667";

enum Outcome {
    /// These inputs, in this order, from this user (wa_id, user_id, profile name).
    Events {
        user: (&'static str, Option<&'static str>, &'static str),
        inputs: Vec<Input>,
    },
    /// A status applied to an outbound message; nothing published.
    Status(&'static str, MessageStatus),
    /// Recorded as this receipt; nothing published.
    Receipt(ReceiptKind),
}

fn text(text: &str) -> Input {
    Input::Text { text: text.into() }
}

fn option(id: &str) -> Input {
    Input::SelectedOption {
        option_id: id.into(),
    }
}

fn media(media_type: InboundMediaType, id: &str, caption: Option<&str>) -> Input {
    Input::Media {
        media_type,
        media_id: id.into(),
        caption: caption.map(str::to_owned),
    }
}

fn unsupported(kind: &str) -> Input {
    Input::Unsupported { kind: kind.into() }
}

const TEST_USER: (&str, Option<&str>, &str) = ("972987654321", None, "Test Name");
const BSUID_USER: (&str, Option<&str>, &str) =
    ("972987654321", Some("US.13491208655302741918"), "Test Name");

fn events(user: (&'static str, Option<&'static str>, &'static str), inputs: Vec<Input>) -> Outcome {
    Outcome::Events { user, inputs }
}

fn table() -> Vec<(&'static str, Outcome)> {
    use InboundMediaType::*;
    use MessageStatus::*;
    use Outcome::*;
    let sheena = ("16505551234", None, "Sheena Nelson");
    let pablo = ("16505551234", None, "Pablo Morales");
    vec![
        (
            "audio.json",
            events(TEST_USER, vec![media(Audio, "1234567890987654321", None)]),
        ),
        (
            "audio_voice.json",
            events(TEST_USER, vec![media(Audio, "1234567890987654321", None)]),
        ),
        // A template quick-reply is taken as its text (see normalize.rs).
        (
            "button_template_quick_reply.json",
            events(BSUID_USER, vec![text("title")]),
        ),
        (
            "contacts.json",
            events(TEST_USER, vec![unsupported("contacts")]),
        ),
        (
            "document.json",
            events(
                TEST_USER,
                vec![media(Document, "1234567890987654321", Some("caption"))],
            ),
        ),
        (
            "handwritten_multiple_messages.json",
            events(
                sheena,
                vec![
                    text("Hi, I have a question"),
                    media(Image, "2754859441498128", Some("This one")),
                ],
            ),
        ),
        (
            "handwritten_status_delivered_free_customer_service.json",
            Status("wamid.HANDWRITTEN0000000000000000000000012", Delivered),
        ),
        (
            "image.json",
            events(TEST_USER, vec![media(Image, "65463453", None)]),
        ),
        (
            "image_with_url.json",
            events(TEST_USER, vec![media(Image, "65463453", None)]),
        ),
        (
            "interactive_button_reply.json",
            events(BSUID_USER, vec![option("callback_data")]),
        ),
        (
            "interactive_list_reply.json",
            events(BSUID_USER, vec![option("callback_data")]),
        ),
        (
            "location.json",
            events(
                TEST_USER,
                vec![Input::Location {
                    latitude: 37.4611978,
                    longitude: -122.2164385,
                    name: Some("Facebook HQ".into()),
                    address: Some("1 Hacker Way, Menlo Park, CA 94025".into()),
                }],
            ),
        ),
        (
            "location_current.json",
            events(
                TEST_USER,
                vec![Input::Location {
                    latitude: 12.25089,
                    longitude: 43.90539,
                    name: None,
                    address: None,
                }],
            ),
        ),
        (
            "meta_doc_interactive_button_reply.json",
            events(pablo, vec![option("change-button")]),
        ),
        (
            "meta_doc_interactive_list_reply.json",
            events(pablo, vec![option("priority_express")]),
        ),
        (
            "meta_doc_status_delivered_cbp.json",
            Status(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA",
                Delivered,
            ),
        ),
        (
            "meta_doc_status_failed_131049.json",
            Status(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA",
                Failed,
            ),
        ),
        (
            "meta_doc_status_sent_pmp.json",
            Status(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                Sent,
            ),
        ),
        (
            "meta_doc_status_v24_no_pricing.json",
            Status(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                Sent,
            ),
        ),
        (
            "meta_doc_text.json",
            events(sheena, vec![text("Does it come in another color?")]),
        ),
        (
            "meta_doc_value_errors_130429.json",
            Receipt(ReceiptKind::Error),
        ),
        (
            "reaction.json",
            events(TEST_USER, vec![unsupported("reaction")]),
        ),
        (
            "reaction_removed.json",
            events(TEST_USER, vec![unsupported("reaction")]),
        ),
        ("status_delivered.json", Status("wamid.xyzxyz", Delivered)),
        ("status_failed_130472.json", Status("wamid.xyzxyz", Failed)),
        ("status_read.json", Status("wamid.xyzxyz", Read)),
        ("status_sent.json", Status("wamid.xyzxyz", Sent)),
        (
            "status_sent_biz_opaque_callback_data.json",
            Status("wamid.xyzxyz", Sent),
        ),
        (
            "sticker.json",
            events(TEST_USER, vec![media(Sticker, "1234567890987654321", None)]),
        ),
        (
            "system_customer_identity_changed.json",
            Receipt(ReceiptKind::System),
        ),
        (
            "system_user_changed_number.json",
            Receipt(ReceiptKind::System),
        ),
        ("text.json", events(TEST_USER, vec![text("Body Text")])),
        (
            "text_forwarded.json",
            events(TEST_USER, vec![text("forwarded text")]),
        ),
        (
            "text_frequently_forwarded.json",
            events(TEST_USER, vec![text("text forwarded many times")]),
        ),
        (
            "text_reply_context.json",
            events(TEST_USER, vec![text("replied text")]),
        ),
        (
            "unsupported.json",
            events(TEST_USER, vec![unsupported("unsupported")]),
        ),
        (
            "unsupported_with_type.json",
            events(TEST_USER, vec![unsupported("unsupported")]),
        ),
        (
            "video.json",
            events(TEST_USER, vec![media(Video, "765756756", Some("caption"))]),
        ),
    ]
}

fn message_ids(body: &[u8]) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap();
    let mut ids = Vec::new();
    for entry in value["entry"].as_array().unwrap() {
        for change in entry["changes"].as_array().unwrap() {
            for message in change["value"]["messages"].as_array().into_iter().flatten() {
                ids.push(message["id"].as_str().unwrap().to_owned());
            }
        }
    }
    ids
}

fn phone_number_id(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap();
    value["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn every_fixture_is_accepted_and_normalised() {
    let harness = Harness::start().await;
    // Both numbers belong to one Meta app, so one callback URL serves both: every fixture is
    // POSTed to the first integration's URL and routed by its phone number id.
    let test_number = harness.integration(Spec::active(TEST_NUMBER)).await;
    let pablo_number = harness.integration(Spec::active(PABLO_NUMBER)).await;
    let by_number: HashMap<&str, &TestIntegration> =
        [(TEST_NUMBER, &test_number), (PABLO_NUMBER, &pablo_number)].into();

    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    on_disk.sort();
    let table = table();
    let named: Vec<String> = table.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_eq!(
        on_disk, named,
        "every fixture has exactly one row, in file order"
    );

    // Statuses of one wamid across fixtures move forward only: the model keeps the highest.
    let mut expected_status: HashMap<&str, MessageStatus> = HashMap::new();
    for (name, outcome) in table {
        let body = fixture(name);
        let target = by_number[phone_number_id(&body).as_str()];
        let receipts_before = harness.receipts(target.id).await.len();
        let (status, answer) = harness.post(&test_number, &body).await;
        assert_eq!(status, 200, "{name}: {answer}");
        let published = harness.drain().await;
        match outcome {
            Outcome::Events { user, inputs } => {
                let (wa_id, user_id, profile) = user;
                let ids = message_ids(&body);
                assert_eq!(published.len(), inputs.len(), "{name}");
                for ((published, input), wamid) in published.iter().zip(&inputs).zip(&ids) {
                    let event = &published.event;
                    assert_eq!(&event.input, input, "{name}");
                    assert_eq!(&event.event_id, wamid, "{name}");
                    assert_eq!(
                        published.message_id.as_deref(),
                        Some(wamid.as_str()),
                        "{name}"
                    );
                    assert!(published.persistent, "{name}");
                    assert_eq!(event.integration_id, target.id, "{name}");
                    assert_eq!(event.channel, Channel::Whatsapp);
                    let key = ConversationKey::whatsapp(target.id, &target.phone_number_id, wa_id);
                    assert_eq!(event.conversation_key, key, "{name}");
                    assert_eq!(
                        published.conversation.as_deref(),
                        Some(key.as_str()),
                        "{name}"
                    );
                    let shard = Topology::with_shards(SHARDS).shard_of(key.as_str());
                    assert_eq!(published.routing_key, shard.to_string(), "{name}");
                    assert_eq!(event.session_id, wa_id, "{name}");
                    let whatsapp = event.whatsapp.as_ref().unwrap();
                    assert_eq!(whatsapp.phone_number_id, target.phone_number_id);
                    assert_eq!(whatsapp.wa_id.as_deref(), Some(wa_id), "{name}");
                    assert_eq!(whatsapp.user_id.as_deref(), user_id, "{name}");
                    assert_eq!(whatsapp.profile_name.as_deref(), Some(profile), "{name}");
                    assert_eq!(&whatsapp.inbound_message_id, wamid, "{name}");
                }
                assert_eq!(
                    harness.receipts(target.id).await.len(),
                    receipts_before,
                    "{name}"
                );
                let integration = harness.store.find_integration(target.id).await.unwrap();
                assert!(integration.last_activity_at.is_some(), "{name}: activity");
            }
            Outcome::Status(wamid, reported) => {
                assert!(published.is_empty(), "{name}: a status starts no turn");
                let model = expected_status.entry(wamid).or_insert(reported);
                if reported.rank() > model.rank() {
                    *model = reported;
                }
                let stored = harness
                    .store
                    .outbound_message(wamid)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(stored.status, *model, "{name}");
                assert_eq!(stored.integration_id, target.id.get(), "{name}");
                if reported == MessageStatus::Failed {
                    assert!(stored.errors.unwrap()[0]["code"].is_number(), "{name}");
                }
            }
            Outcome::Receipt(kind) => {
                assert!(published.is_empty(), "{name}: nothing published");
                let receipts = harness.receipts(target.id).await;
                assert_eq!(receipts.len(), receipts_before + 1, "{name}");
                assert_eq!(receipts.last().unwrap().kind, kind, "{name}");
            }
        }
    }
    harness.stop().await;
}
