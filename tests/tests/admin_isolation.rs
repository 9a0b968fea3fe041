#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Tenancy: another account's token gets 404 on every route that names an object, sees none
//! of the objects in lists, and changes nothing; no token at all gets 401.

use e2e::{AdminHarness, BOOTSTRAP_TOKEN as OWNER};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn another_accounts_token_gets_404_on_every_object_route() {
    let h = AdminHarness::start().await;
    let bot = h.published_demo_bot(OWNER, "Owner's bot").await;
    let (_, api) = h
        .post(
            "/v1/integrations",
            OWNER,
            &json!({"kind": "api", "bot_id": bot}),
        )
        .await;
    let integration = api["id"].as_i64().unwrap();
    let (_, token) = h.post("/v1/tokens", OWNER, &json!({"name": "ci"})).await;
    let token_id = token["id"].as_i64().unwrap();

    let intruder = h.new_account("Intruder Inc").await;
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/bots/{bot}"), None),
        (
            Method::PATCH,
            format!("/v1/bots/{bot}"),
            Some(json!({"name": "pwned"})),
        ),
        (Method::DELETE, format!("/v1/bots/{bot}"), None),
        (Method::POST, format!("/v1/bots/{bot}/validate"), None),
        (Method::POST, format!("/v1/bots/{bot}/publish"), None),
        (Method::GET, format!("/v1/bots/{bot}/versions"), None),
        (Method::GET, format!("/v1/bots/{bot}/versions/1"), None),
        (Method::GET, format!("/v1/integrations/{integration}"), None),
        (
            Method::PATCH,
            format!("/v1/integrations/{integration}"),
            Some(json!({"name": "pwned"})),
        ),
        (
            Method::DELETE,
            format!("/v1/integrations/{integration}"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/integrations/{integration}/activate"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/integrations/{integration}/deactivate"),
            None,
        ),
        (Method::DELETE, format!("/v1/tokens/{token_id}"), None),
    ];
    for (method, path, body) in &routes {
        let (status, answer) = h.call(method.clone(), path, &intruder, body.as_ref()).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "not_found", "{method} {path}");
    }
    // Connecting the owner's bot to the intruder's own integration is refused as unknown.
    let (status, refused) = h
        .post(
            "/v1/integrations",
            &intruder,
            &json!({"kind": "api", "bot_id": bot}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(refused["error"]["code"], "unknown_bot");

    // Lists show nothing of the owner's.
    let (_, bots) = h.get("/v1/bots", &intruder).await;
    assert_eq!(bots["bots"], json!([]));
    let (_, integrations) = h.get("/v1/integrations", &intruder).await;
    assert_eq!(integrations["integrations"], json!([]));
    // Tenants cannot create tenants.
    let (status, _) = h
        .post("/v1/accounts", &intruder, &json!({"name": "x"}))
        .await;
    assert_eq!(status, 403);

    // And nothing changed for the owner.
    let (status, owned) = h.get(&format!("/v1/bots/{bot}"), OWNER).await;
    assert_eq!(status, 200);
    assert_eq!(owned["name"], "Owner's bot");
    let (status, still) = h
        .get(&format!("/v1/integrations/{integration}"), OWNER)
        .await;
    assert_eq!(status, 200);
    assert_eq!(still["active"], false);
    let (_, tokens) = h.get("/v1/tokens", OWNER).await;
    assert!(tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["revoked_at"].is_null()));

    // Without a valid token: 401 everywhere.
    for (method, path, body) in &routes {
        let (status, answer) = h
            .call(method.clone(), path, "op_not_a_real_token", body.as_ref())
            .await;
        assert_eq!(status, 401, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "unauthorized");
    }
    let (status, _) = e2e::read(h.client.get(h.url("/v1/bots")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    h.stop().await;
}

#[tokio::test]
async fn revoked_tokens_stop_working() {
    let h = AdminHarness::start().await;
    let (status, created) = h
        .post("/v1/tokens", OWNER, &json!({"name": "temporary"}))
        .await;
    assert_eq!(status, 201);
    let token = created["token"].as_str().unwrap().to_owned();
    let (status, _) = h.get("/v1/account", &token).await;
    assert_eq!(status, 200);
    let (_, list) = h.get("/v1/tokens", OWNER).await;
    assert!(!list.to_string().contains(&token), "token listed in clear");
    let (status, _) = h
        .delete(&format!("/v1/tokens/{}", created["id"]), OWNER)
        .await;
    assert_eq!(status, 204);
    let (status, _) = h.get("/v1/account", &token).await;
    assert_eq!(status, 401);
    h.stop().await;
}
