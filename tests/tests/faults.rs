#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The fault suite: the services as OS processes (built binaries) on a PostgreSQL and a
//! RabbitMQ of the suite's own (`e2e::servers`: started per test, torn down after), the Meta
//! emulator as a process, conversations over both channels while executors are killed, scaled
//! and frozen, the sender killed, the emulator failing, and the broker and the database
//! stopped, killed and restarted. After each scenario a Jepsen-style report; pass = nothing
//! lost, duplicated or reordered (the sender's crash-after-Graph-accept window counted apart).
//!
//! Sized by the environment (defaults: the CI subset, a few minutes):
//!   FAULTS_CONVERSATIONS  conversations per channel per scenario (default 10)
//!   FAULTS_MESSAGES       messages per conversation (default 10)
//!   FAULTS_DISRUPTIVE=1   also `rabbitmq-stop-app` and `postgres-immediate` (the CI subset
//!                         has `rabbitmq-kill-9` only; the full suite, `scripts/faults.sh`, all)
//!   FAULTS_REPORT=<file>  append each report as a JSON line
//!   FAULTS_SCENARIOS=a,b  only these scenarios of the sequence (names as in the reports)
//!   FAULTS_PROFILE=release  run the services' release binaries (built on first use)

use std::time::{Duration, Instant};

use e2e::cluster::{spread_ok, Cluster, CLUSTER_SHARDS};
use e2e::faults::{LoadSpec, Report, Targets};
use tokio::task::block_in_place;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn spec(duration: Duration) -> LoadSpec {
    LoadSpec {
        conversations: env_usize("FAULTS_CONVERSATIONS", 10),
        messages: env_usize("FAULTS_MESSAGES", 10).max(2),
        duration,
    }
}

/// Whether `FAULTS_SCENARIOS` (default: all) selects `scenario`.
fn wanted(scenario: &str) -> bool {
    std::env::var("FAULTS_SCENARIOS").map_or(true, |list| {
        list.split(',').any(|name| name.trim() == scenario)
    })
}

fn record(report: &Report) {
    println!("FAULTS {}", report.line());
    for suspect in &report.suspects {
        println!("  suspect {suspect}");
    }
    if let Ok(path) = std::env::var("FAULTS_REPORT") {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{}", serde_json::to_string(report).unwrap());
        }
    }
}

const SETTLE: Duration = Duration::from_secs(180);

/// The "done when" of issue 8: three executor processes share the shards (none above its share
/// plus one); one killed, the two others hold every shard within 10 s; every conversation's
/// transcript is in order throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_executors_share_the_shards_and_take_over_a_killed_ones_within_ten_seconds() {
    let mut cluster = Cluster::start_private(3).await;
    cluster.wait_spread(Duration::from_secs(30)).await.unwrap();
    let held = cluster.shards_held().await;
    let share = usize::from(CLUSTER_SHARDS).div_ceil(3);
    for shards in held.iter().flatten() {
        assert!(!shards.is_empty() && shards.len() <= share + 1, "{held:?}");
    }
    // What `BotplatformShardsUnheld` compares: the held shards' sum and the configured count.
    let configured = cluster.executor_gauge("executor_inbound_shards").await;
    assert_eq!(configured, vec![Some(f64::from(CLUSTER_SHARDS)); 3]);
    let gauges_agree = Instant::now();
    loop {
        let held = cluster.executor_gauge("executor_shards_held").await;
        let sum: f64 = held.iter().flatten().sum();
        if held.iter().all(Option::is_some) && sum == f64::from(CLUSTER_SHARDS) {
            break;
        }
        // A heartbeat (0.5 s) publishes them: a few of those.
        assert!(gauges_agree.elapsed() < Duration::from_secs(5), "{held:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let targets = Targets::create(&cluster).await;
    let load = e2e::faults::Load::start(&cluster, &targets, "three", spec(Duration::from_secs(6)));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let victim = cluster.executors.remove(1);
    victim.kill();
    let killed = Instant::now();
    let moved = cluster.wait_spread(Duration::from_secs(10)).await;
    let took = killed.elapsed();
    let mut report = load.finish(&cluster, &targets, SETTLE).await;
    report.notes.push(format!(
        "shards held by the 2 survivors after {:.1}s",
        took.as_secs_f64()
    ));
    record(&report);
    moved.unwrap();
    assert!(report.passed(), "{}", report.line());
}

/// The scenarios on one cluster (two executors at rest), one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_lose_duplicate_and_reorder_nothing() {
    let mut cluster = Cluster::start_private(2).await;
    cluster.wait_spread(Duration::from_secs(30)).await.unwrap();
    let targets = Targets::create(&cluster).await;
    let disruptive = std::env::var("FAULTS_DISRUPTIVE").is_ok_and(|v| v == "1");
    let mut reports = Vec::new();

    if wanted("kill-executor") {
        // 1. kill -9 an executor, start it again.
        let load = e2e::faults::Load::start(
            &cluster,
            &targets,
            "kill-executor",
            spec(Duration::from_secs(8)),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster.executors.remove(0).kill();
        let killed = Instant::now();
        let moved = cluster.wait_spread(Duration::from_secs(10)).await;
        let note = format!("shards moved in {:.1}s", killed.elapsed().as_secs_f64());
        tokio::time::sleep(Duration::from_secs(1)).await;
        cluster.add_executor().await;
        let mut report = load.finish(&cluster, &targets, SETTLE).await;
        report.notes.push(note);
        moved.unwrap();
        reports.push(report);
        cluster.wait_spread(Duration::from_secs(20)).await.unwrap();
    }

    if wanted("scale-1-3-1") {
        // 2. scale 1 -> 3 -> 1 (SIGTERM to scale in, as Kubernetes does), back to 2.
        let load = e2e::faults::Load::start(
            &cluster,
            &targets,
            "scale-1-3-1",
            spec(Duration::from_secs(10)),
        );
        cluster
            .executors
            .remove(0)
            .terminate(Duration::from_secs(60))
            .await;
        cluster.wait_spread(Duration::from_secs(20)).await.unwrap();
        cluster.add_executor().await;
        cluster.add_executor().await;
        let to_three = cluster.wait_spread(Duration::from_secs(20)).await;
        cluster
            .executors
            .remove(0)
            .terminate(Duration::from_secs(60))
            .await;
        cluster
            .executors
            .remove(0)
            .terminate(Duration::from_secs(60))
            .await;
        let to_one = cluster.wait_spread(Duration::from_secs(20)).await;
        let mut report = load.finish(&cluster, &targets, SETTLE).await;
        report.notes.push(format!(
            "spread on 3 after {:.1}s, back on 1 after {:.1}s",
            to_three.clone().unwrap_or_default().as_secs_f64(),
            to_one.clone().unwrap_or_default().as_secs_f64()
        ));
        to_three.unwrap();
        to_one.unwrap();
        reports.push(report);
        cluster.add_executor().await;
        cluster.wait_spread(Duration::from_secs(20)).await.unwrap();
    }

    if wanted("kill-sender") {
        // 3. kill -9 the sender, start it again.
        let load = e2e::faults::Load::start(
            &cluster,
            &targets,
            "kill-sender",
            spec(Duration::from_secs(8)),
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        cluster.sender.take().unwrap().kill();
        tokio::time::sleep(Duration::from_secs(1)).await;
        cluster.sender = Some(cluster.spawn_sender());
        cluster.wait_all_ready().await;
        let mut report = load.finish(&cluster, &targets, SETTLE).await;
        // Graph messages sent twice are the documented window (Meta accepted, the sender died
        // before recording it); a user message handled twice would show in the logs and is not.
        report.sender_window_duplicates = report.graph_duplicates;
        report.duplicated -= report.graph_duplicates;
        reports.push(report);
    }

    if wanted("graph-500-130429") {
        // 6. the emulator answers 500 for 5 s, then 130429 for 5 s.
        let load = e2e::faults::Load::start(
            &cluster,
            &targets,
            "graph-500-130429",
            spec(Duration::from_secs(10)),
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let emulator =
            meta_emulator::client::EmulatorClient::new(&cluster.emulator.url("")).unwrap();
        emulator
            .inject_fault(&meta_emulator::api::FaultSpec {
                status: Some(500),
                duration_ms: Some(5_000),
                ..Default::default()
            })
            .await
            .unwrap();
        emulator
            .inject_fault(&meta_emulator::api::FaultSpec {
                code: Some(130429),
                duration_ms: Some(10_000),
                ..Default::default()
            })
            .await
            .unwrap();
        reports.push(load.finish(&cluster, &targets, SETTLE).await);
    }

    if wanted("sigstop-executor-30s") {
        // 7. SIGSTOP an executor for 30 s, then SIGCONT.
        let load = e2e::faults::Load::start(
            &cluster,
            &targets,
            "sigstop-executor-30s",
            spec(Duration::from_secs(10)),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster.executors[0].signal("STOP");
        tokio::time::sleep(Duration::from_secs(30)).await;
        cluster.executors[0].signal("CONT");
        reports.push(load.finish(&cluster, &targets, SETTLE).await);
        cluster.wait_spread(Duration::from_secs(30)).await.unwrap();
    }

    if disruptive && wanted("rabbitmq-stop-app") {
        // 4. RabbitMQ: stop_app / start_app (every connection closes, the node stays)...
        let load = e2e::faults::Load::start(
            &cluster,
            &targets,
            "rabbitmq-stop-app",
            spec(Duration::from_secs(10)),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        block_in_place(|| cluster.servers().rabbit.stop_app());
        tokio::time::sleep(Duration::from_secs(5)).await;
        block_in_place(|| cluster.servers().rabbit.start_app());
        reports.push(load.finish(&cluster, &targets, SETTLE).await);
        cluster.wait_all_ready().await;
    }
    if wanted("rabbitmq-kill-9") {
        // ... and kill -9 of the node, then a fresh start on its data (in the CI subset).
        let load = e2e::faults::Load::start(
            &cluster,
            &targets,
            "rabbitmq-kill-9",
            spec(Duration::from_secs(10)),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        block_in_place(|| cluster.servers().rabbit.kill());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let restarting = Instant::now();
        block_in_place(|| cluster.servers().rabbit.restart());
        let note = format!("node back after {:.1}s", restarting.elapsed().as_secs_f64());
        let mut report = load.finish(&cluster, &targets, SETTLE).await;
        report.notes.push(note);
        reports.push(report);
        cluster.wait_all_ready().await;
    }
    if disruptive && wanted("postgres-immediate") {
        // 5. PostgreSQL stopped in immediate mode, then started.
        let load = e2e::faults::Load::start(
            &cluster,
            &targets,
            "postgres-immediate",
            spec(Duration::from_secs(10)),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        block_in_place(|| cluster.servers().postgres.stop_immediate());
        tokio::time::sleep(Duration::from_secs(5)).await;
        block_in_place(|| cluster.servers().postgres.start_again());
        reports.push(load.finish(&cluster, &targets, SETTLE).await);
        cluster.wait_all_ready().await;
    }

    for report in &reports {
        record(report);
    }
    println!("logs: {}", cluster.log_dir().display());
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.passed())
        .map(Report::line)
        .collect();
    assert!(
        failed.is_empty(),
        "failed scenarios:\n{}",
        failed.join("\n")
    );
    assert!(spread_ok(
        &cluster.shards_held().await,
        cluster.executors.len()
    ));
}
