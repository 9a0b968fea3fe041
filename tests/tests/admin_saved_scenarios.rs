#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Scenarios saved with a bot (docs/test-runner.md, "Saved scenarios") through the admin API:
//! saved only once the runner's parser takes them, names unique per bot, a bound per bot, and
//! runs that mix saved and typed scenarios (botctl's `--saved` too); past runs listed with
//! their counts.

use std::time::Duration;

use e2e::{AdminHarness, BOOTSTRAP_TOKEN as TOKEN};
use reqwest::Method;
use serde_json::{json, Value};

const GREETS: &str = "name: greets and asks the name
start:
  expect: {state: ask_name}
turns:
  - text: Ada
    expect: {state: main_menu, variables: {customer_name: {equals: Ada}}}
";

const OPENING_HOURS: &str = "name: opening hours
channels: [api]
start: {variables: {customer_name: Ada}, expect: {state: main_menu}}
turns:
  - option: component_id_abc
    expect: {reached: [opening_hours], state: main_menu}
";

async fn save(h: &AdminHarness, bot: i64, name: &str, yaml: &str) -> (u16, Value) {
    h.post(
        &format!("/v1/bots/{bot}/scenarios"),
        TOKEN,
        &json!({"name": name, "yaml": yaml}),
    )
    .await
}

/// botctl as the bootstrap operator: exit code, standard output and standard error.
async fn botctl(h: &AdminHarness, args: &[&str]) -> (i32, String, String) {
    let mut argv: Vec<String> = vec!["botctl".into(), "--url".into(), h.base_url.clone()];
    argv.extend(["--token".into(), TOKEN.into()]);
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = botctl::run(argv, &mut out, &mut err).await;
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

async fn replace(
    h: &AdminHarness,
    scenarios: &str,
    id: i64,
    name: &str,
    yaml: &str,
) -> (u16, Value) {
    let body = json!({"name": name, "yaml": yaml});
    h.call(
        Method::PUT,
        &format!("{scenarios}/{id}"),
        TOKEN,
        Some(&body),
    )
    .await
}

async fn finished_run(h: &AdminHarness, id: i64) -> Value {
    for _ in 0..300 {
        let (status, run) = h.get(&format!("/v1/test-runs/{id}"), TOKEN).await;
        assert_eq!(status, 200, "{run}");
        if run["status"] != "running" {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {id} did not finish within 30 s");
}

#[tokio::test]
async fn saved_scenarios_are_checked_named_uniquely_bounded_and_run_with_typed_ones() {
    let h = AdminHarness::start().await;
    let bot = h.published_demo_bot(TOKEN, "Saved scenarios bot").await;
    let scenarios = format!("/v1/bots/{bot}/scenarios");

    let (status, greets) = save(&h, bot, "greets.yaml", GREETS).await;
    assert_eq!(status, 201, "{greets}");
    assert_eq!(greets["yaml"], GREETS);
    assert_eq!(greets["bot_id"], bot);
    let greets_id = greets["id"].as_i64().unwrap();
    let (status, hours) = save(&h, bot, "  Opening hours  ", OPENING_HOURS).await;
    assert_eq!(status, 201, "{hours}");
    assert_eq!(hours["name"], "Opening hours", "the name is trimmed");
    let hours_id = hours["id"].as_i64().unwrap();

    // Listed by name, case-insensitive, without their text; one read with it.
    let (status, list) = h.get(&scenarios, TOKEN).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["greets.yaml", "Opening hours"]);
    assert!(list["scenarios"][0].get("yaml").is_none(), "{list}");
    let (status, read) = h.get(&format!("{scenarios}/{hours_id}"), TOKEN).await;
    assert_eq!((status, &read["yaml"]), (200, &json!(OPENING_HOURS)));

    // Refused: a YAML the parser does not take (naming the problem), a bad name, a taken one.
    let (status, refused) = save(
        &h,
        bot,
        "two inputs",
        "name: x\nturns:\n  - {text: a, option: b}\n",
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_scenario");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("exactly one of text, option"), "{message}");
    let (status, refused) = save(&h, bot, "typo", "name: x\nturnz: []\n").await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("turnz"),
        "{refused}"
    );
    let (status, refused) = save(&h, bot, "   ", GREETS).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (422, &json!("invalid_field"))
    );
    let (status, refused) = save(&h, bot, "greets.yaml", OPENING_HOURS).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (409, &json!("name_taken"))
    );

    // Replaced: name and text; not onto another's name; nothing else changed by a refusal.
    let (status, replaced) = replace(&h, &scenarios, hours_id, "hours.yaml", OPENING_HOURS).await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["name"], "hours.yaml");
    assert_ne!(replaced["updated_at"], hours["updated_at"]);
    let (status, refused) = replace(&h, &scenarios, hours_id, "greets.yaml", OPENING_HOURS).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (409, &json!("name_taken"))
    );
    let (status, refused) = replace(&h, &scenarios, hours_id, "hours.yaml", "turns: 3\n").await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (422, &json!("invalid_scenario"))
    );
    let (_, read) = h.get(&format!("{scenarios}/{hours_id}"), TOKEN).await;
    assert_eq!(
        (&read["name"], &read["yaml"]),
        (&json!("hours.yaml"), &json!(OPENING_HOURS))
    );

    // Another account sees none of it; another bot's scenario is not this bot's.
    let other = h.new_account("someone else").await;
    let (status, _) = h.get(&scenarios, &other).await;
    assert_eq!(status, 404);
    let (status, _) = h.get(&format!("{scenarios}/{greets_id}"), &other).await;
    assert_eq!(status, 404);
    let second = h.published_demo_bot(TOKEN, "Second bot").await;
    let (status, _) = h
        .get(&format!("/v1/bots/{second}/scenarios/{greets_id}"), TOKEN)
        .await;
    assert_eq!(status, 404);

    // One run of both saved scenarios and a typed one, on the API: saved first, in order.
    let (status, run) = h
        .post(
            &format!("/v1/bots/{bot}/test-runs"),
            TOKEN,
            &json!({"scenario_ids": [hours_id, greets_id], "channel": "api",
                    "scenarios": [{"name": "typed.yaml", "yaml": "name: typed\nturns: []\n"}]}),
        )
        .await;
    assert_eq!(status, 202, "{run}");
    assert_eq!(
        run["scenarios"],
        json!(["hours.yaml", "greets.yaml", "typed.yaml"])
    );
    let run = finished_run(&h, run["id"].as_i64().unwrap()).await;
    assert_eq!(run["status"], "passed", "{run}");
    let ran: Vec<&str> = run["result"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(ran, ["opening hours", "greets and asks the name", "typed"]);
    assert_eq!(
        run["summary"],
        json!({"total": 3, "passed": 3, "failed": 0, "not_finished": 0})
    );
    let coverage = &run["result"]["coverage"];
    assert!(
        coverage["components_never_visited"]
            .as_array()
            .unwrap()
            .contains(&json!("contact")),
        "{coverage}"
    );

    // A saved id that is not this bot's is refused before anything runs.
    for ids in [json!([987_654_321]), json!([greets_id, 987_654_321])] {
        let (status, refused) = h
            .post(
                &format!("/v1/bots/{second}/test-runs"),
                TOKEN,
                &json!({"scenario_ids": ids}),
            )
            .await;
        assert_eq!(
            (status, &refused["error"]["code"]),
            (422, &json!("unknown_scenario")),
            "{refused}"
        );
    }
    let (status, refused) = h
        .post(&format!("/v1/bots/{bot}/test-runs"), TOKEN, &json!({}))
        .await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (422, &json!("invalid_field"))
    );

    // Past runs: newest first with their counts and scenario names, `limit` in the query.
    let (status, run2) = h
        .post(
            &format!("/v1/bots/{bot}/test-runs"),
            TOKEN,
            &json!({"scenario_ids": [greets_id], "channel": "api"}),
        )
        .await;
    assert_eq!(status, 202, "{run2}");
    finished_run(&h, run2["id"].as_i64().unwrap()).await;
    let (status, runs) = h.get(&format!("/v1/bots/{bot}/test-runs"), TOKEN).await;
    assert_eq!(status, 200, "{runs}");
    let listed = runs["runs"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], run2["id"]);
    assert_eq!(listed[0]["scenarios"], json!(["greets.yaml"]));
    assert_eq!(listed[1]["summary"]["total"], 3);
    assert!(listed[1]["result"].is_null(), "lists carry no timelines");
    let (status, one) = h
        .get(&format!("/v1/bots/{bot}/test-runs?limit=1"), TOKEN)
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["runs"].as_array().unwrap().len(), 1);

    // botctl runs saved scenarios by id, and lists runs with their counts.
    let (code, out, err) = botctl(
        &h,
        &[
            "test",
            "run",
            "--saved",
            &greets_id.to_string(),
            "--bot",
            &bot.to_string(),
            "--channel",
            "api",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("✓ greets and asks the name [api] passed"),
        "{out}"
    );
    let (code, out, err) = botctl(&h, &["test", "list", "--bot", &bot.to_string()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("PASSED") && out.contains("3/3"), "{out}");

    // Deleted once; the run that used it keeps its result.
    let (status, _) = h.delete(&format!("{scenarios}/{greets_id}"), TOKEN).await;
    assert_eq!(status, 204);
    let (status, _) = h.delete(&format!("{scenarios}/{greets_id}"), TOKEN).await;
    assert_eq!(status, 404);
    let (status, _) = h.get(&format!("{scenarios}/{greets_id}"), TOKEN).await;
    assert_eq!(status, 404);
    let (_, kept) = h.get(&format!("/v1/test-runs/{}", run["id"]), TOKEN).await;
    assert_eq!(kept["summary"]["total"], 3);
    h.stop().await;
}

#[tokio::test]
async fn a_bot_keeps_at_most_two_hundred_saved_scenarios() {
    let h = AdminHarness::start().await;
    let bot = h.published_demo_bot(TOKEN, "Full bot").await;
    for n in 0..200 {
        let (status, body) = save(&h, bot, &format!("s{n:03}"), GREETS).await;
        assert_eq!(status, 201, "{n}: {body}");
    }
    let (status, refused) = save(&h, bot, "one too many", GREETS).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "too_many_saved_scenarios");
    let (_, list) = h.get(&format!("/v1/bots/{bot}/scenarios"), TOKEN).await;
    assert_eq!(list["scenarios"].as_array().unwrap().len(), 200);
    // Another bot has its own bound.
    let other = h.published_demo_bot(TOKEN, "Empty bot").await;
    let (status, _) = save(&h, other, "first", GREETS).await;
    assert_eq!(status, 201);
    h.stop().await;
}
