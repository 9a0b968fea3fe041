//! The admin API's OpenAPI document, served at `/openapi.json` and committed as
//! `docs/openapi/admin.json` (a test fails when the two drift).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::{accounts, bots, health, integrations, test_runs, whatsapp_start};

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
        test_runs::start_test_run, test_runs::get_test_run, test_runs::list_test_runs,
        test_runs::cancel_test_run,
    ),
    components(schemas(ErrorBody, ErrorDetail))
)]
pub struct AdminApi;

/// The document as pretty JSON (stable key order, for the committed snapshot).
pub fn document_json() -> String {
    AdminApi::openapi()
        .to_pretty_json()
        .unwrap_or_else(|err| format!("{{\"error\": \"{err}\"}}"))
}
