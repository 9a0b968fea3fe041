//! Bots: drafts, validation, publishing to immutable versions, alphabetical lists.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use contracts::BotId;
use flow::{ValidationReport, VariableDecl};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::bots::{Bot, BotChanges, BotVersion, NewBot};
use utoipa::{IntoParams, ToSchema};

use service_kit::edge::EdgeJson;

use crate::auth::Operator;
use crate::error::{ApiError, ErrorBody, FromStore};
use crate::state::AppState;

#[derive(Serialize, Deserialize, ToSchema)]
pub struct VariableView {
    pub name: String,
    pub default: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BotView {
    #[schema(value_type = i64)]
    pub id: BotId,
    pub name: String,
    #[schema(value_type = Vec<Object>)]
    pub variables: Value,
    /// The draft flow (see docs/flow-format.md).
    #[schema(value_type = Object)]
    pub flow: Value,
    pub draft_revision: i64,
    pub published: bool,
    pub latest_version: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Bot> for BotView {
    fn from(bot: Bot) -> Self {
        BotView {
            id: bot.id,
            name: bot.name,
            variables: bot.variables,
            flow: bot.draft_flow,
            draft_revision: bot.draft_revision,
            published: bot.latest_version.is_some(),
            latest_version: bot.latest_version,
            created_at: bot.created_at,
            updated_at: bot.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BotSummary {
    #[schema(value_type = i64)]
    pub id: BotId,
    pub name: String,
    pub published: bool,
    pub latest_version: Option<i32>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct BotList {
    /// Alphabetical by name, case-insensitive.
    pub bots: Vec<BotSummary>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionView {
    #[schema(value_type = i64)]
    pub bot_id: BotId,
    pub version: i32,
    #[schema(value_type = Vec<Object>)]
    pub variables: Value,
    #[schema(value_type = Object)]
    pub flow: Value,
    pub published_at: DateTime<Utc>,
}

impl From<BotVersion> for VersionView {
    fn from(version: BotVersion) -> Self {
        VersionView {
            bot_id: version.bot_id,
            version: version.version,
            variables: version.variables,
            flow: version.flow,
            published_at: version.published_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VersionSummary {
    pub version: i32,
    pub published_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionList {
    pub versions: Vec<VersionSummary>,
}

#[derive(Serialize, ToSchema)]
pub struct ValidationView {
    pub valid: bool,
    /// Each names the component (when there is one), the rule and what is wrong.
    #[schema(value_type = Vec<Object>)]
    pub errors: Value,
    /// WhatsApp limits and other things that do not block publishing.
    #[schema(value_type = Vec<Object>)]
    pub warnings: Value,
}

impl ValidationView {
    fn from_report(report: &ValidationReport) -> Result<Self, ApiError> {
        Ok(ValidationView {
            valid: report.errors.is_empty(),
            errors: to_json(&report.errors)?,
            warnings: to_json(&report.warnings)?,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct PublishedView {
    #[serde(flatten)]
    pub version: VersionView,
    #[schema(value_type = Vec<Object>)]
    pub warnings: Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBot {
    /// 1 to 200 characters, not only spaces.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^\\s*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub name: String,
    #[serde(default)]
    pub variables: Vec<VariableView>,
    /// The draft flow; it may be incomplete, validation happens at publish.
    #[schema(value_type = Object)]
    pub flow: Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBot {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^\\s*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub name: Option<String>,
    pub variables: Option<Vec<VariableView>>,
    #[schema(value_type = Option<Object>)]
    pub flow: Option<Value>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BotListQuery {
    /// Only bots with a published version (those that can be connected).
    #[serde(default)]
    pub published: bool,
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|err| {
        tracing::error!(error = %err, "serialisation failed");
        ApiError::internal()
    })
}

pub(crate) fn checked_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || raw.chars().count() > 200 {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "name must be 1 to 200 characters",
        ));
    }
    Ok(name.to_owned())
}

fn checked_flow(flow: &Value) -> Result<(), ApiError> {
    if !flow.is_object() {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "flow must be a JSON object with `start` and `components`",
        ));
    }
    Ok(())
}

fn variables_json(variables: &[VariableView]) -> Result<Value, ApiError> {
    let decls: Vec<VariableDecl> = variables
        .iter()
        .map(|v| VariableDecl::new(v.name.clone(), v.default.as_deref()))
        .collect();
    to_json(&decls)
}

/// Parses and validates a stored draft. Stored variables were written by this service, so a
/// failure to read them back is an internal error.
/// 422 `invalid_flow` naming the first error, every error in the details, when the report
/// has errors (a draft is published or run only without errors).
pub(crate) fn refuse_errors(report: &ValidationReport) -> Result<(), ApiError> {
    let Some(first) = report.errors.first() else {
        return Ok(());
    };
    let count = report.errors.len();
    let message = match &first.component {
        Some(component) => format!(
            "the flow has {count} error(s); first: component `{component}`: {} ({})",
            first.message, first.rule
        ),
        None => format!(
            "the flow has {count} error(s); first: {} ({})",
            first.message, first.rule
        ),
    };
    Err(ApiError::unprocessable("invalid_flow", message).with_details(to_json(&report.errors)?))
}

pub(crate) fn validate_draft(bot: &Bot) -> Result<ValidationReport, ApiError> {
    let variables: Vec<VariableDecl> =
        serde_json::from_value(bot.variables.clone()).map_err(|err| {
            tracing::error!(error = %err, bot = %bot.id, "stored variables unreadable");
            ApiError::internal()
        })?;
    Ok(match flow::parse_flow_value(bot.draft_flow.clone()) {
        Ok(parsed) => flow::validate(&parsed, &variables),
        Err(malformed) => ValidationReport {
            errors: malformed.issues,
            warnings: Vec::new(),
        },
    })
}

#[utoipa::path(post, path = "/v1/bots", tag = "bots", request_body = CreateBot,
    responses((status = 201, body = BotView), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_bot(
    operator: Operator,
    state: web::Data<AppState>,
    body: EdgeJson<CreateBot>,
) -> Result<HttpResponse, ApiError> {
    let name = checked_name(&body.name)?;
    checked_flow(&body.flow)?;
    let variables = variables_json(&body.variables)?;
    let bot = state
        .store
        .create_bot(
            operator.account.id,
            NewBot {
                name: &name,
                variables: &variables,
                draft_flow: &body.flow,
            },
        )
        .await
        .map_err(|err| ApiError::from_store(err, "bot"))?;
    Ok(HttpResponse::Created().json(BotView::from(bot)))
}

#[utoipa::path(get, path = "/v1/bots", tag = "bots", params(BotListQuery),
    responses((status = 200, body = BotList)))]
pub async fn list_bots(
    operator: Operator,
    state: web::Data<AppState>,
    query: web::Query<BotListQuery>,
) -> Result<web::Json<BotList>, ApiError> {
    let bots = state
        .store
        .list_bots(operator.account.id, query.published)
        .await
        .map_err(|err| ApiError::from_store(err, "bot"))?;
    Ok(web::Json(BotList {
        bots: bots
            .into_iter()
            .map(|bot| BotSummary {
                id: bot.id,
                name: bot.name,
                published: bot.latest_version.is_some(),
                latest_version: bot.latest_version,
                updated_at: bot.updated_at,
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/v1/bots/{bot_id}", tag = "bots", params(("bot_id" = i64, Path)),
    responses((status = 200, body = BotView), (status = 404, body = ErrorBody)))]
pub async fn get_bot(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<BotId>,
) -> Result<web::Json<BotView>, ApiError> {
    let bot = state.bot(operator.account.id, path.into_inner()).await?;
    Ok(web::Json(bot.into()))
}

/// Edits the draft. Published versions never change.
#[utoipa::path(patch, path = "/v1/bots/{bot_id}", tag = "bots", request_body = UpdateBot,
    params(("bot_id" = i64, Path)),
    responses((status = 200, body = BotView), (status = 404, body = ErrorBody),
              (status = 409, description = "name_taken", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn update_bot(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<BotId>,
    body: EdgeJson<UpdateBot>,
) -> Result<web::Json<BotView>, ApiError> {
    let body = body.into_inner();
    if let Some(flow) = &body.flow {
        checked_flow(flow)?;
    }
    let changes = BotChanges {
        name: body.name.as_deref().map(checked_name).transpose()?,
        variables: body.variables.as_deref().map(variables_json).transpose()?,
        draft_flow: body.flow,
    };
    let bot = state
        .store
        .update_bot(operator.account.id, path.into_inner(), changes)
        .await
        .map_err(|err| ApiError::from_store(err, "bot"))?;
    Ok(web::Json(bot.into()))
}

#[utoipa::path(delete, path = "/v1/bots/{bot_id}", tag = "bots", params(("bot_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_bot(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<BotId>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .delete_bot(operator.account.id, path.into_inner())
        .await
        .map_err(|err| ApiError::from_store(err, "bot"))?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/v1/bots/{bot_id}/validate", tag = "bots",
    params(("bot_id" = i64, Path)),
    responses((status = 200, body = ValidationView), (status = 404, body = ErrorBody)))]
pub async fn validate_bot(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<BotId>,
) -> Result<web::Json<ValidationView>, ApiError> {
    let bot = state.bot(operator.account.id, path.into_inner()).await?;
    let report = validate_draft(&bot)?;
    Ok(web::Json(ValidationView::from_report(&report)?))
}

/// Validates the draft and, when it has no errors, publishes it as the next immutable version.
#[utoipa::path(post, path = "/v1/bots/{bot_id}/publish", tag = "bots",
    params(("bot_id" = i64, Path)),
    responses((status = 201, body = PublishedView), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody),
              (status = 422, description = "invalid_flow, with details", body = ErrorBody)))]
pub async fn publish_bot(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<BotId>,
) -> Result<HttpResponse, ApiError> {
    let account = operator.account.id;
    let bot = state.bot(account, path.into_inner()).await?;
    let report = validate_draft(&bot)?;
    refuse_errors(&report)?;
    let version = state
        .store
        .publish_bot(account, bot.id, bot.draft_revision)
        .await
        .map_err(|err| ApiError::from_store(err, "bot"))?;
    Ok(HttpResponse::Created().json(PublishedView {
        version: version.into(),
        warnings: to_json(&report.warnings)?,
    }))
}

#[utoipa::path(get, path = "/v1/bots/{bot_id}/versions", tag = "bots",
    params(("bot_id" = i64, Path)),
    responses((status = 200, body = VersionList), (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<BotId>,
) -> Result<web::Json<VersionList>, ApiError> {
    let versions = state
        .store
        .list_versions(operator.account.id, path.into_inner())
        .await
        .map_err(|err| ApiError::from_store(err, "bot"))?;
    Ok(web::Json(VersionList {
        versions: versions
            .into_iter()
            .map(|v| VersionSummary {
                version: v.version,
                published_at: v.published_at,
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/v1/bots/{bot_id}/versions/{version}", tag = "bots",
    params(("bot_id" = i64, Path), ("version" = i32, Path)),
    responses((status = 200, body = VersionView), (status = 404, body = ErrorBody)))]
pub async fn get_version(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<(BotId, i32)>,
) -> Result<web::Json<VersionView>, ApiError> {
    let (bot, version) = path.into_inner();
    let version = state
        .store
        .get_version(operator.account.id, bot, version)
        .await
        .map_err(|err| ApiError::from_store(err, "bot version"))?;
    Ok(web::Json(version.into()))
}
