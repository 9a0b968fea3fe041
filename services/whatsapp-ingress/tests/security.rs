#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Signatures, the verification handshake, bad input and a broker that is gone.

mod common;

use common::{fixture, text_payload, Harness, Spec};
use serde_json::json;
use store::integrations::{secret_aad, DetailChanges, IntegrationChanges, WhatsappChanges};
use store::whatsapp::ReceiptKind;
use whatsapp_ingress::MAX_BODY_BYTES;

const NUMBER: &str = "1122334455667";

#[tokio::test]
async fn signatures_are_checked_over_the_raw_bytes_before_anything_else() {
    let harness = Harness::start().await;
    let integration = harness.integration(Spec::active(NUMBER)).await;
    let body = fixture("text.json");
    let id = integration.id;

    // Missing: 401. Present but wrong in any way: 403.
    let (status, answer) = harness.post_raw(id, body.clone(), None).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"]["code"], "signature_missing");
    let other_secret = crypto::sign_meta_payload(b"not-the-app-secret", &body);
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'B').unwrap();
    tampered[at] = b'b';
    let good = crypto::sign_meta_payload(integration.app_secret.as_bytes(), &body);
    let upper = good.to_uppercase().replacen("SHA256=", "sha256=", 1);
    for (label, bytes, header) in [
        ("another secret", body.clone(), other_secret.as_str()),
        ("body changed after signing", tampered, good.as_str()),
        (
            "sha1 prefix",
            body.clone(),
            &good.replacen("sha256=", "sha1=", 1),
        ),
        ("not hex", body.clone(), "sha256=zz"),
        ("truncated", body.clone(), &good[..good.len() - 2]),
        ("empty", body.clone(), ""),
    ] {
        let (status, answer) = harness.post_raw(id, bytes, Some(header)).await;
        assert_eq!(status, 403, "{label}: {answer}");
        assert_eq!(answer["error"]["code"], "signature_invalid", "{label}");
    }
    // Hex digits in either case are the same signature.
    let (status, _) = harness.post_raw(id, body.clone(), Some(&upper)).await;
    assert_eq!(status, 200);
    assert_eq!(harness.drain().await.len(), 1);

    // The signature comes before parsing: garbage without a signature is 401, not 400.
    let (status, _) = harness.post_raw(id, b"{not json".to_vec(), None).await;
    assert_eq!(status, 401);

    // A stale signature (made with the app secret before it was rotated) is refused.
    let new_secret = "rotated-app-secret";
    harness
        .store
        .update_integration(
            harness.account,
            id,
            IntegrationChanges::default(),
            DetailChanges::Whatsapp(Box::new(WhatsappChanges {
                app_secret_sealed: Some(
                    harness
                        .key
                        .seal(new_secret.as_bytes(), &secret_aad(id, "app_secret"))
                        .unwrap(),
                ),
                ..WhatsappChanges::default()
            })),
        )
        .await
        .unwrap();
    let (status, _) = harness.post_raw(id, body.clone(), Some(&good)).await;
    assert_eq!(status, 403, "signed with the old secret");
    let fresh = crypto::sign_meta_payload(new_secret.as_bytes(), &body);
    let (status, _) = harness.post_raw(id, body.clone(), Some(&fresh)).await;
    assert_eq!(status, 200);
    assert_eq!(harness.drain().await.len(), 1);

    // Unknown or malformed integration ids answer like a bad signature.
    let (status, _) = harness.post_raw(999_999, body.clone(), Some(&fresh)).await;
    assert_eq!(status, 403);
    let (status, _) = harness.post_raw(999_999, body.clone(), None).await;
    assert_eq!(status, 401);
    let (status, _) = harness.post_raw("abc", body.clone(), Some(&fresh)).await;
    assert_eq!(status, 403);

    assert!(
        harness.drain().await.is_empty(),
        "nothing refused was published"
    );
    // Refusals are recorded (throttled: the first of a burst, with its count).
    let receipts = harness.receipts(id).await;
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(receipts[0].kind, ReceiptKind::BadSignature);
    assert_eq!(receipts[0].detail, json!({"reason": "missing", "count": 1}));
    harness.stop().await;
}

#[tokio::test]
async fn verification_echoes_the_challenge_only_for_the_exact_token() {
    let harness = Harness::start().await;
    let integration = harness.integration(Spec::active(NUMBER)).await;
    let other = harness.integration(Spec::active("999888777")).await;
    let get = |id: String, query: Vec<(&'static str, String)>| {
        let mut url = reqwest::Url::parse(&harness.webhook_url(id)).unwrap();
        for (key, value) in &query {
            url.query_pairs_mut().append_pair(key, value);
        }
        let request = harness.client.get(url).send();
        async move {
            let response = request.await.unwrap();
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, content_type, response.text().await.unwrap())
        }
    };
    let query = |mode: &str, token: &str, challenge: &str| {
        vec![
            ("hub.mode", mode.to_owned()),
            ("hub.verify_token", token.to_owned()),
            ("hub.challenge", challenge.to_owned()),
        ]
    };
    let id = integration.id.to_string();
    let token = integration.verify_token.as_str();
    // The token holds spaces, `+`, `&`, `=`, `/` and non-ASCII: it must survive URL encoding.
    let (status, content_type, body) =
        get(id.clone(), query("subscribe", token, "1158201444")).await;
    assert_eq!(status, 200);
    assert!(content_type.unwrap().starts_with("text/plain"));
    assert_eq!(body, "1158201444");
    let (status, _, body) = get(id.clone(), query("subscribe", token, "a-random string")).await;
    assert_eq!((status, body.as_str()), (200, "a-random string"));

    let refused = [
        query("subscribe", &format!("{token}x"), "1"),
        query("subscribe", token.strip_suffix("é").unwrap(), "1"),
        query("subscribe", &token.to_uppercase(), "1"),
        query("subscribe", &format!(" {token}"), "1"),
        query("subscribe", "", "1"),
        query("subscribe", &other.verify_token, "1"),
        query("unsubscribe", token, "1"),
        query("Subscribe", token, "1"),
        vec![
            ("hub.mode", "subscribe".into()),
            ("hub.verify_token", token.into()),
        ],
        vec![
            ("hub.verify_token", token.into()),
            ("hub.challenge", "1".into()),
        ],
        vec![],
        query("subscribe", token, &"9".repeat(2000)),
    ];
    for (index, query) in refused.into_iter().enumerate() {
        let (status, _, body) = get(id.clone(), query).await;
        assert_eq!(status, 403, "case {index}: {body}");
        assert!(body.contains("verification_failed"), "case {index}");
    }
    // Unknown and malformed ids: 403 as well (nothing says which ids exist).
    let (status, _, _) = get("999999".into(), query("subscribe", token, "1")).await;
    assert_eq!(status, 403);
    let (status, _, _) = get("x1".into(), query("subscribe", token, "1")).await;
    assert_eq!(status, 403);
    harness.stop().await;
}

#[tokio::test]
async fn bad_input_is_answered_clearly_and_the_ingress_keeps_working() {
    let harness = Harness::start().await;
    let integration = harness.integration(Spec::active(NUMBER)).await;
    let id = integration.id;

    let refused: [(&str, &[u8], u16, &str); 6] = [
        ("not JSON", b"{\"object\": ", 400, "malformed_json"),
        ("empty body", b"", 400, "malformed_json"),
        ("an array", b"[1, 2]", 400, "invalid_payload"),
        ("no object", br#"{"entry": []}"#, 400, "invalid_payload"),
        (
            "no entry",
            br#"{"object": "whatsapp_business_account"}"#,
            400,
            "invalid_payload",
        ),
        (
            "entry not an array",
            br#"{"object": "whatsapp_business_account", "entry": 1}"#,
            400,
            "invalid_payload",
        ),
    ];
    for (label, body, expected, code) in refused {
        let (status, answer) = harness.post(&integration, body).await;
        assert_eq!(status, expected, "{label}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{label}");
    }

    // Valid for Meta, never for us: 200 (so Meta stops retrying) and recorded.
    let recorded = [
        (
            "another object",
            json!({"object": "page", "entry": [{"id": "1", "changes": []}]}),
            ReceiptKind::Ignored,
        ),
        (
            "another field",
            json!({"object": "whatsapp_business_account", "entry": [{"id": "1",
            "changes": [{"field": "account_update", "value": {"event": "VERIFIED"}}]}]}),
            ReceiptKind::Ignored,
        ),
        (
            "change without metadata",
            json!({"object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": {"messages": []}}]}]}),
            ReceiptKind::Error,
        ),
        (
            "entry without changes",
            json!({"object": "whatsapp_business_account",
            "entry": [{"id": "1"}]}),
            ReceiptKind::Error,
        ),
    ];
    for (label, body, kind) in recorded {
        let (status, answer) = harness
            .post(&integration, &serde_json::to_vec(&body).unwrap())
            .await;
        assert_eq!(status, 200, "{label}: {answer}");
        assert_eq!(
            harness.receipts(id).await.last().unwrap().kind,
            kind,
            "{label}"
        );
    }

    // Broken messages cost only themselves: the good one in the same batch is published.
    let batch = common::messages_payload(
        NUMBER,
        json!([{"wa_id": "15550001111"}]),
        json!([
            {"from": "15550001111", "timestamp": "1", "type": "text", "text": {"body": "no id"}},
            {"from": "15550001111", "id": "wamid.NOBODY", "timestamp": "1", "type": "text"},
            {"from": "15550001111", "id": "wamid.NOLAT", "timestamp": "1", "type": "location",
             "location": {"longitude": 1.0}},
            {"from": "15550001111", "id": "wamid.OK", "timestamp": "2", "type": "text",
             "text": {"body": "fine"}},
        ]),
    );
    let before = harness.receipts(id).await.len();
    let (status, answer) = harness.post(&integration, &batch).await;
    assert_eq!(status, 200, "{answer}");
    let published = harness.drain().await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].event.event_id, "wamid.OK");
    let receipts = harness.receipts(id).await;
    assert_eq!(receipts.len(), before + 3);
    assert!(receipts[before..]
        .iter()
        .all(|r| r.kind == ReceiptKind::Error));
    // No sender at all (no `from`, no contacts): recorded, not published.
    let orphan = common::messages_payload(
        NUMBER,
        json!([]),
        json!([{"id": "wamid.ORPHAN", "timestamp": "1", "type": "text", "text": {"body": "?"}}]),
    );
    let (status, _) = harness.post(&integration, &orphan).await;
    assert_eq!(status, 200);
    assert!(harness.drain().await.is_empty());
    let last = harness.receipts(id).await.pop().unwrap();
    assert_eq!(last.detail["reason"], "no_usable_sender");

    // Exactly 3 MiB is taken; one byte more is 413 before anything else.
    let mut full = text_payload(NUMBER, "15550001111", "wamid.BIG", "big");
    full.resize(MAX_BODY_BYTES, b' ');
    let (status, answer) = harness.post(&integration, &full).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(harness.drain().await.len(), 1);
    full.push(b' ');
    let (status, answer) = harness.post(&integration, &full).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"]["code"], "body_too_large");

    // Still answering.
    let health = harness
        .client
        .get(harness.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let (status, _) = harness
        .post(
            &integration,
            &text_payload(NUMBER, "15550001111", "wamid.AFTER", "still here"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(harness.drain().await[0].event.event_id, "wamid.AFTER");
    harness.stop().await;
}

#[tokio::test]
async fn without_the_broker_a_webhook_is_not_acknowledged() {
    let mut harness = Harness::start().await;
    let integration = harness.integration(Spec::active(NUMBER)).await;
    let (status, _) = harness
        .post(
            &integration,
            &text_payload(NUMBER, "15550001111", "wamid.1", "one"),
        )
        .await;
    assert_eq!(status, 200);

    harness.break_broker().await;
    let started = std::time::Instant::now();
    let (status, answer) = harness
        .post(
            &integration,
            &text_payload(NUMBER, "15550001111", "wamid.2", "two"),
        )
        .await;
    assert_eq!(status, 503, "Meta retries anything but 200: {answer}");
    assert_eq!(answer["error"]["code"], "unavailable");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // A status-only payload needs no broker and is still taken.
    let (status, _) = harness
        .post(&integration, &fixture("status_read.json"))
        .await;
    assert_eq!(status, 200);
    let ready = harness
        .client
        .get(harness.url("/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["broker"],
        false
    );
    harness.stop().await;
}
