//! Instructions per API turn in the flow executor and the API gateway, counted by callgrind
//! (stable on a noisy machine, unlike time).
//!
//! The platform runs as OS processes (the fault suite's `Cluster`), the profiled services
//! under `valgrind --tool=callgrind`. After a warm-up, each profiled process's counters are
//! zeroed (`callgrind_control -z`), `--sessions` echo conversations each send `--messages`
//! messages (the start counts as a turn too), and the counters are dumped
//! (`callgrind_control -d`). The same is then done over an idle window as long as the load's,
//! so that what the service does anyway (lease heartbeats, timers) can be told apart:
//! instructions per turn = (load − idle) / turns. Every answer is checked.
//!
//! Run by hand, in release mode (see docs/performance.md):
//!   cargo run --release -p bench --bin turn-cost -- --sessions 64 --messages 20

mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use e2e::cluster::{Cluster, ClusterOptions};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
struct Args {
    /// Concurrent conversations.
    #[arg(long, default_value_t = 64)]
    sessions: usize,
    /// Messages per conversation after its start.
    #[arg(long, default_value_t = 20)]
    messages: usize,
    /// Services to profile.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "flow-executor,api-gateway"
    )]
    services: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = harness::start("turn-cost");
    let mut options = ClusterOptions::new(1);
    options.reply_deadline = Duration::from_secs(60);
    options.callgrind = args.services.clone();
    let cluster = Cluster::start_with(options).await;
    let bot: Value = serde_json::from_str(harness::ECHO_BOT)?;
    let created = cluster.integration(&bot, json!({"kind": "api"})).await;
    let base = format!(
        "{}/api/integrations/api/{}",
        cluster.gateway.url(""),
        created["id"].as_i64().unwrap_or_default()
    );
    let key = created["api_key"].as_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(args.sessions * 2)
        .build()?;
    let mut profiled: Vec<(String, u32)> = Vec::new();
    if args.services.iter().any(|s| s == "api-gateway") {
        profiled.push(("api-gateway".into(), cluster.gateway.pid()));
    }
    if args.services.iter().any(|s| s == "flow-executor") {
        for executor in &cluster.executors {
            profiled.push(("flow-executor".into(), executor.pid()));
        }
    }

    // Warm-up: connections, prepared statements, caches, the bot version.
    drive(&client, &base, &key, "warm", 8, 5).await?;
    for (_, pid) in &profiled {
        callgrind_control("-z", *pid)?;
    }
    let started = Instant::now();
    let turns = drive(&client, &base, &key, "load", args.sessions, args.messages).await?;
    let wall = started.elapsed();
    let load = dump_all(&cluster, &profiled)?;
    // The same window with nothing sent.
    for (_, pid) in &profiled {
        callgrind_control("-z", *pid)?;
    }
    tokio::time::sleep(wall).await;
    let idle = dump_all(&cluster, &profiled)?;

    println!();
    println!(
        "{turns} turns in {:.1} s ({} conversations × (start + {} messages)), every answer checked",
        wall.as_secs_f64(),
        args.sessions,
        args.messages
    );
    println!(
        "{:<16} {:>16} {:>16} {:>16}",
        "service", "Ir under load", "Ir idle", "Ir per turn"
    );
    for (((name, _), load), idle) in profiled.iter().zip(&load).zip(&idle) {
        println!(
            "{name:<16} {load:>16} {idle:>16} {:>16.0}",
            load.saturating_sub(*idle) as f64 / turns.max(1) as f64
        );
    }
    Ok(())
}

/// `sessions` conversations at once, each a start then `messages` messages back to back;
/// returns the turns (requests answered as expected).
async fn drive(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    tag: &str,
    sessions: usize,
    messages: usize,
) -> anyhow::Result<usize> {
    let mut tasks = tokio::task::JoinSet::new();
    for s in 0..sessions {
        let (client, base, key) = (client.clone(), base.to_owned(), key.to_owned());
        let session = format!("{tag}-{s}");
        tasks.spawn(async move {
            harness::post_api(
                &client,
                &format!("{base}/session"),
                &key,
                json!({"session_id": session}),
            )
            .await?;
            let url = format!("{base}/session/{session}/message");
            for n in 0..messages {
                let answer =
                    harness::post_api(&client, &url, &key, json!({"message": format!("m{n}")}))
                        .await?;
                anyhow::ensure!(
                    answer["messages"][0]["text"] == format!("got m{n}"),
                    "wrong answer {answer}"
                );
            }
            anyhow::Ok(messages + 1)
        });
    }
    let mut turns = 0;
    while let Some(done) = tasks.join_next().await {
        turns += done??;
    }
    Ok(turns)
}

fn callgrind_control(action: &str, pid: u32) -> anyhow::Result<()> {
    let status = Command::new("callgrind_control")
        .arg(action)
        .arg(pid.to_string())
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "callgrind_control {action} {pid} failed");
    Ok(())
}

/// Dumps every profiled process's counters; returns the instructions since the last zeroing.
fn dump_all(cluster: &Cluster, profiled: &[(String, u32)]) -> anyhow::Result<Vec<u64>> {
    let mut totals = Vec::new();
    for (name, pid) in profiled {
        let before = latest_dump(cluster.log_dir(), name, *pid).map(|(n, _)| n);
        callgrind_control("-d", *pid)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let path = loop {
            match latest_dump(cluster.log_dir(), name, *pid) {
                Some((n, path)) if Some(n) != before => break path,
                _ => {
                    anyhow::ensure!(Instant::now() < deadline, "no callgrind dump for {name}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        };
        totals.push(total_instructions(&path)?);
    }
    Ok(totals)
}

/// The newest numbered dump `callgrind.<name>.<pid>.<n>`.
fn latest_dump(dir: &Path, name: &str, pid: u32) -> Option<(u32, PathBuf)> {
    let prefix = format!("callgrind.{name}.{pid}.");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            let n: u32 = file.strip_prefix(&prefix)?.parse().ok()?;
            Some((n, entry.path()))
        })
        .max_by_key(|(n, _)| *n)
}

/// The dump's `totals:` (or `summary:`) line: instructions executed.
fn total_instructions(path: &Path) -> anyhow::Result<u64> {
    // The dump is written while the file is being read: retry until its totals are there.
    for _ in 0..50 {
        let text = std::fs::read_to_string(path)?;
        let total = text.lines().find_map(|line| {
            line.strip_prefix("totals:")
                .or_else(|| line.strip_prefix("summary:"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        });
        if let Some(total) = total {
            return Ok(total);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    anyhow::bail!("no totals in {}", path.display())
}
