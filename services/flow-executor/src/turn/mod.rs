//! One turn: an inbound event in, a session change and outputs out, in one transaction.
//!
//! The order of work matters for exactly-once effects:
//! 1. one statement reads the event's stored outputs, the integration, and the session, which
//!    it locks; an event already handled is answered from its stored outputs (no second run);
//! 2. the flow runs (pure; an HTTP call rolls the attempt back and runs it again with the
//!    answer);
//! 3. the session write, the outputs recorded under the event id (a racing duplicate makes this
//!    find a row, and the whole turn rolls back) and the Idempotency-Key's outcome go to the
//!    database together, pipelined (one round trip);
//! 4. commit; the caller then publishes the outputs and only then acks the delivery.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use contracts::v1::{
    error_codes, Channel, ErrorDetail, ErrorDetails, InboundEvent, Input, SessionResponse,
};
use contracts::BotId;
use flow::engine::{
    BotVersion, Engine, InputError, SessionState, StartContext, TurnError, TurnResult, TurnStep,
};
use store::turns::{
    Commit, KeyOutcome, NewSession, Processed, SessionRecord, SessionWrite, StartTarget, TurnTx,
};
use store::{Store, StoreError};

mod effects;
mod failure;
mod trace;

use self::effects::{decode_outputs, outputs_for, response, state_json, transcript_of};
pub use self::failure::TurnFailure;
use self::trace::HttpAnswers;
pub use self::trace::TurnTrace;
use crate::http_call::PerformHttp;
use crate::outputs::Outputs;
use crate::versions::{VersionCache, VersionError};

/// What a turn needs; shared by every consumer of the executor.
pub struct TurnContext {
    pub store: Store,
    pub engine: Engine,
    pub versions: VersionCache,
    /// Performs the flow's HTTP calls: `FlowHttp` in production, stubs in the test runner.
    pub http: Arc<dyn PerformHttp>,
    pub api_session_ttl: Duration,
    pub alerter: alerts::Alerter,
    /// A session row lock not granted within this fails the attempt (transient).
    pub lock_timeout: Duration,
    /// `Commit::Durable` in production; the test runner's sandboxes use `Disposable`.
    pub commit: Commit,
}

/// HTTP calls one event may make across the re-runs of its turn; the engine bounds a single
/// run (`max_http_calls_per_turn`), this bounds re-runs that keep asking for new calls.
const MAX_HTTP_CALLS_PER_EVENT: usize = 64;

/// How the turn ended, before it is turned into outputs.
enum Verdict {
    /// The flow ran: 200 with the session's answer (stored under the Idempotency-Key).
    Answered(SessionResponse),
    /// The bot failed: 500 (stored, so a retry does not run the flow again).
    Failed(ErrorDetail),
    /// Refused before the flow ran: 404, 409, 422 (not stored: a retry is decided again).
    Refused(u16, ErrorDetail),
    /// Nothing to say (WhatsApp input that the session cannot take).
    Silent,
}

fn refused(status: u16, code: &str, message: impl Into<String>) -> Verdict {
    Verdict::Refused(status, ErrorDetail::new(code, message))
}

fn session_not_found() -> Verdict {
    refused(
        404,
        error_codes::SESSION_NOT_FOUND,
        "session not found or already finished",
    )
}

/// A turn's answer, its sequence number (WhatsApp batches are ordered by it), and what it does
/// to the session.
type Decision = (Verdict, u64, SessionWrite);

/// An answer that leaves the session as it is.
fn unchanged(verdict: Verdict) -> Decision {
    (verdict, 0, SessionWrite::Keep)
}

fn integration_not_found() -> Verdict {
    refused(
        404,
        error_codes::INTEGRATION_NOT_FOUND,
        "integration not found or inactive",
    )
}

impl TurnContext {
    /// Runs the turn of `event` and returns what to publish.
    ///
    /// A flow's HTTP calls are made between transactions: an attempt that reaches one rolls
    /// back, the call is made holding no connection and no lock, and the turn runs again with
    /// the answer. A turn without HTTP calls is one transaction.
    pub async fn handle(&self, event: &InboundEvent) -> Result<Outputs, TurnFailure> {
        self.handle_traced(event).await.map(|(outputs, _)| outputs)
    }

    /// [`handle`](Self::handle), also returning what the engine did (the test runner's view).
    pub async fn handle_traced(
        &self,
        event: &InboundEvent,
    ) -> Result<(Outputs, TurnTrace), TurnFailure> {
        let mut answers = HttpAnswers::default();
        loop {
            let mut trace = TurnTrace::default();
            // Boxed, so that the task holding this turn stays small (see `size.rs`).
            match Box::pin(self.attempt(event, &answers, &mut trace)).await {
                Err(TurnFailure::NeedsHttp {
                    index,
                    call,
                    component,
                }) => {
                    if index >= MAX_HTTP_CALLS_PER_EVENT {
                        return Err(TurnFailure::Permanent(format!(
                            "the turn asked for more than {MAX_HTTP_CALLS_PER_EVENT} HTTP calls"
                        )));
                    }
                    let started = std::time::Instant::now();
                    let outcome = self.http.perform(&call).await;
                    answers.record(index, *call, outcome, (component, started.elapsed()));
                }
                Err(failure) => return Err(failure),
                Ok(outputs) => {
                    trace.http_calls = answers.answers;
                    trace.http_timings = answers.timings;
                    return Ok((outputs, trace));
                }
            }
        }
    }

    async fn attempt(
        &self,
        event: &InboundEvent,
        answers: &HttpAnswers,
        trace: &mut TurnTrace,
    ) -> Result<Outputs, TurnFailure> {
        let mut tx = self
            .store
            .begin_turn_with(self.lock_timeout, self.commit)
            .await?;
        let preflight = tx
            .preflight(&event.event_id, event.integration_id, &event.session_id)
            .await?;
        if let Some(stored) = preflight.stored {
            tx.rollback().await?;
            tracing::info!(event_id = %event.event_id, "duplicate event: republishing its outputs");
            return decode_outputs(stored);
        }
        let target = preflight.target;
        let (verdict, sequence, write) = match self
            .decide(
                &mut tx,
                event,
                target.as_ref(),
                preflight.session,
                answers,
                trace,
            )
            .await
        {
            Err(needs @ TurnFailure::NeedsHttp { .. }) => {
                // Give the connection back before the call (and keep it: a clean rollback).
                tx.rollback().await?;
                return Err(needs);
            }
            other => other?,
        };
        if let (Verdict::Refused(status, detail), None) = (&verdict, &event.reply) {
            // Nobody waits for this answer (a WhatsApp event): the log is where it shows.
            tracing::warn!(status, code = %detail.code, reason = %detail.message, "event refused");
        }
        if let Verdict::Failed(detail) = &verdict {
            // Raised before the commit on purpose: a redelivered event is answered from its
            // stored outputs and does not alert twice, but a rolled-back turn may alert once more.
            self.alerter
                .raise(alerts::Alert::new(
                    event.integration_id,
                    alerts::AlertKind::BotExecutionError,
                    format!(
                        "the bot failed at component \"{}\"",
                        detail
                            .details
                            .as_ref()
                            .and_then(|d| d.component.clone())
                            .unwrap_or_default()
                    ),
                    detail.message.clone(),
                ))
                .await;
        }
        let outputs = outputs_for(event, verdict.as_ref_parts(), target.as_ref(), sequence);
        let stored = serde_json::to_value(&outputs)
            .map_err(|e| TurnFailure::Permanent(format!("outputs: {e}")))?;
        let transcript = serde_json::to_value(transcript_of(event, &verdict, trace, answers))
            .map_err(|e| TurnFailure::Permanent(format!("transcript: {e}")))?;
        let key = match &event.idempotency {
            None => None,
            Some(idempotency) => {
                let endpoint = endpoint_of(&event.input);
                Some(match (&verdict, &outputs.reply) {
                    (Verdict::Answered(_) | Verdict::Failed(_), Some(addressed)) => {
                        KeyOutcome::Complete {
                            endpoint,
                            key: &idempotency.key,
                            status: addressed.reply.status,
                            body: serde_json::to_value(&addressed.reply.body)
                                .map_err(|e| TurnFailure::Permanent(e.to_string()))?,
                        }
                    }
                    _ => KeyOutcome::Release {
                        endpoint,
                        key: &idempotency.key,
                    },
                })
            }
        };
        // Boxed: the three pipelined statements' futures are several KiB, and inline they
        // would make every turn's task that much larger, copied whole each time the task is
        // spawned, stored and finished (callgrind: +85k instructions of memcpy per turn).
        let recorded = Box::pin(tx.finish(
            event.integration_id,
            &event.session_id,
            &write,
            &Processed {
                event_id: &event.event_id,
                outputs: &stored,
                transcript: Some((&event.session_id, &transcript)),
            },
            key.as_ref(),
        ))
        .await?;
        if !recorded {
            tx.rollback().await?;
            return match self.store.processed_outputs(&event.event_id).await? {
                Some(stored) => decode_outputs(stored),
                None => Err(TurnFailure::Transient("duplicate vanished".into())),
            };
        }
        tx.commit().await?;
        Ok(outputs)
    }

    /// Frees an Idempotency-Key claimed for `event` whose turn was given up, so that the
    /// client's retry is decided again.
    pub async fn release_idempotency(
        &self,
        event: &InboundEvent,
        key: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .store
            .begin_turn_with(self.lock_timeout, self.commit)
            .await?;
        tx.release_idempotency(event.integration_id, endpoint_of(&event.input), key)
            .await?;
        tx.commit().await
    }

    /// What the turn answers, its sequence number, and what it does to the session (written
    /// by the caller with the turn's record). `existing` is the session, locked.
    async fn decide(
        &self,
        tx: &mut TurnTx,
        event: &InboundEvent,
        target: Option<&StartTarget>,
        existing: Option<SessionRecord>,
        answers: &HttpAnswers,
        trace: &mut TurnTrace,
    ) -> Result<Decision, TurnFailure> {
        let Some(target) = target.filter(|t| t.active) else {
            return Ok(unchanged(integration_not_found()));
        };
        let live = match existing {
            Some(session) if session.is_expired(Utc::now()) => {
                tx.delete_session(event.integration_id, &event.session_id)
                    .await?;
                None
            }
            other => other,
        };
        match (&event.input, event.channel) {
            (
                Input::Start {
                    force_restart,
                    variables,
                    message_payload,
                },
                _,
            ) => {
                if live.is_some() && !force_restart {
                    return Ok(unchanged(refused(
                        409,
                        error_codes::SESSION_EXISTS,
                        "a session with this id exists; send force_restart: true to start over, \
                         or use the message endpoint",
                    )));
                }
                if live.is_some() {
                    tx.delete_session(event.integration_id, &event.session_id)
                        .await?;
                }
                let start = StartContext {
                    session_id: event.session_id.clone(),
                    user_identifier: event.user_identifier.clone(),
                    channel: event.channel.as_str().to_owned(),
                    variables: variables.clone().into_iter().collect(),
                    message_payload: message_payload.clone(),
                };
                self.start(event, target, start, answers, trace).await
            }
            (Input::ProactiveStart { variables, .. }, Channel::Whatsapp) => {
                if live.is_some() {
                    // Never interrupt a conversation in progress with a template.
                    return Ok(unchanged(refused(
                        409,
                        error_codes::SESSION_EXISTS,
                        "a conversation with this user is in progress; the proactive start was \
                         not sent",
                    )));
                }
                let start = StartContext {
                    session_id: event.session_id.clone(),
                    user_identifier: event.user_identifier.clone(),
                    channel: Channel::Whatsapp.as_str().to_owned(),
                    variables: variables.clone().into_iter().collect(),
                    message_payload: None,
                };
                self.start(event, target, start, answers, trace).await
            }
            (Input::Text { .. } | Input::SelectedOption { .. }, Channel::Api) => match live {
                None => Ok(unchanged(session_not_found())),
                Some(session) => self.advance(event, target, session, answers, trace).await,
            },
            (_, Channel::Whatsapp) => match live {
                // A WhatsApp message without a conversation starts one; the message is its
                // first input (`on_create_message_payload`).
                None => {
                    let start = StartContext {
                        session_id: event.session_id.clone(),
                        user_identifier: event.user_identifier.clone(),
                        channel: Channel::Whatsapp.as_str().to_owned(),
                        variables: Default::default(),
                        message_payload: input_text(&event.input),
                    };
                    self.start(event, target, start, answers, trace).await
                }
                Some(session) => match event.input {
                    Input::Text { .. } | Input::SelectedOption { .. } => {
                        self.advance(event, target, session, answers, trace).await
                    }
                    _ => Ok(unchanged(Verdict::Silent)),
                },
            },
            (_, Channel::Api) => Ok(unchanged(refused(
                422,
                error_codes::INVALID_INPUT,
                "this input is not supported over the API",
            ))),
        }
    }

    async fn start(
        &self,
        event: &InboundEvent,
        target: &StartTarget,
        start: StartContext,
        answers: &HttpAnswers,
        trace: &mut TurnTrace,
    ) -> Result<Decision, TurnFailure> {
        let (Some(bot_id), Some(version)) = (target.bot_id, target.bot_version) else {
            return Ok(unchanged(integration_not_found()));
        };
        let bot_id = BotId::new(bot_id).map_err(|e| TurnFailure::Permanent(e.to_string()))?;
        let bot = self.version(bot_id, version).await?;
        trace.started = true;
        trace.bot_version = Some(version);
        let step = self.engine.start(&bot, start);
        let turn = self.drive(&bot, step, answers)?;
        trace.record(&turn);
        match turn {
            Ok(turn) => {
                let write = if turn.is_final {
                    SessionWrite::Keep
                } else {
                    SessionWrite::Insert(NewSession {
                        integration_id: event.integration_id.get(),
                        session_id: event.session_id.clone(),
                        user_identifier: event.user_identifier.clone(),
                        bot_id: bot_id.get(),
                        bot_version: version,
                        state: state_json(&turn.state)?,
                        expires_at: self.expiry(event.channel, target),
                    })
                };
                let verdict = Verdict::Answered(response(&event.session_id, &turn)?);
                Ok((verdict, 1, write))
            }
            Err(err) => Ok(unchanged(self.failure(event, err))),
        }
    }

    async fn advance(
        &self,
        event: &InboundEvent,
        target: &StartTarget,
        session: SessionRecord,
        answers: &HttpAnswers,
        trace: &mut TurnTrace,
    ) -> Result<Decision, TurnFailure> {
        let input = match &event.input {
            Input::Text { text } => flow::engine::Input::Text(text.clone()),
            Input::SelectedOption { option_id } => {
                flow::engine::Input::SelectedOption(option_id.clone())
            }
            _ => return Ok(unchanged(Verdict::Silent)),
        };
        let bot = self.version(session.bot()?, session.bot_version).await?;
        trace.bot_version = Some(session.bot_version);
        let state: SessionState = serde_json::from_value(session.state)
            .map_err(|e| TurnFailure::Permanent(format!("stored session state: {e}")))?;
        let step = self.engine.advance(&bot, state, input);
        let turn = self.drive(&bot, step, answers)?;
        trace.record(&turn);
        match turn {
            Ok(turn) => {
                let write = if turn.is_final {
                    SessionWrite::Delete
                } else {
                    SessionWrite::Update {
                        expected_revision: session.revision,
                        state: state_json(&turn.state)?,
                        expires_at: self.expiry(event.channel, target),
                    }
                };
                let sequence = u64::try_from(session.revision + 1).unwrap_or(0);
                let verdict = Verdict::Answered(response(&event.session_id, &turn)?);
                Ok((verdict, sequence, write))
            }
            Err(err) => Ok(unchanged(self.failure(event, err))),
        }
    }

    /// Runs the engine to the end of the turn, answering its HTTP calls from `answers`; a call
    /// not answered yet ends the attempt with `NeedsHttp`.
    fn drive(
        &self,
        bot: &BotVersion,
        mut step: Result<TurnStep, TurnError>,
        answers: &HttpAnswers,
    ) -> Result<Result<TurnResult, TurnError>, TurnFailure> {
        let mut index = 0;
        loop {
            match step {
                Err(error) => return Ok(Err(error)),
                Ok(TurnStep::Complete(turn)) => return Ok(Ok(turn)),
                Ok(TurnStep::NeedsHttp { request, resume }) => {
                    let Some(outcome) = answers.answer(index, &request) else {
                        return Err(TurnFailure::NeedsHttp {
                            index,
                            call: Box::new(request),
                            component: resume.component().to_owned(),
                        });
                    };
                    index += 1;
                    step = self.engine.resume(bot, resume, outcome.clone());
                }
            }
        }
    }

    fn failure(&self, event: &InboundEvent, err: TurnError) -> Verdict {
        match err {
            TurnError::Input(InputError::InvalidOption {
                option, valid_ids, ..
            }) => {
                if event.channel == Channel::Whatsapp {
                    // A tap on a button of an older message: nothing to answer.
                    return Verdict::Silent;
                }
                Verdict::Refused(
                    422,
                    ErrorDetail::new(
                        error_codes::INVALID_OPTION,
                        format!(
                            "option \"{option}\" is not offered here; valid options: {}",
                            valid_ids.join(", ")
                        ),
                    )
                    .with_details(ErrorDetails {
                        valid_option_ids: Some(valid_ids),
                        ..ErrorDetails::default()
                    }),
                )
            }
            TurnError::Input(InputError::UndeclaredVariables { names }) => Verdict::Refused(
                422,
                ErrorDetail::new(
                    error_codes::UNDECLARED_VARIABLES,
                    format!("variables not declared by the bot: {}", names.join(", ")),
                )
                .with_details(ErrorDetails {
                    undeclared_variables: Some(names),
                    ..ErrorDetails::default()
                }),
            ),
            TurnError::Input(InputError::SessionFinished) => session_not_found(),
            TurnError::Input(other) => {
                if event.channel == Channel::Whatsapp {
                    return Verdict::Silent;
                }
                refused(422, error_codes::INVALID_INPUT, other.to_string())
            }
            TurnError::Execution(failure) => {
                let component = failure.error.component().to_owned();
                tracing::error!(
                    event_id = %event.event_id,
                    integration = %event.integration_id,
                    component = %component,
                    error = %failure.error,
                    "bot execution error"
                );
                Verdict::Failed(
                    ErrorDetail::new(
                        error_codes::BOT_EXECUTION_ERROR,
                        format!("the bot failed: {}", failure.error),
                    )
                    .with_details(ErrorDetails {
                        component: Some(component),
                        ..ErrorDetails::default()
                    }),
                )
            }
        }
    }

    async fn version(&self, bot: BotId, version: i32) -> Result<Arc<BotVersion>, TurnFailure> {
        self.versions
            .get(&self.store, bot, version)
            .await
            .map_err(|err| match err {
                VersionError::Store(store) => TurnFailure::from(store),
                corrupt => TurnFailure::Permanent(corrupt.to_string()),
            })
    }

    fn expiry(&self, channel: Channel, target: &StartTarget) -> Option<chrono::DateTime<Utc>> {
        let ttl = match channel {
            Channel::Api => Some(self.api_session_ttl),
            Channel::Whatsapp => target
                .conversation_expiry_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs),
        }?;
        chrono::Duration::from_std(ttl)
            .ok()
            .map(|ttl| Utc::now() + ttl)
    }
}

fn endpoint_of(input: &Input) -> &'static str {
    match input {
        Input::Start { .. } => "session_start",
        _ => "message",
    }
}

/// The text a WhatsApp input carries, as a new session's first input.
fn input_text(input: &Input) -> Option<String> {
    match input {
        Input::Text { text } => Some(text.clone()),
        Input::SelectedOption { option_id } => Some(option_id.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod size;
