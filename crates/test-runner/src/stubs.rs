//! The scenario's `http_stubs` answering the flow's calls through the executor's
//! `PerformHttp` seam: nothing leaves the machine.

use std::sync::Mutex;
use std::time::Duration;

use flow::engine::{HttpCall, HttpOutcome};
use flow_executor::http_call::PerformHttp;
use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::scenario::HttpStub;

/// A call the flow made, and which stub answered it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RecordedCall {
    pub method: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub body: Option<serde_json::Value>,
    /// The stub's id; `None` when no stub matched (the call failed).
    pub stub: Option<String>,
    /// `{"response": {status, body_json}}` or `{"failed": {reason}}`.
    #[schema(value_type = Object)]
    pub outcome: HttpOutcome,
}

pub struct StubHttp {
    stubs: Vec<HttpStub>,
    calls: Mutex<Vec<RecordedCall>>,
}

impl StubHttp {
    pub fn new(stubs: Vec<HttpStub>) -> Self {
        Self {
            stubs,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The calls made since the last take.
    pub fn take_calls(&self) -> Vec<RecordedCall> {
        self.calls
            .lock()
            .map(|mut calls| std::mem::take(&mut *calls))
            .unwrap_or_default()
    }

    fn matching(&self, method: &str, url: &str) -> Option<&HttpStub> {
        self.stubs.iter().find(|stub| {
            stub.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && match stub.url.strip_suffix('*') {
                    Some(prefix) => url.starts_with(prefix),
                    None => stub.url == url,
                }
        })
    }
}

pub fn stub_id(stub: &HttpStub) -> String {
    stub.id.clone().unwrap_or_else(|| {
        format!(
            "{} {}",
            stub.method.as_deref().unwrap_or("*").to_uppercase(),
            stub.url
        )
    })
}

fn method_name(call: &HttpCall) -> String {
    serde_json::to_value(call.method)
        .ok()
        .and_then(|v| v.as_str().map(str::to_uppercase))
        .unwrap_or_default()
}

impl PerformHttp for StubHttp {
    fn perform<'a>(&'a self, call: &'a HttpCall) -> BoxFuture<'a, HttpOutcome> {
        Box::pin(async move {
            let method = method_name(call);
            let stub = self.matching(&method, &call.url);
            let outcome = match stub {
                None => HttpOutcome::Failed {
                    reason: format!("no http stub matches {method} {}", call.url),
                },
                Some(stub) => {
                    let timeout = u64::from(call.timeout_ms);
                    if stub.timeout || stub.latency_ms >= timeout {
                        // What the executor's own client says (http_call.rs).
                        HttpOutcome::Failed {
                            reason: "the request timed out".into(),
                        }
                    } else {
                        if stub.latency_ms > 0 {
                            tokio::time::sleep(Duration::from_millis(stub.latency_ms)).await;
                        }
                        HttpOutcome::Response {
                            status: stub.status,
                            body_json: stub.json.clone(),
                        }
                    }
                }
            };
            if let Ok(mut calls) = self.calls.lock() {
                calls.push(RecordedCall {
                    method,
                    url: call.url.clone(),
                    body: call.body.clone(),
                    stub: stub.map(stub_id),
                    outcome: outcome.clone(),
                });
            }
            outcome
        })
    }
}
