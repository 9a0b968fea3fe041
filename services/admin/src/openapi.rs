//! The admin API's OpenAPI document, served at `/openapi.json` and committed as
//! `docs/openapi/admin.json` (a test fails when the two drift).

use service_kit::edge::TextLimits;
use service_kit::openapi::Completion;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::{
    accounts, bots, dead_letters, health, integrations, recordings, scenarios, test_runs,
    whatsapp_start,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bot platform admin API",
        description = "Control plane: accounts, operator tokens, bots and integrations. \
                       Every route under /v1 needs `Authorization: Bearer <operator token>`; \
                       objects of other accounts answer 404.",
        version = "1.0.0"
    ),
    modifiers(&BearerAuth),
    security(("operator_token" = [])),
    paths(
        health::health, health::ready,
        accounts::get_account, accounts::create_account, accounts::list_tokens,
        accounts::create_token, accounts::revoke_token,
        bots::create_bot, bots::list_bots, bots::get_bot, bots::update_bot, bots::delete_bot,
        bots::validate_bot, bots::publish_bot, bots::list_versions, bots::get_version,
        integrations::create_integration, integrations::list_integrations,
        integrations::get_integration, integrations::update_integration,
        integrations::delete_integration, integrations::activate, integrations::deactivate,
        whatsapp_start::start_whatsapp,
        dead_letters::list_dead_letters, dead_letters::get_dead_letter,
        dead_letters::replay_dead_letter, dead_letters::discard_dead_letter,
        dead_letters::delete_dead_letter,
        test_runs::start_test_run, test_runs::get_test_run, test_runs::list_test_runs,
        test_runs::cancel_test_run, recordings::record_conversation,
        scenarios::list_scenarios, scenarios::create_scenario, scenarios::get_scenario,
        scenarios::replace_scenario, scenarios::delete_scenario,
    ),
    components(schemas(ErrorBody, ErrorDetail))
)]
pub struct AdminApi;

/// The document as pretty JSON with the default limits (stable key order, for the committed
/// snapshot).
pub fn document_json() -> String {
    document_json_with(&TextLimits::default())
}

/// The document with the service's configured limits (what `/openapi.json` serves).
pub fn document_json_with(limits: &TextLimits) -> String {
    let mut doc = match serde_json::to_value(AdminApi::openapi()) {
        Ok(doc) => doc,
        Err(err) => return format!("{{\"error\": \"{err}\"}}"),
    };
    // A query string spells a boolean as text: say which texts, so that a fuzzer's "wrong type"
    // is one the query can carry.
    if let Some(parameters) = doc
        .pointer_mut("/paths/~1v1~1bots/get/parameters")
        .and_then(serde_json::Value::as_array_mut)
    {
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "published") {
            parameter["schema"] = serde_json::json!({"type": "string", "enum": ["true", "false"]});
        }
    }
    service_kit::openapi::complete(
        &mut doc,
        &Completion {
            authenticated: |path| path.starts_with("/v1/"),
            checks_content_type: true,
            limits: *limits,
            limits_failed_sign_ins: true,
        },
    );
    serde_json::to_string_pretty(&doc).unwrap_or_else(|err| format!("{{\"error\": \"{err}\"}}"))
}
