//! The API integration's OpenAPI document, served at `/openapi.json` and committed as
//! `docs/openapi/api-gateway.json` (a test fails when the two drift).

use serde_json::{json, Value};
use service_kit::openapi::{Completion, STORABLE_TEXT_PATTERN};
use utoipa::OpenApi;

use crate::requests::{BodyLimits, VARIABLE_NAME_PATTERN};
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

/// The document with the default limits (the committed snapshot).
pub fn document_json() -> String {
    document_json_with(&BodyLimits::default())
}

/// The document with the gateway's configured limits (what `/openapi.json` serves).
pub fn document_json_with(limits: &BodyLimits) -> String {
    let mut doc = match serde_json::to_value(GatewayApi::openapi()) {
        Ok(doc) => doc,
        Err(err) => return format!("{{\"error\": \"{err}\"}}"),
    };
    constrain_bodies(&mut doc, limits);
    service_kit::openapi::complete(
        &mut doc,
        &Completion {
            authenticated: |_| true,
            // The gateway reads any body as JSON, whatever its content type says.
            checks_content_type: false,
            limits: limits.text,
            limits_failed_sign_ins: false,
        },
    );
    serde_json::to_string_pretty(&doc).unwrap_or_else(|err| format!("{{\"error\": \"{err}\"}}"))
}

/// The two bodies' own rules, which derive attributes cannot take from the configuration:
/// lengths, the variables' names and values, and "exactly one of message and
/// selected_option_id".
fn constrain_bodies(doc: &mut Value, limits: &BodyLimits) {
    // Idempotency-Key: 1 to 255 visible ASCII characters (spaces inside only: HTTP trims them).
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            let parameters = item
                .pointer_mut("/post/parameters")
                .and_then(Value::as_array_mut);
            for parameter in parameters.into_iter().flatten() {
                if parameter["name"] == "Idempotency-Key" {
                    parameter["schema"] = json!({
                        "type": "string", "minLength": 1, "maxLength": 255,
                        "pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$"
                    });
                }
            }
        }
    }
    let text = |max: usize| json!({"type": ["string", "null"], "maxLength": max, "pattern": STORABLE_TEXT_PATTERN});
    if let Some(start) = doc.pointer_mut("/components/schemas/StartSession/properties") {
        start["session_id"] = json!({
            "type": ["string", "null"], "minLength": 1, "maxLength": 255,
            "pattern": "^[A-Za-z0-9._~:@-]+$",
            "description": start["session_id"]["description"].clone(),
        });
        start["user_identifier"]["minLength"] = json!(1);
        start["user_identifier"]["maxLength"] = json!(255);
        let description = start["message_payload"]["description"].clone();
        start["message_payload"] = text(limits.max_message_chars);
        start["message_payload"]["description"] = description;
        let description = start["variables"]["description"].clone();
        start["variables"] = json!({
            "type": ["object", "null"],
            "description": description,
            "maxProperties": limits.max_variables,
            "propertyNames": {"pattern": VARIABLE_NAME_PATTERN},
            "additionalProperties": {"oneOf": [
                {"type": "string", "maxLength": limits.text.max_string_chars,
                 "pattern": STORABLE_TEXT_PATTERN},
                {"type": "number"},
                {"type": "boolean"}
            ]}
        });
    }
    if let Some(message) = doc.pointer_mut("/components/schemas/SendMessage") {
        let description = message["properties"]["message"]["description"].clone();
        message["properties"]["message"] = text(limits.max_message_chars);
        message["properties"]["message"]["description"] = description;
        message["properties"]["message"]["type"] = json!("string");
        message["properties"]["selected_option_id"]["type"] = json!("string");
        message["properties"]["selected_option_id"]["minLength"] = json!(1);
        message["properties"]["selected_option_id"]["maxLength"] = json!(255);
        message["oneOf"] = json!([
            {"required": ["message"], "not": {"required": ["selected_option_id"]}},
            {"required": ["selected_option_id"], "not": {"required": ["message"]}}
        ]);
    }
}
