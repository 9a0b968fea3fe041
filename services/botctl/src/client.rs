//! The HTTP side: one authenticated request to the admin API, its answer as JSON or as a
//! [`CliError`].

use std::error::Error as _;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::error::CliError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub struct AdminClient {
    http: reqwest::Client,
    /// Without a trailing slash.
    base_url: String,
    token: Option<String>,
}

impl AdminClient {
    pub fn new(base_url: &str, token: Option<String>) -> Result<Self, CliError> {
        let parsed = reqwest::Url::parse(base_url)
            .map_err(|err| CliError::usage(format!("--url {base_url:?} is not a URL: {err}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CliError::usage(format!(
                "--url {base_url:?} must start with http:// or https://"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("botctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| CliError::usage(format!("cannot set up the HTTP client: {err}")))?;
        Ok(AdminClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.trim().is_empty()),
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, CliError> {
        self.send(Method::DELETE, path, None).await
    }

    /// Sends one request; `Value::Null` for an empty (204) answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let token = self.token.as_deref().ok_or_else(|| {
            CliError::usage("no operator token: pass --token or set BOTCTL_TOKEN")
        })?;
        let url = format!("{}{path}", self.base_url);
        let mut request = self.http.request(method, &url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|err| CliError::Unreachable {
            url: self.base_url.clone(),
            reason: innermost_reason(&err),
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| CliError::Unreachable {
                url: self.base_url.clone(),
                reason: innermost_reason(&err),
            })?;
        interpret(&url, status, &bytes)
    }
}

/// reqwest's own message is "error sending request for url (...)"; the useful part, such as
/// "Connection refused", is at the end of the source chain.
fn innermost_reason(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".to_owned();
    }
    let mut reason = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        reason = inner.to_string();
        source = inner.source();
    }
    reason
}

/// Turns a status and body into the JSON answer or the error it carries.
pub fn interpret(url: &str, status: StatusCode, bytes: &[u8]) -> Result<Value, CliError> {
    let unexpected = |reason: String| CliError::UnexpectedAnswer {
        url: url.to_owned(),
        status: status.as_u16(),
        reason,
    };
    let body: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes).map_err(|_| {
            let text = String::from_utf8_lossy(bytes);
            let excerpt: String = text.chars().take(200).collect();
            unexpected(format!("not JSON: {}", excerpt.trim()))
        })?
    };
    if status.is_success() {
        return Ok(body);
    }
    let error = &body["error"];
    match (error["code"].as_str(), error["message"].as_str()) {
        (Some(code), Some(message)) => Err(CliError::Api {
            status: status.as_u16(),
            code: code.to_owned(),
            message: message.to_owned(),
            details: error.get("details").cloned().filter(|d| !d.is_null()),
        }),
        _ => Err(unexpected(format!("no error object in {body}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_keep_code_message_and_details() {
        let body = br#"{"error":{"code":"invalid_flow","message":"bad","details":[{"rule":"x"}]}}"#;
        let err = interpret(
            "http://h/v1/bots/1/publish",
            StatusCode::UNPROCESSABLE_ENTITY,
            body,
        )
        .unwrap_err();
        match err {
            CliError::Api {
                status,
                code,
                message,
                details,
            } => {
                assert_eq!(
                    (status, code.as_str(), message.as_str()),
                    (422, "invalid_flow", "bad")
                );
                assert_eq!(details.unwrap()[0]["rule"], "x");
            }
            other => panic!("expected an API error, got {other:?}"),
        }
    }

    #[test]
    fn non_json_answers_name_the_url_and_status() {
        let err = interpret(
            "http://h/v1/bots",
            StatusCode::BAD_GATEWAY,
            b"<html>Bad Gateway</html>",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("http://h/v1/bots"), "{text}");
        assert!(text.contains("502"), "{text}");
    }

    #[test]
    fn empty_success_is_null() {
        assert_eq!(
            interpret("u", StatusCode::NO_CONTENT, b"").unwrap(),
            Value::Null
        );
    }
}
