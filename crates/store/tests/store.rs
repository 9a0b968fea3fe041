#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The store against a real PostgreSQL: one fresh database per test.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use store::accounts::NewToken;
use store::bots::{BotChanges, NewBot};
use store::integrations::{
    DetailChanges, IntegrationChanges, IntegrationDetails, NewApiDetails, NewIntegration,
    NewWhatsappDetails, WhatsappChanges,
};
use store::StoreError;

mod common;

use common::{account, fresh};

fn flow(text: &str) -> serde_json::Value {
    json!({"start": "hello", "components": [{"id": "hello", "type": "end", "text": text}]})
}

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_match_the_schema() {
    let (db, store) = fresh().await;
    store.ping().await.unwrap();
    // Running them again is a no-op.
    store::run_migrations(db.url()).await.unwrap();

    // Every table's columns as diesel knows them can be read back with the declared types.
    let mut conn = diesel_async::AsyncPgConnection::establish_for_test(db.url()).await;
    let tables: Vec<String> = diesel::sql_query(
        "SELECT table_name AS name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations' \
         ORDER BY 1",
    )
    .load::<NameRow>(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|row| row.name)
    .collect();
    assert_eq!(
        tables,
        [
            "accounts",
            "alert_throttle",
            "api_integrations",
            "bot_versions",
            "bots",
            "dead_letters",
            "digest_key_chain",
            "idempotency_keys",
            "integrations",
            "operator_tokens",
            "outbound_batches",
            "outbound_messages",
            "processed_events",
            "rate_limit_buckets",
            "saved_scenarios",
            "sessions",
            "shard_leases",
            "shard_members",
            "test_runs",
            "webhook_receipts",
            "whatsapp_integrations"
        ]
    );
    select_all_declared_columns(&mut conn).await;
}

/// Selects every column diesel declares, so a renamed or missing column fails here.
async fn select_all_declared_columns(conn: &mut diesel_async::AsyncPgConnection) {
    macro_rules! touch {
        ($($table:ident),*) => {$(
            store::schema::$table::table
                .select(store::schema::$table::all_columns)
                .limit(0)
                .execute(conn)
                .await
                .unwrap_or_else(|err| panic!("table {}: {err}", stringify!($table)));
        )*};
    }
    touch!(
        accounts,
        operator_tokens,
        bots,
        bot_versions,
        integrations,
        api_integrations,
        whatsapp_integrations,
        sessions,
        processed_events,
        idempotency_keys
    );
}

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

trait EstablishForTest {
    async fn establish_for_test(url: &str) -> Self;
}

impl EstablishForTest for diesel_async::AsyncPgConnection {
    async fn establish_for_test(url: &str) -> Self {
        use diesel_async::AsyncConnection;
        diesel_async::AsyncPgConnection::establish(url)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn bootstrap_is_idempotent_and_tokens_authenticate() {
    let (_db, store) = fresh().await;
    let token = NewToken {
        name: "bootstrap",
        digest: b"boot-digest",
        hint: "wxyz",
    };
    let (first, created) = store.bootstrap_account("default", token).await.unwrap();
    assert!(created);
    assert!(first.is_platform_admin);
    let again = NewToken {
        name: "bootstrap",
        digest: b"boot-digest",
        hint: "wxyz",
    };
    let (second, created) = store.bootstrap_account("default", again).await.unwrap();
    assert!(!created);
    assert_eq!(first.id, second.id);

    let (found, token_id) = store
        .authenticate_token(b"boot-digest")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, first.id);
    assert!(store.authenticate_token(b"other").await.unwrap().is_none());

    store.revoke_token(first.id, token_id).await.unwrap();
    assert!(store
        .authenticate_token(b"boot-digest")
        .await
        .unwrap()
        .is_none());
    let other = account(&store, "other").await;
    assert!(matches!(
        store.revoke_token(other, token_id).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn published_versions_are_immutable_snapshots() {
    let (db, store) = fresh().await;
    let acc = account(&store, "acme").await;
    let vars = json!([{"name": "city", "default": null}]);
    let bot = store
        .create_bot(
            acc,
            NewBot {
                name: "Weather",
                variables: &vars,
                draft_flow: &flow("v1"),
            },
        )
        .await
        .unwrap();
    assert_eq!(bot.latest_version, None);

    let v1 = store
        .publish_bot(acc, bot.id, bot.draft_revision)
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    let edited = store
        .update_bot(
            acc,
            bot.id,
            BotChanges {
                draft_flow: Some(flow("v2")),
                ..BotChanges::default()
            },
        )
        .await
        .unwrap();
    // Publishing the revision that was validated before the edit is refused.
    assert!(matches!(
        store.publish_bot(acc, bot.id, bot.draft_revision).await,
        Err(StoreError::Concurrent)
    ));
    let v2 = store
        .publish_bot(acc, bot.id, edited.draft_revision)
        .await
        .unwrap();
    assert_eq!(v2.version, 2);

    let versions = store.list_versions(acc, bot.id).await.unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].flow, flow("v1"));
    assert_eq!(versions[1].flow, flow("v2"));
    assert_eq!(versions[0], v1);
    assert_eq!(store.get_version(acc, bot.id, 2).await.unwrap(), v2);

    // The database itself refuses to change a published version.
    let mut conn = diesel_async::AsyncPgConnection::establish_for_test(db.url()).await;
    let tampered = diesel::sql_query("UPDATE bot_versions SET flow = '{}'::jsonb")
        .execute(&mut conn)
        .await;
    assert!(tampered.is_err());

    // Another account sees nothing.
    let other = account(&store, "other").await;
    assert!(matches!(
        store.get_bot(other, bot.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.list_versions(other, bot.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .publish_bot(other, bot.id, edited.draft_revision)
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn published_bots_list_alphabetically() {
    let (_db, store) = fresh().await;
    let acc = account(&store, "acme").await;
    let vars = json!([]);
    for name in ["zeta", "Alpha", "beta", "unpublished"] {
        let bot = store
            .create_bot(
                acc,
                NewBot {
                    name,
                    variables: &vars,
                    draft_flow: &flow(name),
                },
            )
            .await
            .unwrap();
        if name != "unpublished" {
            store
                .publish_bot(acc, bot.id, bot.draft_revision)
                .await
                .unwrap();
        }
    }
    let names = |bots: Vec<store::bots::Bot>| bots.into_iter().map(|b| b.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_bots(acc, true).await.unwrap()),
        ["Alpha", "beta", "zeta"]
    );
    assert_eq!(
        names(store.list_bots(acc, false).await.unwrap()),
        ["Alpha", "beta", "unpublished", "zeta"]
    );
    // Names are unique per account.
    let dup = store
        .create_bot(
            acc,
            NewBot {
                name: "zeta",
                variables: &vars,
                draft_flow: &flow("x"),
            },
        )
        .await;
    assert_eq!(
        dup.unwrap_err().constraint(),
        Some("bots_account_name_unique")
    );
}

fn whatsapp(phone: &str, verify_digest: &[u8]) -> NewWhatsappDetails {
    NewWhatsappDetails {
        business_account_id: "102290129340398".into(),
        phone_number_id: phone.into(),
        app_id: "app".into(),
        app_secret_sealed: vec![1, 2, 3],
        access_token_sealed: vec![4, 5, 6],
        access_token_expires_at: None,
        verify_token_sealed: vec![7, 8, 9],
        verify_token_digest: verify_digest.to_vec(),
        api_version: "v21.0".into(),
        conversation_expiry_seconds: Some(3600),
        template_name: None,
        template_language: None,
        trigger_recipients: vec!["15551234567".into()],
    }
}

#[tokio::test]
async fn integrations_enforce_their_rules() {
    let (_db, store) = fresh().await;
    let acc = account(&store, "acme").await;
    let vars = json!([]);
    let bot = store
        .create_bot(
            acc,
            NewBot {
                name: "b",
                variables: &vars,
                draft_flow: &flow("x"),
            },
        )
        .await
        .unwrap();
    let common = |bot_id| NewIntegration {
        name: "support",
        bot_id,
        alert_email_enabled: false,
        alert_email: None,
    };
    let api = || NewApiDetails {
        key_digest: b"key-digest",
        key_hint: "0hI",
        variable_injection: true,
        rate_limit_per_minute: 600,
    };
    // An unpublished bot cannot be connected.
    assert!(matches!(
        store
            .create_api_integration(acc, common(Some(bot.id)), api())
            .await,
        Err(StoreError::Rule("bot_not_published"))
    ));
    store
        .publish_bot(acc, bot.id, bot.draft_revision)
        .await
        .unwrap();
    let created = store
        .create_api_integration(acc, common(Some(bot.id)), api())
        .await
        .unwrap();
    assert!(!created.active);
    assert_eq!(created.bot_name.as_deref(), Some("b"));
    match &created.details {
        IntegrationDetails::Api(details) => {
            assert_eq!(details.key_digest, b"key-digest");
            assert!(details.variable_injection);
        }
        other => panic!("expected api details, got {other:?}"),
    }
    let active = store
        .set_integration_active(acc, created.id, true)
        .await
        .unwrap();
    assert!(active.active);

    // WhatsApp: one active integration per phone number id, verify tokens unique.
    let first_id = store.allocate_integration_id().await.unwrap();
    let first = store
        .create_whatsapp_integration(acc, first_id, common(Some(bot.id)), whatsapp("111", b"v1"))
        .await
        .unwrap();
    assert_eq!(first.id, first_id);
    let second_id = store.allocate_integration_id().await.unwrap();
    let duplicate_verify = store
        .create_whatsapp_integration(acc, second_id, common(Some(bot.id)), whatsapp("111", b"v1"))
        .await;
    assert_eq!(
        duplicate_verify.unwrap_err().constraint(),
        Some("whatsapp_verify_token_unique")
    );
    let second = store
        .create_whatsapp_integration(acc, second_id, common(Some(bot.id)), whatsapp("111", b"v2"))
        .await
        .unwrap();
    store
        .set_integration_active(acc, first.id, true)
        .await
        .unwrap();
    assert_eq!(
        store
            .set_integration_active(acc, second.id, true)
            .await
            .unwrap_err()
            .constraint(),
        Some("whatsapp_one_active_per_phone_number")
    );
    let serving = store
        .find_active_whatsapp_integration("111")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(serving.id, first.id);
    store
        .set_integration_active(acc, first.id, false)
        .await
        .unwrap();
    store
        .set_integration_active(acc, second.id, true)
        .await
        .unwrap();
    // Moving the active one to another number frees the first number.
    store
        .update_integration(
            acc,
            second.id,
            IntegrationChanges::default(),
            DetailChanges::Whatsapp(Box::new(WhatsappChanges {
                phone_number_id: Some("222".into()),
                ..WhatsappChanges::default()
            })),
        )
        .await
        .unwrap();
    assert!(store
        .find_active_whatsapp_integration("111")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .find_active_whatsapp_integration("222")
            .await
            .unwrap()
            .unwrap()
            .id,
        second.id
    );

    let listed = store.list_integrations(acc).await.unwrap();
    assert_eq!(listed.len(), 3);

    // A connected bot cannot be deleted; another account cannot see or delete anything.
    assert_eq!(
        store
            .delete_bot(acc, bot.id)
            .await
            .unwrap_err()
            .constraint(),
        Some("integrations_bot_id_fkey")
    );
    let other = account(&store, "other").await;
    assert!(store.list_integrations(other).await.unwrap().is_empty());
    assert!(matches!(
        store.delete_integration(other, first.id).await,
        Err(StoreError::NotFound)
    ));
    store.delete_integration(acc, first.id).await.unwrap();
    assert!(matches!(
        store.get_integration(acc, first.id).await,
        Err(StoreError::NotFound)
    ));
}

/// The pool checks out a connection in steady use without a test query (one round trip less
/// per statement) and verifies one that sat idle, so a connection whose server went away must
/// still never be handed out again: after every backend of the database is terminated (what a
/// PostgreSQL restart does to the pool), right away and after the pool sat idle, each call
/// either succeeds on a new connection or fails as `Unavailable` (an outage, which callers
/// wait out), and the store is whole again by the next call.
#[tokio::test]
async fn connections_whose_server_went_away_are_replaced_not_reused() {
    let (db, store) = common::fresh_with(2).await;
    let acc = account(&store, "acme").await;
    let mut admin = diesel_async::AsyncPgConnection::establish_for_test(db.url()).await;
    for idle in [Duration::from_millis(100), Duration::from_millis(1_500)] {
        // Both pooled connections used at once, so both exist.
        let (a, b) = tokio::join!(store.list_bots(acc, false), store.list_bots(acc, false));
        a.unwrap();
        b.unwrap();
        let terminated: Vec<TerminatedRow> = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .load(&mut admin)
        .await
        .unwrap();
        assert_eq!(terminated.len(), 2, "both pooled connections were open");
        tokio::time::sleep(idle).await;

        let mut outcomes = Vec::new();
        for _ in 0..4 {
            match store.list_bots(acc, false).await {
                Ok(_) => outcomes.push("ok"),
                Err(StoreError::Unavailable(_)) => outcomes.push("unavailable"),
                Err(other) => panic!("a dead connection surfaced as {other:?} after {idle:?}"),
            }
        }
        assert_eq!(outcomes.last(), Some(&"ok"), "after {idle:?}: {outcomes:?}");
        assert!(
            outcomes.iter().filter(|o| **o == "unavailable").count() <= 2,
            "after {idle:?}: {outcomes:?}"
        );
    }
}

#[derive(QueryableByName)]
struct TerminatedRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    #[allow(dead_code)]
    terminated: bool,
}

/// `store::prepared` statements are prepared once per connection and reused (the point of
/// them: no parse and plan per turn), where `diesel::sql_query` prepares none.
#[tokio::test]
async fn prepared_statements_are_parsed_once_per_connection() {
    #[derive(QueryableByName)]
    struct Sum {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let db = testkit::database::TestDatabase::create().await.unwrap();
    let mut conn = diesel_async::AsyncPgConnection::establish_for_test(db.url()).await;
    let text = "SELECT $1::bigint + $1 + $2 AS n";
    for round in 0..3_i64 {
        let sum: Sum = store::prepared::prepared(text)
            .bind::<diesel::sql_types::BigInt, _>(round)
            .bind::<diesel::sql_types::BigInt, _>(10_i64)
            .get_result(&mut conn)
            .await
            .unwrap();
        assert_eq!(sum.n, 2 * round + 10);
        let _: Sum = diesel::sql_query("SELECT $1::bigint AS n")
            .bind::<diesel::sql_types::BigInt, _>(round)
            .get_result(&mut conn)
            .await
            .unwrap();
    }
    let prepared_here = |pattern: &'static str| {
        diesel::sql_query(
            "SELECT count(*) AS count FROM pg_prepared_statements WHERE statement LIKE $1",
        )
        .bind::<diesel::sql_types::Text, _>(pattern)
    };
    let ours: Count = prepared_here("SELECT $1::bigint + $2 + $3 AS n")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(ours.count, 1, "one prepared statement, used three times");
    let plain: Count = prepared_here("SELECT $1::bigint AS n")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(plain.count, 0, "sql_query prepares nothing to reuse");
}
