//! What every benchmark binary starts with, the bot most of them drive, and the API call they
//! share. A module (not a library) like the others here: each binary takes what it uses.

use serde_json::Value;

/// The bot: asks, echoes the answer, asks again. One small turn per message.
#[allow(dead_code)]
pub const ECHO_BOT: &str = r#"{"name": "Echo", "variables": [{"name": "seen"}], "flow": {"start": "ask", "components": [
  {"id": "ask", "type": "question_text", "text": "say something", "variable": "seen", "next": "say"},
  {"id": "say", "type": "text", "text": "got {{seen}}", "next": "ask"}]}}"#;

/// The TLS provider and the log subscriber every binary needs, then its arguments, printed
/// first so that a pasted result says how it was run.
pub fn start<A: clap::Parser + std::fmt::Debug>(name: &str) -> A {
    crypto::install_tls_crypto_provider();
    telemetry::init_for_tests();
    let args = A::parse();
    println!("{name}: {args:?}");
    args
}

/// One API call as an integration's client makes it: POST JSON with its key; anything but a
/// 2xx is an error carrying the status and the body.
#[allow(dead_code)]
pub async fn post_api(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = client
        .post(url)
        .header("X-API-Key", key)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{status}: {body}");
    Ok(body)
}

/// A floor's connection pool: the platform's own (`store::pool`), so that the floor pays the
/// same per checkout as the services it is compared with.
#[allow(dead_code)]
pub fn floor_pool(
    url: &str,
    size: usize,
) -> anyhow::Result<diesel_async::pooled_connection::deadpool::Pool<diesel_async::AsyncPgConnection>>
{
    Ok(store::pool(&store::StoreOptions {
        url: url.to_owned(),
        max_connections: size,
        connect_timeout: std::time::Duration::from_secs(5),
    })?)
}
