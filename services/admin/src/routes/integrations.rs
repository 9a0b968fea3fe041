//! Integrations of both kinds: create, read (secrets masked), update, (de)activate, delete.

use actix_web::{web, HttpResponse};
use contracts::{IntegrationId, PhoneNumber};
use store::integrations::{
    ApiChanges, DetailChanges, Integration, IntegrationChanges, IntegrationDetails, NewApiDetails,
    NewIntegration, NewWhatsappDetails, WhatsappChanges,
};

use super::integrations_dto::*;
use service_kit::edge::EdgeJson;

use crate::auth::Operator;
use crate::error::{ApiError, ErrorBody, FromStore};
use crate::state::AppState;

pub use store::integrations::secret_aad;

fn seal(
    state: &AppState,
    id: IntegrationId,
    field: &str,
    clear: &str,
) -> Result<Vec<u8>, ApiError> {
    state
        .deployment_key
        .seal(clear.as_bytes(), &secret_aad(id, field))
        .map_err(|err| {
            tracing::error!(error = %err, "sealing a secret failed");
            ApiError::internal()
        })
}

fn phone_strings(numbers: Vec<PhoneNumber>) -> Vec<String> {
    let mut numbers: Vec<String> = numbers.into_iter().map(String::from).collect();
    numbers.sort();
    numbers.dedup();
    numbers
}

fn store_err(err: store::StoreError) -> ApiError {
    ApiError::from_store(err, "integration")
}

#[utoipa::path(post, path = "/v1/integrations", tag = "integrations",
    request_body = CreateIntegration,
    responses((status = 201, body = CreatedIntegration), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_integration(
    operator: Operator,
    state: web::Data<AppState>,
    body: EdgeJson<CreateIntegration>,
) -> Result<HttpResponse, ApiError> {
    let account = operator.account.id;
    let (integration, api_key) = match body.into_inner() {
        CreateIntegration::Api(request) => {
            let (key, digest, hint) = api_key_for(request.api_key.as_deref(), &state)?;
            let name = checked_name(&request.name)?;
            let (alert_enabled, alert_address) = checked_alert_email(request.alert_email.as_ref())?;
            let rate_limit = checked_rate_limit(
                request.rate_limit_per_minute,
                state.default_api_rate_limit_per_minute,
            )?;
            let integration = state
                .store
                .create_api_integration(
                    account,
                    NewIntegration {
                        name: &name,
                        bot_id: request.bot_id,
                        alert_email_enabled: alert_enabled,
                        alert_email: alert_address.as_deref(),
                    },
                    NewApiDetails {
                        key_digest: &digest,
                        key_hint: &hint,
                        variable_injection: request.variable_injection,
                        rate_limit_per_minute: rate_limit,
                    },
                )
                .await
                .map_err(store_err)?;
            (integration, Some(key))
        }
        CreateIntegration::Whatsapp(request) => {
            (create_whatsapp(&state, operator, *request).await?, None)
        }
    };
    Ok(HttpResponse::Created().json(CreatedIntegration {
        integration: IntegrationView::from_integration(integration, &state),
        api_key,
    }))
}

/// `(clear key, digest, hint)`: the given key if it is strong enough, else a generated one.
fn api_key_for(
    given: Option<&str>,
    state: &AppState,
) -> Result<(String, Vec<u8>, String), ApiError> {
    let key = match given.filter(|k| !k.is_empty()) {
        Some(key) => {
            crypto::check_api_key_strength(key)
                .map_err(|err| ApiError::unprocessable("weak_api_key", err.to_string()))?;
            key.to_owned()
        }
        None => crypto::generate_api_key().map_err(|err| {
            tracing::error!(error = %err, "key generation failed");
            ApiError::internal()
        })?,
    };
    let digest = state.digest_key.digest(&key);
    let hint = crypto::hint(&key);
    Ok((key, digest, hint))
}

async fn create_whatsapp(
    state: &AppState,
    operator: Operator,
    request: CreateWhatsappIntegration,
) -> Result<Integration, ApiError> {
    let name = checked_name(&request.name)?;
    let business_account_id = checked_meta_id(&request.business_account_id, "business_account_id")?;
    let phone_number_id = checked_meta_id(&request.phone_number_id, "phone_number_id")?;
    let app_id = checked_meta_id(&request.app_id, "app_id")?;
    let app_secret = checked_secret(&request.app_secret, "app_secret")?;
    let access_token = checked_secret(&request.access_token, "access_token")?;
    let verify_token = checked_verify_token(&request.verify_token)?;
    let api_version = checked_api_version(request.api_version.as_deref())?;
    let expiry = checked_expiry_seconds(request.conversation_expiry_minutes)?;
    let template = request
        .template
        .as_ref()
        .map(checked_template)
        .transpose()?;
    let (alert_enabled, alert_address) = checked_alert_email(request.alert_email.as_ref())?;

    let long_lived =
        exchange_token(state, &api_version, &app_id, &app_secret, &access_token).await?;
    let access_token = long_lived.access_token.expose().clone();
    let id = state
        .store
        .allocate_integration_id()
        .await
        .map_err(store_err)?;
    let details = NewWhatsappDetails {
        business_account_id,
        phone_number_id,
        app_id,
        app_secret_sealed: seal(state, id, "app_secret", &app_secret)?,
        access_token_sealed: seal(state, id, "access_token", &access_token)?,
        access_token_expires_at: long_lived.expires_at(chrono::Utc::now()),
        verify_token_sealed: seal(state, id, "verify_token", &verify_token)?,
        verify_token_digest: state.digest_key.digest(&verify_token).to_vec(),
        api_version,
        conversation_expiry_seconds: expiry,
        template_name: template.as_ref().map(|(name, _)| name.clone()),
        template_language: template.map(|(_, language)| language),
        trigger_recipients: phone_strings(request.trigger_recipients),
    };
    state
        .store
        .create_whatsapp_integration(
            operator.account.id,
            id,
            NewIntegration {
                name: &name,
                bot_id: request.bot_id,
                alert_email_enabled: alert_enabled,
                alert_email: alert_address.as_deref(),
            },
            details,
        )
        .await
        .map_err(store_err)
}

/// Exchanges the short-lived token from Meta's dashboard for a long-lived one (PRODUCT.md 3).
/// Meta's refusal is the operator's to fix (422 with Meta's message); Meta unreachable is 502.
async fn exchange_token(
    state: &AppState,
    api_version: &str,
    app_id: &str,
    app_secret: &str,
    short_lived: &str,
) -> Result<graph_client::ExchangedToken, ApiError> {
    let app_secret = crypto::SecretString::from(app_secret.to_owned());
    let token = crypto::SecretString::from(short_lived.to_owned());
    state
        .graph
        .exchange_token(api_version, app_id, &app_secret, &token)
        .await
        .map_err(|err| match err {
            graph_client::GraphError::Api(meta) => ApiError::unprocessable(
                "token_exchange_failed",
                format!(
                    "Meta refused to exchange the access token for a long-lived one: {} (code {})",
                    meta.message, meta.code
                ),
            ),
            other => {
                tracing::warn!(error = %other, "token exchange failed");
                ApiError::new(
                    actix_web::http::StatusCode::BAD_GATEWAY,
                    "meta_unreachable",
                    "Meta's Graph API could not be reached to exchange the access token; retry",
                )
            }
        })
}

#[utoipa::path(get, path = "/v1/integrations", tag = "integrations",
    responses((status = 200, body = IntegrationList)))]
pub async fn list_integrations(
    operator: Operator,
    state: web::Data<AppState>,
) -> Result<web::Json<IntegrationList>, ApiError> {
    let integrations = state
        .store
        .list_integrations(operator.account.id)
        .await
        .map_err(store_err)?;
    Ok(web::Json(IntegrationList {
        integrations: integrations
            .iter()
            .map(IntegrationSummary::from_integration)
            .collect(),
    }))
}

#[utoipa::path(get, path = "/v1/integrations/{integration_id}", tag = "integrations",
    params(("integration_id" = i64, Path)),
    responses((status = 200, body = IntegrationView), (status = 404, body = ErrorBody)))]
pub async fn get_integration(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<IntegrationId>,
) -> Result<web::Json<IntegrationView>, ApiError> {
    let integration = state
        .store
        .get_integration(operator.account.id, path.into_inner())
        .await
        .map_err(store_err)?;
    Ok(web::Json(IntegrationView::from_integration(
        integration,
        &state,
    )))
}

#[utoipa::path(patch, path = "/v1/integrations/{integration_id}", tag = "integrations",
    params(("integration_id" = i64, Path)), request_body = UpdateIntegration,
    responses((status = 200, body = IntegrationView), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_integration(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<IntegrationId>,
    body: EdgeJson<UpdateIntegration>,
) -> Result<web::Json<IntegrationView>, ApiError> {
    let account = operator.account.id;
    let id = path.into_inner();
    let request = body.into_inner();
    let current = state
        .store
        .get_integration(account, id)
        .await
        .map_err(store_err)?;
    if request.api_key.is_some() {
        return Err(ApiError::unprocessable(
            "api_key_immutable",
            "an API key cannot be changed; create a new integration to get a new key",
        ));
    }
    let foreign = match current.details {
        IntegrationDetails::Api(_) => request.whatsapp_fields(),
        IntegrationDetails::Whatsapp(_) => request.api_fields(),
    };
    if !foreign.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_field",
            format!(
                "{} do(es) not apply to a {} integration",
                foreign.join(", "),
                current.kind().as_str()
            ),
        ));
    }
    let alert = request
        .alert_email
        .as_ref()
        .map(|alert| checked_alert_email(Some(alert)))
        .transpose()?;
    let common = IntegrationChanges {
        name: request.name.as_deref().map(checked_name).transpose()?,
        bot_id: request.bot_id.map(|bot| bot.map(|b| b.get())),
        alert_email_enabled: alert.as_ref().map(|(enabled, _)| *enabled),
        alert_email: alert.map(|(_, address)| address),
    };
    let details = match current.details {
        IntegrationDetails::Api(_) => DetailChanges::Api(ApiChanges {
            variable_injection: request.variable_injection,
            rate_limit_per_minute: request
                .rate_limit_per_minute
                .map(|limit| checked_rate_limit(Some(limit), limit))
                .transpose()?,
        }),
        IntegrationDetails::Whatsapp(current) => {
            let mut request = request;
            let expires_at = match request.access_token.take() {
                None => None,
                Some(short_lived) => {
                    let short_lived = checked_secret(&short_lived, "access_token")?;
                    let long_lived =
                        exchange_for_update(&state, id, &current, &request, &short_lived).await?;
                    request.access_token = Some(long_lived.access_token.expose().clone());
                    Some(long_lived.expires_at(chrono::Utc::now()))
                }
            };
            let mut changes = whatsapp_changes(&state, id, request)?;
            if let Some(expires_at) = expires_at {
                changes.access_token_expires_at = Some(expires_at);
            }
            DetailChanges::Whatsapp(Box::new(changes))
        }
    };
    let updated = state
        .store
        .update_integration(account, id, common, details)
        .await
        .map_err(store_err)?;
    Ok(web::Json(IntegrationView::from_integration(
        updated, &state,
    )))
}

/// A new access token given in an update is exchanged like at creation, with the app id,
/// secret and version of the update, or else the stored ones.
async fn exchange_for_update(
    state: &AppState,
    id: IntegrationId,
    current: &store::integrations::WhatsappDetails,
    request: &UpdateIntegration,
    short_lived: &str,
) -> Result<graph_client::ExchangedToken, ApiError> {
    let app_secret = match &request.app_secret {
        Some(secret) => checked_secret(secret, "app_secret")?,
        None => state
            .deployment_key
            .open_string(&current.app_secret_sealed, &secret_aad(id, "app_secret"))
            .map_err(|err| {
                tracing::error!(error = %err, integration = %id, "stored app secret unreadable");
                ApiError::internal()
            })?
            .expose()
            .clone(),
    };
    let app_id = match &request.app_id {
        Some(app_id) => checked_meta_id(app_id, "app_id")?,
        None => current.app_id.clone(),
    };
    let version = checked_api_version(Some(
        request
            .api_version
            .as_deref()
            .unwrap_or(&current.api_version),
    ))?;
    exchange_token(state, &version, &app_id, &app_secret, short_lived).await
}

fn whatsapp_changes(
    state: &AppState,
    id: IntegrationId,
    request: UpdateIntegration,
) -> Result<WhatsappChanges, ApiError> {
    let sealed =
        |field: &str, value: Option<&String>, check: fn(&str, &str) -> Result<String, ApiError>| {
            value
                .map(|raw| check(raw, field).and_then(|clear| seal(state, id, field, &clear)))
                .transpose()
        };
    let verify_token = request
        .verify_token
        .as_deref()
        .map(checked_verify_token)
        .transpose()?;
    let template = match &request.template {
        None => None,
        Some(None) => Some(None),
        Some(Some(template)) => Some(Some(checked_template(template)?)),
    };
    Ok(WhatsappChanges {
        business_account_id: request
            .business_account_id
            .as_deref()
            .map(|v| checked_meta_id(v, "business_account_id"))
            .transpose()?,
        phone_number_id: request
            .phone_number_id
            .as_deref()
            .map(|v| checked_meta_id(v, "phone_number_id"))
            .transpose()?,
        app_id: request
            .app_id
            .as_deref()
            .map(|v| checked_meta_id(v, "app_id"))
            .transpose()?,
        app_secret_sealed: sealed("app_secret", request.app_secret.as_ref(), checked_secret)?,
        access_token_sealed: sealed(
            "access_token",
            request.access_token.as_ref(),
            checked_secret,
        )?,
        // A new access token has not been exchanged yet: its expiry is unknown.
        // Set by the caller from the token exchange.
        access_token_expires_at: None,
        verify_token_sealed: verify_token
            .as_deref()
            .map(|token| seal(state, id, "verify_token", token))
            .transpose()?,
        verify_token_digest: verify_token
            .as_deref()
            .map(|token| state.digest_key.digest(token).to_vec()),
        api_version: request
            .api_version
            .as_deref()
            .map(|v| checked_api_version(Some(v)))
            .transpose()?,
        conversation_expiry_seconds: request
            .conversation_expiry_minutes
            .map(checked_expiry_seconds)
            .transpose()?,
        template_name: template
            .as_ref()
            .map(|t| t.as_ref().map(|(name, _)| name.clone())),
        template_language: template.map(|t| t.map(|(_, language)| language)),
        trigger_recipients: request.trigger_recipients.map(phone_strings),
    })
}

#[utoipa::path(delete, path = "/v1/integrations/{integration_id}", tag = "integrations",
    params(("integration_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_integration(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<IntegrationId>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .delete_integration(operator.account.id, path.into_inner())
        .await
        .map_err(store_err)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_active(
    operator: Operator,
    state: web::Data<AppState>,
    id: IntegrationId,
    active: bool,
) -> Result<web::Json<IntegrationView>, ApiError> {
    let integration = state
        .store
        .set_integration_active(operator.account.id, id, active)
        .await
        .map_err(store_err)?;
    Ok(web::Json(IntegrationView::from_integration(
        integration,
        &state,
    )))
}

/// Starts accepting traffic. A WhatsApp integration is refused (409 `phone_number_in_use`)
/// while another active one serves the same phone number id.
#[utoipa::path(post, path = "/v1/integrations/{integration_id}/activate", tag = "integrations",
    params(("integration_id" = i64, Path)),
    responses((status = 200, body = IntegrationView), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn activate(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<IntegrationId>,
) -> Result<web::Json<IntegrationView>, ApiError> {
    set_active(operator, state, path.into_inner(), true).await
}

#[utoipa::path(post, path = "/v1/integrations/{integration_id}/deactivate", tag = "integrations",
    params(("integration_id" = i64, Path)),
    responses((status = 200, body = IntegrationView), (status = 404, body = ErrorBody)))]
pub async fn deactivate(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<IntegrationId>,
) -> Result<web::Json<IntegrationView>, ApiError> {
    set_active(operator, state, path.into_inner(), false).await
}
