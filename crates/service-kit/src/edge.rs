//! Request bodies at the edge, for every service with a JSON API: read within a byte limit,
//! parsed under the text rules of [`contracts::edge`] (NUL, lone surrogates, non-UTF-8, length,
//! depth, width, duplicate keys), then decoded into the handler's type with errors that name
//! the field. [`EdgeJson`] is the extractor; [`decode`] the same for handlers that need the raw
//! bytes too (the gateway fingerprints them).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::{dev, FromRequest, HttpRequest};
use config::{ConfigError, Lookup};
pub use contracts::edge::{EdgeError, Problem, TextLimits};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::http_error::ApiError;

/// Reads the shared limits from the environment: `EDGE_MAX_JSON_DEPTH` (default 32, at most
/// 100: serde_json's own recursion limit is 128), `EDGE_MAX_STRING_CHARS` (16384),
/// `EDGE_MAX_ARRAY_ITEMS` (10000), `EDGE_MAX_OBJECT_PROPERTIES` (1000).
pub fn limits_from_lookup(lookup: Lookup<'_>) -> Result<TextLimits, ConfigError> {
    let defaults = TextLimits::default();
    let read = |name: &str, default: usize, max: usize| -> Result<usize, ConfigError> {
        let value = config::parse_or_from(lookup, name, default)?;
        if value == 0 || value > max {
            return Err(ConfigError::Invalid {
                name: name.into(),
                reason: format!("must be between 1 and {max}"),
            });
        }
        Ok(value)
    };
    Ok(TextLimits {
        max_depth: read("EDGE_MAX_JSON_DEPTH", defaults.max_depth, 100)?,
        max_string_chars: read(
            "EDGE_MAX_STRING_CHARS",
            defaults.max_string_chars,
            16 * 1024 * 1024,
        )?,
        max_array_items: read("EDGE_MAX_ARRAY_ITEMS", defaults.max_array_items, 10_000_000)?,
        max_object_properties: read(
            "EDGE_MAX_OBJECT_PROPERTIES",
            defaults.max_object_properties,
            10_000_000,
        )?,
    })
}

/// The one mapping of a refused body to HTTP: JSON that is not JSON is 400 `malformed_json`;
/// text we will not store is 422 `invalid_text`, a limit or a duplicate key 422
/// `invalid_field`; both name the field in the message and in `details`.
pub fn refusal(err: &EdgeError) -> ApiError {
    let code = match err.problem {
        Problem::Malformed(_) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {}", err.problem),
            )
        }
        Problem::Nul
        | Problem::LoneSurrogate
        | Problem::InvalidUtf8
        | Problem::ControlCharacter => "invalid_text",
        _ => "invalid_field",
    };
    ApiError::unprocessable(code, err.to_string())
        .with_details(json!([{"field": err.field, "rule": err.problem.rule()}]))
}

/// Reads the body up to `limit` bytes; more is 413 as JSON.
pub async fn read_body(payload: &mut dev::Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("could not read the body: {err}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body exceeds the limit of {limit} bytes"),
    )
}

/// Parses `body` under `limits` and decodes it into `T`. Returns the parsed JSON too (the
/// gateway's Idempotency-Key fingerprint is made of it). A decoding error names its field
/// (`name: invalid type: integer, expected a string`) and is 422 `invalid_body`.
pub fn decode<T: DeserializeOwned>(
    body: &[u8],
    limits: &TextLimits,
) -> Result<(T, Value), ApiError> {
    let value = contracts::edge::parse_json(body, limits).map_err(|err| refusal(&err))?;
    let typed = decode_value(&value)?;
    Ok((typed, value))
}

/// Decodes parsed JSON into `T`, naming the field of a mismatch.
pub fn decode_value<T: DeserializeOwned>(value: &Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        ApiError::unprocessable("invalid_body", message)
    })
}

/// The body limits of a service, registered with `.app_data(EdgeBody { .. })`. Without it the
/// defaults apply (256 KiB, [`TextLimits::default`]).
#[derive(Debug, Clone, Copy)]
pub struct EdgeBody {
    pub max_body_bytes: usize,
    pub limits: TextLimits,
}

impl Default for EdgeBody {
    fn default() -> Self {
        EdgeBody {
            max_body_bytes: 256 * 1024,
            limits: TextLimits::default(),
        }
    }
}

/// A JSON body that passed the edge: the drop-in for `web::Json<T>`. A content type other
/// than JSON is 415; more than `max_body_bytes` 413; not JSON 400; refused text or a decoding
/// error 422 naming the field.
pub struct EdgeJson<T>(pub T);

impl<T> EdgeJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for EdgeJson<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(actix_web::http::header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .rsplit_once('+')
            .is_some_and(|(kind, suffix)| kind.contains('/') && suffix.eq_ignore_ascii_case("json"))
}

impl<T: DeserializeOwned + 'static> FromRequest for EdgeJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        let config = req.app_data::<EdgeBody>().copied().unwrap_or_default();
        let json = is_json(req);
        let mut payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as JSON with `Content-Type: application/json`",
                ));
            }
            let body = read_body(&mut payload, config.max_body_bytes).await?;
            let (typed, _) = decode(&body, &config.limits)?;
            Ok(EdgeJson(typed))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn refusals_name_the_field_with_the_right_status() {
        let limits = TextLimits::default();
        let err = decode::<Body>(br#"{"name": "a\u0000"}"#, &limits).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (422, "invalid_text"));
        assert!(err.message.contains("`name`"), "{}", err.message);
        let err =
            decode::<Body>(br#"{"name": "a", "inner": {"count": "x"}}"#, &limits).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (422, "invalid_body"));
        assert!(err.message.starts_with("inner.count: "), "{}", err.message);
        let err = decode::<Body>(br#"{"name": "a", "colour": 1}"#, &limits).unwrap_err();
        assert!(err.message.contains("colour"), "{}", err.message);
        let err = decode::<Body>(br#"{"name": "#, &limits).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (400, "malformed_json"));
        let err = decode::<Body>(br#"{"name": "a", "name": "b"}"#, &limits).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (422, "invalid_field"));
    }

    #[test]
    fn limits_are_read_and_bounded() {
        let none = |_: &str| None;
        assert_eq!(limits_from_lookup(&none).unwrap(), TextLimits::default());
        let deep = |name: &str| (name == "EDGE_MAX_JSON_DEPTH").then(|| "200".to_owned());
        assert!(limits_from_lookup(&deep).is_err());
        let long = |name: &str| (name == "EDGE_MAX_STRING_CHARS").then(|| "4096".to_owned());
        assert_eq!(limits_from_lookup(&long).unwrap().max_string_chars, 4096);
    }
}
