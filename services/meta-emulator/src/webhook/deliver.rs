//! POSTing webhook bodies the way Meta does: signed over the exact bytes, retried with
//! exponential backoff until a 200 (any other status counts as a failure), optionally
//! duplicated, reordered or sent all at once.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use ring::hmac;

use crate::api::{Attempt, DeliveryOutcome, RetryPolicy};

/// Each attempt gives up after this long (Meta documents no timeout; it expects fast answers).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Meta's user agent for webhook requests.
pub const USER_AGENT: &str = "facebookexternalua";

#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub app_secret: String,
}

/// A body ready to send: its exact bytes and the wamids it carries.
#[derive(Debug, Clone)]
pub struct Body {
    pub text: String,
    pub ids: Vec<String>,
}

/// How a set of bodies is sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plan {
    pub duplicate: u32,
    pub reorder: bool,
    pub concurrent: bool,
    pub retry: RetryPolicy,
}

/// Sends every body (each `1 + duplicate` times, copies right after their original), in
/// reverse with `reorder`, all at once with `concurrent`; outcomes in sending order.
pub async fn deliver_all(
    http: &reqwest::Client,
    target: &Target,
    bodies: Vec<Body>,
    plan: Plan,
) -> Vec<DeliveryOutcome> {
    let mut sends: Vec<Body> = bodies
        .into_iter()
        .flat_map(|body| std::iter::repeat_n(body, 1 + plan.duplicate as usize))
        .collect();
    if plan.reorder {
        sends.reverse();
    }
    if plan.concurrent {
        join_all(
            sends
                .into_iter()
                .map(|b| deliver(http, target, b, plan.retry)),
        )
        .await
    } else {
        let mut outcomes = Vec::with_capacity(sends.len());
        for body in sends {
            outcomes.push(deliver(http, target, body, plan.retry).await);
        }
        outcomes
    }
}

/// Sends one body until it is answered 200 or the attempts run out.
pub async fn deliver(
    http: &reqwest::Client,
    target: &Target,
    body: Body,
    retry: RetryPolicy,
) -> DeliveryOutcome {
    let signature = crypto::sign_meta_payload(target.app_secret.as_bytes(), body.text.as_bytes());
    let legacy = legacy_signature(target.app_secret.as_bytes(), body.text.as_bytes());
    let max_attempts = retry.max_attempts.max(1);
    let mut attempts = Vec::new();
    let mut acknowledged = false;
    for attempt in 1..=max_attempts {
        let started = Instant::now();
        let result = http
            .post(&target.url)
            .header("content-type", "application/json")
            .header("user-agent", USER_AGENT)
            .header("x-hub-signature-256", &signature)
            .header("x-hub-signature", &legacy)
            .body(body.text.clone())
            .timeout(ATTEMPT_TIMEOUT)
            .send()
            .await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, error) = match result {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(error) => (None, Some(innermost(&error))),
        };
        tracing::debug!(url = %target.url, attempt, ?status, ?error, "webhook delivery attempt");
        attempts.push(Attempt {
            status,
            error,
            elapsed_ms,
        });
        if status == Some(200) {
            acknowledged = true;
            break;
        }
        if attempt < max_attempts {
            let factor = 1u64 << (attempt - 1).min(16);
            tokio::time::sleep(Duration::from_millis(
                retry.backoff_ms.saturating_mul(factor),
            ))
            .await;
        }
    }
    DeliveryOutcome {
        body: body.text,
        signature,
        message_ids: body.ids,
        attempts,
        acknowledged,
    }
}

/// The legacy `X-Hub-Signature: sha1=...` header Meta still sends beside the SHA-256 one.
fn legacy_signature(app_secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, app_secret);
    format!("sha1={}", hex::encode(hmac::sign(&key, body)))
}

/// reqwest's top message is "error sending request for url (...)"; the cause is more useful.
fn innermost(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    if error.is_timeout() {
        format!("timed out: {source}")
    } else {
        source.to_string()
    }
}
