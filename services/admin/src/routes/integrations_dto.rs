//! Request and response shapes of the integrations API, and the field checks done at the edge.

use chrono::{DateTime, Utc};
use contracts::{BotId, IntegrationId, PhoneNumber};
use serde::{Deserialize, Deserializer, Serialize};
use store::integrations::{Integration, IntegrationDetails};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

/// Shown instead of a stored WhatsApp secret.
pub const MASKED: &str = "••••••••";
pub const DEFAULT_API_VERSION: &str = "v21.0";

/// For `Option<Option<T>>` fields: absent → `None`, `null` → `Some(None)`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertEmail {
    pub enabled: bool,
    /// Required when `enabled`.
    #[schema(max_length = 254, pattern = "^[^\\s@]+@\\S*[.]\\S*$")]
    pub address: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Template {
    #[schema(pattern = "^[a-z0-9_]{1,512}$")]
    pub name: String,
    #[schema(pattern = "^[A-Za-z_-]{2,15}$")]
    pub language_code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CreateIntegration {
    Api(CreateApiIntegration),
    Whatsapp(Box<CreateWhatsappIntegration>),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiIntegration {
    /// The alias.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: String,
    #[schema(value_type = Option<i64>)]
    pub bot_id: Option<BotId>,
    /// Leave out (or empty) to have a 40-character key generated. A provided key must be at
    /// least as strong as a generated one. Shown once in the response, never again.
    pub api_key: Option<String>,
    #[serde(default)]
    pub variable_injection: bool,
    #[schema(minimum = 1, maximum = 1000000)]
    pub rate_limit_per_minute: Option<u32>,
    pub alert_email: Option<AlertEmail>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWhatsappIntegration {
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: String,
    #[schema(value_type = Option<i64>)]
    pub bot_id: Option<BotId>,
    #[schema(pattern = "^[0-9]{1,32}$")]
    pub business_account_id: String,
    #[schema(pattern = "^[0-9]{1,32}$")]
    pub phone_number_id: String,
    #[schema(pattern = "^[0-9]{1,32}$")]
    pub app_id: String,
    #[schema(min_length = 1, max_length = 4096, pattern = "^[\\x21-\\x7e]+$")]
    pub app_secret: String,
    /// The short-lived token from Meta's dashboard.
    #[schema(min_length = 1, max_length = 4096, pattern = "^[\\x21-\\x7e]+$")]
    pub access_token: String,
    #[schema(
        min_length = 8,
        max_length = 255,
        pattern = "^[^\\s\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    pub verify_token: String,
    #[schema(pattern = "^v[0-9]{1,3}[.][0-9]{1,2}$")]
    pub api_version: Option<String>,
    /// Conversations idle this long expire; `null` or absent: never.
    #[schema(minimum = 1, maximum = 43200)]
    pub conversation_expiry_minutes: Option<u32>,
    pub template: Option<Template>,
    /// Numbers allowed to start the bot; empty: everyone.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub trigger_recipients: Vec<PhoneNumber>,
    pub alert_email: Option<AlertEmail>,
}

/// Every field optional; `null` clears a clearable field. Fields of the other kind are refused.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegration {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub bot_id: Option<Option<BotId>>,
    pub alert_email: Option<AlertEmail>,
    /// Refused: API keys cannot be changed (create a new integration instead).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<Option<serde_json::Value>>,
    pub variable_injection: Option<bool>,
    #[schema(minimum = 1, maximum = 1000000)]
    pub rate_limit_per_minute: Option<u32>,
    #[schema(pattern = "^[0-9]{1,32}$")]
    pub business_account_id: Option<String>,
    #[schema(pattern = "^[0-9]{1,32}$")]
    pub phone_number_id: Option<String>,
    #[schema(pattern = "^[0-9]{1,32}$")]
    pub app_id: Option<String>,
    #[schema(min_length = 1, max_length = 4096, pattern = "^[\\x21-\\x7e]+$")]
    pub app_secret: Option<String>,
    #[schema(min_length = 1, max_length = 4096, pattern = "^[\\x21-\\x7e]+$")]
    pub access_token: Option<String>,
    #[schema(
        min_length = 8,
        max_length = 255,
        pattern = "^[^\\s\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    pub verify_token: Option<String>,
    #[schema(pattern = "^v[0-9]{1,3}[.][0-9]{1,2}$")]
    pub api_version: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub conversation_expiry_minutes: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    pub template: Option<Option<Template>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub trigger_recipients: Option<Vec<PhoneNumber>>,
}

impl UpdateIntegration {
    /// The names of the WhatsApp-only fields present, to refuse them on an API integration.
    pub fn whatsapp_fields(&self) -> Vec<&'static str> {
        let mut present = Vec::new();
        let mut check = |set: bool, name| {
            if set {
                present.push(name)
            }
        };
        check(self.business_account_id.is_some(), "business_account_id");
        check(self.phone_number_id.is_some(), "phone_number_id");
        check(self.app_id.is_some(), "app_id");
        check(self.app_secret.is_some(), "app_secret");
        check(self.access_token.is_some(), "access_token");
        check(self.verify_token.is_some(), "verify_token");
        check(self.api_version.is_some(), "api_version");
        check(
            self.conversation_expiry_minutes.is_some(),
            "conversation_expiry_minutes",
        );
        check(self.template.is_some(), "template");
        check(self.trigger_recipients.is_some(), "trigger_recipients");
        present
    }

    pub fn api_fields(&self) -> Vec<&'static str> {
        let mut present = Vec::new();
        if self.variable_injection.is_some() {
            present.push("variable_injection");
        }
        if self.rate_limit_per_minute.is_some() {
            present.push("rate_limit_per_minute");
        }
        present
    }
}

// ---- field checks ----------------------------------------------------------------------

fn invalid(field: &str, why: &str) -> ApiError {
    ApiError::unprocessable("invalid_field", format!("{field} {why}"))
}

pub fn checked_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if raw.chars().count() > 200 {
        return Err(invalid("name", "must be at most 200 characters"));
    }
    Ok(name.to_owned())
}

/// Meta's ids (business account, phone number, app) are numeric strings.
pub fn checked_meta_id(raw: &str, field: &str) -> Result<String, ApiError> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(field, "must be Meta's numeric id (1 to 32 digits)"));
    }
    Ok(id.to_owned())
}

pub fn checked_secret(raw: &str, field: &str) -> Result<String, ApiError> {
    if raw.trim().is_empty() || raw.len() > 4096 || raw.chars().any(char::is_whitespace) {
        return Err(invalid(
            field,
            "must be 1 to 4096 characters without whitespace",
        ));
    }
    Ok(raw.to_owned())
}

pub fn checked_verify_token(raw: &str) -> Result<String, ApiError> {
    let len = raw.chars().count();
    if !(8..=255).contains(&len) || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "verify_token",
            "must be 8 to 255 characters without whitespace",
        ));
    }
    Ok(raw.to_owned())
}

pub fn checked_api_version(raw: Option<&str>) -> Result<String, ApiError> {
    let version = raw.map(str::trim).unwrap_or(DEFAULT_API_VERSION);
    let valid = version
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.len() <= 3
                && minor.len() <= 2
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        });
    if !valid {
        return Err(invalid("api_version", "must look like v21.0"));
    }
    Ok(version.to_owned())
}

pub fn checked_expiry_seconds(minutes: Option<u32>) -> Result<Option<i32>, ApiError> {
    match minutes {
        None => Ok(None),
        Some(m) if (1..=60 * 24 * 30).contains(&m) => Ok(Some(m as i32 * 60)),
        Some(_) => Err(invalid(
            "conversation_expiry_minutes",
            "must be between 1 and 43200 (30 days)",
        )),
    }
}

pub fn checked_template(template: &Template) -> Result<(String, String), ApiError> {
    let name = template.name.trim();
    let language = template.language_code.trim();
    let name_ok = !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(invalid(
            "template.name",
            "must be Meta's template name: lowercase letters, digits and underscores",
        ));
    }
    let language_ok = (2..=15).contains(&language.len())
        && language
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-');
    if !language_ok {
        return Err(invalid(
            "template.language_code",
            "must be a language code such as en_US",
        ));
    }
    Ok((name.to_owned(), language.to_owned()))
}

/// `(enabled, address)`; enabling needs a plausible address.
pub fn checked_alert_email(alert: Option<&AlertEmail>) -> Result<(bool, Option<String>), ApiError> {
    let Some(alert) = alert else {
        return Ok((false, None));
    };
    let address = alert
        .address
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    if let Some(address) = address {
        let plausible = address.len() <= 254
            && !address.chars().any(char::is_whitespace)
            && address
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
        if !plausible {
            return Err(invalid("alert_email.address", "is not an e-mail address"));
        }
    }
    if alert.enabled && address.is_none() {
        return Err(invalid(
            "alert_email.address",
            "is required when alerts are enabled",
        ));
    }
    Ok((alert.enabled, address.map(str::to_owned)))
}

pub fn checked_rate_limit(limit: Option<u32>, default: u32) -> Result<i32, ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=1_000_000).contains(&limit) {
        return Err(invalid(
            "rate_limit_per_minute",
            "must be between 1 and 1000000",
        ));
    }
    Ok(limit as i32)
}

// ---- responses -------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct BotRef {
    #[schema(value_type = i64)]
    pub id: BotId,
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ApiEndpoints {
    pub session_start: String,
    pub send_message: String,
}

#[derive(Serialize, ToSchema)]
pub struct ApiView {
    /// Masked; the key itself is shown only in the creation response.
    pub api_key: String,
    pub variable_injection: bool,
    pub rate_limit_per_minute: i32,
    pub endpoints: ApiEndpoints,
}

#[derive(Serialize, ToSchema)]
pub struct WhatsappView {
    pub business_account_id: String,
    pub phone_number_id: String,
    pub app_id: String,
    pub app_secret: String,
    pub access_token: String,
    pub verify_token: String,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub api_version: String,
    pub conversation_expiry_minutes: Option<i32>,
    pub template: Option<Template>,
    pub trigger_recipients: Vec<String>,
    /// Enter this URL as the callback URL in Meta's App Dashboard.
    pub webhook_url: String,
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationView {
    #[schema(value_type = i64)]
    pub id: IntegrationId,
    pub kind: String,
    pub name: String,
    pub bot: Option<BotRef>,
    pub active: bool,
    /// `active` or `inactive`.
    pub status: String,
    pub alert_email: AlertEmail,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_activity_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<WhatsappView>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedIntegration {
    #[serde(flatten)]
    pub integration: IntegrationView,
    /// API integrations only: the key in clear, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationSummary {
    #[schema(value_type = i64)]
    pub id: IntegrationId,
    pub name: String,
    pub kind: String,
    pub status: String,
    pub active: bool,
    pub bot: Option<BotRef>,
    pub last_activity_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationList {
    pub integrations: Vec<IntegrationSummary>,
}

fn status(active: bool) -> String {
    if active { "active" } else { "inactive" }.to_owned()
}

fn bot_ref(integration: &Integration) -> Option<BotRef> {
    integration.bot_id.map(|id| BotRef {
        id,
        name: integration.bot_name.clone(),
    })
}

impl IntegrationSummary {
    pub fn from_integration(integration: &Integration) -> Self {
        IntegrationSummary {
            id: integration.id,
            name: integration.name.clone(),
            kind: integration.kind().as_str().to_owned(),
            status: status(integration.active),
            active: integration.active,
            bot: bot_ref(integration),
            last_activity_at: integration.last_activity_at,
        }
    }
}

impl IntegrationView {
    pub fn from_integration(integration: Integration, state: &AppState) -> Self {
        let id = integration.id;
        let (api, whatsapp) = match &integration.details {
            IntegrationDetails::Api(api) => {
                let base = format!(
                    "{}/api/integrations/api/{id}",
                    state.public_api_base_url.trim_end_matches('/')
                );
                (
                    Some(ApiView {
                        api_key: crypto::masked_from_hint(&api.key_hint),
                        variable_injection: api.variable_injection,
                        rate_limit_per_minute: api.rate_limit_per_minute,
                        endpoints: ApiEndpoints {
                            session_start: format!("{base}/session/"),
                            send_message: format!("{base}/session/{{session_id}}/message/"),
                        },
                    }),
                    None,
                )
            }
            IntegrationDetails::Whatsapp(wa) => (
                None,
                Some(WhatsappView {
                    business_account_id: wa.business_account_id.clone(),
                    phone_number_id: wa.phone_number_id.clone(),
                    app_id: wa.app_id.clone(),
                    app_secret: MASKED.to_owned(),
                    access_token: MASKED.to_owned(),
                    verify_token: MASKED.to_owned(),
                    access_token_expires_at: wa.access_token_expires_at,
                    api_version: wa.api_version.clone(),
                    conversation_expiry_minutes: wa.conversation_expiry_seconds.map(|s| s / 60),
                    template: match (&wa.template_name, &wa.template_language) {
                        (Some(name), Some(language)) => Some(Template {
                            name: name.clone(),
                            language_code: language.clone(),
                        }),
                        _ => None,
                    },
                    trigger_recipients: wa.trigger_recipients.clone(),
                    webhook_url: format!(
                        "{}/webhooks/whatsapp/{id}",
                        state.public_webhook_base_url.trim_end_matches('/')
                    ),
                }),
            ),
        };
        IntegrationView {
            id,
            kind: integration.kind().as_str().to_owned(),
            bot: bot_ref(&integration),
            name: integration.name,
            active: integration.active,
            status: status(integration.active),
            alert_email: AlertEmail {
                enabled: integration.alert_email_enabled,
                address: integration.alert_email,
            },
            created_at: integration.created_at,
            updated_at: integration.updated_at,
            last_activity_at: integration.last_activity_at,
            api,
            whatsapp,
        }
    }
}
