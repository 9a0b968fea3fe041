//! The helpers services build messages with.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use contracts::v1::{
    decode, encode, error_codes, BotMessage, BotOption, Channel, ConversationKey, ErrorDetail,
    ErrorDetails, SessionResponse, TurnReply, TurnReplyBody,
};
use contracts::IntegrationId;
use serde_json::json;

fn text(t: &str) -> BotMessage {
    BotMessage::Text { text: t.into() }
}

#[test]
fn conversation_keys_follow_the_documented_forms() {
    let id = IntegrationId::new(31).unwrap();
    assert_eq!(ConversationKey::api(id, "user-123").as_str(), "31:user-123");
    let key = ConversationKey::whatsapp(id, "106540352242922", "15551234567");
    assert_eq!(key.to_string(), "31:106540352242922:15551234567");
    assert_eq!(
        serde_json::to_value(&key).unwrap(),
        json!("31:106540352242922:15551234567")
    );
    assert_eq!(Channel::Whatsapp.to_string(), "whatsapp");
    assert_eq!(serde_json::to_value(Channel::Api).unwrap(), json!("api"));
}

#[test]
fn a_session_response_leads_with_its_first_message() {
    let response =
        SessionResponse::new("s1", Some("ask".into()), vec![text("a"), text("b")], false);
    assert_eq!(response.message, Some(text("a")));
    let reply = TurnReply::session("corr-1", response);
    assert_eq!(reply.status, 200);
    assert!(reply.is_success());
    let json = serde_json::to_value(&reply).unwrap();
    assert_eq!(json["schema"], "v1");
    assert_eq!(
        json["body"]["message"],
        json!({"type": "text", "text": "a"})
    );
    assert!(
        json["body"].get("idempotency_replayed").is_none(),
        "absent unless replayed"
    );

    let empty = SessionResponse::new("s1", None, vec![], true);
    let json = serde_json::to_value(&empty).unwrap();
    assert_eq!(
        json["message"],
        json!(null),
        "the manual's field is present, as null"
    );
    assert_eq!(json["state"], json!(null));
}

#[test]
fn replays_are_marked_in_both_bodies() {
    let session = TurnReply::session("c", SessionResponse::new("s1", None, vec![], true));
    let body = serde_json::to_value(session.body.replayed()).unwrap();
    assert_eq!(body["idempotency_replayed"], json!(true));

    let failure = TurnReply::error(
        "c",
        500,
        ErrorDetail::new(error_codes::BOT_EXECUTION_ERROR, "component \"x\" failed").with_details(
            ErrorDetails {
                component: Some("x".into()),
                ..Default::default()
            },
        ),
    );
    assert!(!failure.is_success());
    let body = serde_json::to_value(failure.body.replayed()).unwrap();
    assert_eq!(
        body,
        json!({
            "error": {
                "code": "bot_execution_error",
                "message": "component \"x\" failed",
                "details": {"component": "x"}
            },
            "idempotency_replayed": true
        })
    );
}

#[test]
fn reply_bodies_are_told_apart_by_their_error_field() {
    let error: TurnReplyBody =
        serde_json::from_value(json!({"error": {"code": "session_not_found", "message": "gone"}}))
            .unwrap();
    assert!(matches!(error, TurnReplyBody::Error(ref e) if e.error.code == "session_not_found"));
    let session: TurnReplyBody = serde_json::from_value(
        json!({"session_id": "s", "state": null, "message": null, "messages": [], "is_final": true}),
    )
    .unwrap();
    assert!(matches!(session, TurnReplyBody::Session(ref s) if s.is_final));
}

#[test]
fn bot_messages_expose_text_and_option_ids() {
    let option = |id: &str| BotOption {
        id: id.into(),
        text: id.to_uppercase(),
        description: None,
    };
    let list = BotMessage::List {
        text: "Pick".into(),
        options: vec![option("a"), option("b")],
        button_text: None,
    };
    assert_eq!(list.text(), "Pick");
    assert_eq!(list.option_ids().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(text("hi").option_ids().count(), 0);
}

#[test]
fn encode_then_decode_is_the_identity() {
    let reply = TurnReply::error(
        "corr-9",
        422,
        ErrorDetail::new(
            error_codes::INVALID_OPTION,
            "option \"z\" is not offered here",
        )
        .with_details(ErrorDetails {
            valid_option_ids: Some(vec!["a".into(), "b".into()]),
            ..Default::default()
        }),
    );
    let bytes = encode(&reply).unwrap();
    assert_eq!(decode::<TurnReply>(&bytes).unwrap(), reply);
    assert!(decode::<TurnReply>(b"not json").is_err());
}
