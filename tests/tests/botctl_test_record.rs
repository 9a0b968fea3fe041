#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `botctl test record`: a real conversation over the API (gateway → broker → executor),
//! recorded as a scenario file, then run with `botctl test run` and passing; only the newest
//! conversation under the session id is recorded, refused turns are left out, another
//! account's integration and an unknown conversation answer 404.

use e2e::{Platform, BOOTSTRAP_TOKEN as TOKEN};
use serde_json::{json, Value};

struct Run {
    code: i32,
    out: String,
    err: String,
}

async fn botctl_as(p: &Platform, token: &str, args: &[&str]) -> Run {
    let mut argv: Vec<String> = vec!["botctl".into(), "--url".into(), p.admin.base_url.clone()];
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

async fn ok(p: &Platform, path: &str, key: &str, body: Value) -> Value {
    let (status, answer) = p.api(path, key, &body).await;
    assert_eq!(status, 200, "{path} {body}: {answer}");
    answer
}

#[tokio::test]
async fn a_real_api_conversation_is_recorded_and_replays_passing() {
    let p = Platform::start().await;
    let i = p.demo_integration("Recorded", false).await;
    let base = format!("/{}/session", i.id);
    let msg = format!("{base}/rec-1/message/");

    // A first conversation under the same id, abandoned and started over: not recorded.
    ok(
        &p,
        &format!("{base}/"),
        &i.key,
        json!({"session_id": "rec-1"}),
    )
    .await;
    ok(&p, &msg, &i.key, json!({"message": "Bob"})).await;
    ok(
        &p,
        &format!("{base}/"),
        &i.key,
        json!({"session_id": "rec-1", "force_restart": true}),
    )
    .await;
    ok(&p, &msg, &i.key, json!({"message": "Ada"})).await;
    // Refused before the flow ran (422): changes nothing, left out of the recording.
    let (status, _) = p
        .api(&msg, &i.key, &json!({"selected_option_id": "nope"}))
        .await;
    assert_eq!(status, 422);
    ok(
        &p,
        &msg,
        &i.key,
        json!({"selected_option_id": "component_id_xyz"}),
    )
    .await;
    ok(&p, &msg, &i.key, json!({"message": "funghi"})).await;
    ok(&p, &msg, &i.key, json!({"message": "two"})).await;
    ok(&p, &msg, &i.key, json!({"message": "2"})).await;
    ok(&p, &msg, &i.key, json!({"message": "+49 170 1234567"})).await;
    let last = ok(
        &p,
        &msg,
        &i.key,
        json!({"selected_option_id": "order_confirm"}),
    )
    .await;
    assert_eq!(last["is_final"], true, "{last}");

    let file = std::env::temp_dir().join(format!("recorded-{}.yaml", std::process::id()));
    let file_arg = file.to_str().unwrap().to_owned();
    let integration = i.id.to_string();
    let recorded = botctl_as(
        &p,
        TOKEN,
        &[
            "test",
            "record",
            "--integration",
            &integration,
            "--conversation",
            "rec-1",
            "-o",
            &file_arg,
        ],
    )
    .await;
    assert_eq!(recorded.code, 0, "{}\n{}", recorded.out, recorded.err);
    assert!(
        recorded
            .out
            .contains("Recorded 8 turn(s) on api, bot version 1 (run it with --version 1)."),
        "{}",
        recorded.out
    );
    let yaml = std::fs::read_to_string(&file).unwrap();
    assert!(!yaml.contains("Bob"), "{yaml}");
    assert!(!yaml.contains("nope"), "{yaml}");
    for part in [
        "channels:\n- api",
        "option: component_id_xyz",
        "text: funghi",
        "exact: Hi Ada! What would you like to do?",
        "state: ask_quantity",
        "is_final: true",
    ] {
        assert!(yaml.contains(part), "{part:?} missing in\n{yaml}");
    }

    let bot = i.bot_id.to_string();
    let run = botctl_as(
        &p,
        TOKEN,
        &["test", "run", &file_arg, "--bot", &bot, "--version", "1"],
    )
    .await;
    let _ = std::fs::remove_file(&file);
    assert_eq!(run.code, 0, "{}\n{}\n{yaml}", run.out, run.err);
    assert!(run.out.contains("1 passed, 0 failed"), "{}", run.out);

    // Without -o the scenario goes to stdout, with what is said about it as YAML comments.
    let printed = botctl_as(
        &p,
        TOKEN,
        &[
            "test",
            "record",
            "--integration",
            &integration,
            "--conversation",
            "rec-1",
        ],
    )
    .await;
    assert_eq!(printed.code, 0, "{}", printed.err);
    assert!(printed.out.starts_with(&yaml), "{}", printed.out);
    assert!(
        printed.out.contains("\n# Recorded 8 turn(s)"),
        "{}",
        printed.out
    );

    // An unknown conversation, and another account's integration: 404.
    let unknown = botctl_as(
        &p,
        TOKEN,
        &[
            "test",
            "record",
            "--integration",
            &integration,
            "--conversation",
            "nobody",
        ],
    )
    .await;
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.err.contains("EVENT_HISTORY_RETENTION_HOURS"),
        "{}",
        unknown.err
    );
    let intruder = p.admin.new_account("Intruder").await;
    let (status, body) = p
        .admin
        .get(
            &format!("/v1/integrations/{}/conversations/rec-1/scenario", i.id),
            &intruder,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["message"], "integration not found");
}
