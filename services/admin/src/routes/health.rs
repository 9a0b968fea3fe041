//! Liveness (`/health`: the process answers) and readiness (`/ready`: the database answers).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200), (status = 503)))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(err) => {
            tracing::warn!(error = %err, "not ready");
            HttpResponse::ServiceUnavailable().json(json!({
                "error": {"code": "unavailable", "message": "the database is unavailable"}
            }))
        }
    }
}
