//! Turns per second with 1, 2 and 4 flow-executor processes, beside the floor, in one run.
//!
//! The platform runs as OS processes (the fault suite's `Cluster`); the client drives API
//! conversations of the echo-log bot closed-loop through the gateway, and checks every answer
//! (each says which of the conversation's messages the flow has seen, in order): a lost,
//! repeated or reordered turn shows as a wrong answer. Between phases executors are added and
//! the run waits until the shards are spread; each phase reports who holds which shard.
//!
//! Run by hand, in release mode (see docs/performance.md):
//!   cargo run --release -p bench --bin scale-bench -- --sessions 64 --messages 20

mod floor;
mod harness;
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use e2e::cluster::Cluster;
use e2e::faults::{expected_text, Targets};
use serde_json::{json, Value};

use crate::stats::Samples;

#[derive(Parser, Debug)]
struct Args {
    /// Concurrent conversations per phase.
    #[arg(long, default_value_t = 64)]
    sessions: usize,
    /// Messages per conversation (the first starts it).
    #[arg(long, default_value_t = 20)]
    messages: usize,
    /// Executor counts, one phase each.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    executors: Vec<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = harness::start("scale-bench");

    let floor = Arc::new(floor::Floor::start(e2e::cluster::CLUSTER_SHARDS, 16).await?);
    floor::drive(&floor, 8, 20).await?;
    let (floor_load, floor_wall) = floor::drive(&floor, args.sessions, args.messages).await?;
    let floor_load = floor_load.summary(floor_wall);
    floor_arc_stop(floor).await;
    println!(
        "floor            {:>8.0} round trips/s  p50 {:>6.1} ms  p99 {:>6.1} ms",
        floor_load.per_second,
        ms(floor_load.p50),
        ms(floor_load.p99)
    );

    let first = args.executors.first().copied().unwrap_or(1);
    let mut cluster = Cluster::start(first).await;
    let targets = Targets::create(&cluster).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let base = format!(
        "{}/api/integrations/api/{}",
        cluster.gateway.url(""),
        targets.api_id
    );
    // Warm-up: connections, caches, the bot version.
    drive(&client, &base, &targets.api_key, "warm", 8, 5).await?;
    for (phase, &executors) in args.executors.iter().enumerate() {
        while cluster.executors.len() < executors {
            cluster.add_executor().await;
        }
        let spread = cluster
            .wait_spread(Duration::from_secs(60))
            .await
            .map_err(anyhow::Error::msg)?;
        let held = cluster.shards_held().await;
        let (samples, wall, wrong) = drive(
            &client,
            &base,
            &targets.api_key,
            &format!("p{phase}"),
            args.sessions,
            args.messages,
        )
        .await?;
        let summary = samples.summary(wall);
        println!(
            "{executors} executor(s)    {:>8.0} turns/s        p50 {:>6.1} ms  p99 {:>6.1} ms  \
             turns {}  wrong/lost/reordered {wrong}  shards {held:?} (spread in {:.1} s)",
            summary.per_second,
            ms(summary.p50),
            ms(summary.p99),
            summary.count,
            spread.as_secs_f64()
        );
    }
    Ok(())
}

async fn floor_arc_stop(floor: Arc<floor::Floor>) {
    if let Ok(floor) = Arc::try_unwrap(floor) {
        floor.stop().await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `sessions` conversations at once, each `messages` requests back to back; returns the
/// latencies, the wall time, and the answers that were not the expected turn.
async fn drive(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    tag: &str,
    sessions: usize,
    messages: usize,
) -> anyhow::Result<(Samples, Duration, usize)> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..sessions {
        let (client, base, key) = (client.clone(), base.to_owned(), key.to_owned());
        let session = format!("{tag}-{s}");
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut wrong = 0;
            for k in 0..messages {
                let (path, body) = if k == 0 {
                    ("/session".to_owned(), json!({"session_id": session}))
                } else {
                    (
                        format!("/session/{session}/message"),
                        json!({"message": format!("m{k}")}),
                    )
                };
                let sent = Instant::now();
                // A pooled connection the server closed meanwhile fails at once: try again.
                let mut attempts = 0;
                let answer: Value = loop {
                    attempts += 1;
                    let response = client
                        .post(format!("{base}{path}"))
                        .header("X-API-Key", &key)
                        .json(&body)
                        .send()
                        .await;
                    match response {
                        Ok(response) => break response.json().await?,
                        Err(error) if attempts < 5 && error.is_request() => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(error) => return Err(error.into()),
                    }
                };
                samples.push(sent.elapsed());
                let expected = expected_text(k);
                let right = answer["messages"]
                    .as_array()
                    .is_some_and(|all| all.iter().any(|m| m["text"] == expected));
                wrong += usize::from(!right);
            }
            anyhow::Ok((samples, wrong))
        }));
    }
    let mut all = Samples::default();
    let mut wrong = 0;
    for task in tasks {
        let (samples, w) = task.await??;
        all.extend(samples);
        wrong += w;
    }
    Ok((all, started.elapsed(), wrong))
}
