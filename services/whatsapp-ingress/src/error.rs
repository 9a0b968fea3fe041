//! The ingress's HTTP errors, in the platform's one error shape
//! (`service_kit::http_error::ApiError`: `{"error": {"code", "message"}}`). Meta only looks at
//! the status; the body is for people testing the endpoint by hand.

use actix_web::http::StatusCode;
pub use service_kit::http_error::ApiError;

/// No `X-Hub-Signature-256` header.
pub fn signature_missing() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "signature_missing",
        "the X-Hub-Signature-256 header is required",
    )
}

/// A signature that does not verify, or a URL no integration answers to (the two are
/// indistinguishable on purpose).
pub fn signature_invalid() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "signature_invalid",
        "the X-Hub-Signature-256 signature does not match the body",
    )
}

pub fn verification_failed() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "verification_failed",
        "hub.mode must be `subscribe` and hub.verify_token must match the integration's verify token",
    )
}

/// The broker or the database could not take the webhook now; Meta retries non-200.
pub fn unavailable(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        format!("{what} is unavailable; the webhook was not accepted, retry later"),
    )
}
