//! `botctl test record`: a real conversation of an integration, as stored by the executor
//! (`store::transcripts`), turned into a scenario that replays it (docs/test-runner.md,
//! "Recording"). The conversation is the one begun by the newest turn that started a session;
//! each turn expects the components entered, the waiting component, the messages and the
//! error the conversation had, and the flow's HTTP calls are answered by stubs holding the
//! answers it got.

use contracts::v1::{BotMessage, Input, TurnReplyBody};
use flow_executor::outputs::Outputs;
use serde::Serialize;
use store::transcripts::{StoredTurn, TranscriptTurn, TurnOutcome};

use crate::scenario::{
    ErrorExpect, Expect, HttpStub, MediaInput, Scenario, ScenarioChannel, Start, TextExpect, Turn,
};

/// A recorded conversation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Recording {
    /// The scenario file, in YAML (what `botctl test run` reads).
    pub yaml: String,
    /// `api` or `whatsapp`: the scenario runs on this channel only.
    pub channel: ScenarioChannel,
    /// The bot version the conversation ran on (run the scenario with `--version` to replay
    /// it against the same flow).
    pub bot_version: Option<i32>,
    /// User turns in the scenario, the start included.
    pub turns: usize,
    /// Whether the conversation reached its end (`is_final`).
    pub finished: bool,
    /// What could not be replayed as it was (skipped inputs, calls a stub cannot tell apart).
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RecordError {
    #[error(
        "no recorded start for this conversation: it never ran, or its history was pruned \
         (EVENT_HISTORY_RETENTION_HOURS)"
    )]
    NoStart,
    #[error("a conversation begun by a proactive WhatsApp start cannot be recorded")]
    ProactiveStart,
    #[error("the scenario could not be written: {0}")]
    Write(String),
}

/// Turns the stored turns of one conversation (oldest first) into a scenario.
/// `conversation` is the session id the turns were read by (messages that show it are matched
/// loosely: the replay runs under another id).
pub fn record(
    integration: i64,
    conversation: &str,
    stored: &[StoredTurn],
) -> Result<Recording, RecordError> {
    // Refused turns changed nothing (404, 409, 422 before the flow ran): they are left out.
    let kept: Vec<&StoredTurn> = stored
        .iter()
        .filter(|s| s.turn.outcome != TurnOutcome::Refused)
        .collect();
    let first = kept
        .iter()
        .rposition(|s| s.turn.started)
        .ok_or(RecordError::NoStart)?;
    let begin = kept[first];
    let channel = if begin.turn.channel == "whatsapp" {
        ScenarioChannel::Whatsapp
    } else {
        ScenarioChannel::Api
    };
    let mut notes = Vec::new();
    let mut start = Start::default();
    match &begin.turn.input {
        Input::Start {
            variables,
            message_payload,
            ..
        } => {
            start.variables = variables.clone();
            start.message_payload = message_payload.clone();
        }
        Input::Text { text } => start.message_payload = Some(text.clone()),
        Input::SelectedOption { option_id } => start.message_payload = Some(option_id.clone()),
        Input::ProactiveStart { .. } => return Err(RecordError::ProactiveStart),
        other => notes.push(format!(
            "the conversation began with a {} message; the replay begins with a text",
            input_kind(other)
        )),
    }
    let mut state = begin.turn.state.clone();
    start.expect = expect_of(&begin.turn, &begin.outputs, conversation, &mut state);
    let mut stubs: Vec<HttpStub> = Vec::new();
    add_stubs(&mut stubs, &begin.turn, &mut notes);
    let mut turns = Vec::new();
    for (number, stored) in kept[first + 1..].iter().enumerate() {
        let mut turn = Turn::default();
        match &stored.turn.input {
            Input::Text { text } => turn.text = Some(text.clone()),
            Input::SelectedOption { option_id } => match channel {
                ScenarioChannel::Api => turn.option = Some(option_id.clone()),
                ScenarioChannel::Whatsapp => turn.tap = Some(option_id.clone()),
            },
            Input::Media {
                media_type,
                caption,
                ..
            } => {
                turn.media = Some(MediaInput {
                    media_type: serde_json::to_value(media_type)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    caption: caption.clone(),
                })
            }
            other => {
                notes.push(format!(
                    "the conversation's turn {}: a {} message cannot be replayed and was left out",
                    number + 1,
                    input_kind(other)
                ));
                continue;
            }
        }
        turn.expect = expect_of(&stored.turn, &stored.outputs, conversation, &mut state);
        add_stubs(&mut stubs, &stored.turn, &mut notes);
        turns.push(turn);
    }
    let last = kept.last().map(|s| &s.turn);
    let finished = last.is_some_and(|t| t.is_final);
    let scenario = Scenario {
        name: format!("recorded: integration {integration}, conversation {conversation}"),
        description: Some(format!(
            "Recorded by `botctl test record` from the conversation begun at {}{}.",
            begin.processed_at.to_rfc3339(),
            begin
                .turn
                .bot_version
                .map(|v| format!(" on bot version {v}"))
                .unwrap_or_default()
        )),
        channels: Some(vec![channel]),
        start,
        http_stubs: stubs,
        expect_http_calls: None,
        fallback_template: None,
        turns,
    };
    let yaml = serde_norway::to_string(&scenario).map_err(|e| RecordError::Write(e.to_string()))?;
    Ok(Recording {
        yaml,
        channel,
        bot_version: begin.turn.bot_version,
        turns: scenario.turns.len() + 1,
        finished,
        notes,
    })
}

fn input_kind(input: &Input) -> &'static str {
    match input {
        Input::Start { .. } => "start",
        Input::Text { .. } => "text",
        Input::SelectedOption { .. } => "option",
        Input::Media { .. } => "media",
        Input::Location { .. } => "location",
        Input::Unsupported { .. } => "unsupported",
        Input::ProactiveStart { .. } => "proactive start",
    }
}

/// What the turn did, as expectations. `state` carries the waiting component over turns
/// that did not run the flow (the session stayed as it was).
fn expect_of(
    turn: &TranscriptTurn,
    outputs: &serde_json::Value,
    conversation: &str,
    state: &mut Option<String>,
) -> Expect {
    let mut expect = Expect::default();
    match turn.outcome {
        TurnOutcome::Answered => {
            *state = turn.state.clone();
            expect.reached = turn.path.clone();
            expect.messages = Some(
                messages_of(outputs)
                    .iter()
                    .map(|text| text_expect(text, conversation))
                    .collect(),
            );
            if turn.is_final {
                expect.is_final = Some(true);
            } else {
                expect.state = Some(turn.state.clone());
            }
        }
        TurnOutcome::Failed => {
            // The session stays where it was; the messages of the components before the
            // error were not sent, so they are not expected either.
            expect.reached = turn.path.clone();
            expect.error = turn.error.as_ref().map(|(component, message)| ErrorExpect {
                component: Some(component.clone()),
                contains: Some(message.clone()),
            });
        }
        TurnOutcome::Silent | TurnOutcome::Refused => {
            if state.is_some() {
                expect.state = Some(state.clone());
            }
        }
    }
    expect
}

/// The texts of the bot's messages the turn sent (API reply or WhatsApp batches).
fn messages_of(outputs: &serde_json::Value) -> Vec<String> {
    let Ok(outputs) = serde_json::from_value::<Outputs>(outputs.clone()) else {
        return Vec::new();
    };
    let mut messages: Vec<&BotMessage> = Vec::new();
    if let Some(addressed) = &outputs.reply {
        if let TurnReplyBody::Session(session) = &addressed.reply.body {
            messages.extend(&session.messages);
        }
    }
    for batch in &outputs.whatsapp {
        messages.extend(&batch.messages);
    }
    messages
        .into_iter()
        .map(|message| {
            serde_json::to_value(message).unwrap_or_default()["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// Exactly the text, unless it shows the conversation's own id (a replay runs under
/// another): then a pattern with any id in its place.
fn text_expect(text: &str, conversation: &str) -> TextExpect {
    if conversation.len() >= 4 && text.contains(conversation) {
        let parts: Vec<String> = text.split(conversation).map(regex::escape).collect();
        TextExpect {
            regex: Some(format!("^{}$", parts.join(".+"))),
            ..TextExpect::default()
        }
    } else {
        TextExpect {
            exact: Some(text.to_owned()),
            ..TextExpect::default()
        }
    }
}

/// A stub per URL the turn called, answering what the call got. A URL answered differently
/// by two calls cannot be told apart by a stub: the first answer is kept, and a note says so.
fn add_stubs(stubs: &mut Vec<HttpStub>, turn: &TranscriptTurn, notes: &mut Vec<String>) {
    for call in &turn.http_calls {
        let timed_out = call
            .failure
            .as_deref()
            .is_some_and(|f| f.contains("timed out"));
        if call.status.is_none() && !timed_out {
            // No stub: an unmatched call fails like a connection error, as this one did.
            continue;
        }
        let stub = HttpStub {
            id: None,
            method: Some(call.method.clone()),
            url: call.url.clone(),
            status: call.status.unwrap_or(200),
            json: call.json.clone(),
            latency_ms: 0,
            timeout: timed_out,
        };
        match stubs
            .iter()
            .find(|s| s.method == stub.method && s.url == stub.url)
        {
            Some(known) if *known != stub => notes.push(format!(
                "{} {} answered differently across calls; the stub gives the first answer",
                call.method, call.url
            )),
            Some(_) => {}
            None => stubs.push(stub),
        }
    }
}
