//! Dead letters (docs/messaging.md, "Dead letters"): messages the platform gave up on, as the
//! flow executor's drain recorded them. An operator lists them, looks at one, replays it (its
//! message is published again to where it was first published: an inbound event back to its
//! conversation's shard) or discards it. Account-scoped; letters that name no integration are
//! seen by platform admins only.

use actix_web::http::StatusCode;
use actix_web::web;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::dead_letters::{
    DeadLetter, DeadLetterStatus, DeadLetterSummary, LetterFilter, LetterScope,
};
use store::StoreError;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Operator;
use crate::error::{ApiError, ErrorBody, FromStore};
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;
/// Where a replay may publish: the platform's own exchanges.
const REPLAYABLE_EXCHANGES: [&str; 2] = [
    broker::topology::INBOUND_EXCHANGE,
    broker::topology::OUTBOUND_EXCHANGE,
];

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// Only letters with this status: `dead` (waiting for an operator), `replayed`,
    /// `discarded`.
    #[param(pattern = "^(dead|replayed|discarded)$")]
    pub status: Option<String>,
    /// Only letters of this integration.
    #[param(minimum = 1)]
    pub integration_id: Option<i64>,
    /// Only letters with a smaller id: the `next_before` of the previous page.
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// A dead letter as lists show it.
#[derive(Serialize, ToSchema)]
pub struct DeadLetterView {
    pub id: i64,
    /// The event's id (what consumers deduplicate by); for a message that is not a platform
    /// event, its AMQP message id or `sha256:<digest of the body>`.
    pub event_id: String,
    /// The account it belongs to (the integration's when recorded); null when its body names
    /// no integration (platform admins only see those).
    pub account_id: Option<i64>,
    /// The integration the message belongs to; null when its body names none.
    pub integration_id: Option<i64>,
    /// The conversation (`<integration>:<session>` or `<integration>:<number>:<user>`).
    pub conversation_key: Option<String>,
    /// The queue that gave it up, e.g. `bot.inbound.3` or `sender.whatsapp`.
    pub source_queue: String,
    /// Where a replay publishes.
    pub exchange: String,
    pub routing_key: String,
    /// Why it was given up.
    pub reason: String,
    /// Deliveries before it was given up (summed over rounds after failed replays).
    pub attempts: i32,
    pub first_attempt_at: DateTime<Utc>,
    pub last_attempt_at: DateTime<Utc>,
    /// `dead`, `replayed` or `discarded`.
    #[schema(pattern = "^(dead|replayed|discarded)$")]
    pub status: String,
    pub replayed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<DeadLetterSummary> for DeadLetterView {
    fn from(letter: DeadLetterSummary) -> Self {
        DeadLetterView {
            status: letter.status().as_str().to_owned(),
            id: letter.id,
            event_id: letter.event_id,
            account_id: letter.account_id,
            integration_id: letter.integration_id,
            conversation_key: letter.conversation_key,
            source_queue: letter.source_queue,
            exchange: letter.exchange,
            routing_key: letter.routing_key,
            reason: letter.reason,
            attempts: letter.attempts,
            first_attempt_at: letter.first_attempt_at,
            last_attempt_at: letter.last_attempt_at,
            replayed_at: letter.replayed_at,
            created_at: letter.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetterList {
    /// Newest first.
    pub dead_letters: Vec<DeadLetterView>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// One dead letter with its message.
#[derive(Serialize, ToSchema)]
pub struct DeadLetterDetail {
    #[serde(flatten)]
    pub letter: DeadLetterView,
    /// The message body when it is a JSON object (the v1 event or batch).
    #[schema(value_type = Option<Object>)]
    pub body: Option<Value>,
    /// Otherwise the message body as text (invalid UTF-8 replaced).
    pub body_text: Option<String>,
    pub body_bytes: usize,
    /// The AMQP message id and application headers (trace context) it carried.
    #[schema(value_type = Object)]
    pub headers: Value,
}

fn scope(operator: &Operator) -> LetterScope {
    LetterScope {
        account: operator.account.id,
        unowned: operator.account.is_platform_admin,
    }
}

fn store_err(err: StoreError) -> ApiError {
    match err {
        StoreError::Rule("dead_letter_discarded") => ApiError::conflict(
            "dead_letter_discarded",
            "the dead letter was discarded; it cannot be replayed",
        ),
        other => ApiError::from_store(other, "dead letter"),
    }
}

fn filter_from(query: &DeadLetterQuery) -> Result<LetterFilter, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|raw| {
            DeadLetterStatus::parse(raw).ok_or_else(|| {
                ApiError::unprocessable(
                    "invalid_field",
                    "status must be dead, replayed or discarded",
                )
            })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::unprocessable(
            "invalid_field",
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    for (name, value) in [
        ("integration_id", query.integration_id),
        ("before", query.before),
    ] {
        if value.is_some_and(|v| v < 1) {
            return Err(ApiError::unprocessable(
                "invalid_field",
                format!("{name} must be a positive id"),
            ));
        }
    }
    Ok(LetterFilter {
        status,
        integration_id: query.integration_id,
        before: query.before,
        limit,
    })
}

/// Lists the account's dead letters, newest first.
#[utoipa::path(get, path = "/v1/dead-letters", tag = "dead letters", params(DeadLetterQuery),
    responses(
        (status = 200, body = DeadLetterList),
        (status = 400, body = ErrorBody, description = "a malformed query"),
        (status = 401, body = ErrorBody, description = "no valid operator token"),
        (status = 422, body = ErrorBody, description = "a query value out of range")))]
pub async fn list_dead_letters(
    operator: Operator,
    state: web::Data<AppState>,
    query: web::Query<DeadLetterQuery>,
) -> Result<web::Json<DeadLetterList>, ApiError> {
    let filter = filter_from(&query)?;
    let letters = state
        .store
        .list_dead_letters(scope(&operator), &filter)
        .await
        .map_err(store_err)?;
    let full_page = letters.len() as i64 == filter.limit;
    let next_before = letters.last().map(|l| l.id).filter(|_| full_page);
    Ok(web::Json(DeadLetterList {
        dead_letters: letters.into_iter().map(DeadLetterView::from).collect(),
        next_before,
    }))
}

/// One dead letter, with its message.
#[utoipa::path(get, path = "/v1/dead-letters/{dead_letter_id}", tag = "dead letters",
    params(("dead_letter_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, body = DeadLetterDetail),
        (status = 401, body = ErrorBody, description = "no valid operator token"),
        (status = 404, body = ErrorBody, description = "no such dead letter in this account")))]
pub async fn get_dead_letter(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<web::Json<DeadLetterDetail>, ApiError> {
    let letter = state
        .store
        .get_dead_letter(scope(&operator), path.into_inner())
        .await
        .map_err(store_err)?;
    Ok(web::Json(detail(letter)))
}

fn detail(letter: DeadLetter) -> DeadLetterDetail {
    let body = serde_json::from_slice::<Value>(&letter.body)
        .ok()
        .filter(Value::is_object);
    let body_text = body
        .is_none()
        .then(|| String::from_utf8_lossy(&letter.body).into_owned());
    DeadLetterDetail {
        body,
        body_text,
        body_bytes: letter.body.len(),
        headers: letter.headers,
        letter: letter.summary.into(),
    }
}

/// Publishes the letter's message again, to the exchange and routing key it was first
/// published with (an inbound event goes back to its conversation's shard, behind what is
/// queued there), with its original message id, confirmed by the broker; then marks it
/// replayed. Replaying is safe to repeat: consumers deduplicate by event id, so an event that
/// already ran is not run again.
#[utoipa::path(post, path = "/v1/dead-letters/{dead_letter_id}/replay", tag = "dead letters",
    params(("dead_letter_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, body = DeadLetterView, description = "published again and marked replayed"),
        (status = 401, body = ErrorBody, description = "no valid operator token"),
        (status = 404, body = ErrorBody, description = "no such dead letter in this account"),
        (status = 409, body = ErrorBody, description = "the letter was discarded"),
        (status = 422, body = ErrorBody, description = "the letter's message was not published to a platform exchange: nothing to replay it to"),
        (status = 503, body = ErrorBody, description = "no message broker configured (AMQP_URL), or it did not take the message")))]
pub async fn replay_dead_letter(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<web::Json<DeadLetterView>, ApiError> {
    let id = path.into_inner();
    let scope = scope(&operator);
    let letter = state
        .store
        .get_dead_letter(scope, id)
        .await
        .map_err(store_err)?;
    if letter.summary.status() == DeadLetterStatus::Discarded {
        return Err(store_err(StoreError::Rule("dead_letter_discarded")));
    }
    if !REPLAYABLE_EXCHANGES.contains(&letter.summary.exchange.as_str()) {
        return Err(ApiError::unprocessable(
            "not_replayable",
            format!(
                "the message came from exchange `{}`, not one of the platform's; discard it",
                letter.summary.exchange
            ),
        ));
    }
    publish(&state, &letter).await?;
    let replayed = state
        .store
        .mark_dead_letter_replayed(scope, id)
        .await
        .map_err(store_err)?;
    tracing::info!(
        dead_letter = id,
        event_id = %letter.summary.event_id,
        exchange = %letter.summary.exchange,
        routing_key = %letter.summary.routing_key,
        "dead letter replayed"
    );
    Ok(web::Json(replayed.into()))
}

/// Marks the letter discarded: it stays listed (status `discarded`) and can no longer be
/// replayed. Discarding twice answers the same.
#[utoipa::path(post, path = "/v1/dead-letters/{dead_letter_id}/discard", tag = "dead letters",
    params(("dead_letter_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, body = DeadLetterView),
        (status = 401, body = ErrorBody, description = "no valid operator token"),
        (status = 404, body = ErrorBody, description = "no such dead letter in this account")))]
pub async fn discard_dead_letter(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<web::Json<DeadLetterView>, ApiError> {
    let id = path.into_inner();
    let discarded = state
        .store
        .discard_dead_letter(scope(&operator), id)
        .await
        .map_err(store_err)?;
    tracing::info!(dead_letter = id, event_id = %discarded.event_id, "dead letter discarded");
    Ok(web::Json(discarded.into()))
}

/// The same as `POST /v1/dead-letters/{dead_letter_id}/discard`.
#[utoipa::path(delete, path = "/v1/dead-letters/{dead_letter_id}", tag = "dead letters",
    params(("dead_letter_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, body = DeadLetterView),
        (status = 401, body = ErrorBody, description = "no valid operator token"),
        (status = 404, body = ErrorBody, description = "no such dead letter in this account")))]
pub async fn delete_dead_letter(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<web::Json<DeadLetterView>, ApiError> {
    discard_dead_letter(operator, state, path).await
}

/// The publish options of a replay: the original message id (what consumers deduplicate by)
/// and the application headers it carried, except the trace context, which the replay's own
/// span replaces.
fn replay_options(letter: &DeadLetter) -> broker::PublishOptions {
    let mut headers = broker::FieldTable::default();
    if let Some(kept) = letter.headers.get("headers").and_then(Value::as_object) {
        for (name, value) in kept {
            if matches!(name.as_str(), "traceparent" | "tracestate") {
                continue;
            }
            if let Some(text) = value.as_str() {
                headers.insert(
                    name.as_str().into(),
                    broker::AMQPValue::LongString(text.into()),
                );
            }
        }
    }
    let message_id = letter
        .headers
        .get("message_id")
        .and_then(Value::as_str)
        .unwrap_or(&letter.summary.event_id)
        .to_owned();
    let json = serde_json::from_slice::<serde::de::IgnoredAny>(&letter.body).is_ok();
    broker::PublishOptions {
        content_type: json.then(|| "application/json".to_owned()),
        correlation_id: letter
            .headers
            .get("correlation_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        headers,
        ..broker::PublishOptions::default()
    }
    .with_message_id(message_id)
    .mandatory()
}

/// Publishes the letter's body, confirmed, on the broker connection's runtime.
async fn publish(state: &AppState, letter: &DeadLetter) -> Result<(), ApiError> {
    let Some(link) = &state.inbound else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "broker_not_configured",
            "replaying needs the message broker: set AMQP_URL (and AMQP_INBOUND_SHARDS as the \
             executors have it) for the admin service",
        ));
    };
    let options = replay_options(letter);
    let published = link
        .publish_confirmed(
            letter.summary.exchange.clone(),
            letter.summary.routing_key.clone(),
            letter.body.clone(),
            options,
        )
        .await;
    match published {
        Ok(()) => Ok(()),
        Err(Some(err)) => {
            tracing::warn!(error = %err, "dead letter not replayed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "broker_unavailable",
                "the message broker did not take the message; the letter is unchanged, retry",
            )
            .with_retry_after(5))
        }
        Err(None) => Err(ApiError::internal()),
    }
}
