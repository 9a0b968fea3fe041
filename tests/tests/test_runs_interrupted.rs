#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Test runs left `running` by an admin process that stopped: when an admin starts (and
//! periodically), a running run whose owner has not marked it alive for a minute ends
//! `interrupted`, and the sandboxes stopped processes left behind are removed (with what
//! hung off them). A run another live replica plays (fresh heartbeat) is left alone, and so
//! is a sandbox young enough to belong to a run in progress.

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use e2e::{AdminHarness, BOOTSTRAP_TOKEN as TOKEN};
use store::integrations::IntegrationKind;
use store::sandbox::NewSandbox;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

async fn run_row(conn: &mut AsyncPgConnection, bot: i64, heartbeat_ago: &str) -> i64 {
    let row: Id = diesel::sql_query(format!(
        "INSERT INTO test_runs (account_id, bot_id, status, request, owner, heartbeat_at) \
         SELECT account_id, id, 'running', '{{}}', 'a-stopped-process', \
                now() - interval '{heartbeat_ago}' \
         FROM bots WHERE id = $1 RETURNING id"
    ))
    .bind::<diesel::sql_types::BigInt, _>(bot)
    .get_result(conn)
    .await
    .unwrap();
    row.id
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    let row: Id = diesel::sql_query(format!("SELECT ({sql}) AS id"))
        .get_result(conn)
        .await
        .unwrap();
    row.id
}

#[tokio::test]
async fn runs_of_a_stopped_admin_end_interrupted_and_their_sandboxes_go() {
    let mut h = AdminHarness::start().await;
    let bot = h.published_demo_bot(TOKEN, "Interrupted").await;
    let mut conn = AsyncPgConnection::establish(h.db.url()).await.unwrap();
    let orphaned = run_row(&mut conn, bot, "5 minutes").await;
    let alive = run_row(&mut conn, bot, "1 second").await;

    // A sandbox a stopped process left behind, with a session on it, and a fresh one.
    let store = store::Store::connect(&(&h.database_config()).into())
        .await
        .unwrap();
    let account: Id = diesel::sql_query("SELECT account_id AS id FROM bots WHERE id = $1")
        .bind::<diesel::sql_types::BigInt, _>(bot)
        .get_result(&mut conn)
        .await
        .unwrap();
    let sandbox = |number: &'static str| NewSandbox {
        account: contracts::AccountId::new(account.id).unwrap(),
        bot: contracts::BotId::new(bot).unwrap(),
        version: None,
        draft: false,
        kind: IntegrationKind::Api,
        phone_number_id: number,
        template: None,
    };
    let (left, _) = store
        .create_sandbox_integration(&sandbox("sandbox-left"))
        .await
        .unwrap();
    let (young, _) = store
        .create_sandbox_integration(&sandbox("sandbox-young"))
        .await
        .unwrap();
    diesel::sql_query(format!(
        "UPDATE integrations SET created_at = now() - interval '10 minutes' WHERE id = {left}"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query(format!(
        "INSERT INTO sessions (integration_id, session_id, user_identifier, bot_id, \
         bot_version, state) VALUES ({left}, 's', 's', {bot}, 1, '{{}}')"
    ))
    .execute(&mut conn)
    .await
    .unwrap();

    // An admin starts (here: the same one, restarted): it sweeps at once.
    let key = h.deployment_key.clone();
    h.restart_with_key(key).await;

    let (status, run) = h.get(&format!("/v1/test-runs/{orphaned}"), TOKEN).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "interrupted", "{run}");
    assert!(run["finished_at"].is_string(), "{run}");
    assert!(run["result"].is_null(), "{run}");
    let (_, run) = h.get(&format!("/v1/test-runs/{alive}"), TOKEN).await;
    assert_eq!(run["status"], "running", "{run}");
    assert_eq!(
        count(
            &mut conn,
            &format!("SELECT count(*) FROM integrations WHERE id = {left}")
        )
        .await,
        0
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM sessions").await, 0);
    assert_eq!(
        count(
            &mut conn,
            &format!("SELECT count(*) FROM integrations WHERE id = {young}")
        )
        .await,
        1
    );
    // The list shows it too.
    let (_, list) = h.get(&format!("/v1/bots/{bot}/test-runs"), TOKEN).await;
    let statuses: Vec<_> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["running", "interrupted"]);
}
