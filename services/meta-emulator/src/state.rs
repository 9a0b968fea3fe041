//! Everything the emulator remembers, behind one mutex (never held across an `.await`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::api::{FaultInfo, FaultSpec, OutboundMessage, RecordedRequest, RetryPolicy, Settings};

/// Lifetime Meta gives a long-lived token (about 60 days).
pub const LONG_LIVED_SECONDS: u64 = 5_183_944;
/// Dashboard (short-lived) tokens last an hour or two.
pub const SHORT_LIVED_SECONDS: u64 = 2 * 3600;
/// The customer-service window.
pub const WINDOW_SECONDS: i64 = 24 * 3600;

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub kind: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

#[derive(Debug)]
pub struct ActiveFault {
    pub id: u64,
    pub spec: FaultSpec,
    pub remaining: Option<u32>,
    pub until: Option<Instant>,
}

impl ActiveFault {
    fn expired(&self, now: Instant) -> bool {
        self.remaining == Some(0) || self.until.is_some_and(|until| now >= until)
    }
}

/// Settings with every default applied, for one phone number.
#[derive(Debug, Clone)]
pub struct Effective {
    pub webhook_target_url: Option<String>,
    pub app_secret: Option<String>,
    pub emit_statuses: bool,
    pub status_delay: Duration,
    pub statuses: Vec<String>,
    pub enforce_window: bool,
    pub window_failure_async: bool,
    pub max_messages_per_second: Option<u32>,
    pub display_phone_number: String,
    pub waba_id: String,
    pub retry: RetryPolicy,
}

pub const DEFAULT_WABA_ID: &str = "100000000000001";

#[derive(Default)]
pub struct Data {
    pub tokens: HashMap<String, TokenRecord>,
    pub faults: Vec<ActiveFault>,
    next_fault_id: u64,
    pub requests: VecDeque<RecordedRequest>,
    next_request_seq: u64,
    /// Outbound messages by (phone number id, user).
    pub conversations: HashMap<(String, String), Vec<OutboundMessage>>,
    next_outbound_seq: u64,
    /// Unix seconds of the last inbound message by (phone number id, user).
    pub windows: HashMap<(String, String), i64>,
    pub global: Settings,
    pub per_number: BTreeMap<String, Settings>,
    /// Accepted sends in the last second, by phone number id.
    send_times: HashMap<String, VecDeque<Instant>>,
}

pub struct EmulatorState {
    data: Mutex<Data>,
    /// Oldest recorded requests are dropped past this many.
    pub max_recorded: usize,
    /// Accept any bearer token (local use without registering tokens).
    pub accept_any_token: bool,
    pub http: reqwest::Client,
    /// The runtime `start` was called on: webhook deliveries run there, not on an actix
    /// worker's runtime that stops with the server.
    pub runtime: tokio::runtime::Handle,
}

impl EmulatorState {
    pub fn new(
        data: Data,
        max_recorded: usize,
        accept_any_token: bool,
        http: reqwest::Client,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        EmulatorState {
            data: Mutex::new(data),
            max_recorded,
            accept_any_token,
            http,
            runtime,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Data {
    pub fn with_settings(global: Settings, tokens: &[String]) -> Self {
        let mut data = Data {
            global,
            ..Data::default()
        };
        for token in tokens {
            data.tokens.insert(
                token.clone(),
                TokenRecord {
                    kind: "system_user".into(),
                    expires_at: None,
                    revoked: false,
                },
            );
        }
        data
    }

    pub fn add_fault(&mut self, spec: FaultSpec) -> u64 {
        self.next_fault_id += 1;
        let id = self.next_fault_id;
        let until = spec
            .duration_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        self.faults.push(ActiveFault {
            id,
            remaining: spec.count,
            spec,
            until,
        });
        id
    }

    pub fn fault_infos(&mut self) -> Vec<FaultInfo> {
        let now = Instant::now();
        self.faults.retain(|f| !f.expired(now));
        self.faults
            .iter()
            .map(|f| FaultInfo {
                id: f.id,
                spec: f.spec.clone(),
                remaining: f.remaining,
            })
            .collect()
    }

    /// The first live fault for this phone number (or a global one), used up by one call.
    pub fn take_fault(&mut self, phone_number_id: Option<&str>) -> Option<FaultSpec> {
        let now = Instant::now();
        self.faults.retain(|f| !f.expired(now));
        let fault = self.faults.iter_mut().find(|f| {
            f.spec.phone_number_id.is_none() || f.spec.phone_number_id.as_deref() == phone_number_id
        })?;
        if let Some(remaining) = fault.remaining.as_mut() {
            *remaining = remaining.saturating_sub(1);
        }
        Some(fault.spec.clone())
    }

    pub fn record(&mut self, mut request: RecordedRequest, max: usize) {
        self.next_request_seq += 1;
        request.seq = self.next_request_seq;
        self.requests.push_back(request);
        while self.requests.len() > max {
            self.requests.pop_front();
        }
    }

    pub fn push_outbound(&mut self, mut message: OutboundMessage) {
        self.next_outbound_seq += 1;
        message.seq = self.next_outbound_seq;
        self.conversations
            .entry((message.phone_number_id.clone(), message.user.clone()))
            .or_default()
            .push(message);
    }

    pub fn set_outbound_status(
        &mut self,
        phone_number_id: &str,
        user: &str,
        wamid: &str,
        status: &str,
    ) {
        if let Some(messages) = self
            .conversations
            .get_mut(&(phone_number_id.to_owned(), user.to_owned()))
        {
            if let Some(message) = messages.iter_mut().find(|m| m.wamid == wamid) {
                status.clone_into(&mut message.status);
            }
        }
    }

    /// Counts a send against the per-second limit; false when it is over.
    pub fn admit_send(&mut self, phone_number_id: &str, limit: Option<u32>) -> bool {
        let Some(limit) = limit else { return true };
        let now = Instant::now();
        let times = self
            .send_times
            .entry(phone_number_id.to_owned())
            .or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            times.pop_front();
        }
        if times.len() >= limit as usize {
            return false;
        }
        times.push_back(now);
        true
    }

    pub fn window_open(&self, phone_number_id: &str, user: &str, now: i64) -> bool {
        self.windows
            .get(&(phone_number_id.to_owned(), user.to_owned()))
            .is_some_and(|last| now - last < WINDOW_SECONDS)
    }

    /// Records an inbound message; a later one moves the window, an older one does not.
    pub fn note_inbound(&mut self, phone_number_id: &str, user: &str, at: i64) {
        let last = self
            .windows
            .entry((phone_number_id.to_owned(), user.to_owned()))
            .or_insert(at);
        *last = (*last).max(at);
    }

    pub fn effective(&self, phone_number_id: &str) -> Effective {
        let own = self.per_number.get(phone_number_id);
        let g = &self.global;
        macro_rules! pick {
            ($field:ident) => {
                own.and_then(|s| s.$field.clone())
                    .or_else(|| g.$field.clone())
            };
        }
        let webhook_target_url = pick!(webhook_target_url);
        Effective {
            emit_statuses: pick!(emit_statuses).unwrap_or(webhook_target_url.is_some()),
            webhook_target_url,
            app_secret: pick!(app_secret),
            status_delay: Duration::from_millis(pick!(status_delay_ms).unwrap_or(50)),
            statuses: pick!(statuses)
                .unwrap_or_else(|| vec!["sent".into(), "delivered".into(), "read".into()]),
            enforce_window: pick!(enforce_window).unwrap_or(false),
            window_failure_async: pick!(window_failure).as_deref() == Some("async"),
            max_messages_per_second: pick!(max_messages_per_second),
            display_phone_number: pick!(display_phone_number)
                .unwrap_or_else(|| phone_number_id.to_owned()),
            waba_id: pick!(waba_id).unwrap_or_else(|| DEFAULT_WABA_ID.to_owned()),
            retry: pick!(retry).unwrap_or_default(),
        }
    }
}

/// Merges the fields `update` carries into `settings`.
pub fn merge(settings: &mut Settings, update: Settings) {
    macro_rules! take {
        ($($field:ident),*) => {
            $(if update.$field.is_some() { settings.$field = update.$field; })*
        };
    }
    take!(
        webhook_target_url,
        app_secret,
        emit_statuses,
        status_delay_ms,
        statuses,
        enforce_window,
        window_failure,
        max_messages_per_second,
        display_phone_number,
        waba_id,
        retry
    );
}
