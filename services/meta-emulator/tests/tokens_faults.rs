//! Token exchange and 190s, injected faults (count, duration, latency, global), the request
//! record, the 24-hour window and the throughput limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{assert_meta_error, text, Emulator, PNID, USER, VERSION};
use meta_emulator::api::{FaultSpec, Settings, TokenRequest};
use serde_json::{json, Value};

async fn exchange(emulator: &Emulator, query: &str) -> (u16, Value) {
    let url = emulator.url(&format!("/{VERSION}/oauth/access_token?{query}"));
    let response = emulator.http.get(url).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn exchange_query(short_lived: &str) -> String {
    format!("grant_type=fb_exchange_token&client_id=1234&client_secret=app-secret&fb_exchange_token={short_lived}")
}

#[tokio::test]
async fn a_short_lived_token_is_exchanged_for_a_working_long_lived_one() {
    let emulator = Emulator::start().await;
    let short = emulator
        .client
        .register_token(&TokenRequest {
            kind: Some("short_lived".into()),
            ..TokenRequest::default()
        })
        .await
        .unwrap();
    assert!(short.expires_at.is_some());
    let (status, body) = exchange(&emulator, &exchange_query(&short.token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 5_183_944);
    let long = body["access_token"].as_str().unwrap();
    assert_ne!(long, short.token);
    // The new token sends.
    assert_eq!(emulator.send_as(PNID, Some(long), &text("hi")).await.0, 200);
    // The record hides the secrets behind fingerprints.
    let recorded = emulator.client.requests(None, None).await.unwrap();
    let query = &recorded[0].query;
    assert_eq!(query["client_id"], "1234");
    assert_eq!(
        query["client_secret"],
        meta_emulator::token_fingerprint("app-secret")
    );
    assert_eq!(
        query["fb_exchange_token"],
        meta_emulator::token_fingerprint(&short.token)
    );
    assert_eq!(
        recorded[0].response["access_token"],
        meta_emulator::token_fingerprint(long)
    );
    assert!(!serde_json::to_string(&recorded).unwrap().contains(long));
}

#[tokio::test]
async fn exchange_refuses_unknown_expired_revoked_tokens_and_bad_requests() {
    let emulator = Emulator::start().await;
    let error = assert_meta_error(
        &exchange(&emulator, &exchange_query("EAAunknown")).await,
        400,
        190,
    );
    assert!(error.get("error_subcode").is_none());

    let expired = emulator
        .client
        .register_token(&TokenRequest::default())
        .await
        .unwrap();
    emulator.client.expire_token(&expired.token).await.unwrap();
    let error = assert_meta_error(
        &exchange(&emulator, &exchange_query(&expired.token)).await,
        400,
        190,
    );
    assert_eq!(error["error_subcode"], 463);
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("Session has expired"));

    let revoked = emulator
        .client
        .register_token(&TokenRequest::default())
        .await
        .unwrap();
    emulator.client.revoke_token(&revoked.token).await.unwrap();
    let error = assert_meta_error(
        &exchange(&emulator, &exchange_query(&revoked.token)).await,
        400,
        190,
    );
    assert_eq!(error["error_subcode"], 460);

    let wrong_grant =
        "grant_type=client_credentials&client_id=1&client_secret=s&fb_exchange_token=t";
    assert_meta_error(&exchange(&emulator, wrong_grant).await, 400, 100);
    let no_client = format!(
        "grant_type=fb_exchange_token&client_secret=s&fb_exchange_token={}",
        emulator.token
    );
    assert_meta_error(&exchange(&emulator, &no_client).await, 400, 101);
    assert!(emulator
        .client
        .expire_token("EAAnever-registered")
        .await
        .is_err());
}

#[tokio::test]
async fn expired_and_revoked_tokens_fail_sends_with_190() {
    let emulator = Emulator::start().await;
    let token = emulator
        .client
        .register_token(&TokenRequest::default())
        .await
        .unwrap()
        .token;
    assert_eq!(
        emulator.send_as(PNID, Some(&token), &text("ok")).await.0,
        200
    );
    emulator.client.expire_token(&token).await.unwrap();
    let error = assert_meta_error(
        &emulator.send_as(PNID, Some(&token), &text("x")).await,
        401,
        190,
    );
    assert_eq!(error["error_subcode"], 463);
    emulator.client.revoke_token(&emulator.token).await.unwrap();
    let error = assert_meta_error(&emulator.send(&text("x")).await, 401, 190);
    assert_eq!(error["error_subcode"], 460);
}

#[tokio::test]
async fn count_faults_fail_the_next_calls_of_that_number_only() {
    let emulator = Emulator::start().await;
    let client = &emulator.client;
    client
        .inject_fault(&FaultSpec::error(PNID, 130429, 2))
        .await
        .unwrap();
    let first = assert_meta_error(&emulator.send(&text("1")).await, 400, 130429);
    assert_eq!(first["message"], "(#130429) Rate limit hit");
    assert_eq!(first["error_data"]["messaging_product"], "whatsapp");
    // Another phone number is unaffected.
    assert_eq!(
        emulator
            .send_as("999", Some(&emulator.token), &text("other"))
            .await
            .0,
        200
    );
    assert_meta_error(&emulator.send(&text("2")).await, 400, 130429);
    assert_eq!(emulator.send(&text("3")).await.0, 200);
    assert!(client.faults().await.unwrap().is_empty());

    // Status only, code only, overrides.
    let by_status = FaultSpec {
        phone_number_id: Some(PNID.into()),
        status: Some(500),
        count: Some(1),
        ..FaultSpec::default()
    };
    client.inject_fault(&by_status).await.unwrap();
    assert_meta_error(&emulator.send(&text("x")).await, 500, 131000);
    let custom = FaultSpec {
        phone_number_id: Some(PNID.into()),
        status: Some(429),
        code: Some(131056),
        subcode: Some(2494055),
        details: Some("slow down".into()),
        count: Some(1),
        ..FaultSpec::default()
    };
    client.inject_fault(&custom).await.unwrap();
    let error = assert_meta_error(&emulator.send(&text("x")).await, 429, 131056);
    assert_eq!(error["error_subcode"], 2494055);
    assert_eq!(error["error_data"]["details"], "slow down");
    for code in [4, 80007, 131047, 131048] {
        client
            .inject_fault(&FaultSpec::error(PNID, code, 1))
            .await
            .unwrap();
        assert_meta_error(&emulator.send(&text("x")).await, 400, code);
    }
    client
        .inject_fault(&FaultSpec::error(PNID, 190, 1))
        .await
        .unwrap();
    assert_meta_error(&emulator.send(&text("x")).await, 401, 190);
    // Failed sends are not messages.
    assert_eq!(
        client.conversation(PNID, USER, None).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn duration_faults_end_and_can_be_deleted() {
    let emulator = Emulator::start().await;
    let fault = FaultSpec {
        phone_number_id: Some(PNID.into()),
        status: Some(503),
        duration_ms: Some(300),
        ..FaultSpec::default()
    };
    emulator.client.inject_fault(&fault).await.unwrap();
    for _ in 0..3 {
        assert_meta_error(&emulator.send(&text("x")).await, 503, 2);
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(emulator.send(&text("x")).await.0, 200);

    let forever = FaultSpec {
        phone_number_id: Some(PNID.into()),
        code: Some(131000),
        ..FaultSpec::default()
    };
    emulator.client.inject_fault(&forever).await.unwrap();
    assert_meta_error(&emulator.send(&text("x")).await, 500, 131000);
    assert_meta_error(&emulator.send(&text("x")).await, 500, 131000);
    emulator.client.clear_faults(Some(PNID)).await.unwrap();
    assert_eq!(emulator.send(&text("x")).await.0, 200);
}

#[tokio::test]
async fn latency_delays_answers_and_global_faults_hit_the_token_exchange() {
    let emulator = Emulator::start().await;
    let slow = FaultSpec {
        phone_number_id: Some(PNID.into()),
        latency_ms: Some(300),
        count: Some(1),
        ..FaultSpec::default()
    };
    emulator.client.inject_fault(&slow).await.unwrap();
    let started = Instant::now();
    assert_eq!(emulator.send(&text("slow")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(emulator.send(&text("fast")).await.0, 200);
    assert!(started.elapsed() < Duration::from_millis(300));

    let global = FaultSpec {
        code: Some(2),
        count: Some(1),
        ..FaultSpec::default()
    };
    emulator.client.inject_fault(&global).await.unwrap();
    assert_meta_error(
        &exchange(&emulator, &exchange_query(&emulator.token)).await,
        503,
        2,
    );
    assert_eq!(
        exchange(&emulator, &exchange_query(&emulator.token))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn requests_are_recorded_without_the_token() {
    let emulator = Emulator::start().await;
    emulator.send(&text("one")).await;
    emulator
        .send_as("777", Some(&emulator.token), &text("two"))
        .await;
    emulator.send_as(PNID, Some("EAAbad"), &text("three")).await;
    let all = emulator.client.requests(None, None).await.unwrap();
    assert_eq!(all.len(), 3);
    let first = &all[0];
    assert_eq!((first.method.as_str(), first.status), ("POST", 200));
    assert_eq!(first.path, format!("/{VERSION}/{PNID}/messages"));
    assert_eq!(first.phone_number_id.as_deref(), Some(PNID));
    assert_eq!(first.body["text"]["body"], "one");
    assert_eq!(first.headers["content-type"], "application/json");
    assert!(first.headers.get("authorization").is_none());
    assert_eq!(
        first.token_fingerprint,
        Some(meta_emulator::token_fingerprint(&emulator.token))
    );
    assert!(first.response["messages"][0]["id"].is_string());
    assert!(!serde_json::to_string(&all)
        .unwrap()
        .contains(&emulator.token));
    assert_eq!(all[2].status, 401);
    assert_eq!(all[2].response["error"]["code"], 190);

    let mine = emulator.client.requests(Some(PNID), None).await.unwrap();
    assert_eq!(
        mine.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![all[0].seq, all[2].seq]
    );
    let newer = emulator
        .client
        .requests(None, Some(all[1].seq))
        .await
        .unwrap();
    assert_eq!(newer.len(), 1);
    emulator.client.clear_requests().await.unwrap();
    assert!(emulator
        .client
        .requests(None, None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_window_is_enforced_when_enabled() {
    let emulator = Emulator::start().await;
    let client = &emulator.client;
    // Off by default.
    assert_eq!(emulator.send(&text("free")).await.0, 200);
    client
        .configure(
            Some(PNID),
            Settings {
                enforce_window: Some(true),
                ..Settings::default()
            },
        )
        .await
        .unwrap();
    let error = assert_meta_error(&emulator.send(&text("closed")).await, 400, 131047);
    assert_eq!(error["message"], "(#131047) Re-engagement message");
    // Templates pass.
    let template = json!({"messaging_product": "whatsapp", "to": USER, "type": "template",
                          "template": {"name": "hello", "language": {"code": "en"}}});
    assert_eq!(emulator.send(&template).await.0, 200);
    // A message from the user 23 hours ago opens it; 25 hours ago does not.
    let now = chrono::Utc::now().timestamp();
    client
        .set_window(PNID, USER, Some(now - 25 * 3600))
        .await
        .unwrap();
    assert_meta_error(&emulator.send(&text("old")).await, 400, 131047);
    client
        .set_window(PNID, &format!("+{USER}"), Some(now - 23 * 3600))
        .await
        .unwrap();
    assert_eq!(emulator.send(&text("open")).await.0, 200);
    client.set_window(PNID, USER, None).await.unwrap();
    assert_meta_error(&emulator.send(&text("closed again")).await, 400, 131047);
    // Other numbers keep the default.
    assert_eq!(
        emulator
            .send_as("555", Some(&emulator.token), &text("x"))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn the_throughput_limit_answers_130429() {
    let emulator = Emulator::start().await;
    let settings = Settings {
        max_messages_per_second: Some(3),
        ..Settings::default()
    };
    emulator
        .client
        .configure(Some(PNID), settings)
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(emulator.send(&text(&i.to_string())).await.0);
    }
    assert_eq!(statuses, vec![200, 200, 200, 400, 400]);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(emulator.send(&text("later")).await.0, 200);
}
