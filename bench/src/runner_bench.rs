//! The Integration Test Runner's speed: one 50-turn scenario (each turn a real executor turn:
//! one transaction, session lock, engine, session write, outputs recorded), then 100
//! scenarios at once, each in its own sandbox. Run by hand (docs/performance.md):
//!
//! ```sh
//! cargo run --release -p bench --bin runner-bench -- --repeat 10 --parallel 100
//! ```

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use diesel::sql_types::Text;
use diesel_async::{
    AnsiTransactionManager, AsyncConnection, AsyncPgConnection, RunQueryDsl, TransactionManager,
};
use flow::engine::EngineLimits;
use serde_json::json;
use store::accounts::NewToken;
use store::bots::NewBot;
use store::{Store, StoreOptions};
use test_runner::{RunStatus, RunTarget, Runner, Scenario, ScenarioChannel};
use testkit::database::TestDatabase;

#[derive(Parser)]
struct Args {
    /// How many times the 50-turn scenario runs (one after the other) per channel.
    #[arg(long, default_value_t = 10)]
    repeat: usize,
    /// How many scenarios run at once.
    #[arg(long, default_value_t = 100)]
    parallel: usize,
    /// Database connections the runner may use.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Runs in progress at once (the runner queues the rest).
    #[arg(long, default_value_t = test_runner::DEFAULT_PARALLEL_RUNS)]
    slots: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// The database floor of one 50-turn run, measured in the same run: 51 transactions with the
/// round trips of an executor turn (begin with a lock timeout, a read, a row lock, an update,
/// an insert, commit) on two bare tables, one connection, no engine, no JSON of ours.
async fn floor_run(conn: &mut AsyncPgConnection, run: usize) -> anyhow::Result<f64> {
    let key = format!("floor-{run}");
    diesel::sql_query("INSERT INTO floor_sessions (key, state, revision) VALUES ($1, '{}', 1)")
        .bind::<Text, _>(&key)
        .execute(conn)
        .await?;
    let started = Instant::now();
    for turn in 0..51 {
        let event = format!("{key}:{turn}");
        AnsiTransactionManager::begin_transaction_sql(
            &mut *conn,
            "BEGIN; SET LOCAL lock_timeout = '5000ms'",
        )
        .await?;
        store::prepared::prepared("SELECT count(*) FROM floor_events WHERE event_id = $1")
            .bind::<Text, _>(&event)
            .execute(conn)
            .await?;
        store::prepared::prepared("SELECT state FROM floor_sessions WHERE key = $1 FOR UPDATE")
            .bind::<Text, _>(&key)
            .execute(conn)
            .await?;
        store::prepared::prepared(
            "UPDATE floor_sessions SET state = $2::jsonb, revision = revision + 1 WHERE key = $1",
        )
        .bind::<Text, _>(&key)
        .bind::<Text, _>(format!("{{\"turn\": {turn}}}"))
        .execute(conn)
        .await?;
        store::prepared::prepared("INSERT INTO floor_events (event_id, outputs) VALUES ($1, '{}')")
            .bind::<Text, _>(&event)
            .execute(conn)
            .await?;
        AnsiTransactionManager::commit_transaction(&mut *conn).await?;
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

fn fifty_turns() -> anyhow::Result<Scenario> {
    let mut yaml = String::from("name: fifty turns\nstart:\n  expect: {state: ask}\nturns:\n");
    for turn in 1..=50 {
        yaml.push_str(&format!(
            "  - text: message {turn}\n    expect:\n      state: ask\n      messages:\n        - exact: \"you said: message {turn}\"\n        - exact: Say something\n"
        ));
    }
    Ok(Scenario::parse(&yaml)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = TestDatabase::create().await.context("test database")?;
    let store = Store::connect(&StoreOptions {
        url: db.url().to_owned(),
        max_connections: args.connections,
        connect_timeout: Duration::from_secs(5),
    })
    .await?;
    let (account, _) = store
        .create_account(
            "bench",
            false,
            NewToken {
                name: "t",
                digest: b"bench",
                hint: "",
            },
        )
        .await?;
    let echo = json!({"start": "ask", "components": [
        {"id": "ask", "type": "question_text", "text": "Say something", "variable": "said", "next": "echo"},
        {"id": "echo", "type": "text", "text": "you said: {{said}}", "next": "ask"}
    ]});
    let bot = store
        .create_bot(
            account.id,
            NewBot {
                name: "echo",
                variables: &json!([{"name": "said"}]),
                draft_flow: &echo,
            },
        )
        .await?;
    store
        .publish_bot(account.id, bot.id, bot.draft_revision)
        .await?;
    let target = RunTarget {
        account: account.id,
        bot: bot.id,
        version: None,
        draft: false,
    };
    let runner = Runner::with_parallel_runs(store.clone(), EngineLimits::default(), args.slots);
    let scenario = fifty_turns()?;

    let mut conn = AsyncPgConnection::establish(db.url()).await?;
    diesel::sql_query(
        "CREATE TABLE floor_sessions (key TEXT PRIMARY KEY, state JSONB NOT NULL, revision BIGINT NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    diesel::sql_query(
        "CREATE TABLE floor_events (event_id TEXT PRIMARY KEY, outputs JSONB NOT NULL, processed_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .execute(&mut conn)
    .await?;
    let mut floor = Vec::new();
    for run in 0..args.repeat {
        floor.push(floor_run(&mut conn, run).await?);
    }
    floor.sort_by(f64::total_cmp);
    let floor_p50 = percentile(&floor, 0.5);
    println!(
        "floor (51 bare transactions with a turn's round trips, {} runs): min {:.1} ms, p50 {:.1} ms, max {:.1} ms",
        floor.len(),
        floor[0],
        floor_p50,
        floor[floor.len() - 1]
    );

    for channel in [ScenarioChannel::Api, ScenarioChannel::Whatsapp] {
        let mut times = Vec::new();
        for _ in 0..args.repeat {
            let run = runner.run(target, &scenario, channel, None).await?;
            anyhow::ensure!(run.status == RunStatus::Passed, "the 50-turn run failed");
            times.push(run.duration_ms);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "50-turn scenario on {:<8} ({} runs, sandbox create + 51 turns + cleanup): min {:.1} ms, p50 {:.1} ms, max {:.1} ms; p50 / floor p50 = {:.2}",
            channel.as_str(),
            times.len(),
            times[0],
            percentile(&times, 0.5),
            times[times.len() - 1],
            percentile(&times, 0.5) / floor_p50
        );
    }

    let started = Instant::now();
    let runs = futures_util::future::join_all((0..args.parallel).map(|i| {
        let runner = runner.clone();
        let scenario = scenario.clone();
        async move {
            let channel = if i % 2 == 0 {
                ScenarioChannel::Api
            } else {
                ScenarioChannel::Whatsapp
            };
            runner.run(target, &scenario, channel, None).await
        }
    }))
    .await;
    let wall = started.elapsed();
    let mut times = Vec::new();
    for run in runs {
        let run = run?;
        anyhow::ensure!(
            run.status == RunStatus::Passed,
            "a parallel run ended {:?}: {:?}",
            run.status,
            run.stopped
        );
        times.push(run.duration_ms);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{} 50-turn scenarios at once (half API, half WhatsApp): wall {:.0} ms ({:.0} turns/s); per run (from its start, after queueing) p50 {:.0} ms, p99 {:.0} ms",
        times.len(),
        wall.as_secs_f64() * 1000.0,
        (times.len() * 51) as f64 / wall.as_secs_f64(),
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
    Ok(())
}
