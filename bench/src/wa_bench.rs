//! The WhatsApp pipeline under load: signed webhook POSTs accepted per second and the p50/p99
//! of the ingress's answer, beside the ingest floor measured in the same run
//! (ingest_floor.rs); the answer at a fixed 1,000 POSTs per second; and webhook-to-Graph-API
//! latency through ingress, executor and sender to the Meta emulator.
//!
//! Run by hand, in release mode (see docs/performance.md):
//!   cargo run --release -p bench --bin wa-bench

mod http_floor;
mod ingest_floor;
mod stats;
mod wa_e2e;
mod wa_load;
mod wa_pipeline;

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::http_floor::HttpFloor;
use crate::ingest_floor::{FloorKind, IngestFloor};
use crate::stats::Summary;
use crate::wa_e2e::GraphRecord;
use crate::wa_load::{closed_loop, open_loop, Outcome, Schedule, Webhooks};
use crate::wa_pipeline::{settle, Pipeline, PipelineOptions};

#[derive(Parser, Debug)]
struct Args {
    /// Concurrent clients (and floor publishers) in the throughput phase.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Length of the throughput phase (floor and ingress each), in seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// POSTs per second of the fixed-rate phase.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Length of the fixed-rate phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    rate_seconds: f64,
    /// Messages sent one at a time end to end.
    #[arg(long, default_value_t = 200)]
    serial: usize,
    /// Messages per second of the open-loop end-to-end phase.
    #[arg(long, default_value_t = 200.0)]
    e2e_rate: f64,
    /// Length of the open-loop end-to-end phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    e2e_seconds: f64,
    /// Users (conversations) the end-to-end messages are spread over.
    #[arg(long, default_value_t = 200)]
    e2e_users: usize,
    /// Length of a last phase at `--rate` with the executor and sender consuming (0 skips it).
    #[arg(long, default_value_t = 5.0)]
    loaded_seconds: f64,
    /// Inbound shards (queues) for both the platform and the floor.
    #[arg(long, default_value_t = 8)]
    shards: u16,
    /// Ingress HTTP workers; 0 keeps the service's default (one per CPU).
    #[arg(long, default_value_t = 0)]
    ingress_workers: usize,
    /// The sender's Graph calls per second per phone number. Meta's default is 80; the
    /// benchmark lifts it so that it measures the pipeline, not the pacing.
    #[arg(long, default_value_t = 100_000.0)]
    sender_rate: f64,
    /// Batches the sender handles at once (the service's default is 16).
    #[arg(long, default_value_t = 16)]
    sender_concurrency: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    crypto::install_tls_crypto_provider();
    telemetry::init_for_tests();
    let args = Args::parse();
    println!("wa-bench: {args:?}");
    let phase = Duration::from_secs_f64(args.seconds);

    // 1. The floor, before anything else runs.
    let floor = IngestFloor::start(args.shards, 16).await?;
    floor
        .run(
            args.clients,
            Duration::from_secs(1),
            FloorKind::PublishAndInsert,
        )
        .await?;
    let (samples, wall) = floor.run(args.clients, phase, FloorKind::Publish).await?;
    let floor_publish = samples.summary(wall);
    let (samples, wall) = floor
        .run(args.clients, phase, FloorKind::PublishAndInsert)
        .await?;
    let floor_insert = samples.summary(wall);
    floor.stop().await;
    // HTTP alone: the same client and bodies against a server that does nothing.
    let http = HttpFloor::start(args.ingress_workers)?;
    let http_hooks = Arc::new(Webhooks::new(http.url.clone(), args.clients * 2)?);
    closed_loop(&http_hooks, args.clients, Duration::from_secs(1), "h").await?;
    let http_only = closed_loop(&http_hooks, args.clients, phase, "h").await?;
    let http_only = http_only.answers.summary(http_only.wall);
    http.stop().await;

    // 2. Ingest, closed loop; 3. ingest at a fixed rate. The ingress alone: nobody consumes.
    let options = PipelineOptions {
        shards: args.shards,
        ingress_workers: args.ingress_workers,
        sender_rate: args.sender_rate,
        sender_concurrency: args.sender_concurrency,
    };
    let mut pipeline = Pipeline::start(&options).await?;
    let hooks = Arc::new(Webhooks::new(
        pipeline.webhook_url.clone(),
        args.clients * 2,
    )?);
    let warm = closed_loop(&hooks, args.clients, Duration::from_secs(2), "w").await?;
    let ingest = closed_loop(&hooks, args.clients, phase, "i").await?;
    settle().await;
    let (fixed, _, _) = fixed_rate(&hooks, args.rate, args.rate_seconds, "f", 0).await?;
    // Every 200 must stand for an event in the shards, and nothing else may be there.
    let accepted = warm.accepted + ingest.accepted + fixed.accepted;
    let purged = pipeline.purge_inbound(args.shards).await?;

    // 4. End to end, with the executor and the sender.
    pipeline.start_consumers().await?;
    let record = GraphRecord::start(pipeline.admin.emulator.client()?);
    let users: Vec<String> = (0..=args.e2e_users as u64)
        .map(|n| Webhooks::user(90_000_000 + n))
        .collect();
    wa_e2e::warm(&hooks, &record, &users).await?;
    let (serial, serial_wall) =
        wa_e2e::one_at_a_time(&hooks, &record, &users[args.e2e_users], args.serial).await?;
    let serial = serial.summary(serial_wall);
    let (e2e_ingress, e2e) = wa_e2e::at_rate(
        &hooks,
        &record,
        &users[..args.e2e_users],
        args.e2e_rate,
        args.e2e_seconds,
    )
    .await?;
    // 5. The fixed rate again, the whole pipeline busy behind the ingress: every webhook
    // starts a conversation, answered by the bot's question.
    let loaded = if args.loaded_seconds > 0.0 {
        settle().await;
        let (ingress, schedule, users) =
            fixed_rate(&hooks, args.rate, args.loaded_seconds, "l", 50_000_000).await?;
        let answers = wa_e2e::first_answers(&record, &schedule, &users).await;
        Some((ingress, answers))
    } else {
        None
    };
    record.stop().await;

    let ingest_summary = report(
        &format!(
            "ingest, closed loop: {} clients for {:.0} s (text webhooks, each from another user)",
            args.clients, args.seconds
        ),
        &[
            ("floor: publish + confirm", &floor_publish),
            ("floor: publish + INSERT", &floor_insert),
            ("HTTP alone (no work)", &http_only),
        ],
        "ingress (signed POST → 200)",
        ingest,
    );
    // On cores that are the bottleneck, costs per message add up: the rate of doing both.
    let both =
        1.0 / (1.0 / floor_publish.per_second.max(1e-9) + 1.0 / http_only.per_second.max(1e-9));
    let ratio = |floor: f64| 100.0 * ingest_summary.per_second / floor.max(1e-9);
    println!(
        "  ingress / floor: {:.0}% of publish + confirm, {:.0}% of publish + INSERT, \
         {:.0}% of publish + HTTP ({both:.0}/s)",
        ratio(floor_publish.per_second),
        ratio(floor_insert.per_second),
        ratio(both),
    );
    println!(
        "  the shards held {purged} events for {accepted} POSTs answered 200{}",
        if purged == accepted as u64 {
            ""
        } else {
            ": MISMATCH"
        }
    );
    report(
        &format!(
            "fixed rate: {:.0} POSTs/s for {:.0} s, ingress alone (latency from the due time)",
            args.rate, args.rate_seconds
        ),
        &[],
        "ingress answer",
        fixed,
    );
    println!();
    println!("end to end: webhook POST → the sender's Graph API call received by the emulator");
    println!("  {:<28} {serial}", "one at a time");
    let e2e_summary = e2e.delivered.summary(e2e.wall);
    let label = format!("{:.0}/s, {} users", args.e2e_rate, args.e2e_users);
    println!("  {label:<28} {e2e_summary}  (missing {})", e2e.missing);
    let failed = e2e_ingress.failed;
    let e2e_ingress = e2e_ingress.answers.summary(e2e_ingress.wall);
    println!(
        "  {:<28} {e2e_ingress}  (failed {failed})",
        "  its ingress answers"
    );
    if let Some((ingress, answers)) = loaded {
        report(
            &format!(
                "fixed rate: {:.0} POSTs/s for {:.0} s, executor and sender consuming \
                 (each webhook a new conversation)",
                args.rate, args.loaded_seconds
            ),
            &[],
            "ingress answer",
            ingress,
        );
        let summary = answers.delivered.summary(answers.wall);
        println!(
            "  {:<28} {summary}  (missing {})",
            "POST → bot's first message", answers.missing
        );
    }
    pipeline.stop().await;
    Ok(())
}

/// An open-loop phase of text webhooks, each from another user (numbered from
/// `first_user`), built and signed beforehand. Returns the users in sending order.
async fn fixed_rate(
    hooks: &Arc<Webhooks>,
    rate: f64,
    seconds: f64,
    label: &str,
    first_user: u64,
) -> anyhow::Result<(Outcome, Schedule, Vec<String>)> {
    let count = (rate * seconds).round() as u64;
    let users: Vec<String> = (0..count).map(|n| Webhooks::user(first_user + n)).collect();
    let planned = users
        .iter()
        .enumerate()
        .map(|(n, user)| hooks.text(user, label, n as u64, "hello, are you open?"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (outcome, schedule) = open_loop(hooks, planned, rate).await?;
    Ok((outcome, schedule, users))
}

/// Prints a phase: its title, reference lines, and the measured line with its failures.
fn report(title: &str, references: &[(&str, &Summary)], label: &str, outcome: Outcome) -> Summary {
    println!();
    println!("{title}");
    for (name, summary) in references {
        println!("  {name:<28} {summary}");
    }
    let summary = outcome.answers.summary(outcome.wall);
    println!("  {label:<28} {summary}");
    if outcome.failed > 0 {
        println!(
            "  {} POSTs failed; first: {}",
            outcome.failed,
            outcome.first_error.unwrap_or_default()
        );
    }
    summary
}
