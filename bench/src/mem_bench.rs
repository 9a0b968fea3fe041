//! Memory of each service, as an OS process, idle and under the two loads of issue 11: many
//! live conversations, and many API requests waiting for their answer.
//!
//! The platform runs as separate processes (the fault suite's `Cluster`, from the built
//! binaries), so each service's resident set is its own: `VmRSS` and `VmHWM` (the peak) from
//! `/proc/<pid>/status`, sampled every 100 ms during each phase.
//!
//! 1. **Idle**: every service started, integrations created, nothing sent for 3 s.
//! 2. **Live conversations**: `--api` API sessions are started and answer one message each, and
//!    `--whatsapp` WhatsApp users each send one text (which starts their conversation; the bot
//!    answers through the sender and the Meta emulator), `--clients` at a time per channel. The
//!    phase ends when the database holds every session (live, waiting for the user) and the
//!    sender's queue is empty.
//! 3. **Waiting requests**: `--waiting` API sessions are started at once on a bot whose first
//!    component is an `http_request` to a local stub that answers after `--hold-ms`: every
//!    request waits in the gateway for its turn (in the executor, in a flow's HTTP call or in
//!    its conversation's lane behind the shard's busy slots). Every request must end 200 with
//!    the bot's answer.
//!
//! Run by hand, in release mode (see docs/performance.md, "Memory"):
//!   cargo run --release -p bench --bin mem-bench

mod harness;
mod memory;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use e2e::cluster::{Cluster, ClusterOptions, CLUSTER_SHARDS};
use e2e::faults::{expected_text, Targets};
use serde_json::{json, Value};

use crate::memory::{Sampler, Usage};

#[derive(Parser, Debug)]
struct Args {
    /// Live API conversations.
    #[arg(long, default_value_t = 10_000)]
    api: usize,
    /// Live WhatsApp conversations.
    #[arg(long, default_value_t = 10_000)]
    whatsapp: usize,
    /// API requests held waiting at once.
    #[arg(long, default_value_t = 1_000)]
    waiting: usize,
    /// How long the stub holds each of the flow's HTTP calls, in milliseconds.
    #[arg(long, default_value_t = 8_000)]
    hold_ms: u64,
    /// Concurrent clients per channel while the conversations are created.
    #[arg(long, default_value_t = 64)]
    clients: usize,
}

/// A bot whose every turn starts with an HTTP call (held by the stub), then asks.
fn held_bot(url: &str) -> Value {
    json!({"name": "Held", "variables": [{"name": "answer"}], "flow": {"start": "call", "components": [
        {"id": "call", "type": "http_request", "method": "GET", "url": url, "timeout_ms": 30000,
         "map": [], "next": "ask"},
        {"id": "ask", "type": "question_text", "text": "held", "variable": "answer", "next": "call"}]}})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = harness::start("mem-bench");

    let hold = Duration::from_millis(args.hold_ms);
    let stub = e2e::HttpStub::start("{}", hold).await;
    let mut options = ClusterOptions::new(1);
    // Requests beyond the shards' busy slots wait for several holds in their lane.
    options.reply_deadline = Duration::from_secs(120);
    let cluster = Cluster::start_with(options).await;
    let targets = Targets::create(&cluster).await;
    let held = cluster
        .integration(&held_bot(&stub.url), json!({"kind": "api", "name": "held"}))
        .await;
    let held_id = held["id"].as_i64().unwrap_or_default();
    let held_key = held["api_key"].as_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(150))
        .pool_max_idle_per_host(args.waiting.max(args.clients) + 16)
        .build()?;
    let mut services: Vec<(String, u32)> = vec![
        ("api-gateway".into(), cluster.gateway.pid()),
        ("whatsapp-ingress".into(), cluster.ingress.pid()),
        ("admin".into(), cluster.admin.pid()),
    ];
    for executor in &cluster.executors {
        services.push(("flow-executor".into(), executor.pid()));
    }
    if let Some(sender) = &cluster.sender {
        services.push(("sender".into(), sender.pid()));
    }

    // 1. Idle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = Sampler::snapshot(&services);

    // 2. Live conversations on both channels at once.
    let sampler = Sampler::start(&services);
    let started = Instant::now();
    let api_base = format!(
        "{}/api/integrations/api/{}",
        cluster.gateway.url(""),
        targets.api_id
    );
    let api = tokio::spawn(api_conversations(
        client.clone(),
        api_base,
        targets.api_key.clone(),
        args.api,
        args.clients,
    ));
    let wa = tokio::spawn(wa_conversations(
        client.clone(),
        targets.webhook_url.clone(),
        targets.app_secret.clone(),
        targets.phone_number_id.clone(),
        args.whatsapp,
        args.clients,
    ));
    let wrong_api = api.await??;
    wa.await??;
    let db = cluster.db.url().to_owned();
    wait_sessions(&db, targets.api_id, args.api).await?;
    wait_sessions(&db, targets.wa_id, args.whatsapp).await?;
    wait_drained(&cluster, "sender.whatsapp").await?;
    let live_wall = started.elapsed();
    let live_peak = sampler.stop().await;
    // Freed after the load: what a service keeps holding once it is over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let live_after = Sampler::snapshot(&services);
    let spread = shard_spread(&cluster).await?;

    // 3. Waiting requests.
    let sampler = Sampler::start(&services);
    let held_base = format!("{}/api/integrations/api/{held_id}", cluster.gateway.url(""));
    let mut waiting = tokio::task::JoinSet::new();
    for n in 0..args.waiting {
        let (client, url, key) = (
            client.clone(),
            format!("{held_base}/session"),
            held_key.clone(),
        );
        waiting.spawn(async move {
            let response = client
                .post(url)
                .header("X-API-Key", key)
                .json(&json!({"session_id": format!("held-{n}")}))
                .send()
                .await?;
            let status = response.status().as_u16();
            let body: Value = response.json().await?;
            anyhow::Ok(status == 200 && answer_says(&body, "held"))
        });
    }
    // Every request is waiting once the stub holds as many calls as the shards run at once
    // (or all of them); the sampler keeps the peak.
    let holding = args.waiting.min(usize::from(CLUSTER_SHARDS) * 32);
    let wait_started = Instant::now();
    while stub.requests() < holding && wait_started.elapsed() < hold * 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls_held = stub.requests();
    let mut answered = 0;
    let mut failed = 0;
    while let Some(done) = waiting.join_next().await {
        match done {
            Ok(Ok(true)) => answered += 1,
            _ => failed += 1,
        }
    }
    let waiting_wall = wait_started.elapsed();
    let waiting_peak = sampler.stop().await;
    let end = Sampler::snapshot(&services);

    println!();
    println!(
        "live conversations: {} API (wrong answers {wrong_api}) + {} WhatsApp in {:.1} s",
        args.api,
        args.whatsapp,
        live_wall.as_secs_f64()
    );
    println!(
        "waiting requests: {} sent, {calls_held} HTTP calls held at once (hold {} ms), \
         {answered} answered 200 with the bot's answer, {failed} failed, in {:.1} s",
        args.waiting,
        args.hold_ms,
        waiting_wall.as_secs_f64()
    );
    println!("inbound shards, events published per shard: {spread:?}");
    println!();
    println!(
        "{:<18} {:>10} {:>14} {:>14} {:>14} {:>10} {:>8}",
        "RSS (MiB)", "idle", "live peak", "live after", "waiting peak", "VmHWM", "threads"
    );
    for (i, (name, _)) in services.iter().enumerate() {
        let mib = |usage: &[Option<Usage>]| {
            usage[i].map_or("-".to_owned(), |u| format!("{:.1}", u.rss_mib()))
        };
        let peak = |usage: &[u64]| format!("{:.1}", usage[i] as f64 / 1024.0);
        println!(
            "{name:<18} {:>10} {:>14} {:>14} {:>14} {:>10} {:>8}",
            mib(&idle),
            peak(&live_peak),
            mib(&live_after),
            peak(&waiting_peak),
            end[i].map_or("-".to_owned(), |u| format!("{:.1}", u.hwm_mib())),
            end[i].map_or("-".to_owned(), |u| u.threads.to_string()),
        );
    }
    // The services whose peak (KiB) went over `limit_mib`.
    let over = |peaks: &[u64], limit_mib: u64| {
        services
            .iter()
            .zip(peaks)
            .filter(|(_, &kib)| kib > limit_mib * 1024)
            .map(|((name, _), _)| name.as_str())
            .collect::<Vec<_>>()
    };
    let over_live = over(&live_peak, 64);
    let over_waiting = over(&waiting_peak, 128);
    println!(
        "targets: under 64 MiB with the live conversations: {}; under 128 MiB with the waiting \
         requests: {}",
        verdict(&over_live),
        verdict(&over_waiting)
    );
    anyhow::ensure!(
        wrong_api == 0 && failed == 0,
        "{wrong_api} wrong answers, {failed} waiting requests failed"
    );
    Ok(())
}

fn verdict(over: &[&str]) -> String {
    if over.is_empty() {
        "met".into()
    } else {
        format!("NOT met by {}", over.join(", "))
    }
}

fn answer_says(answer: &Value, text: &str) -> bool {
    answer["messages"]
        .as_array()
        .is_some_and(|messages| messages.iter().any(|m| m["text"] == text))
}

/// `count` API sessions, each started and answering once; returns the wrong answers.
async fn api_conversations(
    client: reqwest::Client,
    base: String,
    key: String,
    count: usize,
    clients: usize,
) -> anyhow::Result<usize> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, base, key, next) = (client.clone(), base.clone(), key.clone(), next.clone());
        tasks.spawn(async move {
            let mut wrong = 0;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return anyhow::Ok(wrong);
                }
                let session = format!("live-{n}");
                let start = harness::post_api(
                    &client,
                    &format!("{base}/session"),
                    &key,
                    json!({"session_id": session}),
                )
                .await?;
                wrong += usize::from(!answer_says(&start, &expected_text(0)));
                let url = format!("{base}/session/{session}/message");
                let answer =
                    harness::post_api(&client, &url, &key, json!({"message": "m1"})).await?;
                wrong += usize::from(!answer_says(&answer, &expected_text(1)));
            }
        });
    }
    let mut wrong = 0;
    while let Some(done) = tasks.join_next().await {
        wrong += done??;
    }
    Ok(wrong)
}

/// `count` WhatsApp users, each sending one text (signed as Meta signs).
async fn wa_conversations(
    client: reqwest::Client,
    url: String,
    app_secret: String,
    phone_number_id: String,
    count: usize,
    clients: usize,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, url, secret, phone, next, run) = (
            client.clone(),
            url.clone(),
            app_secret.clone(),
            phone_number_id.clone(),
            next.clone(),
            run.clone(),
        );
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return anyhow::Ok(());
                }
                let user = format!("1555{n:08}");
                let body = serde_json::to_vec(&json!({
                    "object": "whatsapp_business_account",
                    "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone},
                        "contacts": [{"profile": {"name": "Bench User"}, "wa_id": user}],
                        "messages": [{"from": user, "id": format!("wamid.HBgL{user}{run}{n:08X}AA=="),
                            "timestamp": chrono::Utc::now().timestamp().to_string(),
                            "text": {"body": "m0"}, "type": "text"}]}}]}]
                }))?;
                let signature = crypto::sign_meta_payload(secret.as_bytes(), &body);
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("X-Hub-Signature-256", signature)
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(response.status().is_success(), "webhook: {}", response.status());
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Waits until the integration has `count` live sessions (5 minutes at most).
async fn wait_sessions(db: &str, integration: i64, count: usize) -> anyhow::Result<()> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = AsyncPgConnection::establish(db).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let found: Count =
            diesel::sql_query("SELECT count(*) AS n FROM sessions WHERE integration_id = $1")
                .bind::<BigInt, _>(integration)
                .get_result(&mut conn)
                .await?;
        if usize::try_from(found.n).unwrap_or(0) >= count {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "integration {integration}: {} of {count} sessions after 5 minutes",
            found.n
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until the queue is empty and nothing is unacked (the management API's figures lag by
/// a few seconds, so twice, 3 s apart).
async fn wait_drained(cluster: &Cluster, queue: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut empty_since: Option<Instant> = None;
    loop {
        let info = cluster.vhost.queue_info(queue).await?;
        let held = info["messages"].as_u64().unwrap_or(u64::MAX);
        if held == 0 {
            let since = *empty_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_secs(3) {
                return Ok(());
            }
        } else {
            empty_since = None;
        }
        anyhow::ensure!(Instant::now() < deadline, "{queue} still holds {held}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Events each inbound shard received so far (the broker's count): how evenly the
/// publishers' shard hash (`Topology::shard_of`) spread the conversation keys.
async fn shard_spread(cluster: &Cluster) -> anyhow::Result<Vec<u64>> {
    let mut counts = Vec::new();
    for shard in 0..CLUSTER_SHARDS {
        let info = cluster
            .vhost
            .queue_info(&format!("bot.inbound.{shard}"))
            .await?;
        counts.push(info["message_stats"]["publish"].as_u64().unwrap_or(0));
    }
    Ok(counts)
}
