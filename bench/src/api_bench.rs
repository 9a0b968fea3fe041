//! Drives the API gateway over HTTP with many concurrent sessions and reports messages per
//! second and p50/p99 latency, beside a floor measured in the same run (floor.rs).
//!
//! Run by hand, in release mode (see docs/performance.md):
//!   cargo run --release -p bench --bin api-bench -- --sessions 64,256 --messages 40

mod cpu;
mod floor;
mod harness;
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use e2e::{Platform, PlatformOptions, BOOTSTRAP_TOKEN};
use serde_json::{json, Value};

use crate::stats::Samples;

#[derive(Parser, Debug)]
struct Args {
    /// Concurrent sessions in the throughput phases (one phase each, floor and platform).
    #[arg(long, value_delimiter = ',', default_value = "64")]
    sessions: Vec<usize>,
    /// Messages each session sends in the throughput phase.
    #[arg(long, default_value_t = 40)]
    messages: usize,
    /// Requests sent one at a time in the latency phase.
    #[arg(long, default_value_t = 500)]
    serial: usize,
    /// Inbound shards (queues) for both the platform and the floor.
    #[arg(long, default_value_t = 8)]
    shards: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = harness::start("api-bench");

    let floor = Arc::new(floor::Floor::start(args.shards, 16).await?);
    // Warm up both paths (connections, prepared statements, caches).
    floor::drive(&floor, 8, 20).await?;
    let (floor_serial, floor_serial_wall) = floor::drive(&floor, 1, args.serial).await?;
    let floor_serial = floor_serial.summary(floor_serial_wall);
    let mut floor_loads = Vec::new();
    for &sessions in &args.sessions {
        let before = cpu::CpuReading::now();
        let (load, wall) = floor::drive(&floor, sessions, args.messages).await?;
        let cpu = cpu::CpuReading::now().per_message_since(&before, sessions * args.messages);
        floor_loads.push((load.summary(wall), cpu));
    }

    let platform = Platform::start_with(PlatformOptions {
        reply_deadline: Duration::from_secs(30),
        inbound_shards: args.shards,
        executors: 1,
        max_connections: 16,
        ..PlatformOptions::default()
    })
    .await;
    let (key, integration) = echo_integration(&platform).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.sessions.iter().max().copied().unwrap_or(64) * 2)
        .build()?;
    let target = Arc::new(Target {
        base: platform.api_base_url.clone(),
        key,
        integration,
        client,
    });
    drive(&target, 8, 20, "warm").await?;
    let (serial, serial_wall, _) = drive(&target, 1, args.serial, "serial").await?;
    let serial = serial.summary(serial_wall);
    let mut loads = Vec::new();
    for &sessions in &args.sessions {
        let (load, wall, before) =
            drive(&target, sessions, args.messages, &format!("load{sessions}")).await?;
        let cpu = cpu::CpuReading::now().per_message_since(&before, sessions * args.messages);
        loads.push((load.summary(wall), cpu));
    }

    println!();
    println!("one request at a time ({} requests)", args.serial);
    println!("  floor     {floor_serial}");
    println!("  platform  {serial}");
    println!(
        "  p50 above the floor's: {:.2} ms",
        (serial.p50.as_secs_f64() - floor_serial.p50.as_secs_f64()) * 1e3
    );
    for ((sessions, (floor_load, floor_cpu)), (load, cpu)) in
        args.sessions.iter().zip(&floor_loads).zip(&loads)
    {
        println!(
            "{sessions} concurrent sessions × {} messages",
            args.messages
        );
        println!("  floor     {floor_load}");
        println!("            {floor_cpu}");
        println!("  platform  {load}");
        println!("            {cpu}");
        println!(
            "platform / floor throughput at {sessions} sessions: {:.0}%",
            100.0 * load.per_second / floor_load.per_second.max(1e-9)
        );
    }
    platform.stop().await;
    if let Ok(floor) = Arc::try_unwrap(floor) {
        floor.stop().await;
    }
    Ok(())
}

struct Target {
    base: String,
    key: String,
    integration: i64,
    client: reqwest::Client,
}

async fn echo_integration(platform: &Platform) -> (String, i64) {
    let bot: Value = serde_json::from_str(harness::ECHO_BOT).unwrap_or_default();
    let (_, created) = platform.admin.post("/v1/bots", BOOTSTRAP_TOKEN, &bot).await;
    let bot_id = created["id"].as_i64().unwrap_or_default();
    platform
        .admin
        .post(
            &format!("/v1/bots/{bot_id}/publish"),
            BOOTSTRAP_TOKEN,
            &Value::Null,
        )
        .await;
    let (_, integration) = platform
        .admin
        .post(
            "/v1/integrations",
            BOOTSTRAP_TOKEN,
            &json!({"kind": "api", "bot_id": bot_id, "rate_limit_per_minute": 1_000_000}),
        )
        .await;
    let id = integration["id"].as_i64().unwrap_or_default();
    platform
        .admin
        .post(
            &format!("/v1/integrations/{id}/activate"),
            BOOTSTRAP_TOKEN,
            &Value::Null,
        )
        .await;
    (
        integration["api_key"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        id,
    )
}

/// `sessions` sessions in parallel; each starts, then sends `per_session` messages one after
/// another. Only the messages are timed: the clock (and the CPU reading returned) starts once
/// every session has started.
async fn drive(
    target: &Arc<Target>,
    sessions: usize,
    per_session: usize,
    label: &str,
) -> anyhow::Result<(Samples, Duration, cpu::CpuReading)> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut tasks = Vec::new();
    let all_started = Arc::new(tokio::sync::Barrier::new(sessions + 1));
    for s in 0..sessions {
        let target = target.clone();
        let all_started = all_started.clone();
        let session = format!("{label}-{run}-{s}");
        tasks.push(tokio::spawn(async move {
            let start = format!("{}/{}/session/", target.base, target.integration);
            let started = post(&target, &start, json!({"session_id": session})).await;
            // Every task reaches the barrier, even one whose start failed, so none waits forever.
            all_started.wait().await;
            started?;
            let message = format!(
                "{}/{}/session/{session}/message/",
                target.base, target.integration
            );
            let mut samples = Samples::default();
            for n in 0..per_session {
                let sent = Instant::now();
                let answer = post(&target, &message, json!({"message": format!("m{n}")})).await?;
                samples.push(sent.elapsed());
                anyhow::ensure!(
                    answer["messages"][0]["text"] == format!("got m{n}"),
                    "wrong answer {answer}"
                );
            }
            anyhow::Ok(samples)
        }));
    }
    all_started.wait().await;
    let cpu = cpu::CpuReading::now();
    let started = Instant::now();
    let mut all = Samples::default();
    for task in tasks {
        all.extend(task.await??);
    }
    Ok((all, started.elapsed(), cpu))
}

async fn post(target: &Target, url: &str, body: Value) -> anyhow::Result<Value> {
    harness::post_api(&target.client, url, &target.key, body).await
}
