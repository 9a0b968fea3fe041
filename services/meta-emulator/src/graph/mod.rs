//! The Graph API routes: `POST /{version}/{phone_number_id}/messages` and
//! `GET /{version}/oauth/access_token`, every request recorded with its answer.

pub mod error;
mod tokens;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::api::{FaultSpec, OutboundMessage, RecordedRequest};
use crate::state::EmulatorState;
use crate::webhook::payload::new_wamid;
use crate::webhook::statuses::{self, StatusJob};
use error::GraphError;
use validate::SendRequest;

pub use tokens::new_token;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/{version}/oauth/access_token",
        web::get().to(tokens::exchange),
    )
    .route(
        "/{version}/{phone_number_id}/messages",
        web::post().to(messages),
    );
}

type Outcome = Result<(StatusCode, Value), GraphError>;

/// Meta's answer to a path it does not serve.
pub async fn unknown_path(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<EmulatorState>,
) -> HttpResponse {
    let error = GraphError::code(100)
        .with_message(format!(
            "Unsupported {} request. Object with ID '{}' does not exist, cannot be loaded due \
             to missing permissions, or does not support this operation.",
            req.method().as_str().to_lowercase(),
            req.path().trim_start_matches('/')
        ))
        .with_subcode(Some(33));
    let error = GraphError {
        details: None,
        ..error
    };
    finish(&state, &req, None, &body, Err(error))
}

async fn messages(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<EmulatorState>,
) -> HttpResponse {
    let (version, phone_number_id) = path.into_inner();
    let outcome = send(
        state.clone().into_inner(),
        &req,
        &version,
        &phone_number_id,
        &body,
    )
    .await;
    finish(&state, &req, Some(phone_number_id), &body, outcome)
}

async fn send(
    state: Arc<EmulatorState>,
    req: &HttpRequest,
    version: &str,
    phone_number_id: &str,
    body: &[u8],
) -> Outcome {
    check_version(version, req.path())?;
    tokens::check(
        &state,
        bearer_token(req).as_deref(),
        StatusCode::UNAUTHORIZED,
    )?;
    apply_fault(&state, Some(phone_number_id)).await?;
    let parsed: Value = serde_json::from_slice(body)
        .map_err(|_| GraphError::invalid_parameter("The request body is not valid JSON."))?;
    let message = match validate::validate(&parsed)? {
        SendRequest::MarkRead { .. } => return Ok((StatusCode::OK, json!({"success": true}))),
        SendRequest::Message(message) => message,
    };
    let now = chrono::Utc::now();
    let (settings, window_closed) = {
        let mut data = state.lock();
        let settings = data.effective(phone_number_id);
        if !data.admit_send(phone_number_id, settings.max_messages_per_second) {
            return Err(GraphError::code(130429).with_subcode(Some(2494055)));
        }
        let closed = settings.enforce_window
            && !message.is_template()
            && !data.window_open(phone_number_id, &message.user, now.timestamp());
        (settings, closed)
    };
    if window_closed && !settings.window_failure_async {
        return Err(GraphError::code(131047));
    }
    let wamid = new_wamid(&message.user);
    state.lock().push_outbound(OutboundMessage {
        seq: 0,
        wamid: wamid.clone(),
        phone_number_id: phone_number_id.to_owned(),
        user: message.user.clone(),
        message_type: message.message_type.clone(),
        message: parsed.clone(),
        status: "accepted".into(),
        time: now.to_rfc3339(),
    });
    statuses::spawn(
        state.clone(),
        StatusJob {
            phone_number_id: phone_number_id.to_owned(),
            user: message.user.clone(),
            wamid: wamid.clone(),
            is_template: message.is_template(),
            biz_opaque_callback_data: message.biz_opaque_callback_data.clone(),
            window_closed,
        },
    );
    let contact = if message.by_recipient {
        json!({"input": message.input, "user_id": message.user})
    } else {
        json!({"input": message.input, "wa_id": message.user})
    };
    let mut sent = json!({"id": wamid});
    if message.is_template() {
        sent["message_status"] = json!("accepted");
    }
    Ok((
        StatusCode::OK,
        json!({"messaging_product": "whatsapp", "contacts": [contact], "messages": [sent]}),
    ))
}

/// Graph versions look like `v21.0`.
fn check_version(version: &str, path: &str) -> Result<(), GraphError> {
    let valid = version.strip_prefix('v').is_some_and(|rest| {
        let mut parts = rest.split('.');
        let numeric = |p: Option<&str>| {
            p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        numeric(parts.next()) && numeric(parts.next()) && parts.next().is_none()
    });
    if valid {
        return Ok(());
    }
    Err(GraphError {
        status: StatusCode::BAD_REQUEST,
        code: 2500,
        subcode: None,
        message: format!("Unknown path components: {path}"),
        details: None,
    })
}

/// Takes the fault for this call, if any, waits its latency and returns its error.
async fn apply_fault(
    state: &EmulatorState,
    phone_number_id: Option<&str>,
) -> Result<(), GraphError> {
    let fault = state.lock().take_fault(phone_number_id);
    let Some(fault) = fault else { return Ok(()) };
    if let Some(ms) = fault.latency_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    match fault_error(&fault) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The error a fault answers with: its code (or the one its status stands for) from the
/// catalogue, with the fault's overrides.
pub fn fault_error(fault: &FaultSpec) -> Option<GraphError> {
    let code = match (fault.code, fault.status) {
        (Some(code), _) => code,
        (None, Some(status)) => error::code_for_status(status),
        (None, None) => return None,
    };
    let mut error = GraphError::code(code).with_subcode(fault.subcode);
    if let Some(status) = fault.status.and_then(|s| StatusCode::from_u16(s).ok()) {
        error = error.with_status(status);
    }
    if let Some(message) = &fault.message {
        error = error.with_message(message.clone());
    }
    if let Some(details) = &fault.details {
        error = error.with_details(details.clone());
    }
    Some(error)
}

/// The bearer token from `Authorization`, or Graph's `access_token` query parameter.
fn bearer_token(req: &HttpRequest) -> Option<String> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if let Some(value) = header {
        let mut parts = value.trim().splitn(2, ' ');
        let scheme = parts.next().unwrap_or_default();
        let token = parts.next().unwrap_or_default().trim();
        return (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
            .then(|| token.to_owned());
    }
    query_pairs(req.query_string())
        .into_iter()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v)
}

pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .map(web::Query::into_inner)
        .unwrap_or_default()
}

const SECRET_PARAMS: [&str; 3] = ["client_secret", "fb_exchange_token", "access_token"];

/// Records the request and answers it.
fn finish(
    state: &EmulatorState,
    req: &HttpRequest,
    phone_number_id: Option<String>,
    body: &[u8],
    outcome: Outcome,
) -> HttpResponse {
    let (status, response, http) = match outcome {
        Ok((status, value)) => {
            let http = HttpResponse::build(status).json(&value);
            (status, value, http)
        }
        Err(error) => {
            let value = error.to_json();
            let http = error::respond(&error, &value);
            (error.status, value, http)
        }
    };
    // The token exchange's answer is a secret: the record keeps its fingerprint.
    let mut response = response;
    if let Some(token) = response.get_mut("access_token") {
        if let Some(value) = token.as_str() {
            *token = Value::String(crate::token_fingerprint(value));
        }
    }
    let mut query = Map::new();
    for (key, value) in query_pairs(req.query_string()) {
        let shown = if SECRET_PARAMS.contains(&key.as_str()) {
            crate::token_fingerprint(&value)
        } else {
            value
        };
        query.insert(key, Value::String(shown));
    }
    let mut headers = Map::new();
    for (name, value) in req.headers() {
        if name.as_str() == "authorization" {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let (json_body, body_text) = match serde_json::from_slice::<Value>(body) {
        Ok(value) => (value, None),
        Err(_) if body.is_empty() => (Value::Null, None),
        Err(_) => (
            Value::Null,
            Some(String::from_utf8_lossy(body).into_owned()),
        ),
    };
    let recorded = RecordedRequest {
        seq: 0,
        time: chrono::Utc::now().to_rfc3339(),
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query,
        headers,
        token_fingerprint: bearer_token(req).map(|t| crate::token_fingerprint(&t)),
        phone_number_id,
        body: json_body,
        body_text,
        status: status.as_u16(),
        response,
    };
    let max = state.max_recorded;
    state.lock().record(recorded, max);
    http
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_checked() {
        assert!(check_version("v21.0", "/").is_ok());
        assert!(check_version("v3.10", "/").is_ok());
        for bad in ["21.0", "v21", "v21.", "vx.0", "v21.0.1", "latest"] {
            assert_eq!(check_version(bad, "/").unwrap_err().code, 2500, "{bad}");
        }
    }

    #[test]
    fn faults_map_to_errors() {
        let only_latency = FaultSpec {
            latency_ms: Some(5),
            ..FaultSpec::default()
        };
        assert!(fault_error(&only_latency).is_none());
        let by_status = FaultSpec {
            status: Some(503),
            ..FaultSpec::default()
        };
        let error = fault_error(&by_status).unwrap();
        assert_eq!((error.status.as_u16(), error.code), (503, 2));
        let by_code = FaultSpec::error("1", 131056, 1);
        let error = fault_error(&by_code).unwrap();
        assert_eq!((error.status.as_u16(), error.code), (400, 131056));
    }
}
