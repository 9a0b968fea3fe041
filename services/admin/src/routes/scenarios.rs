//! Scenarios saved with a bot for the Test Runner (docs/test-runner.md, "Saved scenarios"):
//! list, create, read, replace, delete. A run names them by id (`scenario_ids` of
//! `POST /v1/bots/{bot_id}/test-runs`).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use contracts::BotId;
use serde::{Deserialize, Serialize};
use service_kit::edge::EdgeJson;
use store::saved_scenarios::{SavedScenario, SavedScenarioSummary};
use test_runner::Scenario;
use utoipa::ToSchema;

use crate::auth::Operator;
use crate::error::{ApiError, ErrorBody, FromStore};
use crate::routes::bots::checked_name;
use crate::state::AppState;

/// A bot keeps at most this many saved scenarios: as many as one run takes, so that "run every
/// saved scenario" is always one run.
pub const MAX_SAVED_PER_BOT: i64 = 200;

/// A scenario to save: its name and its text. The text's size is bounded like a run's
/// scenario files (the body and string limits of docs/edge.md).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "greets", "yaml": "name: greets\nturns:\n  - text: Ada\n"}))]
pub struct SaveScenario {
    /// 1 to 200 characters, not only spaces; unique per bot.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^\\s*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub name: String,
    /// The scenario in YAML (or JSON); schema: `proto/test-runner/scenario.schema.json`.
    /// Refused with 422 `invalid_scenario`, naming the problem, when the runner cannot parse it.
    pub yaml: String,
}

#[derive(Serialize, ToSchema)]
pub struct SavedScenarioView {
    pub id: i64,
    pub bot_id: i64,
    pub name: String,
    pub yaml: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<SavedScenario> for SavedScenarioView {
    fn from(saved: SavedScenario) -> Self {
        Self {
            id: saved.id,
            bot_id: saved.bot_id,
            name: saved.name,
            yaml: saved.yaml,
            created_at: saved.created_at,
            updated_at: saved.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SavedScenarioSummaryView {
    pub id: i64,
    pub name: String,
    pub updated_at: DateTime<Utc>,
}

impl From<SavedScenarioSummary> for SavedScenarioSummaryView {
    fn from(saved: SavedScenarioSummary) -> Self {
        Self {
            id: saved.id,
            name: saved.name,
            updated_at: saved.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SavedScenarioList {
    /// By name (case-insensitive), without their text (read one for it).
    pub scenarios: Vec<SavedScenarioSummaryView>,
}

/// The name trimmed, and the text as given once the runner's parser takes it.
fn checked(body: &SaveScenario) -> Result<String, ApiError> {
    let name = checked_name(&body.name)?;
    Scenario::parse(&body.yaml)
        .map_err(|err| ApiError::unprocessable("invalid_scenario", format!("yaml: {err}")))?;
    Ok(name)
}

fn from_store(err: store::StoreError) -> ApiError {
    ApiError::from_store(err, "saved scenario")
}

/// A bot's saved scenarios.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/scenarios", tag = "test runner",
    params(("bot_id" = i64, Path)),
    responses((status = 200, body = SavedScenarioList), (status = 404, body = ErrorBody)))]
pub async fn list_scenarios(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<BotId>,
) -> Result<web::Json<SavedScenarioList>, ApiError> {
    let bot = path.into_inner();
    let account = operator.account.id;
    // An empty list and another account's bot must not look alike.
    state.bot(account, bot).await?;
    let scenarios = state
        .store
        .list_saved_scenarios(account, bot)
        .await
        .map_err(from_store)?;
    Ok(web::Json(SavedScenarioList {
        scenarios: scenarios.into_iter().map(Into::into).collect(),
    }))
}

/// Saves a scenario with a bot, once the runner's parser takes it.
#[utoipa::path(post, path = "/v1/bots/{bot_id}/scenarios", tag = "test runner",
    request_body = SaveScenario, params(("bot_id" = i64, Path)),
    responses((status = 201, body = SavedScenarioView), (status = 404, body = ErrorBody),
        (status = 409, description = "name_taken", body = ErrorBody),
        (status = 422, body = ErrorBody,
            description = "invalid_scenario (the YAML), invalid_field, too_many_saved_scenarios")))]
pub async fn create_scenario(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<BotId>,
    body: EdgeJson<SaveScenario>,
) -> Result<HttpResponse, ApiError> {
    let name = checked(&body)?;
    let saved = state
        .store
        .create_saved_scenario(
            operator.account.id,
            path.into_inner(),
            &name,
            &body.yaml,
            MAX_SAVED_PER_BOT,
        )
        .await
        .map_err(|err| ApiError::from_store(err, "bot"))?;
    Ok(HttpResponse::Created().json(SavedScenarioView::from(saved)))
}

/// A saved scenario with its text.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/scenarios/{scenario_id}", tag = "test runner",
    params(("bot_id" = i64, Path), ("scenario_id" = i64, Path)),
    responses((status = 200, body = SavedScenarioView), (status = 404, body = ErrorBody)))]
pub async fn get_scenario(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<(BotId, i64)>,
) -> Result<web::Json<SavedScenarioView>, ApiError> {
    let (bot, id) = path.into_inner();
    let saved = state
        .store
        .get_saved_scenario(operator.account.id, bot, id)
        .await
        .map_err(from_store)?;
    Ok(web::Json(saved.into()))
}

/// Replaces a saved scenario's name and text.
#[utoipa::path(put, path = "/v1/bots/{bot_id}/scenarios/{scenario_id}", tag = "test runner",
    request_body = SaveScenario, params(("bot_id" = i64, Path), ("scenario_id" = i64, Path)),
    responses((status = 200, body = SavedScenarioView), (status = 404, body = ErrorBody),
        (status = 409, description = "name_taken", body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid_scenario, invalid_field")))]
pub async fn replace_scenario(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<(BotId, i64)>,
    body: EdgeJson<SaveScenario>,
) -> Result<web::Json<SavedScenarioView>, ApiError> {
    let (bot, id) = path.into_inner();
    let name = checked(&body)?;
    let saved = state
        .store
        .replace_saved_scenario(operator.account.id, bot, id, &name, &body.yaml)
        .await
        .map_err(from_store)?;
    Ok(web::Json(saved.into()))
}

#[utoipa::path(delete, path = "/v1/bots/{bot_id}/scenarios/{scenario_id}", tag = "test runner",
    params(("bot_id" = i64, Path), ("scenario_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_scenario(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<(BotId, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (bot, id) = path.into_inner();
    state
        .store
        .delete_saved_scenario(operator.account.id, bot, id)
        .await
        .map_err(from_store)?;
    Ok(HttpResponse::NoContent().finish())
}
