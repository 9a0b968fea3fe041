#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The platform started from an environment as `scripts/dev.sh` sets it: every service answers
//! on its port, the bootstrap operator token works, and stopping releases the ports.

use std::collections::HashMap;
use std::time::Duration;

use testkit::database::TestDatabase;
use testkit::vhost::TestVhost;

const TOKEN: &str = "op_platform_test_bootstrap_token_0123456789abcdef";

fn environment(db: &TestDatabase, vhost: &TestVhost) -> HashMap<String, String> {
    let (_, key) = crypto::DeploymentKey::generate().unwrap();
    let amqp = vhost.amqp_url();
    let mut env: HashMap<String, String> = [
        ("DATABASE_URL", db.url()),
        ("DEPLOYMENT_KEY", key.as_str()),
        ("AMQP_URL", amqp.as_str()),
        ("AMQP_INBOUND_SHARDS", "2"),
        ("ADMIN_BOOTSTRAP_TOKEN", TOKEN),
        ("PLATFORM_META_EMULATOR", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for prefix in [
        "ADMIN",
        "API_GATEWAY",
        "INGRESS",
        "EXECUTOR",
        "SENDER",
        "META_EMULATOR",
    ] {
        env.insert(format!("{prefix}_HOST"), "127.0.0.1".into());
        env.insert(format!("{prefix}_PORT"), "0".into());
    }
    env
}

fn config(env: &HashMap<String, String>) -> platform::PlatformConfig {
    platform::PlatformConfig::from_lookup(&|name: &str| env.get(name).cloned()).unwrap()
}

#[tokio::test]
async fn starts_every_service_from_the_environment_and_stops_them() {
    crypto::install_tls_crypto_provider();
    telemetry::init_for_tests();
    let db = TestDatabase::create().await.unwrap();
    let vhost = TestVhost::create().await;
    let running = platform::start(config(&environment(&db, &vhost)))
        .await
        .unwrap();

    let names: Vec<_> = running.services().iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "meta-emulator",
            "admin",
            "flow-executor",
            "sender",
            "api-gateway",
            "whatsapp-ingress"
        ]
    );
    // The first start left the demo bot on an active API integration that answers.
    let demo = running
        .demo
        .clone()
        .expect("a demo integration on the first start");
    let gateway = running.http_addr("api-gateway").unwrap();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!(
            "http://{gateway}/api/integrations/api/{}/session/",
            demo.integration_id
        ))
        .header("X-API-Key", demo.api_key.expose())
        .json(&serde_json::json!({"session_id": "newcomer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["message"]["text"], "Welcome to Demo Pizza! 🍕",
        "{answer}"
    );
    let admin = running.http_addr("admin").unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for path in ["/health", "/ready"] {
        let response = client
            .get(format!("http://{admin}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let account = client
        .get(format!("http://{admin}/v1/account"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), 200);
    let wrong = client
        .get(format!("http://{admin}/v1/account"))
        .bearer_auth("op_not_the_bootstrap_token_0123456789abcdefgh")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    running.stop().await;
    let after = client.get(format!("http://{admin}/health")).send().await;
    assert!(after.is_err(), "admin still answers after stop: {after:?}");
}

#[tokio::test]
async fn run_returns_once_shutdown_resolves() {
    crypto::install_tls_crypto_provider();
    telemetry::init_for_tests();
    let db = TestDatabase::create().await.unwrap();
    let vhost = TestVhost::create().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(platform::run(config(&environment(&db, &vhost)), async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!run.is_finished(), "run returned before shutdown");
    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("run stops within 20 s")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn a_service_that_cannot_start_is_named() {
    crypto::install_tls_crypto_provider();
    telemetry::init_for_tests();
    let mut env = HashMap::new();
    let (_, key) = crypto::DeploymentKey::generate().unwrap();
    env.insert("DEPLOYMENT_KEY".to_owned(), key);
    env.insert("ADMIN_PORT".to_owned(), "0".to_owned());
    env.insert(
        "AMQP_URL".to_owned(),
        "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
    );
    // Nothing listens on port 1: the database connection fails fast.
    env.insert(
        "DATABASE_URL".to_owned(),
        "postgres://postgres@127.0.0.1:1/none".to_owned(),
    );
    env.insert("DATABASE_CONNECT_TIMEOUT_MS".to_owned(), "500".to_owned());
    let error = tokio::time::timeout(Duration::from_secs(30), platform::start(config(&env)))
        .await
        .expect("start gives up")
        .err()
        .expect("start fails");
    assert!(
        error.to_string().starts_with("admin failed to start: "),
        "{error}"
    );
}
