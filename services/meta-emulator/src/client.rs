//! A typed client of the control API, for tests and the chat command.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::api::{
    ConfigUpdate, ConfigView, DeliverReport, DeliverRequest, FaultInfo, FaultSpec, OutboundMessage,
    RecordedRequest, Settings, TokenInfo, TokenRef, TokenRequest, UserMessage, WindowUpdate,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0:?} is not an http(s) URL")]
    BadUrl(String),
    #[error("emulator unreachable: {0}")]
    Http(#[from] reqwest::Error),
    #[error("emulator answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("timed out after {waited:?} with {got} of {wanted} messages")]
    Timeout {
        waited: Duration,
        got: usize,
        wanted: usize,
    },
}

/// Where a webhook goes: the ingress URL of an integration and its app secret.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub url: String,
    pub app_secret: String,
}

#[derive(Debug, Clone)]
pub struct EmulatorClient {
    http: reqwest::Client,
    base_url: String,
}

impl EmulatorClient {
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ClientError::BadUrl(base_url.to_owned()));
        }
        crypto::install_tls_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(EmulatorClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The Graph API base URL to give the sender (`GRAPH_API_BASE_URL`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `{base}/{version}/{phone_number_id}/messages`.
    pub fn messages_url(&self, version: &str, phone_number_id: &str) -> String {
        format!("{}/{version}/{phone_number_id}/messages", self.base_url)
    }

    pub async fn inject_fault(&self, fault: &FaultSpec) -> Result<u64, ClientError> {
        let answer: Value = self
            .send(Method::POST, "/_emulator/faults", Some(fault))
            .await?;
        Ok(answer["id"].as_u64().unwrap_or_default())
    }

    pub async fn faults(&self) -> Result<Vec<FaultInfo>, ClientError> {
        self.send(Method::GET, "/_emulator/faults", None::<&()>)
            .await
    }

    /// Removes every fault, or only those of one phone number.
    pub async fn clear_faults(&self, phone_number_id: Option<&str>) -> Result<(), ClientError> {
        let path = match phone_number_id {
            Some(pnid) => format!("/_emulator/faults?phone_number_id={}", encode(pnid)),
            None => "/_emulator/faults".into(),
        };
        self.send::<Value>(Method::DELETE, &path, None::<&()>)
            .await?;
        Ok(())
    }

    /// Recorded Graph requests, optionally of one phone number, newer than `since` (a `seq`).
    pub async fn requests(
        &self,
        phone_number_id: Option<&str>,
        since: Option<u64>,
    ) -> Result<Vec<RecordedRequest>, ClientError> {
        let mut query = Vec::new();
        if let Some(pnid) = phone_number_id {
            query.push(format!("phone_number_id={}", encode(pnid)));
        }
        if let Some(since) = since {
            query.push(format!("since={since}"));
        }
        let path = format!("/_emulator/requests?{}", query.join("&"));
        self.send(Method::GET, &path, None::<&()>).await
    }

    pub async fn clear_requests(&self) -> Result<(), ClientError> {
        self.send::<Value>(Method::DELETE, "/_emulator/requests", None::<&()>)
            .await?;
        Ok(())
    }

    /// The message ids `phone_number_id` marked as read (accepted mark-as-read calls), oldest
    /// first.
    pub async fn marked_read(&self, phone_number_id: &str) -> Result<Vec<String>, ClientError> {
        let requests = self.requests(Some(phone_number_id), None).await?;
        Ok(requests
            .iter()
            .filter(|r| r.status == 200 && r.body["status"] == "read")
            .filter_map(|r| r.body["message_id"].as_str().map(str::to_owned))
            .collect())
    }

    /// Changes the global settings (`phone_number_id` `None`) or one number's.
    pub async fn configure(
        &self,
        phone_number_id: Option<&str>,
        settings: Settings,
    ) -> Result<ConfigView, ClientError> {
        let update = ConfigUpdate {
            phone_number_id: phone_number_id.map(str::to_owned),
            settings,
        };
        self.send(Method::POST, "/_emulator/config", Some(&update))
            .await
    }

    /// Sends status webhooks for `phone_number_id`'s accepted sends to `target`.
    pub async fn send_statuses_to(
        &self,
        phone_number_id: &str,
        target: &WebhookTarget,
    ) -> Result<ConfigView, ClientError> {
        let settings = Settings {
            webhook_target_url: Some(target.url.clone()),
            app_secret: Some(target.app_secret.clone()),
            emit_statuses: Some(true),
            ..Settings::default()
        };
        self.configure(Some(phone_number_id), settings).await
    }

    pub async fn deliver(&self, request: &DeliverRequest) -> Result<DeliverReport, ClientError> {
        self.send(Method::POST, "/_emulator/webhooks/deliver", Some(request))
            .await
    }

    /// Delivers one user message (built with [`user_text`], [`button_reply`] or
    /// [`list_reply`]) to `target`.
    pub async fn deliver_message(
        &self,
        target: &WebhookTarget,
        message: UserMessage,
    ) -> Result<DeliverReport, ClientError> {
        self.deliver(&DeliverRequest {
            target_url: Some(target.url.clone()),
            app_secret: Some(target.app_secret.clone()),
            messages: vec![message],
            ..DeliverRequest::default()
        })
        .await
    }

    pub async fn deliver_text(
        &self,
        target: &WebhookTarget,
        phone_number_id: &str,
        from: &str,
        text: &str,
    ) -> Result<DeliverReport, ClientError> {
        self.deliver_message(target, user_text(phone_number_id, from, text))
            .await
    }

    /// What the business sent to `user`, newer than `since` (a `seq`).
    pub async fn conversation(
        &self,
        phone_number_id: &str,
        user: &str,
        since: Option<u64>,
    ) -> Result<Vec<OutboundMessage>, ClientError> {
        let path = format!(
            "/_emulator/conversations/{}/{}?since={}",
            encode(phone_number_id),
            encode(user),
            since.unwrap_or(0)
        );
        self.send(Method::GET, &path, None::<&()>).await
    }

    /// Waits until at least `count` messages newer than `since` were sent to `user`.
    pub async fn wait_for_outbound(
        &self,
        phone_number_id: &str,
        user: &str,
        count: usize,
        since: Option<u64>,
        timeout: Duration,
    ) -> Result<Vec<OutboundMessage>, ClientError> {
        let started = Instant::now();
        loop {
            let messages = self.conversation(phone_number_id, user, since).await?;
            if messages.len() >= count {
                return Ok(messages);
            }
            if started.elapsed() >= timeout {
                return Err(ClientError::Timeout {
                    waited: timeout,
                    got: messages.len(),
                    wanted: count,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Registers a token (a fresh one when `request.token` is `None`).
    pub async fn register_token(&self, request: &TokenRequest) -> Result<TokenInfo, ClientError> {
        self.send(Method::POST, "/_emulator/tokens", Some(request))
            .await
    }

    pub async fn expire_token(&self, token: &str) -> Result<TokenInfo, ClientError> {
        let body = TokenRef {
            token: token.to_owned(),
        };
        self.send(Method::POST, "/_emulator/tokens/expire", Some(&body))
            .await
    }

    pub async fn revoke_token(&self, token: &str) -> Result<TokenInfo, ClientError> {
        let body = TokenRef {
            token: token.to_owned(),
        };
        self.send(Method::POST, "/_emulator/tokens/revoke", Some(&body))
            .await
    }

    /// Opens the 24-hour window of `user` as if they wrote at `at` (unix seconds); `None`
    /// closes it.
    pub async fn set_window(
        &self,
        phone_number_id: &str,
        user: &str,
        at: Option<i64>,
    ) -> Result<(), ClientError> {
        let body = WindowUpdate {
            phone_number_id: phone_number_id.to_owned(),
            user: user.to_owned(),
            last_inbound_at: at,
        };
        self.send::<Value>(Method::POST, "/_emulator/windows", Some(&body))
            .await?;
        Ok(())
    }

    /// Forgets faults, requests, conversations, windows and per-number settings.
    pub async fn reset(&self) -> Result<(), ClientError> {
        self.send::<Value>(Method::POST, "/_emulator/reset", Some(&json!({})))
            .await?;
        Ok(())
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ClientError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            return Err(ClientError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        // 204 answers carry no body; callers that expect none ask for `Value`.
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|err| ClientError::Status {
            status: status.as_u16(),
            body: format!("unexpected answer: {err}"),
        })
    }
}

/// A user's text message.
pub fn user_text(phone_number_id: &str, from: &str, text: &str) -> UserMessage {
    UserMessage {
        from: from.to_owned(),
        phone_number_id: phone_number_id.to_owned(),
        text: Some(text.to_owned()),
        ..UserMessage::default()
    }
}

/// A user's tap on a reply button.
pub fn button_reply(phone_number_id: &str, from: &str, id: &str, title: &str) -> UserMessage {
    UserMessage {
        from: from.to_owned(),
        phone_number_id: phone_number_id.to_owned(),
        button_reply_id: Some(id.to_owned()),
        button_reply_title: Some(title.to_owned()),
        ..UserMessage::default()
    }
}

/// A user's choice in a list.
pub fn list_reply(phone_number_id: &str, from: &str, id: &str, title: &str) -> UserMessage {
    UserMessage {
        from: from.to_owned(),
        phone_number_id: phone_number_id.to_owned(),
        list_reply_id: Some(id.to_owned()),
        list_reply_title: Some(title.to_owned()),
        ..UserMessage::default()
    }
}

/// Percent-encodes a path segment or query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
