#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Rate limits that hold across replicas (docs/security.md, "Rate limits"): an integration's
//! limit with two gateway replicas behind a client that alternates between them, and the
//! admin's limit on failed sign-ins per client address.

use std::time::Instant;

use e2e::{Platform, BOOTSTRAP_TOKEN};
use futures_util::stream::{self, StreamExt};
use serde_json::json;

/// Requests in flight at once.
const CONCURRENCY: usize = 16;

#[tokio::test]
async fn two_gateway_replicas_share_one_integrations_limit() {
    let mut p = Platform::start().await;
    let per_minute: u32 = 600;
    let i = p.demo_integration("Limited", false).await;
    let (status, body) = p
        .admin
        .get(&format!("/v1/integrations/{}", i.id), BOOTSTRAP_TOKEN)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["api"]["rate_limit_per_minute"], per_minute, "{body}");
    let (second_base, second) = p.add_gateway_replica("second").await;
    let bases = [p.api_base_url.clone(), second_base];
    let client = reqwest::Client::new();

    // Twice the limit, alternating between the replicas. The body is admitted first and
    // refused after (422: `session_id` must be a string), so an admitted request is cheap and
    // never waits for a bot; a limited one is 429.
    let total = 2 * per_minute as usize;
    let started = Instant::now();
    let statuses: Vec<(usize, u16)> = stream::iter(0..total)
        .map(|n| {
            let url = format!("{}/{}/session/", bases[n % 2], i.id);
            let client = client.clone();
            let key = i.key.clone();
            async move {
                let response = client
                    .post(url)
                    .header("X-API-Key", key)
                    .json(&json!({"session_id": 5}))
                    .send()
                    .await
                    .expect("request sent");
                (n % 2, response.status().as_u16())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();

    let admitted = statuses.iter().filter(|(_, status)| *status == 422).count();
    let limited = statuses.iter().filter(|(_, status)| *status == 429).count();
    assert_eq!(admitted + limited, total, "other statuses: {statuses:?}");
    for replica in 0..2 {
        assert!(
            statuses
                .iter()
                .any(|(served_by, status)| *served_by == replica && *status == 429),
            "replica {replica} never limited"
        );
    }
    // A full bucket (a minute's worth) plus its refill during the run.
    let expected = f64::from(per_minute) * (1.0 + elapsed / 60.0);
    let tolerance = 0.1 * f64::from(per_minute);
    eprintln!("admitted {admitted} of {total} in {elapsed:.2} s; expected {expected:.0}");
    assert!(
        (admitted as f64 - expected).abs() <= tolerance,
        "admitted {admitted} of {total} in {elapsed:.1} s; expected {expected:.0} ± {tolerance:.0}"
    );

    // A limited request says when to come back.
    let response = client
        .post(format!("{}/{}/session/", bases[1], i.id))
        .header("X-API-Key", &i.key)
        .json(&json!({"session_id": 5}))
        .send()
        .await
        .unwrap();
    if response.status() == 429 {
        let retry: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
    }
    second.stop().await;
    p.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_client_address() {
    let admin = e2e::AdminHarness::start().await;
    let limit = admin::SigninFailureLimit::default().max_failures;
    // A valid token works before anything failed.
    let (status, _) = admin.get("/v1/account", BOOTSTRAP_TOKEN).await;
    assert_eq!(status, 200);
    for n in 0..limit {
        let (status, body) = admin
            .get("/v1/account", &format!("op_wrong_token_{n}"))
            .await;
        assert_eq!(status, 401, "attempt {n}: {body}");
    }
    let (status, body) = admin.get("/v1/account", "op_wrong_token_again").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_failed_sign_ins");
    // Past the limit even the right token is refused: the answer tells a guesser nothing.
    let (status, _) = admin.get("/v1/account", BOOTSTRAP_TOKEN).await;
    assert_eq!(status, 429);
    let response = admin
        .client
        .get(admin.url("/v1/account"))
        .bearer_auth(BOOTSTRAP_TOKEN)
        .send()
        .await
        .unwrap();
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // One failure comes back after window / max_failures (600 s / 20).
    assert!((1..=30).contains(&retry), "{retry}");
    admin.stop().await;
}
