//! Access tokens: the check every Graph call makes, and the long-lived token exchange
//! (`GET /{version}/oauth/access_token?grant_type=fb_exchange_token&...`).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::error::GraphError;
use super::{apply_fault, check_version, finish, query_pairs};
use crate::state::{EmulatorState, TokenRecord, LONG_LIVED_SECONDS};

const REVOKED: &str = "Error validating access token: The session has been invalidated because \
                       the user changed their password or Facebook has changed the session for \
                       security reasons.";

/// Error 190 unless `token` was issued or registered and is neither expired nor revoked.
/// Sends answer 190 with 401, the token exchange with 400.
pub fn check(
    state: &EmulatorState,
    token: Option<&str>,
    status: StatusCode,
) -> Result<(), GraphError> {
    let Some(token) = token else {
        return Err(GraphError::token(
            status,
            "An access token is required to request this resource.",
            None,
        ));
    };
    let record = state.lock().tokens.get(token).cloned();
    match record {
        None if state.accept_any_token => Ok(()),
        None => Err(GraphError::token(
            status,
            "Invalid OAuth access token - Cannot parse access token",
            None,
        )),
        Some(TokenRecord { revoked: true, .. }) => {
            Err(GraphError::token(status, REVOKED, Some(460)))
        }
        Some(TokenRecord {
            expires_at: Some(at),
            ..
        }) if at <= Utc::now() => Err(GraphError::token(status, expired_message(at), Some(463))),
        Some(_) => Ok(()),
    }
}

/// Meta's wording, e.g. "Session has expired on Friday, 26-Apr-24 06:00:00 UTC. The current
/// time is Sunday, 28-Apr-24 03:40:10 UTC."
fn expired_message(at: DateTime<Utc>) -> String {
    const FORMAT: &str = "%A, %d-%b-%y %H:%M:%S UTC";
    format!(
        "Error validating access token: Session has expired on {}. The current time is {}.",
        at.format(FORMAT),
        Utc::now().format(FORMAT)
    )
}

/// A fresh token shaped like Meta's (`EAA` + base62).
pub fn new_token() -> String {
    let random =
        crypto::generate_token(48).unwrap_or_else(|_| uuid::Uuid::new_v4().simple().to_string());
    format!("EAAemu{random}")
}

pub async fn exchange(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<EmulatorState>,
) -> HttpResponse {
    let outcome = issue(&state, &req, &path.into_inner()).await;
    finish(&state, &req, None, &body, outcome)
}

async fn issue(
    state: &EmulatorState,
    req: &HttpRequest,
    version: &str,
) -> Result<(StatusCode, serde_json::Value), GraphError> {
    check_version(version, req.path())?;
    apply_fault(state, None).await?;
    let params: HashMap<String, String> = query_pairs(req.query_string()).into_iter().collect();
    let param = |name: &str| params.get(name).filter(|v| !v.is_empty());
    if param("grant_type").map(String::as_str) != Some("fb_exchange_token") {
        return Err(oauth_error(
            100,
            "(#100) Param grant_type must be fb_exchange_token",
        ));
    }
    let Some(client_id) = param("client_id") else {
        return Err(oauth_error(101, "Missing client_id parameter."));
    };
    if param("client_secret").is_none() {
        return Err(oauth_error(101, "Missing client_secret parameter."));
    }
    let Some(short_lived) = param("fb_exchange_token") else {
        return Err(oauth_error(
            100,
            "(#100) Missing fb_exchange_token parameter.",
        ));
    };
    check(state, Some(short_lived), StatusCode::BAD_REQUEST)?;
    let token = new_token();
    state.lock().tokens.insert(
        token.clone(),
        TokenRecord {
            kind: "long_lived".into(),
            expires_at: Some(Utc::now() + chrono::Duration::seconds(LONG_LIVED_SECONDS as i64)),
            revoked: false,
        },
    );
    tracing::info!(%client_id, "issued a long-lived token");
    Ok((
        StatusCode::OK,
        json!({"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}),
    ))
}

/// OAuth errors are plain Graph errors (no WhatsApp `error_data`), answered 400.
fn oauth_error(code: i64, message: &str) -> GraphError {
    GraphError {
        status: StatusCode::BAD_REQUEST,
        code,
        subcode: None,
        message: message.to_owned(),
        details: None,
    }
}
