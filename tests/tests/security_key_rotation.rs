#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Deployment-key rotation while the platform runs (docs/security.md): the services restart
//! with the new key and the old one as `DEPLOYMENT_KEY_PREVIOUS`, `admin rotate-key` runs
//! while API conversations, operator calls and WhatsApp webhooks keep coming, and afterwards
//! the services run with the new key alone; nothing is lost and nothing still needs the old
//! key.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crypto::DeploymentKey;
use diesel::sql_types::{BigInt, Bytea, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use e2e::{WhatsappIntegration, WhatsappPlatform, WhatsappSetup, BOOTSTRAP_TOKEN};
use serde_json::{json, Value};

/// The traffic kept up during the rotation, and what failed.
struct Traffic<'a> {
    wp: &'a WhatsappPlatform,
    api_id: i64,
    api_key: &'a str,
    tenant_token: &'a str,
    shop: &'a WhatsappIntegration,
    verify_token: &'a str,
    failures: std::sync::Mutex<Vec<String>>,
}

impl Traffic<'_> {
    fn failures(&self) -> Vec<String> {
        self.failures.lock().unwrap().clone()
    }

    /// One round: an API conversation, operator calls of both accounts, Meta's verification
    /// handshake, and a WhatsApp user's message answered by the bot.
    async fn round(&self, round: usize) {
        let Traffic {
            wp,
            api_id,
            api_key,
            tenant_token,
            shop,
            verify_token,
            ref failures,
        } = *self;
        let fail = |what: String| failures.lock().unwrap().push(what);
        let p = &wp.platform;
        // An API conversation: start and one message.
        let session = format!("rotation-{round}");
        let (status, body) = p
            .api(
                &format!("/{api_id}/session/"),
                api_key,
                &json!({"session_id": session}),
            )
            .await;
        if status != 200 {
            fail(format!("round {round}: session start {status} {body}"));
        }
        let (status, body) = p
            .api(
                &format!("/{api_id}/session/{session}/message/"),
                api_key,
                &json!({"message": "Ada"}),
            )
            .await;
        if status != 200 || body["state"] != "main_menu" {
            fail(format!("round {round}: message {status} {body}"));
        }
        // Operators of both accounts.
        for token in [BOOTSTRAP_TOKEN, tenant_token] {
            let (status, body) = p.admin.get("/v1/account", token).await;
            if status != 200 {
                fail(format!("round {round}: operator call {status} {body}"));
            }
        }
        // Meta's verification handshake with the integration's verify token.
        // Verify tokens here are letters, digits and '-': nothing to escape.
        let response = p
            .admin
            .client
            .get(format!(
                "{}?hub.mode=subscribe&hub.verify_token={verify_token}&hub.challenge=1158201444",
                shop.webhook.url
            ))
            .send()
            .await
            .expect("verification sent");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        if status != 200 || body != "1158201444" {
            fail(format!(
                "round {round}: webhook verification {status} {body}"
            ));
        }
        // A WhatsApp user's message: a signed webhook the ingress must accept (the signature is
        // checked with the sealed app secret) and a reply the sender must send (with the sealed
        // access token).
        let mut chat = wp.chat(shop, &format!("49151{round:08}"));
        chat.user_says("hi").await;
        let replies = chat.wait_for_bot(2).await;
        if replies.len() != 2 {
            fail(format!("round {round}: {} WhatsApp replies", replies.len()));
        }
    }
}

#[derive(QueryableByName)]
struct Sealed {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    field: String,
    #[diesel(sql_type = Bytea)]
    value: Vec<u8>,
}

#[derive(QueryableByName)]
struct Digest {
    #[diesel(sql_type = Bytea)]
    value: Vec<u8>,
}

#[tokio::test]
async fn rotating_the_deployment_key_under_traffic_loses_nothing() {
    let mut wp = WhatsappPlatform::start().await;
    let old_key = wp.platform.admin.deployment_key.clone();
    let api = wp.platform.demo_integration("Rotating API", false).await;
    let shop = wp
        .demo_integration("Rotating shop", WhatsappSetup::default())
        .await;
    // The harness's verify tokens are `verify-token-<n>`; this is the first integration.
    let verify_token = "verify-token-1";
    let tenant = wp.platform.admin.new_account("tenant-b").await;

    // Step 1: every service restarts with the new key, the old one still accepted.
    let (new_key, _) = DeploymentKey::generate().unwrap();
    let rotating = new_key.clone().with_previous(old_key.clone()).unwrap();
    wp.restart_with_key(rotating.clone()).await;
    let traffic = Traffic {
        wp: &wp,
        api_id: api.id,
        api_key: &api.key,
        tenant_token: &tenant,
        shop: &shop,
        verify_token,
        failures: std::sync::Mutex::new(Vec::new()),
    };
    traffic.round(0).await;
    assert_eq!(traffic.failures(), Vec::<String>::new());

    // Step 2: the rotation runs while traffic keeps coming.
    let stop = AtomicBool::new(false);
    let rounds = AtomicUsize::new(1);
    let running = async {
        // At least a few rounds, and until the rotation is done.
        while !AtomicBool::load(&stop, Ordering::SeqCst)
            || AtomicUsize::load(&rounds, Ordering::SeqCst) < 4
        {
            traffic.round(rounds.fetch_add(1, Ordering::SeqCst)).await;
        }
    };
    let database = wp.platform.admin.database_config();
    let rotation = async {
        let report = admin::rotate_key(&database, &rotating).await;
        stop.store(true, Ordering::SeqCst);
        report
    };
    let ((), report) = tokio::join!(running, rotation);
    let report = report.expect("rotation runs");
    assert_eq!(traffic.failures(), Vec::<String>::new());
    drop(traffic);
    assert!(report.complete(), "{report:?}");
    assert_eq!(report.generation, 1);
    // Three sealed secrets of the one WhatsApp integration; the digests of its verify token,
    // the API key and the two operator tokens.
    assert_eq!(report.resealed, 3, "{report:?}");
    assert_eq!(report.rewrapped, 4, "{report:?}");
    // Running it again finds nothing to do (it resumes after an interruption).
    let again = admin::rotate_key(&database, &rotating).await.unwrap();
    assert!(again.complete());
    assert_eq!((again.resealed, again.rewrapped), (0, 0), "{again:?}");

    // Nothing in the database opens under the old key any more; every digest is of the new
    // generation.
    let mut conn = wp.db().await;
    let sealed: Vec<Sealed> = diesel::sql_query(
        "SELECT integration_id AS id, 'app_secret' AS field, app_secret_sealed AS value FROM whatsapp_integrations \
         UNION ALL SELECT integration_id, 'access_token', access_token_sealed FROM whatsapp_integrations \
         UNION ALL SELECT integration_id, 'verify_token', verify_token_sealed FROM whatsapp_integrations",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(sealed.len(), 3);
    for row in &sealed {
        let aad = store::integrations::secret_aad(
            contracts::IntegrationId::new(row.id).unwrap(),
            &row.field,
        );
        assert!(
            old_key.open(&row.value, &aad).is_err(),
            "{} still under the old key",
            row.field
        );
        assert!(
            new_key.open(&row.value, &aad).is_ok(),
            "{} not under the new key",
            row.field
        );
    }
    let digests: Vec<Digest> = diesel::sql_query(
        "SELECT token_digest AS value FROM operator_tokens \
         UNION ALL SELECT key_digest FROM api_integrations \
         UNION ALL SELECT verify_token_digest FROM whatsapp_integrations",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert!(digests.len() >= 4);
    assert!(digests
        .iter()
        .all(|digest| crypto::DigestKey::generation_of(&digest.value) == Some(1)));

    // Step 3: the services restart with the new key alone; everything still works, including
    // an integration and a token created now.
    wp.restart_with_key(new_key.clone()).await;
    let traffic = Traffic {
        wp: &wp,
        api_id: api.id,
        api_key: &api.key,
        tenant_token: &tenant,
        shop: &shop,
        verify_token,
        failures: std::sync::Mutex::new(Vec::new()),
    };
    traffic
        .round(AtomicUsize::load(&rounds, Ordering::SeqCst) + 1)
        .await;
    assert_eq!(traffic.failures(), Vec::<String>::new());
    drop(traffic);
    let (status, created) = wp
        .platform
        .admin
        .post(
            "/v1/tokens",
            BOOTSTRAP_TOKEN,
            &json!({"name": "after rotation"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let fresh = created["token"].as_str().unwrap();
    let (status, _) = wp.platform.admin.get("/v1/account", fresh).await;
    assert_eq!(status, 200);
    let api2 = wp.platform.demo_integration("After rotation", false).await;
    let (status, body) = wp
        .platform
        .api(&format!("/{}/session/", api2.id), &api2.key, &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    // A wrong key is still refused (the accepted generations are not "anything goes").
    let (status, _): (u16, Value) = wp
        .platform
        .api(&format!("/{}/session/", api.id), &api2.key, &json!({}))
        .await;
    assert_eq!(status, 401);
    // The old key alone no longer reads the chain: a service started with it refuses to start
    // rather than mis-verify (its layer would be generation 0 again).
    let store = store::Store::connect(&(&database).into()).await.unwrap();
    assert!(store.digest_key(&old_key).await.is_err());
    assert!(store.digest_key(&new_key).await.is_ok());
    wp.stop().await;
}
