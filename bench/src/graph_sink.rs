//! A minimal local Graph API: `POST /{version}/{phone_number_id}/messages` answered the way
//! Meta answers (a wamid for a message, `{"success": true}` for a mark-as-read), with no
//! validation and no record beyond, for each text, when it first arrived (and for each
//! recipient, when its first message arrived). Both the sender and the whole-pipeline floor
//! send to it, so neither pays for the Meta emulator's checks and record, and the latency of
//! a reply is read here, in this process, without polling.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::oneshot;

#[derive(Default)]
struct Seen {
    /// Text of each message sent → when it was received (first time).
    replies: HashMap<String, DateTime<Utc>>,
    /// Texts somebody waits for, not received yet.
    waiting: HashMap<String, oneshot::Sender<DateTime<Utc>>>,
    /// When the first message to each user (digits) was received.
    first_to_user: HashMap<String, DateTime<Utc>>,
}

/// What the sink received, shared with the load generators.
#[derive(Default)]
pub struct Record {
    seen: Mutex<Seen>,
    wamids: AtomicU64,
}

impl Record {
    fn received(&self, to: &str, text: Option<&str>) {
        let at = Utc::now();
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        seen.first_to_user
            .entry(to.trim_start_matches('+').to_owned())
            .or_insert(at);
        if let Some(text) = text {
            if let Some(waiter) = seen.waiting.remove(text) {
                let _ = waiter.send(at);
            }
            seen.replies.entry(text.to_owned()).or_insert(at);
        }
    }

    /// When a send of `text` was received, waiting up to `patience`.
    pub async fn wait_reply(&self, text: &str, patience: Duration) -> Option<DateTime<Utc>> {
        let receiver = {
            let mut seen = self.seen.lock().ok()?;
            if let Some(at) = seen.replies.get(text) {
                return Some(*at);
            }
            let (sender, receiver) = oneshot::channel();
            seen.waiting.insert(text.to_owned(), sender);
            receiver
        };
        tokio::time::timeout(patience, receiver).await.ok()?.ok()
    }

    pub fn first_to(&self, user: &str) -> Option<DateTime<Utc>> {
        self.seen.lock().ok()?.first_to_user.get(user).copied()
    }

    pub fn users_reached(&self, users: &[String]) -> usize {
        self.seen.lock().map_or(0, |seen| {
            users
                .iter()
                .filter(|u| seen.first_to_user.contains_key(*u))
                .count()
        })
    }

    /// Waits until every one of `users` got a message, up to `patience`.
    pub async fn wait_users(&self, users: &[String], patience: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + patience;
        while self.users_reached(users) < users.len() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "only {} of {} users got a message",
                self.users_reached(users),
                users.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

pub struct GraphSink {
    /// The base URL, as `GRAPH_API_BASE_URL`.
    pub url: String,
    pub record: Arc<Record>,
    handle: ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn messages(body: web::Bytes, record: web::Data<Record>) -> HttpResponse {
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    if payload["status"] == "read" {
        return HttpResponse::Ok().json(json!({"success": true}));
    }
    let to = payload["to"]
        .as_str()
        .or_else(|| payload["recipient"].as_str())
        .unwrap_or_default();
    record.received(to, payload["text"]["body"].as_str());
    let n = record.wamids.fetch_add(1, Ordering::Relaxed);
    HttpResponse::Ok().json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to.trim_start_matches('+')}],
        "messages": [{"id": format!("wamid.sink{n:020}")}],
    }))
}

impl GraphSink {
    /// `workers`: 0 for actix's default (one per CPU).
    pub fn start(workers: usize) -> anyhow::Result<GraphSink> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let record = web::Data::new(Record::default());
        let shared = record.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/{version}/{phone}/messages", web::post().to(messages))
        });
        if workers > 0 {
            server = server.workers(workers);
        }
        let server = server.listen(listener)?.disable_signals().run();
        let handle = server.handle();
        Ok(GraphSink {
            url: format!("http://{addr}"),
            record: record.into_inner(),
            handle,
            server: tokio::spawn(server),
        })
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.server.await;
    }
}
