//! Meta's error envelope and the catalogue of codes the emulator answers with.
//!
//! `{"error":{"message","type","code","error_data":{"messaging_product","details"},
//! "error_subcode"?,"fbtrace_id"}}`, field order as in Meta's samples
//! (`fixtures/meta/graph-api/error_*.json`).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;

/// One Graph API error, ready to be answered.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: i64,
    pub subcode: Option<i64>,
    pub message: String,
    /// `error_data.details`; `None` leaves `error_data` out (token errors have none).
    pub details: Option<String>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    code: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_data: Option<ErrorData<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_subcode: Option<i64>,
    fbtrace_id: String,
}

#[derive(Serialize)]
struct ErrorData<'a> {
    messaging_product: &'static str,
    details: &'a str,
}

/// The HTTP status, message and default details Meta uses for `code`
/// (whatsapp-cloud-api.md §6; throttling codes answer 400 as in Meta's table).
pub fn catalogue(code: i64) -> (u16, &'static str, Option<&'static str>) {
    match code {
        0 => (401, "(#0) AuthException", None),
        1 => (400, "An unknown error occurred", Some("An unknown error occurred")),
        2 => (503, "Service temporarily unavailable", Some("Service temporarily unavailable")),
        4 => (400, "(#4) Application request limit reached", Some("Too many API calls from this app")),
        10 => (403, "(#10) Application does not have permission for this action", Some("Permission is either not granted or has been removed")),
        100 => (400, "(#100) Invalid parameter", Some("Invalid parameter")),
        190 => (401, "Invalid OAuth access token - Cannot parse access token", None),
        200..=299 => (403, "(#200) Permissions error", Some("Permission is either not granted or has been removed")),
        368 => (403, "(#368) Temporarily blocked for policies violations", Some("The WhatsApp Business Account was restricted or disabled for violating a platform policy")),
        80007 => (400, "(#80007) Rate limit issues", Some("The WhatsApp Business Account has reached its rate limit")),
        130429 => (400, "(#130429) Rate limit hit", Some("Message failed to send because there were too many messages sent from this phone number in a short period of time")),
        131000 => (500, "(#131000) Something went wrong", Some("Message failed to send due to an unknown error")),
        131005 => (403, "(#131005) Access denied", Some("Permission is either not granted or has been removed")),
        131008 => (400, "(#131008) Required parameter is missing", Some("The request is missing a required parameter")),
        131009 => (400, "(#131009) Parameter value is not valid", Some("One or more parameter values are invalid")),
        131016 => (503, "(#131016) Service unavailable", Some("A service is temporarily unavailable")),
        131026 => (400, "(#131026) Message undeliverable", Some("Unable to deliver message")),
        131031 => (403, "(#131031) Business Account locked", Some("The WhatsApp Business Account associated with the app has been restricted or disabled")),
        131047 => (400, "(#131047) Re-engagement message", Some("Message failed to send because more than 24 hours have passed since the customer last replied to this number.")),
        131048 => (400, "(#131048) Spam rate limit hit", Some("Message failed to send because there are restrictions on how many messages can be sent from this phone number")),
        131051 => (400, "(#131051) Unsupported message type", Some("Message type is not currently supported")),
        131056 => (400, "(#131056) (Business Account, Consumer Account) pair rate limit hit", Some("Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.")),
        131057 => (500, "(#131057) Account in maintenance mode", Some("Business Account is in maintenance mode")),
        132000 => (400, "(#132000) Number of parameters does not match the expected number of params", Some("The number of variable parameter values does not match the template")),
        132001 => (404, "(#132001) Template name does not exist in the translation", Some("The template does not exist in the specified language")),
        132015 => (400, "(#132015) Template is paused", Some("The template is paused due to low quality")),
        _ => (400, "An unknown error occurred", None),
    }
}

/// The Meta code a bare HTTP status stands for, when a fault gives only a status.
pub fn code_for_status(status: u16) -> i64 {
    match status {
        401 => 190,
        403 => 10,
        404 => 100,
        429 => 130429,
        503 => 2,
        500..=599 => 131000,
        _ => 1,
    }
}

impl GraphError {
    /// The catalogue's answer for `code`.
    pub fn code(code: i64) -> Self {
        let (status, message, details) = catalogue(code);
        GraphError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            subcode: None,
            message: message.to_owned(),
            details: details.map(str::to_owned),
        }
    }

    /// 100 "Invalid parameter" with specific details (a missing or malformed parameter).
    pub fn invalid_parameter(details: impl Into<String>) -> Self {
        Self::code(100).with_details(details)
    }

    /// 131009 "Parameter value is not valid" with specific details (a value out of Meta's
    /// limits).
    pub fn invalid_value(details: impl Into<String>) -> Self {
        Self::code(131009).with_details(details)
    }

    /// 190, with the message and subcode Meta uses for the situation.
    pub fn token(status: StatusCode, message: impl Into<String>, subcode: Option<i64>) -> Self {
        GraphError {
            status,
            code: 190,
            subcode,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    pub fn with_subcode(mut self, subcode: Option<i64>) -> Self {
        self.subcode = subcode;
        self
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The envelope as JSON (with a fresh `fbtrace_id`).
    pub fn to_json(&self) -> Value {
        let envelope = Envelope {
            error: Body {
                message: &self.message,
                kind: "OAuthException",
                code: self.code,
                error_data: self.details.as_deref().map(|details| ErrorData {
                    messaging_product: "whatsapp",
                    details,
                }),
                error_subcode: self.subcode,
                fbtrace_id: fbtrace_id(),
            },
        };
        serde_json::to_value(envelope).unwrap_or(Value::Null)
    }
}

/// Sends `body` (this error's envelope) the way Graph does: token errors carry a
/// `WWW-Authenticate` header.
pub fn respond(error: &GraphError, body: &Value) -> HttpResponse {
    let mut builder = HttpResponse::build(error.status);
    if error.code == 190 {
        builder.insert_header((
            "www-authenticate",
            "OAuth \"Facebook Platform\" \"invalid_token\" \"Invalid OAuth access token\"",
        ));
    }
    builder.json(body)
}

/// A random 22-character id like Meta's `fbtrace_id`.
fn fbtrace_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_metas_shape() {
        let json = GraphError::code(130429)
            .with_subcode(Some(2494055))
            .to_json();
        let error = &json["error"];
        assert_eq!(error["message"], "(#130429) Rate limit hit");
        assert_eq!(error["type"], "OAuthException");
        assert_eq!(error["code"], 130429);
        assert_eq!(error["error_data"]["messaging_product"], "whatsapp");
        assert_eq!(error["error_subcode"], 2494055);
        assert_eq!(error["fbtrace_id"].as_str().map(str::len), Some(22));
    }

    #[test]
    fn token_errors_have_no_error_data() {
        let json = GraphError::token(StatusCode::UNAUTHORIZED, "expired", Some(463)).to_json();
        assert!(json["error"].get("error_data").is_none());
        assert_eq!(json["error"]["error_subcode"], 463);
    }

    #[test]
    fn statuses_follow_metas_table() {
        assert_eq!(GraphError::code(190).status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            GraphError::code(131000).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(GraphError::code(131056).status, StatusCode::BAD_REQUEST);
        assert_eq!(code_for_status(429), 130429);
        assert_eq!(code_for_status(502), 131000);
    }
}
