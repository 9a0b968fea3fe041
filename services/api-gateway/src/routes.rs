//! The manual's two endpoints. A request is authenticated, admitted (rate limit, body,
//! Idempotency-Key), published to `bot.inbound` under its conversation key, and answered with
//! the executor's reply, or 504 past the deadline.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use broker::topology::INBOUND_EXCHANGE;
use broker::{PublishOptions, Publisher};
use contracts::v1::{
    Channel, ConversationKey, ErrorBody, IdempotencyRef, InboundEvent, Input, ReplyTo,
    SchemaVersion, SessionResponse,
};
use contracts::IntegrationId;
use crypto::DigestKey;
use serde_json::Value;
use service_kit::edge;
use service_kit::http_error::ApiError;
use store::idempotency::{Claim, KeyRef};
use store::Store;

use crate::rate_limit::RateLimiter;
use crate::replies::PendingReplies;
use crate::requests::{checked_session_id, BodyLimits, MessageInput, SendMessage, StartSession};

pub struct GatewayState {
    pub store: Store,
    pub digest_key: DigestKey,
    pub publisher: Publisher,
    pub pending: PendingReplies,
    pub reply_queue: String,
    pub limiter: RateLimiter,
    pub access: crate::access_cache::AccessCache,
    /// `last_activity_at` of integrations whose requests were admitted, at most once a second.
    pub activity: store::activity::ActivityThrottle,
    pub reply_deadline: Duration,
    pub max_body_bytes: usize,
    pub body_limits: BodyLimits,
}

const SESSION_START: &str = "session_start";
const MESSAGE: &str = "message";
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Start a session.
#[utoipa::path(post, path = "/api/integrations/api/{integration_id}/session/", tag = "api",
    params(("integration_id" = i64, Path),
           ("X-API-Key" = Option<String>, Header, description = "The integration's API key (wins over Authorization)"),
           ("Authorization" = Option<String>, Header, description = "`Bearer <API key>`"),
           ("Idempotency-Key" = Option<String>, Header, description = "At most 255 characters")),
    request_body = StartSession,
    responses(
        (status = 200, body = SessionResponse),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "session_exists, idempotency_key_reused or idempotency_key_in_use", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "With Retry-After", body = ErrorBody),
        (status = 500, description = "bot_execution_error", body = ErrorBody),
        (status = 504, description = "No answer within the deadline; retry with the same Idempotency-Key", body = ErrorBody)))]
pub async fn start_session(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<GatewayState>,
) -> Result<HttpResponse, ApiError> {
    let integration = admit(&state, &req, &path).await?;
    let idempotency_key = idempotency_key(&req)?;
    let body = edge::read_body(&mut payload.into_inner(), state.max_body_bytes).await?;
    let (start, canonical) = StartSession::parse(&body, &state.body_limits)?;
    let variables = start.variables_as_text()?;
    if !variables.is_empty() && !integration.variable_injection {
        return Err(ApiError::unprocessable(
            "variable_injection_disabled",
            "this integration does not accept `variables`; enable variable injection in its \
             settings",
        ));
    }
    let session_id = start
        .session_id
        .clone()
        .unwrap_or_else(|| format!("session-{}", uuid::Uuid::new_v4().simple()));
    let input = Input::Start {
        force_restart: start.force_restart,
        variables,
        message_payload: start.message_payload.clone(),
    };
    let request = Request {
        integration: integration.id,
        user_identifier: start.user_identifier.unwrap_or_else(|| session_id.clone()),
        session_id,
        input,
        endpoint: SESSION_START,
        fingerprint: fingerprint(SESSION_START, &format!("{}", integration.id), &canonical),
        idempotency_key,
    };
    dispatch(&state, request).await
}

/// Send a message or select an option.
#[utoipa::path(post, path = "/api/integrations/api/{integration_id}/session/{session_id}/message/",
    tag = "api",
    params(("integration_id" = i64, Path), ("session_id" = String, Path),
           ("X-API-Key" = Option<String>, Header), ("Authorization" = Option<String>, Header),
           ("Idempotency-Key" = Option<String>, Header)),
    request_body = SendMessage,
    responses(
        (status = 200, body = SessionResponse),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown or inactive integration, unknown or finished session", body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, description = "Malformed body, both or neither input, or an option the current component does not offer (details.valid_option_ids)", body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 500, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn send_message(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<GatewayState>,
) -> Result<HttpResponse, ApiError> {
    let (raw_integration, session_id) = path.into_inner();
    let integration = admit(&state, &req, &raw_integration).await?;
    let idempotency_key = idempotency_key(&req)?;
    if checked_session_id(&session_id).is_err() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "session_not_found",
            "session not found or already finished",
        ));
    }
    let body = edge::read_body(&mut payload.into_inner(), state.max_body_bytes).await?;
    let (message, canonical) = SendMessage::parse(&body, &state.body_limits)?;
    let input = match message {
        MessageInput::Text(text) => Input::Text { text },
        MessageInput::Option(option_id) => Input::SelectedOption { option_id },
    };
    let request = Request {
        integration: integration.id,
        fingerprint: fingerprint(
            MESSAGE,
            &format!("{}/{session_id}", integration.id),
            &canonical,
        ),
        user_identifier: session_id.clone(),
        session_id,
        input,
        endpoint: MESSAGE,
        idempotency_key,
    };
    dispatch(&state, request).await
}

struct Admitted {
    id: IntegrationId,
    variable_injection: bool,
}

/// Authentication and admission, in the manual's order: a missing key is 401; an unknown or
/// inactive integration 404; a wrong key (another integration's included) 401; past the rate
/// limit 429.
async fn admit(state: &GatewayState, req: &HttpRequest, raw: &str) -> Result<Admitted, ApiError> {
    let key = api_key(req).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the integration's API key in `X-API-Key` (or `Authorization: Bearer`)",
        )
    })?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "integration_not_found",
            "integration not found or inactive",
        )
    };
    let id: IntegrationId = raw.parse().map_err(|_| not_found())?;
    let access = state
        .access
        .active(&state.store, id)
        .await
        .map_err(|err| {
            tracing::warn!(error = %err, "integration lookup failed");
            ApiError::unavailable().with_retry_after(1)
        })?
        .ok_or_else(not_found)?;
    if !state.digest_key.verify(key, &access.key_digest) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "invalid API key",
        ));
    }
    let per_minute = u32::try_from(access.rate_limit_per_minute).unwrap_or(1);
    if let Err(refused) = state.limiter.admit(id, per_minute).await {
        let wait = match refused {
            crate::rate_limit::Refused::Limited(wait) => wait,
            crate::rate_limit::Refused::Unavailable(err) => {
                tracing::warn!(error = %err, "rate limit bucket unreachable");
                return Err(ApiError::unavailable().with_retry_after(1));
            }
        };
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "this integration allows {per_minute} requests per minute; retry in {seconds} s"
            ),
        )
        .with_retry_after(seconds.max(1)));
    }
    // In the background: the request does not wait on an informational write.
    state.activity.touch_in_background(&state.store, id);
    Ok(Admitted {
        id,
        variable_injection: access.variable_injection,
    })
}

/// `X-API-Key` wins over `Authorization: Bearer` when both are present.
fn api_key(req: &HttpRequest) -> Option<&str> {
    let headers = req.headers();
    if let Some(value) = headers.get("x-api-key") {
        return value.to_str().ok().map(str::trim).filter(|k| !k.is_empty());
    }
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    // The documented pattern: printable ASCII (spaces inside). `to_str` also lets a tab
    // through, which schemathesis found accepted (a 200 for a key the contract refuses).
    let key = value
        .to_str()
        .ok()
        .filter(|key| key.bytes().all(|b| (0x20..=0x7e).contains(&b)))
        .ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_idempotency_key",
                "Idempotency-Key must be visible ASCII",
            )
        })?;
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(ApiError::unprocessable(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 characters",
        ));
    }
    Ok(Some(key.to_owned()))
}

/// The request's identity for Idempotency-Key: endpoint, path and canonical JSON body (keys
/// sorted, so formatting does not matter; a trailing slash does not either).
fn fingerprint(endpoint: &str, path: &str, canonical: &Value) -> String {
    crypto::sha256_hex(format!("{endpoint}\n{path}\n{canonical}").as_bytes())
}

struct Request {
    integration: IntegrationId,
    session_id: String,
    user_identifier: String,
    input: Input,
    endpoint: &'static str,
    fingerprint: String,
    idempotency_key: Option<String>,
}

async fn dispatch(state: &GatewayState, request: Request) -> Result<HttpResponse, ApiError> {
    let fresh_id = uuid::Uuid::new_v4().to_string();
    let (event_id, idempotency) = match &request.idempotency_key {
        None => (fresh_id, None),
        Some(key) => {
            let claim = state
                .store
                .claim_idempotency_key(
                    KeyRef {
                        integration: request.integration,
                        endpoint: request.endpoint,
                        key,
                    },
                    request.fingerprint.as_bytes(),
                    &fresh_id,
                    state.reply_deadline + Duration::from_secs(60),
                )
                .await
                .map_err(|err| {
                    tracing::warn!(error = %err, "idempotency claim failed");
                    ApiError::unavailable().with_retry_after(1)
                })?;
            match claim {
                Claim::Claimed { event_id } => (
                    event_id,
                    Some(IdempotencyRef {
                        key: key.clone(),
                        request_hash: request.fingerprint.clone(),
                    }),
                ),
                Claim::Replay { status, body } => return Ok(replay(status, body)),
                Claim::InProgress => {
                    return Err(ApiError::conflict(
                        "idempotency_key_in_use",
                        "a request with this Idempotency-Key is still running; retry later",
                    ))
                }
                Claim::Mismatch => {
                    return Err(ApiError::conflict(
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with a different request",
                    ))
                }
            }
        }
    };
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let mut wait = state.pending.register(&correlation_id);
    let deadline = SystemTime::now() + state.reply_deadline;
    let conversation_key = ConversationKey::api(request.integration, &request.session_id);
    let event = InboundEvent {
        schema: SchemaVersion::V1,
        event_id: event_id.clone(),
        integration_id: request.integration,
        channel: Channel::Api,
        conversation_key: conversation_key.clone(),
        session_id: request.session_id,
        user_identifier: request.user_identifier,
        received_at_unix_ms: unix_ms(SystemTime::now()),
        input: request.input,
        reply: Some(ReplyTo {
            queue: state.reply_queue.clone(),
            correlation_id,
            deadline_unix_ms: unix_ms(deadline),
        }),
        idempotency,
        whatsapp: None,
    };
    let published = publish(
        &state.publisher,
        &event,
        conversation_key.as_str(),
        state.reply_deadline,
    )
    .await;
    if let Err(err) = published {
        tracing::warn!(error = %err, "publishing a request failed");
        if let Some(key) = &request.idempotency_key {
            let _ = state
                .store
                .release_idempotency_key(KeyRef {
                    integration: request.integration,
                    endpoint: request.endpoint,
                    key,
                })
                .await;
        }
        return Err(ApiError::unavailable().with_retry_after(1));
    }
    let remaining = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    match tokio::time::timeout(remaining, wait.recv()).await {
        Ok(Some(reply)) => {
            let status =
                StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Ok(HttpResponse::build(status).json(reply.body))
        }
        _ => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "the bot did not answer within {} ms; retry with the same Idempotency-Key to get \
                 its answer",
                state.reply_deadline.as_millis()
            ),
        )),
    }
}

async fn publish(
    publisher: &Publisher,
    event: &InboundEvent,
    routing_key: &str,
    within: Duration,
) -> Result<(), broker::BrokerError> {
    let body =
        contracts::v1::encode(event).map_err(|e| broker::BrokerError::Config(e.to_string()))?;
    let options = PublishOptions::json(event.event_id.clone());
    publisher
        .publish_with_retry(INBOUND_EXCHANGE, routing_key, &body, options, within)
        .await
        .map(|_| ())
}

/// A stored answer, again, with `"idempotency_replayed": true`.
fn replay(status: u16, mut body: Value) -> HttpResponse {
    if let Value::Object(map) = &mut body {
        map.insert("idempotency_replayed".into(), Value::Bool(true));
    }
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK)).json(body)
}

fn unix_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
