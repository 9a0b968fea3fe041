//! The executor passes the flow engine's messages on as `BotMessage`s: the two types must
//! serialise identically, both ways, for every variant.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use contracts::v1::BotMessage;
use flow::{MediaType, OutMessage, OutOption};

fn option(id: &str, text: &str, description: Option<&str>) -> OutOption {
    OutOption {
        id: id.into(),
        text: text.into(),
        description: description.map(String::from),
    }
}

/// One engine message per variant and per optional-field case.
fn engine_messages() -> Vec<OutMessage> {
    let options = vec![
        option("component_id_1", "Option 1", None),
        option("component_id_2", "Option 2", Some("second line")),
    ];
    let mut messages = vec![
        OutMessage::Text {
            text: "Hello {{name}} résumé ✓".into(),
        },
        OutMessage::Buttons {
            text: "Choose an option:".into(),
            options: options.clone(),
        },
        OutMessage::List {
            text: "Select from list:".into(),
            options: options.clone(),
            button_text: None,
        },
        OutMessage::List {
            text: "Select:".into(),
            options,
            button_text: Some("Show".into()),
        },
    ];
    for (media_type, caption) in [
        (MediaType::Image, Some("Image caption")),
        (MediaType::Video, None),
        (MediaType::Audio, None),
        (MediaType::Document, Some("Your invoice")),
    ] {
        messages.push(OutMessage::Media {
            text: caption.unwrap_or_default().into(),
            media_url: "https://example.com/file".into(),
            caption: caption.map(String::from),
            media_type,
        });
    }
    // Fails to compile when the engine gains a variant or a media type, so that this list (and BotMessage)
    // follow it.
    for message in &messages {
        match message {
            OutMessage::Media {
                media_type:
                    MediaType::Image | MediaType::Video | MediaType::Audio | MediaType::Document,
                ..
            }
            | OutMessage::Text { .. }
            | OutMessage::Buttons { .. }
            | OutMessage::List { .. } => {}
        }
    }
    messages
}

#[test]
fn engine_messages_decode_as_bot_messages_unchanged() {
    for message in engine_messages() {
        let engine_json = serde_json::to_value(&message).unwrap();
        let bot: BotMessage = serde_json::from_value(engine_json.clone())
            .unwrap_or_else(|e| panic!("{engine_json}: {e}"));
        assert_eq!(serde_json::to_value(&bot).unwrap(), engine_json);
        let back: OutMessage = serde_json::from_value(serde_json::to_value(&bot).unwrap()).unwrap();
        assert_eq!(back, message);
    }
}

#[test]
fn bot_message_examples_decode_as_engine_messages_unchanged() {
    for (file, json) in common::examples("bot_message") {
        let engine: OutMessage =
            serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(serde_json::to_value(&engine).unwrap(), json, "{file}");
    }
}
