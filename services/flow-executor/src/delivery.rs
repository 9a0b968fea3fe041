//! One inbound delivery, from the queue to its ack: decode, run the turn, publish its outputs,
//! and decide what a failure means. Every failure ends, bounded:
//!
//! - **transient or unclassified** (contention, a concurrent writer, an error nobody
//!   recognised): retried in place with exponential backoff, at most `max_attempts` attempts
//!   and `budget` time; then given up;
//! - **permanent** (data the database refuses, a corrupt stored state): given up at once;
//! - **database unreachable**: nothing is wrong with the event, so the wait does not use its
//!   attempts; it is bounded by `outage_budget` instead, after which the event is given up too.
//!
//! Retrying holds only this conversation: the consumer runs each conversation in its own
//! lane (`broker::LaneKey`), so the other conversations of the shard go on meanwhile.
//!
//! Giving up (`abandon`) publishes the event, with the reason and its attempts in headers, to
//! the dead-letter exchange (confirmed), answers a waiting API client with a 500
//! `turn_failed`, releases its Idempotency-Key, raises an alert, counts it, logs it with the
//! conversation key, and acks: the conversation's next events are handled.

use std::time::{Duration, Instant};

use broker::dead_letter::GivenUp;
use broker::{Ack, Delivery, PublishOptions, Publisher};
use chrono::Utc;
use contracts::v1::{error_codes, ErrorDetail, InboundEvent, TurnReply};
use tokio::sync::watch;
use tracing::Instrument;

use crate::turn::{TurnContext, TurnFailure};

/// How long publishing a failure reply may wait for the broker.
const PUBLISH_WITHIN: Duration = Duration::from_secs(15);

/// The bounds on retrying one event (`EXECUTOR_RETRY_*`, docs/messaging.md).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all for transient and unclassified failures.
    pub max_attempts: u32,
    /// Time from the first failure after which no further attempt starts.
    pub budget: Duration,
    /// First pause; doubled after every failed attempt, up to `max_pause`.
    pub base_pause: Duration,
    pub max_pause: Duration,
    /// How long an event waits for an unreachable database before it is given up.
    pub outage_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            budget: Duration::from_secs(30),
            base_pause: Duration::from_millis(100),
            max_pause: Duration::from_secs(5),
            outage_budget: Duration::from_secs(600),
        }
    }
}

/// Handles one delivery and says how to settle it.
pub async fn handle(
    context: &TurnContext,
    publisher: &Publisher,
    policy: &RetryPolicy,
    delivery: Delivery,
    shutdown: watch::Receiver<bool>,
) -> Ack {
    let event: InboundEvent = match contracts::v1::decode(&delivery.body) {
        Ok(event) => event,
        Err(error) => {
            let given_up = GivenUp {
                reason: format!("undecodable inbound event: {error}"),
                attempts: 1,
                first_attempt_at: Utc::now(),
            };
            return dead_letter(publisher, &delivery, None, &given_up).await;
        }
    };
    let span = tracing::info_span!(
        "turn",
        event_id = %event.event_id,
        integration = %event.integration_id,
        conversation = %event.conversation_key,
        channel = %event.channel,
    );
    telemetry::set_parent_from(&span, &broker::trace::HeaderExtractor(&delivery.headers));
    async move {
        match run(context, publisher, policy, &event, shutdown).await {
            Ok(ack) => ack,
            Err(given_up) => abandon(context, publisher, &delivery, &event, given_up).await,
        }
    }
    .instrument(span)
    .await
}

/// Runs the turn until it succeeds, must go back to the queue, or is given up.
async fn run(
    context: &TurnContext,
    publisher: &Publisher,
    policy: &RetryPolicy,
    event: &InboundEvent,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Ack, GivenUp> {
    let channel = event.channel.as_str();
    let started = Instant::now();
    let first_attempt_at = Utc::now();
    // The retry budget runs from the first failure: a turn that took long before it (an
    // executor frozen mid-turn, a slow HTTP call) still gets its retries. Counting from the
    // start gave up a start event after 1 attempt when a SIGSTOPped executor woke up to a
    // session another executor had created meanwhile (fault suite, sigstop-executor-30s).
    let mut failing_since: Option<Instant> = None;
    let mut attempts = 0_u32;
    let mut pause = policy.base_pause;
    let mut outage_since: Option<Instant> = None;
    loop {
        let failure = match context.handle(event).await {
            Ok(outputs) => {
                metrics::counter!("turns_total", "channel" => channel).increment(1);
                metrics::histogram!("turn_duration_seconds", "channel" => channel)
                    .record(started.elapsed().as_secs_f64());
                return Ok(match outputs.publish(publisher, &event.event_id).await {
                    Ok(()) => Ack::Ack,
                    Err(error) => {
                        // Stored with the turn: the redelivery publishes them again.
                        tracing::warn!(%error, "publishing outputs failed; handing the event back");
                        Ack::Requeue
                    }
                });
            }
            Err(failure) => failure,
        };
        let give_up = |reason: String, attempts: u32| GivenUp {
            reason,
            attempts,
            first_attempt_at,
        };
        match failure {
            TurnFailure::Outage(reason) => {
                let since = *outage_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= policy.outage_budget {
                    return Err(give_up(
                        format!(
                            "the database stayed unreachable for {} s: {reason}",
                            policy.outage_budget.as_secs()
                        ),
                        attempts.max(1),
                    ));
                }
                metrics::counter!("turn_outage_waits_total", "channel" => channel).increment(1);
                tracing::warn!(%reason, "database unreachable; waiting for it");
            }
            TurnFailure::Transient(reason) | TurnFailure::Unknown(reason) => {
                outage_since = None;
                attempts += 1;
                metrics::counter!("turn_retries_total", "channel" => channel).increment(1);
                let failing_for = failing_since.get_or_insert_with(Instant::now).elapsed();
                if out_of_retries(policy, attempts, failing_for) {
                    return Err(give_up(
                        format!("still failing after {attempts} attempts: {reason}"),
                        attempts,
                    ));
                }
                tracing::warn!(%reason, attempts, retry_in_ms = pause.as_millis() as u64, "turn failed; retrying");
            }
            TurnFailure::Permanent(reason) => return Err(give_up(reason, attempts + 1)),
            TurnFailure::NeedsHttp { .. } => {
                return Err(give_up(
                    "internal: an HTTP call escaped the turn".into(),
                    attempts + 1,
                ))
            }
        }
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => {
                tracing::warn!("shutting down while retrying; handing the event back");
                return Ok(Ack::Requeue);
            }
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(policy.max_pause);
    }
}

/// Whether a turn that failed `attempts` times, the first time `failing_for` ago, is given up.
fn out_of_retries(policy: &RetryPolicy, attempts: u32, failing_for: Duration) -> bool {
    attempts >= policy.max_attempts || failing_for >= policy.budget
}

/// Gives an event up: dead letter, failure reply, key released, alert, metric, log; then the
/// delivery is acked so that the conversation's next events are handled.
async fn abandon(
    context: &TurnContext,
    publisher: &Publisher,
    delivery: &Delivery,
    event: &InboundEvent,
    given_up: GivenUp,
) -> Ack {
    let channel = event.channel.as_str();
    metrics::counter!("turns_dead_lettered_total", "channel" => channel).increment(1);
    tracing::error!(
        event_id = %event.event_id,
        integration = %event.integration_id,
        conversation = %event.conversation_key,
        attempts = given_up.attempts,
        reason = %given_up.reason,
        "turn given up: the event is dead-lettered"
    );
    let ack = dead_letter(publisher, delivery, Some(event), &given_up).await;
    if let Some(reply_to) = &event.reply {
        let reply = TurnReply::error(
            reply_to.correlation_id.clone(),
            500,
            ErrorDetail::new(
                error_codes::TURN_FAILED,
                "the message could not be processed and was set aside for an operator; the \
                 session is unchanged",
            ),
        );
        let published = match serde_json::to_vec(&reply) {
            Ok(body) => {
                let options = PublishOptions {
                    correlation_id: Some(reply.correlation_id.clone()),
                    content_type: Some("application/json".into()),
                    persistent: false,
                    ..PublishOptions::default()
                }
                .with_message_id(format!("{}:failed", event.event_id));
                publisher
                    .publish_with_retry("", &reply_to.queue, &body, options, PUBLISH_WITHIN)
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = published {
            // The client's request then ends in a 504; its retry runs the turn again.
            tracing::warn!(%error, "the failure reply could not be published");
        }
    }
    if let Some(idempotency) = &event.idempotency {
        // Not an outcome of the flow: a retry with the same key must be decided again.
        if let Err(error) = context.release_idempotency(event, &idempotency.key).await {
            tracing::warn!(%error, "releasing the Idempotency-Key failed; its lease expires on its own");
        }
    }
    context
        .alerter
        .raise(alerts::Alert::new(
            event.integration_id,
            alerts::AlertKind::BotExecutionError,
            "a message could not be processed and was dead-lettered",
            format!(
                "conversation {}: {} (after {} attempts)",
                event.conversation_key, given_up.reason, given_up.attempts
            ),
        ))
        .await;
    ack
}

/// Sets the delivery aside (`broker::dead_letter`); an undecodable one is logged here, as
/// nothing else will say where it came from.
async fn dead_letter(
    publisher: &Publisher,
    delivery: &Delivery,
    event: Option<&InboundEvent>,
    given_up: &GivenUp,
) -> Ack {
    if event.is_none() {
        metrics::counter!("turns_dead_lettered_total", "channel" => "unknown").increment(1);
        tracing::error!(queue = %delivery.queue, reason = %given_up.reason, "inbound event dead-lettered");
    }
    broker::dead_letter::set_aside(publisher, delivery, given_up).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_budget_runs_from_the_first_failure_not_from_the_start() {
        let policy = RetryPolicy::default();
        // A first failure after a long turn (however long since the event arrived): retried.
        assert!(!out_of_retries(&policy, 1, Duration::ZERO));
        assert!(out_of_retries(&policy, 2, policy.budget));
        assert!(out_of_retries(&policy, policy.max_attempts, Duration::ZERO));
    }
}
