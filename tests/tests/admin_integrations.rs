#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Integrations through the admin API: both kinds round-trip with secrets masked, the database
//! holds no secret in clear, and the rules of the manual are enforced.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use e2e::{AdminHarness, BOOTSTRAP_TOKEN as TOKEN};
use serde_json::{json, Value};

const APP_SECRET: &str = "a3f1c9e07b5d42e8b6f0c1d2e3f4a5b6";
const ACCESS_TOKEN: &str = "EAAGshortlivedTokenFromMetaDashboard1234567890abcdef";
const VERIFY_TOKEN: &str = "my_secure_verify_token_12345";

fn whatsapp_body(bot: i64, phone: &str, verify_token: &str) -> Value {
    json!({
        "kind": "whatsapp",
        "name": "Main Customer Support Line",
        "bot_id": bot,
        "business_account_id": "102290129340398",
        "phone_number_id": phone,
        "app_id": "1234567890",
        "app_secret": APP_SECRET,
        "access_token": ACCESS_TOKEN,
        "verify_token": verify_token,
        "conversation_expiry_minutes": 60,
        "template": {"name": "hello_world", "language_code": "en_US"},
        "trigger_recipients": ["+1 555 123 4567"],
        "alert_email": {"enabled": true, "address": "ops@example.com"}
    })
}

/// Every byte column of every row, as one haystack to search for clear secrets.
async fn all_stored_bytes(h: &AdminHarness) -> Vec<u8> {
    #[derive(QueryableByName)]
    struct Dump {
        #[diesel(sql_type = diesel::sql_types::Text)]
        dump: String,
    }
    let mut conn = AsyncPgConnection::establish(h.db.url()).await.unwrap();
    let mut haystack = Vec::new();
    for table in [
        "integrations",
        "api_integrations",
        "whatsapp_integrations",
        "operator_tokens",
    ] {
        let rows: Vec<Dump> = diesel::sql_query(format!("SELECT t::text AS dump FROM {table} t"))
            .load(&mut conn)
            .await
            .unwrap();
        for row in rows {
            haystack.extend_from_slice(row.dump.as_bytes());
        }
    }
    haystack
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn api_integration_round_trips_with_the_key_shown_once() {
    let h = AdminHarness::start().await;
    let bot = h.published_demo_bot(TOKEN, "Support").await;
    let (status, created) = h
        .post(
            "/v1/integrations",
            TOKEN,
            &json!({"kind": "api", "name": "production-customer-support", "bot_id": bot,
                    "variable_injection": true}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["api_key"].as_str().unwrap().to_owned();
    assert!(key.len() >= 32 && key.chars().all(|c| c.is_ascii_alphanumeric()));
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["kind"], "api");
    assert_eq!(created["active"], false);
    assert_eq!(created["bot"]["name"], "Support");
    assert_eq!(
        created["api"]["endpoints"]["session_start"],
        format!("http://api.test/api/integrations/api/{id}/session/")
    );

    let (status, read) = h.get(&format!("/v1/integrations/{id}"), TOKEN).await;
    assert_eq!(status, 200);
    assert!(
        read.get("api_key").is_none(),
        "key is shown only once: {read}"
    );
    let masked = read["api"]["api_key"].as_str().unwrap();
    assert!(masked.starts_with("••••") && masked.ends_with(&key[key.len() - 4..]));
    assert!(!read.to_string().contains(&key));
    assert_eq!(read["api"]["variable_injection"], true);
    assert_eq!(read["api"]["rate_limit_per_minute"], 600);

    // The key cannot be changed.
    let (status, refused) = h
        .patch(
            &format!("/v1/integrations/{id}"),
            TOKEN,
            &json!({"api_key": "x"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(refused["error"]["code"], "api_key_immutable");
    // A WhatsApp field on an API integration is refused.
    let (status, _) = h
        .patch(
            &format!("/v1/integrations/{id}"),
            TOKEN,
            &json!({"phone_number_id": "1"}),
        )
        .await;
    assert_eq!(status, 422);

    let (status, updated) = h
        .patch(
            &format!("/v1/integrations/{id}"),
            TOKEN,
            &json!({"name": "renamed", "rate_limit_per_minute": 120,
                    "alert_email": {"enabled": true, "address": "alerts@example.com"}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "renamed");
    assert_eq!(updated["api"]["rate_limit_per_minute"], 120);
    assert_eq!(updated["alert_email"]["address"], "alerts@example.com");

    let (status, activated) = h
        .post(
            &format!("/v1/integrations/{id}/activate"),
            TOKEN,
            &Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(activated["status"], "active");
    let (_, list) = h.get("/v1/integrations", TOKEN).await;
    let row = &list["integrations"][0];
    assert_eq!(row["id"], id);
    assert_eq!(row["name"], "renamed");
    assert_eq!(row["kind"], "api");
    assert_eq!(row["status"], "active");
    assert_eq!(row["bot"]["name"], "Support");
    assert!(row.as_object().unwrap().contains_key("last_activity_at"));

    let stored = all_stored_bytes(&h).await;
    assert!(!contains(&stored, &key), "the API key is stored in clear");

    let (status, _) = h.delete(&format!("/v1/integrations/{id}"), TOKEN).await;
    assert_eq!(status, 204);
    let (status, _) = h.get(&format!("/v1/integrations/{id}"), TOKEN).await;
    assert_eq!(status, 404);
    h.stop().await;
}

#[tokio::test]
async fn provided_api_keys_must_be_strong_and_then_work_like_generated_ones() {
    let h = AdminHarness::start().await;
    let bot = h.published_demo_bot(TOKEN, "Support").await;
    for weak in [
        "short",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "password1234password1234password1234",
    ] {
        let (status, refused) = h
            .post(
                "/v1/integrations",
                TOKEN,
                &json!({"kind": "api", "bot_id": bot, "api_key": weak}),
            )
            .await;
        assert_eq!(status, 422, "{weak}: {refused}");
        assert_eq!(refused["error"]["code"], "weak_api_key");
        assert!(!refused.to_string().contains(weak), "the key is echoed");
    }
    let strong = "xK9mP2qR7vW4nT8yU1zA5bC6dE3fG0hI";
    let (status, created) = h
        .post(
            "/v1/integrations",
            TOKEN,
            &json!({"kind": "api", "bot_id": bot, "api_key": strong}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["api_key"], strong);
    let (_, list) = h.get("/v1/integrations", TOKEN).await;
    assert_eq!(
        list["integrations"].as_array().unwrap().len(),
        1,
        "refused ones left nothing"
    );
    h.stop().await;
}

#[tokio::test]
async fn whatsapp_integration_round_trips_with_secrets_masked_and_sealed() {
    let h = AdminHarness::start().await;
    let bot = h.published_demo_bot(TOKEN, "Support").await;
    let (status, created) = h
        .post(
            "/v1/integrations",
            TOKEN,
            &whatsapp_body(bot, "106540352242922", VERIFY_TOKEN),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let wa = &created["whatsapp"];
    assert_eq!(wa["phone_number_id"], "106540352242922");
    assert_eq!(wa["business_account_id"], "102290129340398");
    assert_eq!(wa["api_version"], "v21.0");
    assert_eq!(wa["conversation_expiry_minutes"], 60);
    assert_eq!(
        wa["template"],
        json!({"name": "hello_world", "language_code": "en_US"})
    );
    assert_eq!(wa["trigger_recipients"], json!(["15551234567"]));
    assert_eq!(
        wa["webhook_url"],
        format!("http://hooks.test/webhooks/whatsapp/{id}")
    );
    for secret in [APP_SECRET, ACCESS_TOKEN, VERIFY_TOKEN] {
        assert!(
            !created.to_string().contains(secret),
            "creation response leaks a secret"
        );
    }
    let (_, read) = h.get(&format!("/v1/integrations/{id}"), TOKEN).await;
    assert_eq!(read["whatsapp"]["app_secret"], "••••••••");
    assert_eq!(read["whatsapp"]["access_token"], "••••••••");
    assert_eq!(
        read["alert_email"],
        json!({"enabled": true, "address": "ops@example.com"})
    );

    let stored = all_stored_bytes(&h).await;
    for secret in [APP_SECRET, ACCESS_TOKEN, VERIFY_TOKEN] {
        assert!(!contains(&stored, secret), "a secret is stored in clear");
    }
    // The sealed secrets open under the deployment key, bound to this integration and field.
    let sealed = sealed_column(&h, id, "app_secret_sealed").await;
    let integration = contracts_id(id);
    let opened = h
        .deployment_key
        .open_string(&sealed, &admin::secret_aad(integration, "app_secret"))
        .unwrap();
    assert_eq!(opened.expose(), APP_SECRET);
    assert!(h
        .deployment_key
        .open(&sealed, &admin::secret_aad(integration, "access_token"))
        .is_err());

    // Replacing a secret re-seals it; the response still masks it.
    let (status, updated) = h
        .patch(
            &format!("/v1/integrations/{id}"),
            TOKEN,
            &json!({"app_secret": "0123456789abcdef0123456789abcdef", "template": null}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["whatsapp"]["template"], Value::Null);
    assert!(!updated
        .to_string()
        .contains("0123456789abcdef0123456789abcdef"));
    h.stop().await;
}

/// A sealed column of a WhatsApp integration's row, as stored.
async fn sealed_column(h: &AdminHarness, id: i64, column: &str) -> Vec<u8> {
    let mut conn = AsyncPgConnection::establish(h.db.url()).await.unwrap();
    diesel::sql_query(format!(
        "SELECT {column} AS v FROM whatsapp_integrations WHERE integration_id = $1"
    ))
    .bind::<diesel::sql_types::BigInt, _>(id)
    .get_result::<Sealed>(&mut conn)
    .await
    .unwrap()
    .v
}

#[derive(QueryableByName)]
struct Sealed {
    #[diesel(sql_type = diesel::sql_types::Bytea)]
    v: Vec<u8>,
}

fn contracts_id(raw: i64) -> contracts::IntegrationId {
    contracts::IntegrationId::new(raw).unwrap()
}

#[tokio::test]
async fn whatsapp_rules_verify_token_phone_number_and_published_bot() {
    let h = AdminHarness::start().await;
    let bot = h.published_demo_bot(TOKEN, "Support").await;
    let (status, first) = h
        .post(
            "/v1/integrations",
            TOKEN,
            &whatsapp_body(bot, "111111", VERIFY_TOKEN),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    let first = first["id"].as_i64().unwrap();

    // The same verify token on a second integration is refused.
    let (status, refused) = h
        .post(
            "/v1/integrations",
            TOKEN,
            &whatsapp_body(bot, "222222", VERIFY_TOKEN),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(refused["error"]["code"], "verify_token_taken");

    // A second integration on the same number may exist, but not be active at the same time.
    let (status, second) = h
        .post(
            "/v1/integrations",
            TOKEN,
            &whatsapp_body(bot, "111111", "another_verify_token_1"),
        )
        .await;
    assert_eq!(status, 201);
    let second = second["id"].as_i64().unwrap();
    let (status, _) = h
        .post(
            &format!("/v1/integrations/{first}/activate"),
            TOKEN,
            &Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    let (status, refused) = h
        .post(
            &format!("/v1/integrations/{second}/activate"),
            TOKEN,
            &Value::Null,
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(refused["error"]["code"], "phone_number_in_use");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("phone number"));
    let (_, still) = h.get(&format!("/v1/integrations/{second}"), TOKEN).await;
    assert_eq!(still["active"], false);

    // A bot must be published to be connected.
    let mut draft = e2e::demo_bot();
    draft["name"] = json!("Draft only");
    let (_, draft) = h.post("/v1/bots", TOKEN, &draft).await;
    let (status, refused) = h
        .post(
            "/v1/integrations",
            TOKEN,
            &whatsapp_body(
                draft["id"].as_i64().unwrap(),
                "333333",
                "third_verify_token",
            ),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(refused["error"]["code"], "bot_not_published");

    // Bad fields are named.
    let mut bad = whatsapp_body(bot, "444444", "fourth_verify_token");
    bad["trigger_recipients"] = json!(["not a phone"]);
    let (status, refused) = h.post("/v1/integrations", TOKEN, &bad).await;
    assert_eq!(status, 422, "{refused}");
    let mut bad = whatsapp_body(bot, "444444", "fourth_verify_token");
    bad["phone_number_id"] = json!("12ab");
    let (status, refused) = h.post("/v1/integrations", TOKEN, &bad).await;
    assert_eq!(status, 422);
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("phone_number_id"));
    h.stop().await;
}

#[tokio::test]
async fn the_short_lived_token_is_exchanged_for_a_long_lived_one_at_creation() {
    let h = AdminHarness::start().await;
    let bot = h.published_demo_bot(TOKEN, "Support").await;
    let (status, created) = h
        .post(
            "/v1/integrations",
            TOKEN,
            &whatsapp_body(bot, "555000111", VERIFY_TOKEN),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    // About 60 days, as Meta's long-lived tokens.
    let expires: chrono::DateTime<chrono::Utc> = created["whatsapp"]["access_token_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let days = (expires - chrono::Utc::now()).num_days();
    assert!((58..=61).contains(&days), "{days}");
    // What is stored is the exchanged token, not the one given.
    let sealed = sealed_column(&h, id, "access_token_sealed").await;
    let stored = h
        .deployment_key
        .open_string(
            &sealed,
            &admin::secret_aad(contracts_id(id), "access_token"),
        )
        .unwrap();
    assert_ne!(stored.expose(), ACCESS_TOKEN);
    let exchanges = h
        .emulator
        .client()
        .unwrap()
        .requests(None, None)
        .await
        .unwrap();
    assert!(
        exchanges
            .iter()
            .any(|r| r.path.contains("/oauth/access_token")),
        "no exchange recorded"
    );
    h.stop().await;
}

#[tokio::test]
async fn creation_fails_with_metas_message_when_the_exchange_fails() {
    let h = AdminHarness::start().await;
    let bot = h.published_demo_bot(TOKEN, "Support").await;
    let emulator = h.emulator.client().unwrap();
    let revoked = "EAAGrevokedShortLivedToken0123456789";
    emulator
        .register_token(&meta_emulator::api::TokenRequest {
            token: Some(revoked.into()),
            kind: Some("short_lived".into()),
            expires_in_seconds: None,
        })
        .await
        .unwrap();
    emulator.revoke_token(revoked).await.unwrap();
    let mut body = whatsapp_body(bot, "555000222", VERIFY_TOKEN);
    body["access_token"] = json!(revoked);
    let (status, refused) = h.post("/v1/integrations", TOKEN, &body).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "token_exchange_failed");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("session has been invalidated")
            || message.contains("Error validating access token"),
        "{message}"
    );
    assert!(!message.contains(revoked) && !message.contains(APP_SECRET));
    let (_, list) = h.get("/v1/integrations", TOKEN).await;
    assert_eq!(list["integrations"], json!([]), "nothing was created");
    h.stop().await;
}
