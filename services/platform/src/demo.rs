//! First start: leave the demo bot (`examples/demo-bot.json`) connected to an active API
//! integration, and print how to talk to it, so that a newcomer sees the product answer within
//! a minute of the build. Done through the admin API, as an operator would; skipped when the
//! account already has a bot.

use std::net::SocketAddr;

use crypto::SecretString;
use serde_json::{json, Value};

const DEMO_BOT: &str = include_str!("../../../examples/demo-bot.json");

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("admin API: {0}")]
    Http(#[from] reqwest::Error),
    #[error("admin API answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("demo bot file: {0}")]
    Json(#[from] serde_json::Error),
}

struct Admin {
    client: reqwest::Client,
    base: String,
    token: SecretString,
}

impl Admin {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, DemoError> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(DemoError::Refused {
                status: status.as_u16(),
                body: body.to_string(),
            })
        }
    }
}

/// The demo's API integration, as made on a first start.
#[derive(Debug, Clone)]
pub struct DemoIntegration {
    pub integration_id: i64,
    pub api_key: SecretString,
}

pub async fn first_start(
    admin: SocketAddr,
    gateway: SocketAddr,
    token: &SecretString,
) -> Result<Option<DemoIntegration>, DemoError> {
    let admin = Admin {
        client: reqwest::Client::new(),
        base: format!("http://{}", local(admin)),
        token: token.clone(),
    };
    let bots = admin.call(reqwest::Method::GET, "/v1/bots", None).await?;
    if bots["bots"].as_array().is_some_and(|bots| !bots.is_empty()) {
        return Ok(None);
    }
    let bot: Value = serde_json::from_str(DEMO_BOT)?;
    let created = admin
        .call(reqwest::Method::POST, "/v1/bots", Some(&bot))
        .await?;
    let bot_id = created["id"].as_i64().unwrap_or_default();
    admin
        .call(
            reqwest::Method::POST,
            &format!("/v1/bots/{bot_id}/publish"),
            None,
        )
        .await?;
    let integration = admin
        .call(
            reqwest::Method::POST,
            "/v1/integrations",
            Some(&json!({"kind": "api", "name": "Demo API", "bot_id": bot_id})),
        )
        .await?;
    let id = integration["id"].as_i64().unwrap_or_default();
    admin
        .call(
            reqwest::Method::POST,
            &format!("/v1/integrations/{id}/activate"),
            None,
        )
        .await?;
    let key = integration["api_key"].as_str().unwrap_or_default();
    let base = format!("http://{}/api/integrations/api/{id}", local(gateway));
    // The key is shown once, as the admin API shows it once at creation.
    println!(
        "\nDemo bot ready: API integration {id}, key (shown once) {key}\n\
         Talk to it:\n  curl -s -X POST '{base}/session/' -H 'Content-Type: application/json' \
         -H 'X-API-Key: {key}' -d '{{\"session_id\": \"demo-1\"}}'\n  \
         curl -s -X POST '{base}/session/demo-1/message/' -H 'Content-Type: application/json' \
         -H 'X-API-Key: {key}' -d '{{\"message\": \"Ada\"}}'\n"
    );
    Ok(Some(DemoIntegration {
        integration_id: id,
        api_key: SecretString::from(key.to_owned()),
    }))
}

/// A listener bound to 0.0.0.0 is reached on 127.0.0.1.
fn local(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}
