//! What a turn leaves behind, built from how it ended: the outputs (the API reply, the
//! WhatsApp batch) stored under the event id and published after the commit, the transcript
//! a recording reads, and the conversions between the engine's and the contract's types.

use contracts::v1::{
    BotMessage, ErrorDetail, FallbackTemplate, InboundEvent, Input, OutboundWhatsapp, Recipient,
    SchemaVersion, SessionResponse, TurnReply,
};
use flow::engine::{HttpOutcome, SessionState, TurnResult};
use store::transcripts::{TranscriptHttpCall, TranscriptTurn, TurnOutcome};
use store::turns::StartTarget;

use super::{HttpAnswers, TurnFailure, TurnTrace, Verdict};
use crate::outputs::{AddressedReply, Outputs};

impl Verdict {
    pub(super) fn as_ref_parts(&self) -> VerdictRef<'_> {
        match self {
            Verdict::Answered(response) => VerdictRef::Answer(response),
            Verdict::Failed(detail) => VerdictRef::Error(500, detail),
            Verdict::Refused(status, detail) => VerdictRef::Error(*status, detail),
            Verdict::Silent => VerdictRef::Nothing,
        }
    }
}

pub(super) enum VerdictRef<'a> {
    Answer(&'a SessionResponse),
    Error(u16, &'a ErrorDetail),
    Nothing,
}

pub(super) fn outputs_for(
    event: &InboundEvent,
    verdict: VerdictRef<'_>,
    target: Option<&StartTarget>,
    sequence: u64,
) -> Outputs {
    let mut outputs = Outputs::default();
    if let Some(reply_to) = &event.reply {
        let reply = match verdict {
            VerdictRef::Answer(response) => Some(TurnReply::session(
                reply_to.correlation_id.clone(),
                response.clone(),
            )),
            VerdictRef::Error(status, detail) => Some(TurnReply::error(
                reply_to.correlation_id.clone(),
                status,
                detail.clone(),
            )),
            VerdictRef::Nothing => None,
        };
        outputs.reply = reply.map(|reply| AddressedReply {
            queue: reply_to.queue.clone(),
            reply,
        });
    }
    if let (Some(whatsapp), VerdictRef::Answer(response)) = (&event.whatsapp, verdict) {
        // A proactive start sends its template and none of the flow's messages: outside the
        // 24-hour window a template is all Meta delivers, and the session waits at the first
        // waiting component for the user's reply (docs/whatsapp.md).
        let (template, messages, reply_to_message_id) = match &event.input {
            Input::ProactiveStart { template, .. } => (Some(template.clone()), Vec::new(), None),
            _ => (
                None,
                response.messages.clone(),
                Some(whatsapp.inbound_message_id.clone()),
            ),
        };
        if !messages.is_empty() || template.is_some() {
            let to = match (&whatsapp.wa_id, &whatsapp.user_id) {
                (Some(wa_id), _) if !wa_id.is_empty() => Recipient::WaId(wa_id.clone()),
                (_, Some(user_id)) => Recipient::UserId(user_id.clone()),
                _ => Recipient::WaId(event.session_id.clone()),
            };
            let fallback_template = target.and_then(|t| {
                Some(FallbackTemplate {
                    name: t.template_name.clone()?,
                    language_code: t.template_language.clone()?,
                })
            });
            outputs.whatsapp.push(OutboundWhatsapp {
                schema: SchemaVersion::V1,
                event_id: format!("{}:out", event.event_id),
                integration_id: event.integration_id,
                conversation_key: event.conversation_key.clone(),
                phone_number_id: whatsapp.phone_number_id.clone(),
                to,
                reply_to_message_id,
                messages,
                // A template needs no fallback: it passes the window.
                fallback_template: fallback_template.filter(|_| template.is_none()),
                template,
                sequence,
            });
        }
    }
    outputs
}

/// What recording a conversation needs of this turn (store::transcripts); the messages are in
/// the outputs stored beside it.
pub(super) fn transcript_of(
    event: &InboundEvent,
    verdict: &Verdict,
    trace: &TurnTrace,
    answers: &HttpAnswers,
) -> TranscriptTurn {
    let outcome = match verdict {
        Verdict::Answered(_) => TurnOutcome::Answered,
        Verdict::Failed(_) => TurnOutcome::Failed,
        Verdict::Refused(..) => TurnOutcome::Refused,
        Verdict::Silent => TurnOutcome::Silent,
    };
    let ran = matches!(outcome, TurnOutcome::Answered | TurnOutcome::Failed);
    TranscriptTurn {
        channel: event.channel.as_str().to_owned(),
        input: event.input.clone(),
        outcome,
        started: trace.started && ran,
        bot_version: trace.bot_version.filter(|_| ran),
        path: trace.path.iter().map(|visit| visit.id.clone()).collect(),
        state: trace.state.as_ref().and_then(|state| state.current.clone()),
        is_final: trace.state.as_ref().is_some_and(SessionState::is_final),
        error: trace.error.clone(),
        http_calls: answers
            .answers
            .iter()
            .map(|(call, outcome)| {
                let (status, json, failure) = match outcome {
                    HttpOutcome::Response { status, body_json } => {
                        (Some(*status), body_json.clone(), None)
                    }
                    HttpOutcome::Failed { reason } => (None, None, Some(reason.clone())),
                };
                TranscriptHttpCall {
                    method: call.method.as_str().to_owned(),
                    url: call.url.clone(),
                    status,
                    json,
                    failure,
                }
            })
            .collect(),
    }
}

pub(super) fn response(
    session_id: &str,
    turn: &TurnResult,
) -> Result<SessionResponse, TurnFailure> {
    // The engine's messages serialise exactly as the contract's (a contracts test holds the
    // two together), so converting through JSON is lossless.
    let messages: Vec<BotMessage> = serde_json::to_value(&turn.messages)
        .and_then(serde_json::from_value)
        .map_err(|e| TurnFailure::Permanent(format!("engine message: {e}")))?;
    Ok(SessionResponse::new(
        session_id,
        turn.state.current.clone(),
        messages,
        turn.is_final,
    ))
}

pub(super) fn state_json(state: &SessionState) -> Result<serde_json::Value, TurnFailure> {
    serde_json::to_value(state).map_err(|e| TurnFailure::Permanent(format!("session state: {e}")))
}

pub(super) fn decode_outputs(stored: serde_json::Value) -> Result<Outputs, TurnFailure> {
    serde_json::from_value(stored)
        .map_err(|e| TurnFailure::Permanent(format!("stored outputs: {e}")))
}
