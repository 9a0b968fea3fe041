//! The webhook endpoint of one integration: `GET` answers Meta's verification, `POST` takes
//! notifications.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use broker::{Broker, Publisher};
use contracts::IntegrationId;
use crypto::{DigestKey, SignatureError};
use serde::Deserialize;
use serde_json::json;
use store::whatsapp::{NewReceipt, ReceiptKind};
use store::Store;
use tokio::runtime::Handle;

use crate::error::{self as http, ApiError};
use crate::integrations::{IntegrationCache, LookupError, WhatsappIntegration};
use crate::payload::{Envelope, EnvelopeError};
use crate::process;
use crate::publish;
use crate::throttle::RefusalCounter;
use crate::window;
use store::activity::ActivityThrottle;

/// Meta: "Webhook payloads can be up to 3 MB". One byte more is refused with 413.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// Meta's challenge is a short number; anything longer is not Meta.
const MAX_CHALLENGE_LEN: usize = 1024;
const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

pub struct AppState {
    pub store: Store,
    pub cache: IntegrationCache,
    pub digest_key: DigestKey,
    pub broker: Broker,
    pub publisher: Publisher,
    /// The runtime the broker connection lives on; publishing runs there.
    pub runtime: Handle,
    pub publish_timeout: Duration,
    pub refusals: RefusalCounter,
    pub activity: ActivityThrottle,
    /// Bad signatures per integration in a sliding window: a burst raises a `bad_signatures`
    /// alert (throttled across replicas by the alerter).
    pub bursts: alerts::BurstDetector,
    pub alerter: alerts::Alerter,
}

#[derive(Deserialize)]
struct VerifyQuery {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// `GET /webhooks/whatsapp/{integration_id}`: 200 with the raw challenge as `text/plain` when
/// `hub.mode` is `subscribe` and `hub.verify_token` is exactly the integration's verify token;
/// 403 otherwise, also for an unknown integration (no hint which ids exist).
pub async fn verify(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = web::Query::<VerifyQuery>::from_query(req.query_string())
        .map_err(|_| http::verification_failed())?
        .into_inner();
    let (Some("subscribe"), Some(token), Some(challenge)) = (
        query.mode.as_deref(),
        query.verify_token.as_deref(),
        query.challenge,
    ) else {
        return Err(http::verification_failed());
    };
    if challenge.len() > MAX_CHALLENGE_LEN {
        return Err(http::verification_failed());
    }
    let integration = lookup(&state, &path).await?;
    match integration {
        Some(integration) if integration.verify_token_matches(&state.digest_key, token) => {
            tracing::info!(integration = %integration.id, "webhook verified");
            Ok(HttpResponse::Ok()
                .content_type(ContentType::plaintext())
                .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .body(challenge))
        }
        _ => Err(http::verification_failed()),
    }
}

/// `POST /webhooks/whatsapp/{integration_id}`: size limit, then the signature over the raw
/// bytes, then parsing; 200 only once every event is confirmed by the broker and every status
/// and receipt is stored.
pub async fn receive(
    req: HttpRequest,
    path: web::Path<String>,
    body: Result<web::Bytes, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = body.map_err(body_error)?;
    let integration = lookup(&state, &path).await?;
    let header = req
        .headers()
        .get(SIGNATURE_HEADER)
        // A header that is not text is present but wrong.
        .map(|value| value.to_str().unwrap_or_default());
    let Some(integration) = integration else {
        return Err(match header {
            None => http::signature_missing(),
            Some(_) => http::signature_invalid(),
        });
    };
    if let Err(refused) = crypto::verify_meta_signature(integration.app_secret(), &body, header) {
        note_refusal(&state, integration.id, refused).await;
        return Err(match refused {
            SignatureError::Missing => http::signature_missing(),
            _ => http::signature_invalid(),
        });
    }
    let envelope = Envelope::parse(&body).map_err(|error| {
        tracing::warn!(integration = %integration.id, %error, "signed webhook refused");
        match error {
            EnvelopeError::NotJson(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", error.to_string())
            }
            EnvelopeError::Invalid(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_payload",
                error.to_string(),
            ),
        }
    })?;
    accept(&state, &integration, envelope).await
}

async fn accept(
    state: &AppState,
    integration: &Arc<WhatsappIntegration>,
    envelope: Envelope,
) -> Result<HttpResponse, ApiError> {
    let received_at = chrono::Utc::now().timestamp_millis();
    if envelope.repaired > 0 {
        tracing::warn!(integration = %integration.id, repaired = envelope.repaired,
            "signed webhook carried text we cannot store; repaired (U+FFFD, NUL removed)");
    }
    let plan = process::plan(envelope, integration, &state.cache, received_at)
        .await
        .map_err(lookup_failed)?;
    let process::Plan {
        events: planned,
        statuses: updates,
        receipts: recorded,
        active,
        window_failures,
    } = plan;
    let (events, statuses, receipts) = (planned.len(), updates.len(), recorded.len());
    let store_work = async {
        state.store.apply_message_statuses(&updates).await?;
        state.store.record_webhook_receipts(&recorded).await
    };
    let publishing = publish::publish_all(
        &state.publisher,
        &state.runtime,
        planned,
        state.publish_timeout,
    );
    let (stored, published) = tokio::join!(store_work, publishing);
    if let Err(error) = published {
        tracing::error!(integration = %integration.id, %error, events, "events not confirmed; answering 503");
        return Err(http::unavailable("the message broker"));
    }
    if let Err(error) = stored {
        tracing::error!(integration = %integration.id, %error, "statuses or receipts not stored; answering 503");
        return Err(http::unavailable("the database"));
    }
    request_window_fallbacks(state, integration.id, &window_failures).await?;
    for id in &active {
        state.activity.touch(&state.store, *id).await;
    }
    tracing::info!(integration = %integration.id, events, statuses, receipts, "webhook accepted");
    Ok(HttpResponse::Ok().json(json!({
        "events": events,
        "statuses": statuses,
        "recorded": receipts,
    })))
}

/// Asks the sender for the template fallback of batches whose messages Meta reported failed
/// with 131047 (see `window.rs`); 503 when that cannot be done now (Meta delivers the webhook
/// again, and asking again is harmless).
async fn request_window_fallbacks(
    state: &AppState,
    integration: IntegrationId,
    failures: &[window::LateWindowFailure],
) -> Result<(), ApiError> {
    let mut requests = Vec::new();
    for failure in failures {
        match window::request_for(&state.store, failure).await {
            Ok(Some(request)) => requests.push(request),
            Ok(None) => {
                tracing::info!(wamid = %failure.wamid, "131047 for a message the platform did not send; recorded only")
            }
            Err(error) => {
                tracing::error!(%integration, %error, "window failure not resolved; answering 503");
                return Err(http::unavailable("the database"));
            }
        }
    }
    window::publish_requests(
        &state.publisher,
        &state.runtime,
        requests,
        state.publish_timeout,
    )
    .await
    .map_err(|error| {
        tracing::error!(%integration, %error, "template fallback not requested; answering 503");
        http::unavailable("the message broker")
    })
}

/// The integration named in the path; `None` for a malformed id, an unknown id or an API
/// integration.
async fn lookup(
    state: &AppState,
    raw_id: &str,
) -> Result<Option<Arc<WhatsappIntegration>>, ApiError> {
    let Ok(id) = raw_id.parse::<IntegrationId>() else {
        return Ok(None);
    };
    state.cache.get(id).await.map_err(lookup_failed)
}

fn lookup_failed(error: LookupError) -> ApiError {
    match error {
        LookupError::Store(error) => {
            tracing::error!(%error, "integration lookup failed");
            http::unavailable("the database")
        }
        LookupError::Secret { .. } => {
            tracing::error!(%error, "integration secret unusable");
            ApiError::internal()
        }
    }
}

/// Records refused signatures, throttled (see `RefusalCounter`), and raises an alert on a
/// burst of them; never fails the answer.
async fn note_refusal(state: &AppState, integration: IntegrationId, refused: SignatureError) {
    tracing::warn!(%integration, reason = %refused, "webhook signature refused");
    if let Some(count) = state.bursts.record(integration) {
        state
            .alerter
            .raise(alerts::Alert::bad_signatures(
                integration,
                count,
                state.bursts.window(),
            ))
            .await;
    }
    let Some(count) = state.refusals.note(integration) else {
        return;
    };
    let receipt = NewReceipt {
        integration_id: integration,
        kind: ReceiptKind::BadSignature,
        detail: json!({"reason": format!("{refused:?}").to_lowercase(), "count": count}),
    };
    if let Err(error) = state.store.record_webhook_receipts(&[receipt]).await {
        tracing::warn!(%integration, %error, "bad-signature receipt not recorded");
    }
}

/// The body extractor's failure: 413 past the limit (known length or counted), else 400.
fn body_error(error: actix_web::Error) -> ApiError {
    if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("webhook bodies are limited to {MAX_BODY_BYTES} bytes"),
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the body could not be read: {error}"),
        )
    }
}
