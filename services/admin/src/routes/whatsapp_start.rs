//! The proactive WhatsApp start (PRODUCT.md 5): the integration's template goes to a number and
//! a session opens, so that the user's reply continues the bot. See docs/whatsapp.md.
//!
//! Admin checks what it can answer at once (the integration, its template, the number, the
//! variables, a conversation already in progress) and publishes an `InboundEvent` with
//! `Input::ProactiveStart` to `bot.inbound`, in the user's conversation (same key as the
//! ingress's), so it is ordered with the user's own messages. The flow executor opens the
//! session without sending the flow's messages and hands the template to the sender. The
//! answer is 202: the template is sent moments later (a failure raises a `send_failed` alert).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use contracts::v1::{
    Channel, ConversationKey, FallbackTemplate, InboundEvent, Input, SchemaVersion, WhatsappContext,
};
use contracts::{IntegrationId, PhoneNumber};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::integrations::IntegrationDetails;
use utoipa::ToSchema;

use super::integrations_dto::Template;
use service_kit::edge::EdgeJson;

use crate::auth::Operator;
use crate::error::{ApiError, ErrorBody, FromStore};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartWhatsapp {
    /// The user's phone number in international form, e.g. `+15551234567`.
    pub to: String,
    /// Values for variables the bot declares, set in the new session (strings, numbers or
    /// booleans, stored as text).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: BTreeMap<String, Value>,
}

#[derive(Serialize, ToSchema)]
pub struct StartedWhatsapp {
    /// The start's event id (the session's first turn).
    pub event_id: String,
    #[schema(value_type = i64)]
    pub integration_id: IntegrationId,
    /// The number in international form (`+` and digits).
    pub to: String,
    /// The user's WhatsApp id (the number's digits): the session id.
    pub wa_id: String,
    /// The template being sent.
    pub template: Template,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_field", message)
}

/// Sends the integration's template to `to` and opens a session there; the user's reply
/// continues the bot from its first waiting component (nothing else of the flow is sent
/// before that).
#[utoipa::path(post, path = "/v1/integrations/{integration_id}/whatsapp/start",
    tag = "integrations", params(("integration_id" = i64, Path)), request_body = StartWhatsapp,
    responses(
        (status = 202, body = StartedWhatsapp, description = "published; the template is sent moments later"),
        (status = 404, body = ErrorBody, description = "no such integration in this account"),
        (status = 409, body = ErrorBody, description = "the integration is inactive, or a conversation with this number is in progress"),
        (status = 422, body = ErrorBody, description = "not a WhatsApp integration, no template configured, a bad number, a number outside the trigger list, undeclared variables"),
        (status = 503, body = ErrorBody, description = "no message broker configured (AMQP_URL), or it is unreachable")))]
pub async fn start_whatsapp(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<IntegrationId>,
    body: EdgeJson<StartWhatsapp>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let request = body.into_inner();
    let integration = state
        .store
        .get_integration(operator.account.id, id)
        .await
        .map_err(|err| ApiError::from_store(err, "integration"))?;
    let IntegrationDetails::Whatsapp(details) = &integration.details else {
        return Err(ApiError::unprocessable(
            "not_whatsapp",
            "proactive starts are for WhatsApp integrations",
        ));
    };
    let (Some(name), Some(language_code)) = (&details.template_name, &details.template_language)
    else {
        return Err(ApiError::unprocessable(
            "template_required",
            "configure the integration's template first: outside the 24-hour window a \
             template is the only message WhatsApp delivers",
        ));
    };
    let template = FallbackTemplate {
        name: name.clone(),
        language_code: language_code.clone(),
    };
    if !integration.active {
        return Err(ApiError::conflict(
            "integration_inactive",
            "the integration is inactive; activate it first",
        ));
    }
    let to: PhoneNumber = request
        .to
        .parse()
        .map_err(|err: contracts::PhoneNumberError| invalid(format!("to: {err}")))?;
    let wa_id = to.as_str().to_owned();
    if !details.trigger_recipients.is_empty() && !details.trigger_recipients.contains(&wa_id) {
        return Err(ApiError::unprocessable(
            "recipient_not_allowed",
            "the number is not among the integration's trigger recipients: its replies would \
             not reach the bot",
        ));
    }
    let variables = variables_as_text(&request.variables)?;
    let Some(bot) = integration.bot_id else {
        return Err(ApiError::unprocessable(
            "bot_required",
            "connect a published bot first",
        ));
    };
    check_declared(&state, &operator, bot, &variables).await?;
    let live = state
        .store
        .get_session(id, &wa_id)
        .await
        .map_err(|err| ApiError::from_store(err, "session"))?;
    if live.is_some_and(|session| !session.is_expired(chrono::Utc::now())) {
        return Err(ApiError::conflict(
            "conversation_in_progress",
            "a conversation with this number is in progress; it is not interrupted",
        ));
    }
    let event_id = format!("proactive-{}", uuid::Uuid::new_v4());
    let event = InboundEvent {
        schema: SchemaVersion::V1,
        event_id: event_id.clone(),
        integration_id: id,
        channel: Channel::Whatsapp,
        // The ingress's key for this user: the start and the user's replies share a shard.
        conversation_key: ConversationKey::whatsapp(id, &details.phone_number_id, &wa_id),
        session_id: wa_id.clone(),
        user_identifier: wa_id.clone(),
        received_at_unix_ms: chrono::Utc::now().timestamp_millis(),
        input: Input::ProactiveStart {
            template: template.clone(),
            variables,
        },
        reply: None,
        idempotency: None,
        whatsapp: Some(WhatsappContext {
            phone_number_id: details.phone_number_id.clone(),
            wa_id: Some(wa_id.clone()),
            user_id: None,
            profile_name: None,
            inbound_message_id: String::new(),
        }),
    };
    publish(&state, &event).await?;
    tracing::info!(integration = %id, event_id, "proactive start published");
    Ok(HttpResponse::Accepted().json(StartedWhatsapp {
        event_id,
        integration_id: id,
        to: format!("+{wa_id}"),
        wa_id,
        template: Template {
            name: template.name,
            language_code: template.language_code,
        },
    }))
}

fn variables_as_text(
    variables: &BTreeMap<String, Value>,
) -> Result<BTreeMap<String, String>, ApiError> {
    variables
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(invalid(format!(
                        "variables.{name} must be a string, number or boolean"
                    )))
                }
            };
            Ok((name.clone(), text))
        })
        .collect()
}

/// Refuses variables the bot's newest version (the one a new session pins) does not declare.
async fn check_declared(
    state: &AppState,
    operator: &Operator,
    bot: contracts::BotId,
    variables: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    if variables.is_empty() {
        return Ok(());
    }
    let account = operator.account.id;
    let bot = state.bot(account, bot).await?;
    let declared: Vec<String> = match bot.latest_version {
        Some(version) => {
            let version = state
                .store
                .get_version(account, bot.id, version)
                .await
                .map_err(|err| ApiError::from_store(err, "bot version"))?;
            version
                .variables
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|decl| decl["name"].as_str().map(str::to_owned))
                .collect()
        }
        None => Vec::new(),
    };
    let undeclared: Vec<&str> = variables
        .keys()
        .filter(|name| !declared.contains(name))
        .map(String::as_str)
        .collect();
    if undeclared.is_empty() {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "undeclared_variables",
            format!(
                "variables not declared by the bot: {}",
                undeclared.join(", ")
            ),
        ))
    }
}

/// Publishes to `bot.inbound`, confirmed, on the broker connection's runtime.
async fn publish(state: &AppState, event: &InboundEvent) -> Result<(), ApiError> {
    let Some(link) = &state.inbound else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "broker_not_configured",
            "proactive starts need the message broker: set AMQP_URL (and AMQP_INBOUND_SHARDS \
             as the executors have it) for the admin service",
        ));
    };
    let body = contracts::v1::encode(event).map_err(|err| {
        tracing::error!(error = %err, "encoding a proactive start failed");
        ApiError::internal()
    })?;
    // WhatsApp keys are digits and colons well under AMQP's 255 bytes: the key is the
    // routing key, as the ingress publishes it.
    let routing_key = event.conversation_key.as_str().to_owned();
    let options = broker::PublishOptions {
        content_type: Some("application/json".into()),
        ..broker::PublishOptions::default()
    }
    .with_message_id(event.event_id.clone())
    .mandatory();
    let published = link
        .publish_confirmed(
            broker::topology::INBOUND_EXCHANGE.to_owned(),
            routing_key,
            body,
            options,
        )
        .await;
    match published {
        Ok(()) => Ok(()),
        Err(Some(err)) => {
            tracing::warn!(error = %err, "proactive start not published");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "broker_unavailable",
                "the message broker did not take the start; nothing was sent, retry",
            )
            .with_retry_after(5))
        }
        Err(None) => Err(ApiError::internal()),
    }
}
