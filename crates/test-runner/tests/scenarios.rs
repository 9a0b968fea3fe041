#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The scenarios in `examples/scenarios/` against the bots in `examples/`, on both channels,
//! through the executor's turn code on a real PostgreSQL; after every run nothing of the
//! sandbox is left.

use std::path::{Path, PathBuf};
use std::time::Duration;

use contracts::{AccountId, BotId};
use diesel::QueryableByName;
use flow::engine::EngineLimits;
use serde_json::Value;
use store::accounts::NewToken;
use store::bots::NewBot;
use store::{Store, StoreOptions};
use test_runner::result::TurnRecord;
use test_runner::whatsapp::DeliveryOutcome;
use test_runner::{ChannelRun, Coverage, RunStatus, RunTarget, Runner, Scenario, ScenarioChannel};
use testkit::database::TestDatabase;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Setup {
    _db: TestDatabase,
    url: String,
    store: Store,
    account: AccountId,
    demo: BotId,
    orders: BotId,
}

async fn publish(store: &Store, account: AccountId, file: &str) -> BotId {
    let bot: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("examples").join(file)).unwrap())
            .unwrap();
    let created = store
        .create_bot(
            account,
            NewBot {
                name: bot["name"].as_str().unwrap(),
                variables: &bot["variables"],
                draft_flow: &bot["flow"],
            },
        )
        .await
        .unwrap();
    store
        .publish_bot(account, created.id, created.draft_revision)
        .await
        .unwrap();
    created.id
}

async fn setup() -> Setup {
    let db = TestDatabase::create().await.unwrap();
    let store = Store::connect(&StoreOptions {
        url: db.url().to_owned(),
        max_connections: 8,
        connect_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
    let (account, _) = store
        .create_account(
            "runner",
            false,
            NewToken {
                name: "t",
                digest: b"d",
                hint: "",
            },
        )
        .await
        .unwrap();
    let demo = publish(&store, account.id, "demo-bot.json").await;
    let orders = publish(&store, account.id, "order-status-bot.json").await;
    Setup {
        url: db.url().to_owned(),
        _db: db,
        store,
        account: account.id,
        demo,
        orders,
    }
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Leftovers {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    integrations: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    sessions: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    processed_events: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    idempotency_keys: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    outbound: i64,
}

/// Everything a run could leave in the database: the test database holds nothing else.
async fn leftovers(url: &str) -> Leftovers {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    diesel::sql_query(
        "SELECT (SELECT count(*) FROM integrations) AS integrations, \
                (SELECT count(*) FROM sessions) AS sessions, \
                (SELECT count(*) FROM processed_events) AS processed_events, \
                (SELECT count(*) FROM idempotency_keys) AS idempotency_keys, \
                (SELECT count(*) FROM outbound_batches) + \
                (SELECT count(*) FROM outbound_messages) AS outbound",
    )
    .get_result(&mut conn)
    .await
    .unwrap()
}

fn nothing_left() -> Leftovers {
    Leftovers {
        integrations: 0,
        sessions: 0,
        processed_events: 0,
        idempotency_keys: 0,
        outbound: 0,
    }
}

fn scenario_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("examples/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Scenario {
    Scenario::parse(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn failures(run: &ChannelRun) -> String {
    run.failed_checks()
        .map(|c| c.diff())
        .chain(run.stopped.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each WhatsApp body is one Meta accepts, and a turn's batch is exactly the concatenation of
/// its components' bodies (one renderer for both).
fn check_whatsapp(turn: &TurnRecord) {
    let from_components: Vec<Value> = turn
        .components
        .iter()
        .flat_map(|c| c.whatsapp_bodies.clone().unwrap())
        .collect();
    for body in &from_components {
        meta_emulator::validate::validate(body)
            .unwrap_or_else(|e| panic!("Meta would refuse {body}: {e:?}"));
    }
    let sent: Vec<Value> = turn
        .whatsapp
        .iter()
        .filter(|d| {
            matches!(
                d.outcome,
                DeliveryOutcome::Sent
                    | DeliveryOutcome::SentAfterRetry
                    | DeliveryOutcome::SentAfterTokenRefresh
            )
        })
        .flat_map(|d| d.bodies.clone())
        .collect();
    if turn
        .whatsapp
        .iter()
        .all(|d| d.outcome != DeliveryOutcome::FallbackTemplate)
    {
        assert_eq!(
            serde_json::to_string(&sent).unwrap(),
            serde_json::to_string(&from_components).unwrap(),
            "turn {}",
            turn.turn
        );
    }
}

#[tokio::test]
async fn example_scenarios_pass_on_both_channels_and_leave_nothing_behind() {
    let setup = setup().await;
    let runner = Runner::new(setup.store.clone(), EngineLimits::default());
    let demo = runner.bot_version(setup.demo, 1).await.unwrap();
    let orders = runner.bot_version(setup.orders, 1).await.unwrap();
    let (mut demo_runs, mut order_runs) = (Vec::new(), Vec::new());
    let mut both_channels = 0;
    for path in scenario_files() {
        let scenario = load(&path);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let bot = if name.starts_with("demo-") {
            setup.demo
        } else {
            setup.orders
        };
        let target = RunTarget {
            account: setup.account,
            bot,
            version: None,
            draft: false,
        };
        if scenario.channels().len() == 2 {
            both_channels += 1;
        }
        for run in runner
            .run_all_channels(target, &scenario, None)
            .await
            .unwrap()
        {
            assert_eq!(
                run.status,
                RunStatus::Passed,
                "{name} on {}:\n{}",
                run.channel.as_str(),
                failures(&run)
            );
            assert_eq!(leftovers(&setup.url).await, nothing_left(), "{name}");
            assert!(run.cleanup.integrations == 1, "{name}: {:?}", run.cleanup);
            if run.channel == ScenarioChannel::Whatsapp {
                run.turns.iter().for_each(check_whatsapp);
            }
            if name.starts_with("demo-") {
                demo_runs.push(run);
            } else {
                order_runs.push(run);
            }
        }
    }
    assert!(
        both_channels >= 12,
        "{both_channels} scenarios on both channels"
    );
    // Every component of both bots is entered by some scenario: all nine component types.
    let demo_coverage = Coverage::of(&demo, &demo_runs);
    let order_coverage = Coverage::of(&orders, &order_runs);
    assert_eq!(demo_coverage.components_never_visited, Vec::<String>::new());
    assert_eq!(
        order_coverage.components_never_visited,
        Vec::<String>::new()
    );
    assert!(
        demo_coverage.edges_visited > 0 && demo_coverage.edges_visited <= demo_coverage.edges_total
    );
}

#[tokio::test]
async fn the_timeline_shows_components_deltas_replies_and_whatsapp_bodies() {
    let setup = setup().await;
    let runner = Runner::new(setup.store.clone(), EngineLimits::default());
    let scenario = load(&repo().join("examples/scenarios/demo-order-pizza.yaml"));
    let target = RunTarget {
        account: setup.account,
        bot: setup.demo,
        version: Some(1),
        draft: false,
    };
    let api = runner
        .run(target, &scenario, ScenarioChannel::Api, None)
        .await
        .unwrap();
    // The API reply is the manual's JSON.
    let reply = api.turns[1].api_reply.clone().unwrap();
    assert_eq!(reply["status"], 200);
    assert_eq!(reply["body"]["state"], "main_menu");
    assert_eq!(reply["body"]["messages"][0]["type"], "buttons");
    // Variable deltas per component: added, then changed from → to.
    let ask_name = &api.turns[1].components[0];
    assert_eq!(ask_name.id, "ask_name");
    assert_eq!(ask_name.variables.added["customer_name"], "Ada");
    let retry = &api.turns[4];
    assert_eq!(
        retry.components[0].event,
        flow::engine::VisitEvent::Reprompted
    );
    let quantity = api.turns[5]
        .components
        .iter()
        .find(|c| c.id == "ask_quantity")
        .unwrap();
    assert_eq!(quantity.variables.changed["quantity"].from, "1");
    assert_eq!(quantity.variables.changed["quantity"].to, "2");
    assert_eq!(api.path.first().map(String::as_str), Some("welcome"));
    assert_eq!(api.path.last().map(String::as_str), Some("order_done"));
    assert!(api
        .edges
        .iter()
        .any(|e| e.from == "choose_pizza" && e.to == "remember_pizza"));
    assert!(api.is_final);
    assert!(api.cleanup.processed_events >= 8, "{:?}", api.cleanup);

    let whatsapp = runner
        .run(target, &scenario, ScenarioChannel::Whatsapp, None)
        .await
        .unwrap();
    let menu = whatsapp.turns[1]
        .components
        .iter()
        .find(|c| c.id == "main_menu")
        .unwrap();
    let body = &menu.whatsapp_bodies.as_ref().unwrap()[0];
    assert_eq!(body["type"], "interactive");
    assert_eq!(body["interactive"]["type"], "button");
    let choose = whatsapp.turns[2]
        .components
        .iter()
        .find(|c| c.id == "choose_pizza")
        .unwrap();
    let list = &choose.whatsapp_bodies.as_ref().unwrap()[0];
    assert_eq!(list["interactive"]["type"], "list");
    assert_eq!(
        whatsapp.turns[2].whatsapp[0].outcome,
        DeliveryOutcome::SentAfterRetry
    );
    let photo = whatsapp.turns[7]
        .components
        .iter()
        .find(|c| c.id == "order_photo")
        .unwrap();
    assert_eq!(photo.whatsapp_bodies.as_ref().unwrap()[0]["type"], "image");
    assert_eq!(leftovers(&setup.url).await, nothing_left());
}

#[tokio::test]
async fn failed_expectations_say_expected_and_actual() {
    let setup = setup().await;
    let runner = Runner::new(setup.store.clone(), EngineLimits::default());
    let scenario = load(&repo().join("crates/test-runner/tests/fixtures/wrong-expectations.yaml"));
    let target = RunTarget {
        account: setup.account,
        bot: setup.demo,
        version: None,
        draft: false,
    };
    for run in runner
        .run_all_channels(target, &scenario, None)
        .await
        .unwrap()
    {
        assert_eq!(run.status, RunStatus::Failed);
        let diffs: Vec<String> = run.failed_checks().map(|c| c.diff()).collect();
        let all = diffs.join("\n");
        assert!(
            all.contains("state:\n    - expected \"main_menu\"\n    + actual   \"ask_name\""),
            "{all}"
        );
        assert!(all.contains("messages[0]:\n    - expected exactly \"Welcome to Demo Pizza!\"\n    + actual   \"Welcome to Demo Pizza! 🍕\""), "{all}");
        assert!(
            all.contains(
                "variables.customer_name:\n    - expected \"Eve\"\n    + actual   \"Ada\""
            ),
            "{all}"
        );
        assert!(
            all.contains("variables.pizza:\n    - expected set\n    + actual   unset"),
            "{all}"
        );
        assert!(
            all.contains("is_final:\n    - expected true\n    + actual   false"),
            "{all}"
        );
        assert_eq!(leftovers(&setup.url).await, nothing_left());
    }
}

#[tokio::test]
async fn timed_out_and_cancelled_runs_are_cleaned_up() {
    let setup = setup().await;
    let mut runner = Runner::new(setup.store.clone(), EngineLimits::default());
    runner.run_timeout = Duration::from_millis(300);
    let scenario = load(&repo().join("crates/test-runner/tests/fixtures/slow-lookup.yaml"));
    let target = RunTarget {
        account: setup.account,
        bot: setup.orders,
        version: None,
        draft: false,
    };
    let run = runner
        .run(target, &scenario, ScenarioChannel::Api, None)
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::TimedOut);
    assert_eq!(run.cleanup.sessions, 1, "the seeded session was removed");
    assert_eq!(leftovers(&setup.url).await, nothing_left());

    runner.run_timeout = Duration::from_secs(60);
    let (cancel, cancelled) = tokio::sync::watch::channel(false);
    let running = {
        let runner = runner.clone();
        let scenario = scenario.clone();
        tokio::spawn(async move {
            runner
                .run(
                    target,
                    &scenario,
                    ScenarioChannel::Whatsapp,
                    Some(cancelled),
                )
                .await
        })
    };
    cancel.send(true).unwrap();
    let run = running.await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(leftovers(&setup.url).await, nothing_left());
}

#[tokio::test]
async fn runs_go_in_parallel_and_are_scoped_to_their_account() {
    let setup = setup().await;
    let runner = Runner::new(setup.store.clone(), EngineLimits::default());
    let scenario = load(&repo().join("examples/scenarios/demo-order-pizza.yaml"));
    let target = RunTarget {
        account: setup.account,
        bot: setup.demo,
        version: None,
        draft: false,
    };
    let runs = futures_util::future::join_all((0..8).map(|i| {
        let channel = if i % 2 == 0 {
            ScenarioChannel::Api
        } else {
            ScenarioChannel::Whatsapp
        };
        runner.run(target, &scenario, channel, None)
    }))
    .await;
    for run in runs {
        let run = run.unwrap();
        assert_eq!(run.status, RunStatus::Passed, "{}", failures(&run));
    }
    assert_eq!(leftovers(&setup.url).await, nothing_left());

    // Another account's bot is not found, and nothing is created.
    let (other, _) = setup
        .store
        .create_account(
            "other",
            false,
            NewToken {
                name: "t",
                digest: b"e",
                hint: "",
            },
        )
        .await
        .unwrap();
    let foreign = RunTarget {
        account: other.id,
        bot: setup.demo,
        version: None,
        draft: false,
    };
    assert!(matches!(
        runner
            .run(foreign, &scenario, ScenarioChannel::Api, None)
            .await,
        Err(test_runner::RunError::BotNotFound)
    ));
    assert_eq!(leftovers(&setup.url).await, nothing_left());
}

#[tokio::test]
async fn a_run_plays_the_version_it_is_given_and_the_newest_by_default() {
    let setup = setup().await;
    let bot: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("examples/demo-bot.json")).unwrap(),
    )
    .unwrap();
    let mut flow = bot["flow"].clone();
    flow["components"][0]["text"] = serde_json::json!("Welcome back to Demo Pizza!");
    let changed = setup
        .store
        .update_bot(
            setup.account,
            setup.demo,
            store::bots::BotChanges {
                name: None,
                variables: None,
                draft_flow: Some(flow),
            },
        )
        .await
        .unwrap();
    setup
        .store
        .publish_bot(setup.account, setup.demo, changed.draft_revision)
        .await
        .unwrap();
    let runner = Runner::new(setup.store.clone(), EngineLimits::default());
    let scenario = Scenario::parse("name: greeting\nchannels: [api]\n").unwrap();
    for (version, played, greeting) in [
        (Some(1), 1, "Welcome to Demo Pizza! 🍕"),
        (None, 2, "Welcome back to Demo Pizza!"),
    ] {
        let target = RunTarget {
            account: setup.account,
            bot: setup.demo,
            version,
            draft: false,
        };
        let run = runner
            .run(target, &scenario, ScenarioChannel::Api, None)
            .await
            .unwrap();
        assert_eq!(run.bot_version, played);
        let first = &run.turns[0].components[0].messages[0];
        assert_eq!(serde_json::to_value(first).unwrap()["text"], greeting);
    }
    let missing = RunTarget {
        account: setup.account,
        bot: setup.demo,
        version: Some(3),
        draft: false,
    };
    assert!(matches!(
        runner
            .run(missing, &scenario, ScenarioChannel::Api, None)
            .await,
        Err(test_runner::RunError::BotNotFound)
    ));
    assert_eq!(leftovers(&setup.url).await, nothing_left());
}

#[tokio::test]
async fn components_show_their_time_and_an_http_request_its_call() {
    let setup = setup().await;
    let runner = Runner::new(setup.store.clone(), EngineLimits::default());
    let scenario = load(&repo().join("examples/scenarios/orders-not-shipped.yaml"));
    let target = RunTarget {
        account: setup.account,
        bot: setup.orders,
        version: None,
        draft: false,
    };
    let run = runner
        .run(target, &scenario, ScenarioChannel::Api, None)
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Passed, "{}", failures(&run));
    let lookup = run
        .turns
        .iter()
        .flat_map(|turn| &turn.components)
        .find(|c| c.component_type == "http_request")
        .unwrap();
    // The stub answers after 20 ms: the call's time is the component's.
    assert!(lookup.duration_ms >= 20.0, "{lookup:?}");
    for turn in &run.turns {
        let components: f64 = turn.components.iter().map(|c| c.duration_ms).sum();
        assert!(components <= turn.duration_ms, "{turn:?}");
    }
}
