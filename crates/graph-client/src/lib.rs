//! A small client of Meta's Graph API for WhatsApp: send a message, mark an inbound message as
//! read, exchange an access token for a long-lived one, and tell what an error means
//! ([`ErrorClass`]). It makes one HTTP request per call; retries, pacing and token refresh are
//! the caller's (the sender's) policy.
//!
//! Secrets (access tokens, the app secret) go in and out as [`SecretString`]; errors never
//! carry a request URL, because the token exchange puts secrets in its query string.

mod error;
pub mod payload;
pub mod reaction;

use std::time::Duration;

use chrono::{DateTime, Utc};
use crypto::SecretString;
use reqwest::Url;
use serde_json::Value;

pub use crate::error::{
    classify, ErrorClass, GraphError, MetaError, OUTSIDE_WINDOW_CODE, PAIR_RATE_LIMIT_CODE,
    RETRYABLE_CODES, TOKEN_CODES,
};

/// Meta's production Graph API.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Bound on a whole request (connect, send, answer).
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A message Meta accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// `messages[0].id`: the id statuses will refer to.
    pub wamid: String,
    /// `contacts[0].wa_id`, when Meta resolved the recipient to one.
    pub wa_id: Option<String>,
    /// `messages[0].message_status` (`accepted`, `held_for_quality_assessment`), templates only.
    pub message_status: Option<String>,
}

/// The answer of a token exchange.
#[derive(Debug, Clone)]
pub struct ExchangedToken {
    pub access_token: SecretString,
    /// Seconds the token lives; `None` for a token that does not expire.
    pub expires_in: Option<u64>,
}

impl ExchangedToken {
    /// When the token expires, counted from `now` (the time of the exchange).
    pub fn expires_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let seconds = i64::try_from(self.expires_in?).ok()?;
        now.checked_add_signed(chrono::Duration::try_seconds(seconds)?)
    }
}

/// The Graph API at one base URL (Meta's, or the emulator's in tests). Cheap to clone.
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: Url,
}

impl GraphClient {
    /// A client of `base_url` (e.g. [`DEFAULT_BASE_URL`]) with default timeouts.
    pub fn new(base_url: &str) -> Result<Self, GraphError> {
        Self::with_options(base_url, &ClientOptions::default())
    }

    pub fn with_options(base_url: &str, options: &ClientOptions) -> Result<Self, GraphError> {
        let base_url = Url::parse(base_url)
            .map_err(|e| GraphError::Invalid(format!("base URL {base_url:?}: {e}")))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(GraphError::Invalid(format!(
                "base URL {base_url} is not an http(s) URL"
            )));
        }
        crypto::install_tls_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GraphError::Invalid(format!("HTTP client: {}", e.without_url())))?;
        Ok(GraphClient { http, base_url })
    }

    pub fn base_url(&self) -> &str {
        self.base_url.as_str()
    }

    /// `POST /{version}/{phone_number_id}/messages` with `payload` (built with [`payload`]).
    pub async fn send_message(
        &self,
        version: &str,
        phone_number_id: &str,
        token: &SecretString,
        payload: &Value,
    ) -> Result<SentMessage, GraphError> {
        let answer = self
            .post_messages(version, phone_number_id, token, payload)
            .await?;
        let wamid = answer
            .pointer("/messages/0/id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| GraphError::Unexpected("the answer has no messages[0].id".into()))?;
        Ok(SentMessage {
            wamid: wamid.to_owned(),
            wa_id: answer
                .pointer("/contacts/0/wa_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            message_status: answer
                .pointer("/messages/0/message_status")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    /// Marks the inbound message `message_id` (and those before it) as read.
    pub async fn mark_read(
        &self,
        version: &str,
        phone_number_id: &str,
        token: &SecretString,
        message_id: &str,
    ) -> Result<(), GraphError> {
        let body = payload::mark_read(message_id);
        let answer = self
            .post_messages(version, phone_number_id, token, &body)
            .await?;
        if answer.get("success").and_then(Value::as_bool) == Some(true) {
            Ok(())
        } else {
            Err(GraphError::Unexpected(format!(
                "mark-as-read answered {answer}"
            )))
        }
    }

    /// `GET /{version}/oauth/access_token?grant_type=fb_exchange_token&...`: a long-lived
    /// token for `token`. An expired token cannot be exchanged.
    pub async fn exchange_token(
        &self,
        version: &str,
        app_id: &str,
        app_secret: &SecretString,
        token: &SecretString,
    ) -> Result<ExchangedToken, GraphError> {
        let mut url = self.url(&[version, "oauth", "access_token"])?;
        url.query_pairs_mut()
            .append_pair("grant_type", "fb_exchange_token")
            .append_pair("client_id", app_id)
            .append_pair("client_secret", app_secret.expose())
            .append_pair("fb_exchange_token", token.expose());
        let answer = self.answer(self.http.get(url)).await?;
        let access_token = answer
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                GraphError::Unexpected("the token exchange answered no access_token".into())
            })?;
        Ok(ExchangedToken {
            access_token: SecretString::from(access_token),
            expires_in: answer.get("expires_in").and_then(Value::as_u64),
        })
    }

    async fn post_messages(
        &self,
        version: &str,
        phone_number_id: &str,
        token: &SecretString,
        body: &Value,
    ) -> Result<Value, GraphError> {
        let url = self.url(&[version, phone_number_id, "messages"])?;
        let request = self.http.post(url).bearer_auth(token.expose()).json(body);
        self.answer(request).await
    }

    /// The base URL with `segments` appended (each percent-encoded as one segment).
    fn url(&self, segments: &[&str]) -> Result<Url, GraphError> {
        if let Some(bad) = segments
            .iter()
            .find(|s| s.is_empty() || *s == &"." || *s == &"..")
        {
            return Err(GraphError::Invalid(format!("path segment {bad:?}")));
        }
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| GraphError::Invalid("base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Sends the request; a 2xx JSON object is the answer, anything else an error.
    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<Value, GraphError> {
        let response = request
            .send()
            .await
            .map_err(|e| GraphError::Network(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| GraphError::Network(e.without_url().to_string()))?;
        if !(200..300).contains(&status) {
            return Err(match MetaError::parse(status, &bytes) {
                Some(error) => GraphError::Api(Box::new(error)),
                None => GraphError::Status {
                    status,
                    body: excerpt(&bytes),
                },
            });
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value @ Value::Object(_)) => Ok(value),
            _ => Err(GraphError::Unexpected(format!(
                "HTTP {status} with a body that is not a JSON object: {}",
                excerpt(&bytes)
            ))),
        }
    }
}

/// The start of a body, for error messages.
fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_a_base_path_and_encode_segments() {
        let client = GraphClient::new("http://127.0.0.1:9/graph/").unwrap();
        let url = client.url(&["v21.0", "1065", "messages"]).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/graph/v21.0/1065/messages");
        let odd = client.url(&["v21.0", "a/b?c", "messages"]).unwrap();
        assert_eq!(odd.path(), "/graph/v21.0/a%2Fb%3Fc/messages");
        assert!(client.url(&["v21.0", "..", "messages"]).is_err());
        assert!(client.url(&["", "1", "messages"]).is_err());
    }

    #[test]
    fn base_urls_must_be_http() {
        assert!(GraphClient::new("https://graph.facebook.com").is_ok());
        assert!(GraphClient::new("ftp://graph.facebook.com").is_err());
        assert!(GraphClient::new("graph.facebook.com").is_err());
        assert!(GraphClient::new("mailto:x@y").is_err());
    }

    #[test]
    fn expiry_is_counted_from_the_exchange() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let token = ExchangedToken {
            access_token: SecretString::from("t"),
            expires_in: Some(5_183_944),
        };
        assert_eq!(
            token.expires_at(now).map(|at| at.timestamp()),
            Some(1_705_183_944)
        );
        let forever = ExchangedToken {
            expires_in: None,
            ..token
        };
        assert_eq!(forever.expires_at(now), None);
    }

    #[test]
    fn excerpts_are_short() {
        assert_eq!(excerpt(b"short"), "short");
        let long = "é".repeat(300);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), 201);
    }
}
