//! The one place where errors become HTTP answers: always `{"error": {"code", "message"}}`
//! (plus `details` for flow validation), never a stack trace or a secret.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use store::StoreError;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code such as `not_found` or `invalid_flow`.
    pub code: String,
    /// A human explanation.
    pub message: String,
    /// For `invalid_flow`: every error found, each naming the component and the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid operator token is required in `Authorization: Bearer <token>`",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an internal error occurred; it has been logged",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database is unavailable; retry shortly",
        )
    }

    /// Maps a store error for an operation on `what` (e.g. "bot"). Constraint names become
    /// specific, human messages.
    pub fn from_store(err: StoreError, what: &str) -> Self {
        match err {
            StoreError::NotFound => Self::not_found(what),
            StoreError::Conflict { constraint } => conflict_message(&constraint),
            StoreError::Rule(rule) => rule_message(rule),
            StoreError::Concurrent => Self::conflict(
                "concurrent_change",
                format!("the {what} was changed concurrently; retry"),
            ),
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                Self::unavailable()
            }
            other => {
                tracing::error!(error = %other, "store error");
                Self::internal()
            }
        }
    }
}

fn conflict_message(constraint: &str) -> ApiError {
    match constraint {
        "bots_account_name_unique" => {
            ApiError::conflict("name_taken", "a bot with this name already exists")
        }
        "whatsapp_verify_token_unique" => ApiError::conflict(
            "verify_token_taken",
            "this verify token is already used by another WhatsApp integration; choose another",
        ),
        "whatsapp_one_active_per_phone_number" => ApiError::conflict(
            "phone_number_in_use",
            "another active WhatsApp integration already serves this phone number id; \
             deactivate it first",
        ),
        "integrations_bot_id_fkey" => ApiError::conflict(
            "bot_in_use",
            "the bot is connected to an integration; disconnect it first",
        ),
        other => {
            tracing::warn!(constraint = other, "unmapped constraint violation");
            ApiError::conflict("conflict", "the change conflicts with existing data")
        }
    }
}

fn rule_message(rule: &'static str) -> ApiError {
    match rule {
        "bot_not_found" => ApiError::unprocessable("unknown_bot", "bot_id names no bot of yours"),
        "bot_not_published" => ApiError::unprocessable(
            "bot_not_published",
            "the bot must be published before it can be connected",
        ),
        "active_integration_needs_bot" => ApiError::unprocessable(
            "bot_required",
            "an active integration needs a connected bot",
        ),
        other => ApiError::unprocessable("rule_violated", other.replace('_', " ")),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
                details: self.details.clone(),
            },
        })
    }
}

/// Body, path and query extractor failures, as JSON: malformed JSON is 400, JSON of the wrong
/// shape 422, a body over the limit 413, a wrong content type 415, a bad path id 404.
pub mod extractors {
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
    use actix_web::HttpRequest;

    use super::ApiError;
    use actix_web::http::StatusCode;

    pub fn json(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
        let api = match &err {
            JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body has {length} bytes; the limit is {limit}"),
            ),
            JsonPayloadError::Overflow { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body exceeds the limit of {limit} bytes"),
            ),
            JsonPayloadError::ContentType => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ),
            JsonPayloadError::Deserialize(inner) if inner.is_data() => {
                ApiError::unprocessable("invalid_body", inner.to_string())
            }
            JsonPayloadError::Deserialize(inner) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            ),
            other => ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("could not read the body: {other}"),
            ),
        };
        api.into()
    }

    pub fn path(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
        ApiError::not_found("resource").into()
    }

    pub fn query(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
        ApiError::unprocessable("invalid_query", err.to_string()).into()
    }
}
