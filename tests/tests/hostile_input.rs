#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hostile input against a running platform (issue 7): NUL in every string field, lone
//! surrogates, 1 MB strings, 10,000 variables, 5,000-deep JSON, duplicate keys, non-UTF-8
//! bytes, template and SQL injection strings, unknown fields, huge numbers, over the API
//! gateway, the admin API and (validly signed) the WhatsApp webhook. Each is answered with a
//! 4xx in the JSON error shape (or, for a signed webhook, the documented 200 after repair),
//! never a 5xx, and changes nothing. Then 48 fresh API conversations all answer 200: no shard
//! was poisoned, whatever the executor does with a bad event, because none got through.

use e2e::BOOTSTRAP_TOKEN as TOKEN;
use e2e::{WhatsappPlatform, WhatsappSetup, BOT_WAIT};
use futures_util::future::join_all;
use serde_json::{json, Value};

/// One hostile request: a label, the raw body and the status wanted.
struct Case {
    label: String,
    body: Vec<u8>,
    want: u16,
}

fn case(label: &str, body: impl Into<Vec<u8>>, want: u16) -> Case {
    Case {
        label: label.to_owned(),
        body: body.into(),
        want,
    }
}

fn deep(levels: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(levels), "}".repeat(levels))
}

fn assert_refused(label: &str, status: u16, body: &Value, want: u16) {
    assert_eq!(status, want, "{label}: {body}");
    assert!(status < 500, "{label}: {status} {body}");
    if status >= 400 {
        assert!(body["error"]["code"].is_string(), "{label}: {body}");
        assert!(body["error"]["message"].is_string(), "{label}: {body}");
    }
}

/// Cases for a JSON body whose string field `field` is checked (the body is otherwise valid).
fn text_cases(endpoint: &str, field: &str, base: &Value) -> Vec<Case> {
    let with = |raw: &str| {
        let mut object = base.clone();
        object[field] = Value::from("__HOSTILE__");
        object
            .to_string()
            .replace("\"__HOSTILE__\"", raw)
            .into_bytes()
    };
    let mut non_utf8 = with("\"caf__BYTE__\"");
    let at = non_utf8
        .windows(8)
        .position(|w| w == b"__BYTE__")
        .expect("marker");
    non_utf8.splice(at..at + 8, [0xE9u8]);
    vec![
        case(
            &format!("{endpoint}: NUL in {field}"),
            with(r#""A\u0000da""#),
            422,
        ),
        case(
            &format!("{endpoint}: lone surrogate in {field}"),
            with(r#""x\ud800y""#),
            422,
        ),
        case(
            &format!("{endpoint}: non-UTF-8 byte in {field}"),
            non_utf8,
            422,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_input_is_refused_at_the_edge_and_nothing_stalls() {
    let wa = WhatsappPlatform::start().await;
    let platform = &wa.platform;
    let admin = &platform.admin;
    let api = platform.demo_integration("Hostile", true).await;
    let client = reqwest::Client::new();
    let mut count = 0usize;

    // ---- API gateway ----------------------------------------------------------------------
    let start_url = format!("{}/{}/session/", platform.api_base_url, api.id);
    let (status, started) = platform
        .api(
            &format!("/{}/session/", api.id),
            &api.key,
            &json!({"session_id": "hostile-target"}),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    let message_url = format!(
        "{}/{}/session/hostile-target/message/",
        platform.api_base_url, api.id
    );
    let mut gateway: Vec<(String, Case)> = Vec::new();
    for field in ["session_id", "user_identifier", "message_payload"] {
        for c in text_cases("start", field, &json!({})) {
            gateway.push((start_url.clone(), c));
        }
    }
    for field in ["message", "selected_option_id"] {
        for c in text_cases("message", field, &json!({})) {
            gateway.push((message_url.clone(), c));
        }
    }
    let many_variables: String = (0..10_000)
        .map(|n| format!("\"v{n}\":1"))
        .collect::<Vec<_>>()
        .join(",");
    let some_variables: String = (0..101)
        .map(|n| format!("\"v{n}\":1"))
        .collect::<Vec<_>>()
        .join(",");
    let one_mb = "x".repeat(1024 * 1024);
    for c in [
        case(
            "start: NUL in a variable's value",
            r#"{"variables": {"city": "A\u0000da"}}"#,
            422,
        ),
        case(
            "start: NUL in a variable's name",
            r#"{"variables": {"ci\u0000ty": "Ada"}}"#,
            422,
        ),
        case(
            "start: lone surrogate in a variable",
            r#"{"variables": {"city": "\udc00"}}"#,
            422,
        ),
        case(
            "start: 10,000 variables",
            format!(r#"{{"variables": {{{many_variables}}}}}"#),
            413,
        ),
        case(
            "start: 101 variables",
            format!(r#"{{"variables": {{{some_variables}}}}}"#),
            422,
        ),
        case(
            "start: a variable name that is no name",
            r#"{"variables": {"a b": "x"}}"#,
            422,
        ),
        case(
            "start: 5,000-deep JSON",
            format!(r#"{{"variables": {}}}"#, deep(5_000)),
            422,
        ),
        case(
            "start: duplicate keys",
            r#"{"session_id": "a", "session_id": "b"}"#,
            422,
        ),
        case(
            "start: 1 MB string",
            format!(r#"{{"message_payload": "{one_mb}"}}"#),
            413,
        ),
        case(
            "start: 5,000-character payload",
            format!(r#"{{"message_payload": "{}"}}"#, "é".repeat(5_000)),
            422,
        ),
        case(
            "start: unknown field",
            r#"{"session_id": "u1", "admin": true}"#,
            422,
        ),
        case("start: huge number", r#"{"variables": {"n": 1e400}}"#, 422),
        case(
            "start: huge number as a flag",
            r#"{"force_restart": 123456789012345678901234567890}"#,
            422,
        ),
        case(
            "start: SQL injection as session id",
            r#"{"session_id": "x'; DROP TABLE sessions; --"}"#,
            422,
        ),
        case("start: not JSON", "{\"session_id\": ", 422),
    ] {
        gateway.push((start_url.clone(), c));
    }
    for c in [
        case(
            "message: 5,000-character message",
            format!(r#"{{"message": "{}"}}"#, "a".repeat(5_000)),
            422,
        ),
        case("message: 5,000-deep JSON", deep(5_000), 422),
        case(
            "message: duplicate keys",
            r#"{"message": "a", "message": "b"}"#,
            422,
        ),
        case(
            "message: unknown field",
            r#"{"message": "a", "text": "b"}"#,
            422,
        ),
        case("message: huge number", r#"{"message": 1e999}"#, 422),
    ] {
        gateway.push((message_url.clone(), c));
    }
    for (url, c) in &gateway {
        let response = client
            .post(url)
            .header("X-API-Key", &api.key)
            .header("content-type", "application/json")
            .body(c.body.clone())
            .send()
            .await
            .unwrap();
        let (status, body) = e2e::read(response).await;
        assert_refused(&c.label, status, &body, c.want);
        count += 1;
    }
    // Injection strings are text like any other: taken literally, never interpreted.
    for (n, text) in [
        "{{ system.env.DEPLOYMENT_KEY }}",
        "${jndi:ldap://x/a}",
        "'; DROP TABLE bots; --",
        "<script>alert(1)</script>",
    ]
    .iter()
    .enumerate()
    {
        let (status, body) = platform
            .api(
                &format!("/{}/session/", api.id),
                &api.key,
                &json!({"session_id": format!("injection-{n}"), "message_payload": text,
                        "variables": {"customer_name": text}}),
            )
            .await;
        assert_eq!(status, 200, "injection {text}: {body}");
        count += 1;
    }
    // A NUL in the session id of the path is no session.
    let (status, body) = e2e::read(
        client
            .post(format!(
                "{}/{}/session/a%00b/message/",
                platform.api_base_url, api.id
            ))
            .header("X-API-Key", &api.key)
            .json(&json!({"message": "hi"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_refused("message: NUL in the path's session id", status, &body, 404);
    count += 1;

    // ---- admin API --------------------------------------------------------------------------
    let (_, bots_before) = admin.get("/v1/bots", TOKEN).await;
    let (_, integrations_before) = admin.get("/v1/integrations", TOKEN).await;
    let bot_id = api.bot_id;
    let flow = e2e::demo_bot()["flow"].to_string();
    let mut admin_cases: Vec<(reqwest::Method, String, Case)> = Vec::new();
    let post = reqwest::Method::POST;
    let patch = reqwest::Method::PATCH;
    for c in text_cases("create bot", "name", &json!({"flow": {}})) {
        admin_cases.push((post.clone(), "/v1/bots".into(), c));
    }
    for c in text_cases("create token", "name", &json!({})) {
        admin_cases.push((post.clone(), "/v1/tokens".into(), c));
    }
    for c in text_cases("create account", "name", &json!({})) {
        admin_cases.push((post.clone(), "/v1/accounts".into(), c));
    }
    for c in text_cases("create integration", "name", &json!({"kind": "api"})) {
        admin_cases.push((post.clone(), "/v1/integrations".into(), c));
    }
    for c in text_cases("update integration", "name", &json!({})) {
        admin_cases.push((patch.clone(), format!("/v1/integrations/{}", api.id), c));
    }
    for c in text_cases("whatsapp start", "to", &json!({})) {
        admin_cases.push((
            post.clone(),
            format!("/v1/integrations/{}/whatsapp/start", api.id),
            c,
        ));
    }
    let nul_flow = flow.replacen("\"text\":\"", "\"text\":\"\\u0000", 1);
    assert_ne!(nul_flow, flow, "the demo flow has a text");
    for (label, path, method, body, want) in [
        ("create bot: NUL deep in the flow", "/v1/bots".to_owned(), post.clone(),
            format!(r#"{{"name": "n1", "flow": {nul_flow}}}"#), 422),
        ("create bot: NUL in a flow key", "/v1/bots".into(), post.clone(),
            r#"{"name": "n2", "flow": {"start": "a", "comp\u0000onents": []}}"#.into(), 422),
        ("create bot: lone surrogate in the flow", "/v1/bots".into(), post.clone(),
            r#"{"name": "n3", "flow": {"start": "\ud800"}}"#.into(), 422),
        ("create bot: NUL in a variable default", "/v1/bots".into(), post.clone(),
            r#"{"name": "n4", "flow": {}, "variables": [{"name": "v", "default": "\u0000"}]}"#.into(), 422),
        ("create bot: 5,000-deep flow", "/v1/bots".into(), post.clone(),
            format!(r#"{{"name": "n5", "flow": {}}}"#, deep(5_000)), 422),
        ("create bot: duplicate keys", "/v1/bots".into(), post.clone(),
            r#"{"name": "n6", "flow": {"start": "a", "start": "b"}}"#.into(), 422),
        ("create bot: 1 MB name", "/v1/bots".into(), post.clone(),
            format!(r#"{{"name": "{one_mb}", "flow": {{}}}}"#), 413),
        ("create bot: 20,000-character string", "/v1/bots".into(), post.clone(),
            format!(r#"{{"name": "n7", "flow": {{"x": "{}"}}}}"#, "y".repeat(20_000)), 422),
        ("create bot: 300-character name", "/v1/bots".into(), post.clone(),
            format!(r#"{{"name": "{}", "flow": {{}}}}"#, "n".repeat(300)), 422),
        ("create bot: huge number", "/v1/bots".into(), post.clone(),
            r#"{"name": "n8", "flow": {"x": 1e400}}"#.into(), 422),
        ("create bot: unknown field", "/v1/bots".into(), post.clone(),
            r#"{"name": "n9", "flow": {}, "owner": "root"}"#.into(), 422),
        ("update bot: NUL in the flow", format!("/v1/bots/{bot_id}"), patch.clone(),
            r#"{"flow": {"start": "\u0000"}}"#.into(), 422),
        ("create integration: NUL in the API key", "/v1/integrations".into(), post.clone(),
            format!(r#"{{"kind": "api", "bot_id": {bot_id}, "api_key": "k\u0000ey"}}"#), 422),
        ("create integration: NUL in the alert address", "/v1/integrations".into(), post.clone(),
            format!(r#"{{"kind": "api", "bot_id": {bot_id}, "alert_email": {{"enabled": true, "address": "a\u0000@b.c"}}}}"#), 422),
        ("create integration: huge bot id", "/v1/integrations".into(), post.clone(),
            r#"{"kind": "api", "bot_id": 123456789012345678901234567890}"#.into(), 422),
        ("create integration: NUL in the app secret", "/v1/integrations".into(), post.clone(),
            r#"{"kind": "whatsapp", "business_account_id": "1", "phone_number_id": "2", "app_id": "3", "app_secret": "s\u0000", "access_token": "t", "verify_token": "verify-token"}"#.into(), 422),
        ("create integration: SQL injection as a name", "/v1/integrations".into(), post.clone(),
            r#"{"kind": "api", "bot_id": 1, "name": "x'); DELETE FROM integrations; --", "rate_limit_per_minute": 99999999999}"#.into(), 422),
        ("update integration: duplicate keys", format!("/v1/integrations/{}", api.id), patch.clone(),
            r#"{"name": "a", "name": "b"}"#.into(), 422),
    ] {
        admin_cases.push((method, path, case(label, body, want)));
    }
    for (method, path, c) in &admin_cases {
        let response = admin
            .client
            .request(method.clone(), admin.url(path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(c.body.clone())
            .send()
            .await
            .unwrap();
        let (status, body) = e2e::read(response).await;
        assert_refused(&c.label, status, &body, c.want);
        count += 1;
    }
    let (_, bots_after) = admin.get("/v1/bots", TOKEN).await;
    let (_, integrations_after) = admin.get("/v1/integrations", TOKEN).await;
    assert_eq!(bots_before, bots_after, "refused bodies changed no bot");
    assert_eq!(
        integrations_before, integrations_after,
        "refused bodies changed no integration"
    );

    // A method a path does not have: 405 in the JSON shape, with Allow.
    for (url, allow) in [
        (admin.url("/v1/bots"), "POST, GET"),
        (
            admin.url(&format!("/v1/bots/{bot_id}")),
            "GET, PATCH, DELETE",
        ),
        (start_url.clone(), "POST"),
    ] {
        let response = client
            .put(&url)
            .bearer_auth(TOKEN)
            .header("X-API-Key", &api.key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some(allow),
            "{url}"
        );
        let (status, body) = e2e::read(response).await;
        assert_refused(&format!("PUT {url}"), status, &body, 405);
    }

    // ---- WhatsApp webhook, validly signed --------------------------------------------------
    let whatsapp = wa
        .demo_integration("Hostile WhatsApp", WhatsappSetup::default())
        .await;
    let webhook = |user: &str, message: &str, extra: &str| -> Vec<u8> {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"{pnid}"}},"contacts":[{{"profile":{{"name":"P\u0000at"}},"wa_id":"{user}"}}],"messages":[{{"from":"{user}","id":"wamid.{user}\u0000x","timestamp":"1700000000","type":"text","text":{{"body":{message}}}}}]{extra}}}}}]}}]}}"#,
            pnid = whatsapp.phone_number_id
        )
        .into_bytes()
    };
    let mut non_utf8 = webhook("15550000003", "\"caf__BYTE__\"", "");
    let at = non_utf8.windows(8).position(|w| w == b"__BYTE__").unwrap();
    non_utf8.splice(at..at + 8, [0xE9u8]);
    let one_mb_text = format!("\"{one_mb}\"");
    let deep_extra = format!(r#","extra":{}"#, deep(5_000));
    // (label, user who must get the bot's answer, body, status)
    let webhooks: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
        (
            "webhook: NUL in the text, the name and the id",
            Some("15550000001"),
            webhook("15550000001", r#""A\u0000da""#, ""),
            200,
        ),
        (
            "webhook: lone surrogates",
            Some("15550000002"),
            webhook("15550000002", r#""\ud800 and \udc00""#, ""),
            200,
        ),
        (
            "webhook: non-UTF-8 bytes",
            Some("15550000003"),
            non_utf8,
            200,
        ),
        (
            "webhook: 1 MB text",
            Some("15550000004"),
            webhook("15550000004", &one_mb_text, ""),
            200,
        ),
        (
            "webhook: duplicate keys and unknown fields",
            Some("15550000005"),
            webhook(
                "15550000005",
                r#""hi""#,
                r#","unknown":{"x":1},"unknown":{"y":2}"#,
            ),
            200,
        ),
        (
            "webhook: template injection",
            Some("15550000006"),
            webhook(
                "15550000006",
                r#""{{ system }} ${jndi:x} '; DROP TABLE sessions; --""#,
                "",
            ),
            200,
        ),
        (
            "webhook: 5,000-deep JSON",
            None,
            webhook("15550000007", r#""hi""#, &deep_extra),
            400,
        ),
    ];
    for (label, _, body, want) in &webhooks {
        let signature = crypto::sign_meta_payload(whatsapp.webhook.app_secret.as_bytes(), body);
        let response = client
            .post(&whatsapp.webhook.url)
            .header("X-Hub-Signature-256", signature)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let (status, answer) = e2e::read(response).await;
        assert_eq!(status, *want, "{label}: {answer}");
        count += 1;
    }
    // Each repaired message reached the bot as a storable event and was answered.
    for (label, user, _, _) in &webhooks {
        if let Some(user) = user {
            let answered = wa
                .emulator
                .wait_for_outbound(&whatsapp.phone_number_id, user, 1, None, BOT_WAIT)
                .await
                .unwrap_or_else(|err| panic!("{label}: the bot never answered: {err}"));
            assert!(!answered.is_empty(), "{label}");
        }
    }
    assert!(count >= 40, "only {count} hostile inputs");

    // ---- nothing stalls: 48 fresh conversations, spread over every shard -------------------
    let fresh = join_all((0..48).map(|n| {
        let path = format!("/{}/session/", api.id);
        let key = api.key.clone();
        async move {
            platform
                .api(&path, &key, &json!({"session_id": format!("fresh-{n}")}))
                .await
        }
    }))
    .await;
    for (n, (status, body)) in fresh.iter().enumerate() {
        assert_eq!(*status, 200, "fresh conversation {n}: {body}");
    }
    // And the conversation that was sent hostile messages goes on.
    let (status, body) = platform
        .api(
            &format!("/{}/session/hostile-target/message/", api.id),
            &api.key,
            &json!({"message": "Ada"}),
        )
        .await;
    assert!(status < 500, "{status}: {body}");
    wa.stop().await;
}
