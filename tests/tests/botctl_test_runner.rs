#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Integration Test Runner through the admin API and botctl: a run of the example
//! scenarios on both channels, its timeline, JUnit and exit code; a failing run exits 1 with a
//! diff; another account's run answers 404; nothing of the sandboxes is left in the database.

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use e2e::{AdminHarness, BOOTSTRAP_TOKEN as TOKEN};
use serde_json::Value;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

struct Run {
    code: i32,
    out: String,
    err: String,
}

async fn botctl_as(h: &AdminHarness, token: &str, args: &[&str]) -> Run {
    let mut argv: Vec<String> = vec!["botctl".into(), "--url".into(), h.base_url.clone()];
    argv.extend(["--token".into(), token.into()]);
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = botctl::run(argv, &mut out, &mut err).await;
    Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

async fn botctl(h: &AdminHarness, args: &[&str]) -> Run {
    botctl_as(h, TOKEN, args).await
}

async fn published_bot(h: &AdminHarness, file: &str) -> String {
    let path = format!("{REPO}/examples/{file}");
    let created = botctl(h, &["--json", "bots", "create", "--file", &path]).await;
    assert_eq!(created.code, 0, "{}", created.err);
    let bot: Value = serde_json::from_str(&created.out).unwrap();
    let id = bot["id"].to_string();
    let published = botctl(h, &["bots", "publish", &id]).await;
    assert_eq!(published.code, 0, "{}", published.err);
    id
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Left {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    rows: i64,
}

/// Sandbox integrations, sessions, processed events, idempotency keys and outbound rows.
async fn sandbox_rows(h: &AdminHarness) -> i64 {
    let mut conn = AsyncPgConnection::establish(h.db.url()).await.unwrap();
    let left: Left = diesel::sql_query(
        "SELECT (SELECT count(*) FROM integrations WHERE sandbox) + \
                (SELECT count(*) FROM sessions) + (SELECT count(*) FROM processed_events) + \
                (SELECT count(*) FROM idempotency_keys) + \
                (SELECT count(*) FROM outbound_batches) AS rows",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    left.rows
}

#[tokio::test]
async fn botctl_runs_scenarios_prints_the_timeline_writes_junit_and_cleans_up() {
    let h = AdminHarness::start().await;
    let demo = published_bot(&h, "demo-bot.json").await;
    let junit = std::env::temp_dir().join(format!("runner-junit-{}.xml", std::process::id()));
    let pizza = format!("{REPO}/examples/scenarios/demo-order-pizza.yaml");
    let closed = format!("{REPO}/examples/scenarios/demo-closed-window.yaml");
    let run = botctl(
        &h,
        &[
            "test",
            "run",
            &pizza,
            &closed,
            "--bot",
            &demo,
            "--junit",
            junit.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.out, run.err);
    assert!(
        run.out
            .contains("✓ order a pizza from the start [api] passed"),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("✓ order a pizza from the start [whatsapp] passed"),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("→ ask_quantity (question_text, reprompted, waits)"),
        "{}",
        run.out
    );
    assert!(run.out.contains("+ customer_name = \"Ada\""), "{}", run.out);
    assert!(run.out.contains("~ quantity: \"1\" → \"2\""), "{}", run.out);
    assert!(
        run.out.contains("WhatsApp: fallback_template"),
        "{}",
        run.out
    );
    assert!(run.out.contains("4 passed, 0 failed"), "{}", run.out);
    let report = std::fs::read_to_string(&junit).unwrap();
    let _ = std::fs::remove_file(&junit);
    assert!(report.contains("tests=\"4\" failures=\"0\""), "{report}");
    assert_eq!(sandbox_rows(&h).await, 0);
    // The sandboxes never show among the account's integrations.
    let listed = botctl(&h, &["--json", "integrations", "list"]).await;
    assert_eq!(listed.code, 0, "{}", listed.err);
    let listed: Value = serde_json::from_str(&listed.out).unwrap();
    assert_eq!(listed["integrations"], serde_json::json!([]));

    // A run that fails: exit 1 and the diff.
    let wrong = format!("{REPO}/crates/test-runner/tests/fixtures/wrong-expectations.yaml");
    let failed = botctl(
        &h,
        &["test", "run", &wrong, "--bot", &demo, "--channel", "api"],
    )
    .await;
    assert_eq!(failed.code, 1, "{}", failed.out);
    assert!(
        failed.out.contains(
            "✗ variables.customer_name:\n      - expected \"Eve\"\n      + actual   \"Ada\""
        ),
        "{}",
        failed.out
    );
    assert!(failed.out.contains("0 passed, 1 failed"), "{}", failed.out);

    // The bot's runs, newest first; another account sees neither the bot's runs nor a run.
    let list = botctl(&h, &["--json", "test", "list", "--bot", &demo]).await;
    let list: Value = serde_json::from_str(&list.out).unwrap();
    let runs = list["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(runs[1]["status"], "passed");
    let run_id = runs[1]["id"].to_string();
    let intruder = h.new_account("Intruder").await;
    let foreign = botctl_as(&h, &intruder, &["test", "show", &run_id]).await;
    assert_eq!(foreign.code, 1);
    assert!(foreign.err.contains("not_found"), "{}", foreign.err);
    let foreign = botctl_as(&h, &intruder, &["test", "run", &pizza, "--bot", &demo]).await;
    assert_eq!(foreign.code, 1);
    assert!(foreign.err.contains("not_found"), "{}", foreign.err);
    assert_eq!(sandbox_rows(&h).await, 0);
}

#[tokio::test]
async fn every_example_scenario_passes_through_the_admin_api() {
    let h = AdminHarness::start().await;
    let demo = published_bot(&h, "demo-bot.json").await;
    let orders = published_bot(&h, "order-status-bot.json").await;
    let dir = format!("{REPO}/examples/scenarios");
    let mut demo_files = Vec::new();
    let mut order_files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path().to_str().unwrap().to_owned();
        if path.contains("/demo-") {
            demo_files.push(path);
        } else {
            order_files.push(path);
        }
    }
    for (bot, files) in [(&demo, demo_files), (&orders, order_files)] {
        let mut args = vec!["--json", "test", "run", "--bot", bot.as_str()];
        args.extend(files.iter().map(String::as_str));
        let run = botctl(&h, &args).await;
        assert_eq!(run.code, 0, "{}\n{}", run.out, run.err);
        let result: Value = serde_json::from_str(&run.out).unwrap();
        assert_eq!(result["status"], "passed");
        assert_eq!(
            result["result"]["coverage"]["components_never_visited"],
            serde_json::json!([])
        );
    }
    assert_eq!(sandbox_rows(&h).await, 0);
}

#[tokio::test]
async fn a_draft_runs_on_a_hidden_copy_that_goes_with_the_sandbox() {
    let h = AdminHarness::start().await;
    // Never published: the draft is all there is.
    let created = botctl(
        &h,
        &[
            "--json",
            "bots",
            "create",
            "--file",
            &format!("{REPO}/examples/demo-bot.json"),
        ],
    )
    .await;
    assert_eq!(created.code, 0, "{}", created.err);
    let bot: Value = serde_json::from_str(&created.out).unwrap();
    let bot = bot["id"].to_string();
    let pizza = format!("{REPO}/examples/scenarios/demo-order-pizza.yaml");
    let without = botctl(&h, &["test", "run", &pizza, "--bot", &bot]).await;
    assert_eq!(without.code, 1);
    assert!(without.err.contains("draft: true"), "{}", without.err);

    let run = botctl(
        &h,
        &["--json", "test", "run", &pizza, "--bot", &bot, "--draft"],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.out, run.err);
    let run: Value = serde_json::from_str(&run.out).unwrap();
    assert_eq!(run["status"], "passed");
    let runs = run["result"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for channel_run in runs {
        // The hidden copy has a negative number and was removed with the sandbox.
        assert!(
            channel_run["bot_version"].as_i64().unwrap() < 0,
            "{channel_run}"
        );
        assert_eq!(channel_run["cleanup"]["bot_versions"], 1, "{channel_run}");
    }
    assert_eq!(sandbox_rows(&h).await, 0);
    let (_, versions) = h.get(&format!("/v1/bots/{bot}/versions"), TOKEN).await;
    assert_eq!(versions["versions"], serde_json::json!([]));
    let mut conn = AsyncPgConnection::establish(h.db.url()).await.unwrap();
    let left: Left = diesel::sql_query("SELECT count(*) AS rows FROM bot_versions")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(left.rows, 0);
    // Publishing afterwards still makes version 1.
    let published = botctl(&h, &["--json", "bots", "publish", &bot]).await;
    assert_eq!(published.code, 0, "{}", published.err);
    let published: Value = serde_json::from_str(&published.out).unwrap();
    assert_eq!(published["version"], 1, "{published}");

    // An invalid draft is refused before anything runs, naming its issues.
    let (status, _) = h
        .patch(
            &format!("/v1/bots/{bot}"),
            TOKEN,
            &serde_json::json!({"flow": {"start": "a", "components": [
                {"id": "a", "type": "text", "text": "hi", "next": "nowhere"}
            ]}}),
        )
        .await;
    assert_eq!(status, 200);
    let invalid = botctl(&h, &["test", "run", &pizza, "--bot", &bot, "--draft"]).await;
    assert_eq!(invalid.code, 1);
    assert!(invalid.err.contains("(invalid_flow)"), "{}", invalid.err);
    assert!(invalid.err.contains("dangling_next"), "{}", invalid.err);
    let both = botctl(
        &h,
        &[
            "test",
            "run",
            &pizza,
            "--bot",
            &bot,
            "--draft",
            "--version",
            "1",
        ],
    )
    .await;
    assert_ne!(both.code, 0);
    assert!(both.err.contains("cannot be used with"), "{}", both.err);
}
