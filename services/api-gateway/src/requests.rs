//! The two request bodies, parsed from the raw bytes (the bytes are also what the
//! Idempotency-Key fingerprint is made of) with errors that name the field.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use service_kit::edge::{self, TextLimits};
use service_kit::http_error::ApiError;
use utoipa::ToSchema;

/// Session ids travel in URL paths: keep them to characters that need no escaping.
const MAX_ID_LEN: usize = 255;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSession {
    /// Custom session id (auto-generated if omitted): 1 to 255 of `A-Z a-z 0-9 . _ ~ : @ -`.
    pub session_id: Option<String>,
    /// For logging; defaults to the session id.
    pub user_identifier: Option<String>,
    /// Replace an existing session with that id instead of answering 409.
    #[serde(default)]
    pub force_restart: bool,
    /// Seed values for variables the bot declares (needs variable injection on the
    /// integration). Strings, numbers and booleans are accepted and stored as text.
    #[schema(value_type = Option<Object>)]
    pub variables: Option<BTreeMap<String, Value>>,
    /// The session's first input, readable by the flow as `on_create_message_payload`.
    pub message_payload: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// Free text.
    pub message: Option<String>,
    /// The id of an option of the last buttons or list message.
    pub selected_option_id: Option<String>,
}

/// What a message request asks for, once validated.
pub enum MessageInput {
    Text(String),
    Option(String),
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_body", message)
}

/// What the two bodies are held to: the shared text rules, and the gateway's own field limits
/// (`API_MAX_MESSAGE_CHARS`, `API_MAX_VARIABLES`). The OpenAPI document shows the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    pub text: TextLimits,
    /// Longest `message` and `message_payload`, in characters.
    pub max_message_chars: usize,
    /// Most `variables` in one session start.
    pub max_variables: usize,
}

pub const DEFAULT_MAX_MESSAGE_CHARS: usize = 4096;
pub const DEFAULT_MAX_VARIABLES: usize = 100;
/// Variable names as flows declare them: `[A-Za-z_][A-Za-z0-9_]{0,63}`.
pub const VARIABLE_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]{0,63}$";

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            text: TextLimits::default(),
            max_message_chars: DEFAULT_MAX_MESSAGE_CHARS,
            max_variables: DEFAULT_MAX_VARIABLES,
        }
    }
}

/// Parses JSON under the edge's text rules, with errors that name the field. An empty body is
/// `{}`; a body that is not JSON is 422 here (docs/api-integration.md).
fn parse<T: serde::de::DeserializeOwned>(
    body: &[u8],
    limits: &BodyLimits,
) -> Result<(T, Value), ApiError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        contracts::edge::parse_json(body, &limits.text).map_err(|err| {
            if err.is_malformed() {
                invalid(format!("the body {}", err.problem))
            } else {
                refused(&err)
            }
        })?
    };
    if !value.is_object() {
        return Err(invalid("the body must be a JSON object"));
    }
    let parsed = edge::decode_value(&value)?;
    Ok((parsed, value))
}

/// The edge's refusal without its `details`: the gateway's error `details` are the wire
/// contract's (`proto/v1`), and the message already names the field.
fn refused(err: &contracts::edge::EdgeError) -> ApiError {
    let mut refusal = edge::refusal(err);
    refusal.details = None;
    refusal
}

/// A field's text under a tighter limit than the body's.
fn checked_text(field: &str, text: &str, max_chars: usize) -> Result<(), ApiError> {
    contracts::edge::check_text(field, text, max_chars).map_err(|err| refused(&err))
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn checked_session_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_~:@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "session_id must be 1 to 255 characters of A-Z a-z 0-9 . _ ~ : @ -",
        ))
    }
}

impl StartSession {
    /// The request and its canonical JSON (for the Idempotency-Key fingerprint).
    pub fn parse(body: &[u8], limits: &BodyLimits) -> Result<(Self, Value), ApiError> {
        let (start, value): (StartSession, Value) = parse(body, limits)?;
        if let Some(id) = &start.session_id {
            checked_session_id(id)?;
        }
        if let Some(user) = &start.user_identifier {
            if user.is_empty() || user.chars().count() > MAX_ID_LEN {
                return Err(invalid("user_identifier must be 1 to 255 characters"));
            }
        }
        if let Some(payload) = &start.message_payload {
            checked_text("message_payload", payload, limits.max_message_chars)?;
        }
        let variables = start.variables.iter().flatten();
        if variables.clone().count() > limits.max_variables {
            return Err(ApiError::unprocessable(
                "invalid_field",
                format!("`variables` has more than {} members", limits.max_variables),
            ));
        }
        for (name, _) in variables {
            if !is_variable_name(name) {
                return Err(ApiError::unprocessable(
                    "invalid_field",
                    format!(
                        "`variables` has a member `{name}` that is not a variable name \
                         ([A-Za-z_][A-Za-z0-9_]{{0,63}})"
                    ),
                ));
            }
        }
        Ok((start, value))
    }

    /// The injected variables as text; `Err` names the first value that is not a scalar.
    pub fn variables_as_text(&self) -> Result<BTreeMap<String, String>, ApiError> {
        let mut text = BTreeMap::new();
        for (name, value) in self.variables.iter().flatten() {
            let rendered = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(invalid(format!(
                        "variables.{name} must be a string, number or boolean"
                    )))
                }
            };
            text.insert(name.clone(), rendered);
        }
        Ok(text)
    }
}

impl SendMessage {
    pub fn parse(body: &[u8], limits: &BodyLimits) -> Result<(MessageInput, Value), ApiError> {
        let (message, value): (SendMessage, Value) = parse(body, limits)?;
        let input = match (message.message, message.selected_option_id) {
            (Some(text), None) => {
                checked_text("message", &text, limits.max_message_chars)?;
                MessageInput::Text(text)
            }
            (None, Some(option)) if !option.is_empty() => {
                checked_text("selected_option_id", &option, MAX_ID_LEN)?;
                MessageInput::Option(option)
            }
            (None, Some(_)) => return Err(invalid("selected_option_id must not be empty")),
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "send exactly one of message and selected_option_id, not both",
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "send exactly one of message and selected_option_id",
                ))
            }
        };
        Ok((input, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: BodyLimits = BodyLimits {
        text: TextLimits {
            max_depth: 32,
            max_string_chars: 16 * 1024,
            max_array_items: 10_000,
            max_object_properties: 1_000,
        },
        max_message_chars: DEFAULT_MAX_MESSAGE_CHARS,
        max_variables: DEFAULT_MAX_VARIABLES,
    };

    #[test]
    fn start_bodies() {
        assert!(StartSession::parse(b"", &L).is_ok());
        assert!(StartSession::parse(b"{}", &L).is_ok());
        let (start, _) =
            StartSession::parse(br#"{"session_id":"user-123","force_restart":true}"#, &L).unwrap();
        assert_eq!(start.session_id.as_deref(), Some("user-123"));
        assert!(start.force_restart);
        for bad in [
            &br#"{"session_id": 5}"#[..],
            br#"{"sesion_id": "x"}"#,
            br#"[1]"#,
            br#"{"session_id": "a/b"}"#,
            br#"{"force_restart": "yes"}"#,
            br#"{"#,
        ] {
            let err = StartSession::parse(bad, &L).unwrap_err();
            assert_eq!(err.status.as_u16(), 422, "{}", String::from_utf8_lossy(bad));
        }
        let (start, _) =
            StartSession::parse(br#"{"variables":{"a":"x","n":3,"b":true}}"#, &L).unwrap();
        let vars = start.variables_as_text().unwrap();
        assert_eq!(vars["n"], "3");
        assert_eq!(vars["b"], "true");
        let (start, _) = StartSession::parse(br#"{"variables":{"a":[1]}}"#, &L).unwrap();
        assert!(start.variables_as_text().is_err());
    }

    #[test]
    fn message_bodies_need_exactly_one_input() {
        assert!(
            matches!(SendMessage::parse(br#"{"message":"hi"}"#, &L).unwrap().0, MessageInput::Text(t) if t == "hi")
        );
        assert!(
            matches!(SendMessage::parse(br#"{"selected_option_id":"o1"}"#, &L).unwrap().0, MessageInput::Option(o) if o == "o1")
        );
        for bad in [
            &br#"{}"#[..],
            br#"{"message":"a","selected_option_id":"b"}"#,
            br#"{"message": 1}"#,
            br#"{"text": "hi"}"#,
            b"not json",
        ] {
            assert!(
                SendMessage::parse(bad, &L).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
