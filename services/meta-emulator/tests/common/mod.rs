//! Shared by the emulator's integration tests: an emulator on a random port with a registered
//! token, a Graph API caller, and a webhook receiver that checks Meta signatures over the exact
//! bytes it received.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use meta_emulator::api::TokenRequest;
use meta_emulator::client::{EmulatorClient, WebhookTarget};
use meta_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::{json, Value};

pub const PNID: &str = "106540352242922";
pub const USER: &str = "16505551234";
pub const VERSION: &str = "v21.0";
pub const APP_SECRET: &str = "emulator-test-app-secret";

pub struct Emulator {
    pub running: RunningEmulator,
    pub client: EmulatorClient,
    pub token: String,
    pub http: reqwest::Client,
}

impl Emulator {
    pub async fn start() -> Self {
        crypto::install_tls_crypto_provider();
        let running = meta_emulator::start(EmulatorConfig::for_tests())
            .await
            .unwrap();
        let client = running.client().unwrap();
        let token = client
            .register_token(&TokenRequest {
                token: Some("EAAtest-system-user-token".into()),
                ..TokenRequest::default()
            })
            .await
            .unwrap()
            .token;
        Emulator {
            running,
            client,
            token,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    /// POSTs `body` to `/{VERSION}/{pnid}/messages` with `token`; returns status and JSON.
    pub async fn send_as(&self, pnid: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self
            .http
            .post(self.url(&format!("/{VERSION}/{pnid}/messages")))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn send(&self, body: &Value) -> (u16, Value) {
        self.send_as(PNID, Some(&self.token), body).await
    }
}

/// A text message body to [`USER`].
pub fn text(body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": format!("+{USER}"),
           "type": "text", "text": {"body": body}})
}

/// Asserts Meta's error envelope with `code` and HTTP `status`; returns the error object.
pub fn assert_meta_error(answer: &(u16, Value), status: u16, code: i64) -> Value {
    let (got_status, body) = answer;
    assert_eq!(*got_status, status, "{body}");
    let error = body["error"].clone();
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["type"], "OAuthException");
    assert!(error["message"].is_string());
    assert!(error["fbtrace_id"].as_str().is_some_and(|t| !t.is_empty()));
    error
}

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Vec<u8>,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    /// The signature matched the exact bytes under [`APP_SECRET`].
    pub verified: bool,
    pub at: Instant,
    /// The status answered.
    pub answered: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    /// Statuses to answer, in order; 200 (or 401 for a bad signature) once used up.
    script: Mutex<VecDeque<u16>>,
}

/// An ingress stand-in: verifies signatures, records every POST, answers as scripted.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
    handle: ServerHandle,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(ReceiverState::default());
        let shared = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::default().limit(8 << 20))
                .route("/webhook", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            addr,
            state,
            handle,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/webhook", self.addr)
    }

    pub fn target(&self) -> WebhookTarget {
        WebhookTarget {
            url: self.url(),
            app_secret: APP_SECRET.into(),
        }
    }

    /// The next POSTs are answered with these statuses.
    pub fn script(&self, statuses: &[u16]) {
        self.state.script.lock().unwrap().extend(statuses);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until at least `count` POSTs arrived.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                started.elapsed() < timeout,
                "expected {count} webhooks, got {}: {:?}",
                received.len(),
                received.iter().map(Received::text).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let signature = header("x-hub-signature-256");
    let verified =
        crypto::verify_meta_signature(APP_SECRET.as_bytes(), &body, signature.as_deref()).is_ok();
    let scripted = state.script.lock().unwrap().pop_front();
    let answered = scripted.unwrap_or(if verified { 200 } else { 401 });
    state.received.lock().unwrap().push(Received {
        body: body.to_vec(),
        signature,
        content_type: header("content-type"),
        verified,
        at: Instant::now(),
        answered,
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(answered).unwrap()).finish()
}
