//! The API integration's OpenAPI document, served at `/openapi.json` and committed as
//! `docs/openapi/api-gateway.json` (a test fails when the two drift).

use utoipa::OpenApi;

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bot platform API integration",
        description = "Start a session with a bot and exchange messages with it. Authenticate \
                       with the integration's API key in `X-API-Key` (or \
                       `Authorization: Bearer <key>`). Both paths also work without the \
                       trailing slash. Errors are `{\"error\": {\"code\", \"message\"}}`.",
        version = "1.0.0"
    ),
    paths(routes::start_session, routes::send_message)
)]
pub struct GatewayApi;

pub fn document_json() -> String {
    GatewayApi::openapi()
        .to_pretty_json()
        .unwrap_or_else(|err| format!("{{\"error\": \"{err}\"}}"))
}
