//! The WhatsApp pipeline under load: signed webhook POSTs accepted per second and the p50/p99
//! of the ingress's answer, beside the ingest floor measured in the same run
//! (ingest_floor.rs); the answer at a fixed 1,000 POSTs per second; and webhook-to-Graph-API
//! latency through ingress, executor and sender to a local Graph API (graph_sink.rs); and the
//! reply turns per second at saturation beside the whole-pipeline floor (pipeline_floor.rs),
//! measured in the same run.
//!
//! Run by hand, in release mode (see docs/performance.md):
//!   cargo run --release -p bench --bin wa-bench

mod graph_sink;
mod harness;
mod http_floor;
mod ingest_floor;
mod pipeline_floor;
mod stats;
mod wa_e2e;
mod wa_load;
mod wa_pipeline;

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::graph_sink::GraphSink;
use crate::http_floor::HttpFloor;
use crate::ingest_floor::{FloorKind, IngestFloor};
use crate::pipeline_floor::PipelineFloor;
use crate::stats::Summary;
use crate::wa_load::{closed_loop, open_loop, Outcome, Schedule, Webhooks};
use crate::wa_pipeline::{floor_shape, settle, Pipeline, PipelineOptions};

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
    /// Messages per second of the open-loop end-to-end phase; 0 for half the reply turns per
    /// second measured at saturation in this run.
    #[arg(long, default_value_t = 0.0)]
    e2e_rate: f64,
    /// Length of the open-loop end-to-end phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    e2e_seconds: f64,
    /// Users (conversations) the end-to-end messages are spread over.
    #[arg(long, default_value_t = 200)]
    e2e_users: usize,
    /// Conversations in flight in the saturation phase (pipeline and its floor), each sending
    /// its next message once the answer to the previous one reached the Graph API.
    #[arg(long, default_value_t = 128)]
    saturation_users: usize,
    /// Length of the saturation phase (floor and pipeline each), in seconds.
    #[arg(long, default_value_t = 10.0)]
    saturation_seconds: f64,
    /// Only the whole pipeline: skip the ingest phases (1 to 3) and the loaded one (5).
    #[arg(long)]
    pipeline_only: bool,
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

/// What the ingest phases (1 to 3) measured.
struct Ingest {
    floor_publish: Summary,
    floor_insert: Summary,
    http_only: Summary,
    ingest: Outcome,
    fixed: Outcome,
    accepted: usize,
    purged: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = harness::start("wa-bench");
    let phase = Duration::from_secs_f64(args.seconds);
    let saturation = Duration::from_secs_f64(args.saturation_seconds);
    let sink = GraphSink::start(0)?;
    let options = PipelineOptions {
        shards: args.shards,
        ingress_workers: args.ingress_workers,
        sender_rate: args.sender_rate,
        sender_concurrency: args.sender_concurrency,
        graph_url: sink.url.clone(),
    };

    // 1. The floors, before anything else runs: ingest, HTTP alone, then the whole pipeline.
    let floors = if args.pipeline_only {
        None
    } else {
        Some(ingest_floors(&args, phase).await?)
    };
    let shape = floor_shape(&options)?;
    let whole_floor = PipelineFloor::start(&shape, &sink.url).await?;
    let floor_users: Vec<String> = (0..args.saturation_users as u64)
        .map(|n| Webhooks::user(70_000_000 + n))
        .collect();
    whole_floor
        .saturate(&sink.record, &floor_users, Duration::from_secs(2))
        .await?;
    let (samples, wall) = whole_floor
        .saturate(&sink.record, &floor_users, saturation)
        .await?;
    let floor_turns = samples.summary(wall);
    whole_floor.stop().await;

    // 2. Ingest, closed loop; 3. ingest at a fixed rate. The ingress alone: nobody consumes.
    let mut pipeline = Pipeline::start(&options).await?;
    let hooks = Arc::new(Webhooks::new(
        pipeline.webhook_url.clone(),
        (args.clients * 2).max(args.saturation_users),
    )?);
    let ingest = match floors {
        None => None,
        Some((floor_publish, floor_insert, http_only)) => {
            let warm = closed_loop(&hooks, args.clients, Duration::from_secs(2), "w").await?;
            let ingest = closed_loop(&hooks, args.clients, phase, "i").await?;
            settle().await;
            let (fixed, _, _) = fixed_rate(&hooks, args.rate, args.rate_seconds, "f", 0).await?;
            // Every 200 must stand for an event in the shards, and nothing else may be there.
            let accepted = warm.accepted + ingest.accepted + fixed.accepted;
            let purged = pipeline.purge_inbound(args.shards).await?;
            Some(Ingest {
                floor_publish,
                floor_insert,
                http_only,
                ingest,
                fixed,
                accepted,
                purged,
            })
        }
    };

    // 4. End to end, with the executor and the sender.
    pipeline.start_consumers().await?;
    let record = sink.record.clone();
    let conversations = args.e2e_users.max(args.saturation_users);
    let users: Vec<String> = (0..=conversations as u64)
        .map(|n| Webhooks::user(90_000_000 + n))
        .collect();
    wa_e2e::warm(&hooks, &record, &users).await?;
    let (serial, serial_wall) =
        wa_e2e::one_at_a_time(&hooks, &record, &users[conversations], args.serial).await?;
    let serial = serial.summary(serial_wall);
    let saturating = &users[..args.saturation_users];
    wa_e2e::saturate(&hooks, &record, saturating, Duration::from_secs(2)).await?;
    let saturated = wa_e2e::saturate(&hooks, &record, saturating, saturation).await?;
    let turns = saturated.samples.summary(saturated.wall);
    let e2e_rate = if args.e2e_rate > 0.0 {
        args.e2e_rate
    } else {
        (turns.per_second / 2.0).round().max(1.0)
    };
    settle().await;
    let (e2e_ingress, e2e) = wa_e2e::at_rate(
        &hooks,
        &record,
        &users[..args.e2e_users],
        e2e_rate,
        args.e2e_seconds,
    )
    .await?;
    // 5. The fixed rate again, the whole pipeline busy behind the ingress: every webhook
    // starts a conversation, answered by the bot's question.
    let loaded = if args.loaded_seconds > 0.0 && !args.pipeline_only {
        settle().await;
        let (ingress, schedule, users) =
            fixed_rate(&hooks, args.rate, args.loaded_seconds, "l", 50_000_000).await?;
        let answers = wa_e2e::first_answers(&record, &schedule, &users).await;
        Some((ingress, answers))
    } else {
        None
    };

    if let Some(ingest) = ingest {
        report_ingest(&args, ingest);
    }
    println!();
    println!(
        "whole pipeline at saturation: {} conversations in a closed loop for {:.0} s \
         (webhook → `got …` at the Graph API)",
        args.saturation_users, args.saturation_seconds
    );
    println!("  {:<28} {floor_turns}", "floor (no logic, no webhook)");
    println!(
        "  {:<28} {turns}  (webhooks delivered again after a failed POST: {})",
        "pipeline", saturated.redelivered
    );
    println!(
        "  pipeline / floor: {:.0}%",
        100.0 * turns.per_second / floor_turns.per_second.max(1e-9)
    );
    println!();
    println!("end to end: webhook POST → the sender's Graph API call received");
    println!("  {:<28} {serial}", "one at a time");
    let e2e_summary = e2e.delivered.summary(e2e.wall);
    let label = format!("{e2e_rate:.0}/s, {} users", args.e2e_users);
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
    sink.stop().await;
    Ok(())
}

/// Publish + confirm, publish + INSERT, and HTTP alone (phase 1).
async fn ingest_floors(
    args: &Args,
    phase: Duration,
) -> anyhow::Result<(Summary, Summary, Summary)> {
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
    Ok((floor_publish, floor_insert, http_only))
}

/// Phases 2 and 3 beside their floors.
fn report_ingest(args: &Args, measured: Ingest) {
    let Ingest {
        floor_publish,
        floor_insert,
        http_only,
        ingest,
        fixed,
        accepted,
        purged,
    } = measured;
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
