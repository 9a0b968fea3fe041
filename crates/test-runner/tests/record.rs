#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `record`: stored turns of a conversation → a scenario (the end-to-end test, a real API
//! conversation replayed through `botctl test run`, is tests/tests/botctl_test_record.rs).
//! Here the cases a real conversation rarely shows at once: WhatsApp taps and media, a failed
//! turn, HTTP answers as stubs, the conversation's own id in a message, what is left out.

use chrono::Utc;
use contracts::v1::{
    BotMessage, ConversationKey, InboundMediaType, Input, OutboundWhatsapp, Recipient,
    SchemaVersion,
};
use contracts::IntegrationId;
use flow_executor::outputs::Outputs;
use serde_json::{json, Value};
use store::transcripts::{StoredTurn, TranscriptHttpCall, TranscriptTurn, TurnOutcome};
use test_runner::record::{record, RecordError};
use test_runner::{Scenario, ScenarioChannel};

const WA_ID: &str = "4915112345678";

fn text(text: &str) -> BotMessage {
    serde_json::from_value(json!({"type": "text", "text": text})).unwrap()
}

/// Outputs of a WhatsApp turn that sent `messages`.
fn sent(messages: &[&str]) -> Value {
    let integration = IntegrationId::new(7).unwrap();
    let batch = OutboundWhatsapp {
        schema: SchemaVersion::V1,
        event_id: "wamid.x:out".into(),
        integration_id: integration,
        conversation_key: ConversationKey::whatsapp(integration, "555", WA_ID),
        phone_number_id: "555".into(),
        to: Recipient::WaId(WA_ID.into()),
        reply_to_message_id: None,
        messages: messages.iter().map(|m| text(m)).collect(),
        fallback_template: None,
        template: None,
        sequence: 1,
    };
    serde_json::to_value(Outputs {
        reply: None,
        whatsapp: vec![batch],
    })
    .unwrap()
}

fn turn(input: Input, outcome: TurnOutcome) -> TranscriptTurn {
    TranscriptTurn {
        channel: "whatsapp".into(),
        input,
        outcome,
        started: false,
        bot_version: Some(3),
        path: Vec::new(),
        state: None,
        is_final: false,
        error: None,
        http_calls: Vec::new(),
    }
}

fn stored(turn: TranscriptTurn, outputs: Value) -> StoredTurn {
    StoredTurn {
        turn,
        outputs,
        processed_at: Utc::now(),
    }
}

fn said(text_in: &str) -> Input {
    Input::Text {
        text: text_in.into(),
    }
}

#[test]
fn a_whatsapp_conversation_becomes_a_scenario_that_parses_back() {
    let mut old_start = turn(said("hello"), TurnOutcome::Answered);
    old_start.started = true;
    old_start.path = vec!["welcome".into()];
    let mut start = turn(said("hi"), TurnOutcome::Answered);
    start.started = true;
    start.path = vec!["welcome".into(), "main_menu".into()];
    start.state = Some("main_menu".into());
    let mut tap = turn(
        Input::SelectedOption {
            option_id: "lookup".into(),
        },
        TurnOutcome::Answered,
    );
    tap.path = vec!["main_menu".into(), "fetch".into(), "show".into()];
    tap.state = Some("ask_more".into());
    tap.http_calls = vec![
        TranscriptHttpCall {
            method: "GET".into(),
            url: "https://shop.example.com/orders/1".into(),
            status: Some(200),
            json: Some(json!({"status": "shipped"})),
            failure: None,
        },
        TranscriptHttpCall {
            method: "GET".into(),
            url: "https://slow.example.com/x".into(),
            status: None,
            json: None,
            failure: Some("the request timed out".into()),
        },
        TranscriptHttpCall {
            method: "GET".into(),
            url: "https://down.example.com/x".into(),
            status: None,
            json: None,
            failure: Some("connection refused".into()),
        },
    ];
    let media = turn(
        Input::Media {
            media_type: InboundMediaType::Image,
            media_id: "m1".into(),
            caption: Some("look".into()),
        },
        TurnOutcome::Silent,
    );
    let location = turn(
        Input::Location {
            latitude: 1.0,
            longitude: 2.0,
            name: None,
            address: None,
        },
        TurnOutcome::Silent,
    );
    let mut failed = turn(said("boom"), TurnOutcome::Failed);
    failed.path = vec!["ask_more".into(), "send".into()];
    failed.error = Some(("send".into(), "the request timed out".into()));
    let mut last = turn(said("bye"), TurnOutcome::Answered);
    last.path = vec!["ask_more".into(), "goodbye".into()];
    last.is_final = true;
    let turns = vec![
        stored(old_start, sent(&["an older conversation"])),
        stored(start, sent(&["Welcome!", "Menu"])),
        stored(tap, sent(&[&format!("Your id is {WA_ID}, order shipped")])),
        stored(media, json!({})),
        stored(location, json!({})),
        stored(failed, json!({})),
        stored(last, sent(&["Bye"])),
    ];

    let recording = record(7, WA_ID, &turns).unwrap();
    assert_eq!(recording.channel, ScenarioChannel::Whatsapp);
    assert_eq!(recording.bot_version, Some(3));
    assert!(recording.finished);
    assert_eq!(recording.turns, 5, "start, tap, media, failed, last");
    assert_eq!(
        recording.notes,
        vec![
            "the conversation's turn 3: a location message cannot be replayed and was left out"
                .to_owned()
        ]
    );
    let scenario = Scenario::parse(&recording.yaml).unwrap();
    assert_eq!(scenario.channels, Some(vec![ScenarioChannel::Whatsapp]));
    assert_eq!(scenario.start.message_payload.as_deref(), Some("hi"));
    assert_eq!(scenario.start.expect.reached, ["welcome", "main_menu"]);
    assert_eq!(
        scenario.start.expect.state,
        Some(Some("main_menu".to_owned()))
    );
    let start_texts: Vec<_> = scenario.start.expect.messages.clone().unwrap();
    assert_eq!(start_texts[0].exact.as_deref(), Some("Welcome!"));
    assert_eq!(start_texts[1].exact.as_deref(), Some("Menu"));

    let [tap, media, failed, last] = &scenario.turns[..] else {
        panic!("{:?}", scenario.turns)
    };
    assert_eq!(tap.tap.as_deref(), Some("lookup"));
    assert_eq!(tap.expect.state, Some(Some("ask_more".to_owned())));
    // The conversation's own id in a message: any id in its place.
    let loose = tap.expect.messages.as_ref().unwrap()[0]
        .regex
        .clone()
        .unwrap();
    assert_eq!(loose, "^Your id is .+, order shipped$");
    assert!(regex::Regex::new(&loose)
        .unwrap()
        .is_match("Your id is 10000000042, order shipped"));

    let media_in = media.media.as_ref().unwrap();
    assert_eq!(media_in.media_type, "image");
    assert_eq!(media_in.caption.as_deref(), Some("look"));
    // The session stayed where it was.
    assert_eq!(media.expect.state, Some(Some("ask_more".to_owned())));

    assert_eq!(failed.text.as_deref(), Some("boom"));
    let error = failed.expect.error.as_ref().unwrap();
    assert_eq!(error.component.as_deref(), Some("send"));
    assert_eq!(error.contains.as_deref(), Some("the request timed out"));
    assert_eq!(failed.expect.messages, None);

    assert_eq!(last.expect.is_final, Some(true));
    assert_eq!(last.expect.state, None);

    // The answers the calls got, as stubs; a connection failure needs none (an unmatched call
    // fails like one).
    let stubs: Vec<_> = scenario
        .http_stubs
        .iter()
        .map(|s| (s.url.as_str(), s.status, s.json.clone(), s.timeout))
        .collect();
    assert_eq!(
        stubs,
        vec![
            (
                "https://shop.example.com/orders/1",
                200,
                Some(json!({"status": "shipped"})),
                false
            ),
            ("https://slow.example.com/x", 200, None, true),
        ]
    );
}

#[test]
fn refused_turns_are_left_out_and_a_missing_start_is_said() {
    let mut refused_start = turn(
        Input::Start {
            force_restart: false,
            variables: Default::default(),
            message_payload: None,
        },
        TurnOutcome::Refused,
    );
    refused_start.channel = "api".into();
    // Only a refused start (409) and a message: nothing to start the replay from.
    let turns = vec![
        stored(refused_start, json!({})),
        stored(turn(said("hi"), TurnOutcome::Answered), json!({})),
    ];
    assert_eq!(record(1, "s-1", &turns).unwrap_err(), RecordError::NoStart);
    assert_eq!(record(1, "s-1", &[]).unwrap_err(), RecordError::NoStart);

    let mut proactive = turn(
        Input::ProactiveStart {
            template: contracts::v1::FallbackTemplate {
                name: "hello".into(),
                language_code: "en".into(),
            },
            variables: Default::default(),
        },
        TurnOutcome::Answered,
    );
    proactive.started = true;
    assert_eq!(
        record(1, WA_ID, &[stored(proactive, json!({}))]).unwrap_err(),
        RecordError::ProactiveStart
    );
}
