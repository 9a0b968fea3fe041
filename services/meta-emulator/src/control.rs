//! The control API under `/_emulator`: faults, recorded requests, webhook delivery, settings,
//! conversations, tokens and 24-hour windows. Errors use the platform's shape
//! `{"error":{"code","message"}}`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::api::{
    ConfigUpdate, ConfigView, DeliverReport, DeliverRequest, FaultSpec, TokenInfo, TokenRef,
    TokenRequest, WindowUpdate,
};
use crate::graph::validate::normalize_user;
use crate::state::{self, EmulatorState, TokenRecord, LONG_LIVED_SECONDS, SHORT_LIVED_SECONDS};
use crate::webhook::{self, deliver};

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ControlError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ControlError {
    fn invalid(message: impl Into<String>) -> Self {
        ControlError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_request",
            message: message.into(),
        }
    }

    fn not_found(what: &str) -> Self {
        ControlError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("{what} not found"),
        }
    }
}

impl ResponseError for ControlError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status)
            .json(json!({"error": {"code": self.code, "message": self.message}}))
    }
}

type Answer = Result<HttpResponse, ControlError>;
type State = web::Data<EmulatorState>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_emulator")
            .app_data(
                web::JsonConfig::default()
                    .limit(8 << 20)
                    .error_handler(|err, _| {
                        ControlError::invalid(format!("bad JSON body: {err}")).into()
                    }),
            )
            .app_data(
                web::QueryConfig::default().error_handler(|err, _| {
                    ControlError::invalid(format!("bad query: {err}")).into()
                }),
            )
            .route("/faults", web::post().to(add_fault))
            .route("/faults", web::get().to(list_faults))
            .route("/faults", web::delete().to(clear_faults))
            .route("/requests", web::get().to(list_requests))
            .route("/requests", web::delete().to(clear_requests))
            .route("/webhooks/deliver", web::post().to(deliver_webhooks))
            .route("/config", web::post().to(update_config))
            .route("/config", web::get().to(show_config))
            .route(
                "/conversations/{phone_number_id}/{user}",
                web::get().to(conversation),
            )
            .route("/conversations", web::delete().to(clear_conversations))
            .route("/tokens", web::post().to(add_token))
            .route("/tokens", web::get().to(list_tokens))
            .route("/tokens/expire", web::post().to(expire_token))
            .route("/tokens/revoke", web::post().to(revoke_token))
            .route("/windows", web::post().to(set_window))
            .route("/reset", web::post().to(reset)),
    );
}

async fn add_fault(state: State, spec: web::Json<FaultSpec>) -> Answer {
    let spec = spec.into_inner();
    if spec.count == Some(0) {
        return Err(ControlError::invalid("count must be at least 1"));
    }
    if let Some(status) = spec.status {
        if !(100..=599).contains(&status) {
            return Err(ControlError::invalid(
                "status must be an HTTP status (100-599)",
            ));
        }
    }
    let id = state.lock().add_fault(spec);
    Ok(HttpResponse::Created().json(json!({"id": id})))
}

async fn list_faults(state: State) -> Answer {
    Ok(HttpResponse::Ok().json(state.lock().fault_infos()))
}

#[derive(Deserialize)]
struct NumberFilter {
    phone_number_id: Option<String>,
}

async fn clear_faults(state: State, filter: web::Query<NumberFilter>) -> Answer {
    let mut data = state.lock();
    let before = data.faults.len();
    match &filter.phone_number_id {
        Some(pnid) => data
            .faults
            .retain(|f| f.spec.phone_number_id.as_deref() != Some(pnid.as_str())),
        None => data.faults.clear(),
    }
    Ok(HttpResponse::Ok().json(json!({"deleted": before - data.faults.len()})))
}

#[derive(Deserialize)]
struct RequestFilter {
    phone_number_id: Option<String>,
    since: Option<u64>,
}

async fn list_requests(state: State, filter: web::Query<RequestFilter>) -> Answer {
    let since = filter.since.unwrap_or(0);
    let data = state.lock();
    let requests: Vec<_> = data
        .requests
        .iter()
        .filter(|r| r.seq > since)
        .filter(|r| filter.phone_number_id.is_none() || r.phone_number_id == filter.phone_number_id)
        .cloned()
        .collect();
    Ok(HttpResponse::Ok().json(requests))
}

async fn clear_requests(state: State) -> Answer {
    state.lock().requests.clear();
    Ok(HttpResponse::NoContent().finish())
}

async fn deliver_webhooks(state: State, request: web::Json<DeliverRequest>) -> Answer {
    let (target, bodies, plan) =
        webhook::prepare(&state, &request).map_err(|err| ControlError::invalid(err.to_string()))?;
    let http = state.http.clone();
    // On the emulator's own runtime, like status webhooks, not on this worker's.
    let deliveries = state
        .runtime
        .spawn(async move { deliver::deliver_all(&http, &target, bodies, plan).await })
        .await
        .map_err(|err| ControlError::invalid(format!("delivery task failed: {err}")))?;
    Ok(HttpResponse::Ok().json(DeliverReport { deliveries }))
}

async fn update_config(state: State, update: web::Json<ConfigUpdate>) -> Answer {
    let ConfigUpdate {
        phone_number_id,
        settings,
    } = update.into_inner();
    if let Some(failure) = settings.window_failure.as_deref() {
        if failure != "sync" && failure != "async" {
            return Err(ControlError::invalid(
                "window_failure must be sync or async",
            ));
        }
    }
    if let Some(statuses) = &settings.statuses {
        if let Some(bad) = statuses
            .iter()
            .find(|s| !["sent", "delivered", "read", "played", "failed"].contains(&s.as_str()))
        {
            return Err(ControlError::invalid(format!("unknown status {bad:?}")));
        }
    }
    let mut data = state.lock();
    match phone_number_id {
        Some(pnid) => state::merge(data.per_number.entry(pnid).or_default(), settings),
        None => state::merge(&mut data.global, settings),
    }
    Ok(HttpResponse::Ok().json(config_view(&data)))
}

async fn show_config(state: State) -> Answer {
    Ok(HttpResponse::Ok().json(config_view(&state.lock())))
}

fn config_view(data: &state::Data) -> ConfigView {
    ConfigView {
        global: data.global.clone(),
        phone_numbers: data.per_number.clone(),
    }
}

#[derive(Deserialize)]
struct Since {
    since: Option<u64>,
}

async fn conversation(
    state: State,
    path: web::Path<(String, String)>,
    since: web::Query<Since>,
) -> Answer {
    let (pnid, user) = path.into_inner();
    let since = since.since.unwrap_or(0);
    let data = state.lock();
    let messages = data
        .conversations
        .get(&(pnid, normalize_user(&user)))
        .map(|messages| {
            messages
                .iter()
                .filter(|m| m.seq > since)
                .cloned()
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(messages))
}

async fn clear_conversations(state: State) -> Answer {
    state.lock().conversations.clear();
    Ok(HttpResponse::NoContent().finish())
}

async fn add_token(state: State, request: web::Json<TokenRequest>) -> Answer {
    let request = request.into_inner();
    let kind = request.kind.unwrap_or_else(|| "system_user".into());
    let lifetime = match kind.as_str() {
        "short_lived" => Some(request.expires_in_seconds.unwrap_or(SHORT_LIVED_SECONDS)),
        "long_lived" => Some(request.expires_in_seconds.unwrap_or(LONG_LIVED_SECONDS)),
        "system_user" => request.expires_in_seconds,
        other => {
            return Err(ControlError::invalid(format!(
                "kind must be short_lived, long_lived or system_user, not {other:?}"
            )))
        }
    };
    let token = match request.token {
        Some(token) if token.trim().is_empty() => {
            return Err(ControlError::invalid("token must not be empty"))
        }
        Some(token) => token,
        None => crate::graph::new_token(),
    };
    let lifetime = lifetime.map(|s| i64::try_from(s).unwrap_or(i64::MAX / 2));
    let record = TokenRecord {
        kind,
        expires_at: lifetime.map(|s| Utc::now() + chrono::Duration::seconds(s)),
        revoked: false,
    };
    state.lock().tokens.insert(token.clone(), record.clone());
    Ok(HttpResponse::Created().json(token_info(&token, &record)))
}

async fn list_tokens(state: State) -> Answer {
    let data = state.lock();
    let mut tokens: Vec<TokenInfo> = data
        .tokens
        .iter()
        .map(|(token, record)| token_info(token, record))
        .collect();
    tokens.sort_by(|a, b| a.token.cmp(&b.token));
    Ok(HttpResponse::Ok().json(tokens))
}

async fn expire_token(state: State, token: web::Json<TokenRef>) -> Answer {
    change_token(&state, &token.token, |record| {
        record.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
    })
}

async fn revoke_token(state: State, token: web::Json<TokenRef>) -> Answer {
    change_token(&state, &token.token, |record| record.revoked = true)
}

fn change_token(state: &EmulatorState, token: &str, change: impl Fn(&mut TokenRecord)) -> Answer {
    let mut data = state.lock();
    let record = data
        .tokens
        .get_mut(token)
        .ok_or_else(|| ControlError::not_found("token"))?;
    change(record);
    Ok(HttpResponse::Ok().json(token_info(token, record)))
}

fn token_info(token: &str, record: &TokenRecord) -> TokenInfo {
    TokenInfo {
        token: token.to_owned(),
        kind: record.kind.clone(),
        fingerprint: crate::token_fingerprint(token),
        expires_at: record.expires_at.map(|at| at.to_rfc3339()),
        revoked: record.revoked,
    }
}

async fn set_window(state: State, update: web::Json<WindowUpdate>) -> Answer {
    let update = update.into_inner();
    let key = (update.phone_number_id, normalize_user(&update.user));
    let mut data = state.lock();
    match update.last_inbound_at {
        Some(at) => data.windows.insert(key, at),
        None => data.windows.remove(&key),
    };
    Ok(HttpResponse::NoContent().finish())
}

/// Forgets faults, requests, conversations, windows and per-number settings; keeps tokens and
/// the global settings.
async fn reset(state: State) -> Answer {
    let mut data = state.lock();
    data.faults.clear();
    data.requests.clear();
    data.conversations.clear();
    data.windows.clear();
    data.per_number.clear();
    Ok(HttpResponse::NoContent().finish())
}
