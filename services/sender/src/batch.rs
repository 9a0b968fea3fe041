//! Sending one batch: load the integration and its token, mark the inbound message read, send
//! each rendered payload in order, and record what Meta accepted.
//!
//! Redeliveries: progress is saved after every accepted payload (`outbound_batches`, with the
//! message in `outbound_messages`, one statement shared with the other batches saving at the
//! same moment: bookkeeping.rs), and the next payload goes only once that save is committed,
//! so a batch delivered again resumes after the last accepted payload and a finished batch is
//! not sent again. What stays at-least-once is the moment between Meta accepting a message and
//! the progress being saved (the Graph API has no idempotency key): a crash exactly there
//! sends that one message twice.

use std::sync::Arc;
use std::time::Duration;

use broker::dead_letter::GivenUp;
use broker::Ack;
use contracts::v1::{DecodeError, FallbackTemplate, OutboundWhatsapp, WindowFallback};
use graph_client::payload::{recipient_id, template};
use graph_client::reaction::{react, GiveUpReason, Reaction, Tried};
use graph_client::{GraphClient, GraphError, SentMessage, PAIR_RATE_LIMIT_CODE};
use serde_json::Value;
use store::sender::{AcceptedMessage, BatchOutcome, ProgressRecord};
use store::{FailureClass, Store, StoreError};
use tokio::sync::watch;

use crate::alerts::{AlertKind, AlertSink};
use crate::bookkeeping::Bookkeeper;
use crate::pacing::Pacer;
use crate::render::render;
use crate::retry::{random_jitter, RetryPolicy};
use crate::tokens::{Credentials, TokenError, Tokens};

/// What the sender is asked to do; both arrive on `sender.whatsapp`.
pub enum Work {
    /// Send a turn's batch.
    Batch(OutboundWhatsapp),
    /// Meta accepted a message of `failed_batch`, then reported it `failed` with 131047
    /// (outside the 24-hour window): send the fallback template, as for a synchronous 131047.
    /// `request` is the request as a batch without messages: its lane, recipient and progress.
    WindowClosed {
        request: OutboundWhatsapp,
        failed_batch: String,
        failed_message_id: String,
    },
}

impl Work {
    /// A v1 `OutboundWhatsapp`, else a v1 `WindowFallback` (whose shape no batch has).
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        match contracts::v1::decode::<OutboundWhatsapp>(body) {
            Ok(batch) => Ok(Work::Batch(batch)),
            Err(not_a_batch) => match contracts::v1::decode::<WindowFallback>(body) {
                Ok(fallback) => Ok(Work::WindowClosed {
                    request: OutboundWhatsapp {
                        schema: fallback.schema,
                        event_id: fallback.event_id,
                        integration_id: fallback.integration_id,
                        conversation_key: fallback.conversation_key,
                        phone_number_id: fallback.phone_number_id,
                        to: fallback.to,
                        reply_to_message_id: None,
                        messages: Vec::new(),
                        fallback_template: None,
                        template: None,
                        sequence: 0,
                    },
                    failed_batch: fallback.failed_batch,
                    failed_message_id: fallback.failed_message_id,
                }),
                Err(_) => Err(not_a_batch),
            },
        }
    }

    /// The batch to send (for a fallback request, the request as a batch).
    pub fn batch(&self) -> &OutboundWhatsapp {
        match self {
            Work::Batch(batch) | Work::WindowClosed { request: batch, .. } => batch,
        }
    }
}

/// The batch a fallback request is about, and its failed message.
struct ClosedWindow<'a> {
    failed_batch: &'a str,
    failed_message_id: &'a str,
}

/// Everything batches share.
pub struct Context {
    pub store: Store,
    pub bookkeeper: Bookkeeper,
    pub graph: GraphClient,
    pub tokens: Arc<Tokens>,
    pub pacer: Pacer,
    pub retry: RetryPolicy,
    pub alerts: Arc<dyn AlertSink>,
    pub activity: store::activity::ActivityThrottle,
    pub shutdown: watch::Receiver<bool>,
}

/// Why a batch stopped before it was finished.
enum Stop {
    /// The service is stopping: hand the batch back; its redelivery resumes it.
    Shutdown,
    /// The database keeps failing it, or refuses its data: set it aside as a dead letter
    /// (with the reason) for an operator.
    DeadLetter(GivenUp),
}

/// Why a Graph call did not succeed.
enum CallFailure {
    Permanent(GraphError),
    OutsideWindow(GraphError),
    Exhausted { error: GraphError, attempts: u32 },
    Token(String),
    Shutdown,
}

enum Call<'a> {
    MarkRead(&'a str),
    Message(&'a Value),
}

/// A batch being sent, with the token it sends with.
struct Sending<'a> {
    batch: &'a OutboundWhatsapp,
    version: String,
    credentials: Credentials,
    /// A refused token is refreshed once per batch; a second refusal gives up.
    refreshed: bool,
}

/// Attempts at one database operation for transient or unclassified failures before the batch
/// is dead-lettered; an unreachable database is waited out up to [`OUTAGE_BUDGET`] instead.
const STORE_ATTEMPTS: u32 = 8;
const OUTAGE_BUDGET: Duration = Duration::from_secs(600);

/// What to do with a batch once its handling ends.
pub enum Settle {
    Ack(Ack),
    DeadLetter(GivenUp),
}

impl Context {
    /// Sends a batch (or recognises it as sent) and says how to settle its delivery.
    pub async fn handle(&self, work: &Work) -> Settle {
        let closed = match work {
            Work::Batch(_) => None,
            Work::WindowClosed {
                failed_batch,
                failed_message_id,
                ..
            } => Some(ClosedWindow {
                failed_batch,
                failed_message_id,
            }),
        };
        match self.send_batch(work.batch(), closed).await {
            Ok(()) => Settle::Ack(Ack::Ack),
            Err(Stop::Shutdown) => {
                tracing::info!("stopping: the batch goes back to the queue");
                Settle::Ack(Ack::Requeue)
            }
            Err(Stop::DeadLetter(given_up)) => {
                metrics::counter!("sender_batches_dead_lettered_total").increment(1);
                tracing::error!(reason = %given_up.reason, attempts = given_up.attempts, "batch given up: dead-lettered");
                Settle::DeadLetter(given_up)
            }
        }
    }

    async fn send_batch(
        &self,
        batch: &OutboundWhatsapp,
        closed: Option<ClosedWindow<'_>>,
    ) -> Result<(), Stop> {
        let id = batch.integration_id;
        let start = self
            .durably("reading batch progress and integration", || {
                self.store.batch_start(id, &batch.event_id)
            })
            .await?;
        if start.progress.as_ref().is_some_and(|p| p.outcome.is_some()) {
            tracing::info!("batch already sent; redelivery ignored");
            return Ok(());
        }
        let done = start.progress.map_or(0, |p| p.sent_count as usize);
        let Some(integration) = start.integration else {
            tracing::info!("integration deleted; batch dropped");
            return Ok(());
        };
        if !integration.active {
            tracing::info!("integration inactive; batch dropped");
            return Ok(());
        }
        let Some(details) = integration.whatsapp else {
            tracing::error!("not a WhatsApp integration; batch dropped");
            return Ok(());
        };
        if details.phone_number_id != batch.phone_number_id {
            tracing::warn!(
                integration_number = %details.phone_number_id,
                batch_number = %batch.phone_number_id,
                "the integration changed its phone number; sending from the batch's"
            );
        }
        let credentials = match self.tokens.open(id, &details.access_token_sealed) {
            Ok(credentials) => credentials,
            Err(error) => {
                return self
                    .give_up(batch, done, AlertKind::TokenFailure, error.to_string())
                    .await
            }
        };
        let mut sending = Sending {
            batch,
            version: details.api_version,
            credentials,
            refreshed: false,
        };
        if let Some(closed) = closed {
            let configured = details.template_name.zip(details.template_language).map(
                |(name, language_code)| FallbackTemplate {
                    name,
                    language_code,
                },
            );
            return self
                .fall_back_later(&mut sending, &closed, configured.as_ref())
                .await;
        }
        if done == 0 {
            if let Some(message_id) = &batch.reply_to_message_id {
                match self.call(&mut sending, Call::MarkRead(message_id)).await {
                    Ok(_) => {}
                    Err(CallFailure::Shutdown) => return Err(Stop::Shutdown),
                    Err(CallFailure::Token(reason)) => {
                        return self
                            .give_up(batch, done, AlertKind::TokenFailure, reason)
                            .await
                    }
                    // Cosmetic: the answer matters more than the blue ticks.
                    Err(failure) => {
                        tracing::warn!(reason = %describe(&failure), "marking the inbound message read failed")
                    }
                }
            }
        }
        // A proactive start's template goes first (it is the one message Meta delivers
        // outside the 24-hour window); it counts in the batch's progress like any message.
        let payloads: Vec<Value> = batch
            .template
            .iter()
            .map(|t| template(&batch.to, t))
            .chain(render(&batch.messages, &batch.to))
            .collect();
        for (index, body) in payloads.iter().enumerate().skip(done) {
            let failure = match self.call(&mut sending, Call::Message(body)).await {
                Ok(sent) => {
                    let last = index + 1 == payloads.len();
                    self.record(batch, sent, index + 1, last.then_some(BatchOutcome::Sent))
                        .await?;
                    continue;
                }
                Err(failure) => failure,
            };
            return match failure {
                CallFailure::Shutdown => Err(Stop::Shutdown),
                CallFailure::OutsideWindow(error) => {
                    let template = batch.fallback_template.as_ref();
                    self.fall_back(&mut sending, index, template, &error.to_string())
                        .await
                }
                CallFailure::Token(reason) => {
                    self.give_up(batch, index, AlertKind::TokenFailure, reason)
                        .await
                }
                other => {
                    let detail = format!(
                        "message {} of {} not sent: {}",
                        index + 1,
                        payloads.len(),
                        describe(&other)
                    );
                    self.give_up(batch, index, AlertKind::SendFailed, detail)
                        .await
                }
            };
        }
        if done >= payloads.len() {
            // Nothing (left) to send: only the mark-read, or a resumed batch already complete.
            self.save(batch, done, Some(BatchOutcome::Sent), None)
                .await?;
        }
        Ok(())
    }

    /// Meta reported, after accepting it, that a message of an earlier batch is outside the
    /// 24-hour window: the same fallback as for a refused send, unless that batch already fell
    /// back (a later message of it was refused at once), with the integration's template.
    async fn fall_back_later(
        &self,
        sending: &mut Sending<'_>,
        closed: &ClosedWindow<'_>,
        configured: Option<&FallbackTemplate>,
    ) -> Result<(), Stop> {
        let batch = sending.batch;
        let failed = self
            .durably("reading batch progress", || {
                self.store.batch_progress(closed.failed_batch)
            })
            .await?;
        if failed.and_then(|p| p.outcome) == Some(BatchOutcome::Fallback) {
            tracing::info!(
                failed_batch = closed.failed_batch,
                "the batch already fell back to the template"
            );
            return self.save(batch, 0, Some(BatchOutcome::Sent), None).await;
        }
        let reason = format!(
            "Meta reported message {} failed: outside the 24-hour window (131047)",
            closed.failed_message_id
        );
        self.fall_back(sending, 0, configured, &reason).await
    }

    /// Meta refused a message outside the 24-hour window (at once, or later in a status): the
    /// fallback template goes instead of the rest of the batch (once), or the batch is given
    /// up with an alert when there is none.
    async fn fall_back(
        &self,
        sending: &mut Sending<'_>,
        index: usize,
        fallback: Option<&FallbackTemplate>,
        error: &str,
    ) -> Result<(), Stop> {
        let batch = sending.batch;
        let Some(fallback) = fallback else {
            let detail =
                format!("outside the 24-hour window and no template is configured: {error}");
            return self
                .give_up(batch, index, AlertKind::SendFailed, detail)
                .await;
        };
        tracing::info!(template = %fallback.name, "outside the 24-hour window; sending the template instead");
        let body = template(&batch.to, fallback);
        match self.call(sending, Call::Message(&body)).await {
            Ok(sent) => {
                self.record(batch, sent, index, Some(BatchOutcome::Fallback))
                    .await
            }
            Err(CallFailure::Shutdown) => Err(Stop::Shutdown),
            Err(failure) => {
                let kind = match failure {
                    CallFailure::Token(_) => AlertKind::TokenFailure,
                    _ => AlertKind::SendFailed,
                };
                let detail = format!(
                    "outside the 24-hour window, and the template {} failed: {}",
                    fallback.name,
                    describe(&failure)
                );
                self.give_up(batch, index, kind, detail).await
            }
        }
    }

    /// Records an accepted message and the batch's progress (and outcome, when finished).
    async fn record(
        &self,
        batch: &OutboundWhatsapp,
        sent: Option<SentMessage>,
        sent_count: usize,
        outcome: Option<BatchOutcome>,
    ) -> Result<(), Stop> {
        let accepted = sent.map(|sent| AcceptedMessage {
            wamid: sent.wamid,
            conversation_key: batch.conversation_key.as_str().to_owned(),
            recipient: recipient_id(&batch.to).to_owned(),
        });
        self.save(batch, sent_count, outcome, accepted).await?;
        self.activity.touch(&self.store, batch.integration_id).await;
        Ok(())
    }

    /// Saves a batch's progress (and the message that moved it, if any), waiting out
    /// transient failures; returns once it is committed.
    async fn save(
        &self,
        batch: &OutboundWhatsapp,
        sent_count: usize,
        outcome: Option<BatchOutcome>,
        accepted: Option<AcceptedMessage>,
    ) -> Result<(), Stop> {
        let record = ProgressRecord {
            integration: batch.integration_id,
            event_id: batch.event_id.clone(),
            sent_count: u32::try_from(sent_count).unwrap_or(u32::MAX),
            outcome,
            accepted,
        };
        self.durably("saving batch progress", || {
            self.bookkeeper.save(record.clone())
        })
        .await
    }

    /// Alerts, and finishes the batch as failed so that a redelivery does not try again.
    async fn give_up(
        &self,
        batch: &OutboundWhatsapp,
        sent_count: usize,
        kind: AlertKind,
        detail: String,
    ) -> Result<(), Stop> {
        tracing::warn!(kind = kind.as_str(), %detail, "batch given up");
        self.alerts.alert(batch.integration_id, kind, detail);
        self.save(batch, sent_count, Some(BatchOutcome::Failed), None)
            .await
    }

    /// One Graph call, paced, with backoff on retryable errors and one token refresh.
    async fn call(
        &self,
        sending: &mut Sending<'_>,
        call: Call<'_>,
    ) -> Result<Option<SentMessage>, CallFailure> {
        let batch = sending.batch;
        let number = batch.phone_number_id.as_str();
        let mut failures = 0_u32;
        loop {
            self.pacer.wait(number).await;
            let token = &sending.credentials.token;
            let result = match call {
                Call::MarkRead(message_id) => self
                    .graph
                    .mark_read(&sending.version, number, token, message_id)
                    .await
                    .map(|()| None),
                Call::Message(body) => self
                    .graph
                    .send_message(&sending.version, number, token, body)
                    .await
                    .map(Some),
            };
            let error = match result {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            let tried = Tried {
                failures: failures + 1,
                token_refreshed: sending.refreshed,
            };
            let fallback = batch.fallback_template.is_some();
            match react(error.class(), tried, self.retry.max_attempts, fallback) {
                Reaction::GiveUp(GiveUpReason::Permanent) => {
                    return Err(CallFailure::Permanent(error))
                }
                // `fall_back` sends the batch's template, or gives up when it has none.
                Reaction::FallBackToTemplate
                | Reaction::GiveUp(GiveUpReason::NoFallbackTemplate) => {
                    return Err(CallFailure::OutsideWindow(error))
                }
                Reaction::GiveUp(GiveUpReason::RetriesExhausted) => {
                    return Err(CallFailure::Exhausted {
                        error,
                        attempts: tried.failures,
                    })
                }
                Reaction::Retry => {
                    failures = tried.failures;
                    let growth = if error.code() == Some(PAIR_RATE_LIMIT_CODE) {
                        4
                    } else {
                        2
                    };
                    let delay = self.retry.delay(failures, growth, random_jitter());
                    tracing::warn!(%error, attempt = failures, retry_in_ms = delay.as_millis() as u64, "Graph call failed; retrying");
                    if !self.pause(delay).await {
                        return Err(CallFailure::Shutdown);
                    }
                }
                Reaction::GiveUp(GiveUpReason::TokenRefusedAgain) => {
                    return Err(CallFailure::Token(format!(
                        "the access token was refused again after a refresh: {error}"
                    )));
                }
                Reaction::RefreshToken => {
                    sending.refreshed = true;
                    tracing::warn!(%error, "access token refused; refreshing it");
                    match self
                        .tokens
                        .refresh_after_refusal(batch.integration_id, &sending.credentials)
                        .await
                    {
                        Ok(credentials) => sending.credentials = credentials,
                        Err(reason) => {
                            return Err(CallFailure::Token(format!(
                                "the access token was refused ({error}) and could not be \
                                 refreshed: {}",
                                match reason {
                                    TokenError::Store(e) => format!("database: {e}"),
                                    TokenError::Unusable(reason) => reason,
                                }
                            )))
                        }
                    }
                }
            }
        }
    }

    /// Sleeps `delay`; false when the service started stopping meanwhile.
    async fn pause(&self, delay: Duration) -> bool {
        let mut shutdown = self.shutdown.clone();
        if *shutdown.borrow() {
            return false;
        }
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => false,
            () = tokio::time::sleep(delay) => true,
        }
    }

    /// Runs a store operation, waiting out transient failures (with backoff, until shutdown).
    async fn durably<T, F, Fut>(&self, what: &str, operation: F) -> Result<T, Stop>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let first_attempt_at = chrono::Utc::now();
        let mut delay = Duration::from_millis(50);
        let mut attempts = 0_u32;
        let mut outage_since: Option<std::time::Instant> = None;
        loop {
            let error = match operation().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let give_up = |reason: String, attempts: u32| {
                Stop::DeadLetter(GivenUp {
                    reason: format!("{what}: {reason}"),
                    attempts,
                    first_attempt_at,
                })
            };
            match (&error, error.class()) {
                (StoreError::Unavailable(_), _) => {
                    let since = *outage_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() >= OUTAGE_BUDGET {
                        return Err(give_up(
                            format!("the database stayed unreachable: {error}"),
                            attempts.max(1),
                        ));
                    }
                }
                (_, FailureClass::Transient | FailureClass::Unknown) => {
                    outage_since = None;
                    attempts += 1;
                    if attempts >= STORE_ATTEMPTS {
                        return Err(give_up(
                            format!("still failing after {attempts} attempts: {error}"),
                            attempts,
                        ));
                    }
                }
                (_, FailureClass::Permanent) => {
                    return Err(give_up(error.to_string(), attempts + 1))
                }
            }
            tracing::warn!(%error, what, retry_in_ms = delay.as_millis() as u64, "database failed; retrying");
            if !self.pause(delay).await {
                return Err(Stop::Shutdown);
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

fn describe(failure: &CallFailure) -> String {
    match failure {
        CallFailure::Permanent(error) => format!("{error} (not retried)"),
        CallFailure::OutsideWindow(error) => error.to_string(),
        CallFailure::Exhausted { error, attempts } => {
            format!("{error} (gave up after {attempts} attempts)")
        }
        CallFailure::Token(reason) => reason.clone(),
        CallFailure::Shutdown => "stopped".into(),
    }
}
