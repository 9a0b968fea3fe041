#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Dead letters against a real PostgreSQL: recording is idempotent per event, lists and reads
//! are account-scoped, replayed and discarded letters behave as the admin API promises.

use chrono::{TimeZone, Utc};
use contracts::AccountId;
use serde_json::json;
use store::dead_letters::{DeadLetterStatus, LetterFilter, LetterScope, NewDeadLetter};
use store::integrations::{NewApiDetails, NewIntegration};
use store::{Store, StoreError};

mod common;

use common::fresh;

/// An account with one API integration; returns both ids.
async fn tenant(store: &Store, name: &str) -> (AccountId, i64) {
    let account = common::account(store, name).await;
    let integration = store
        .create_api_integration(
            account,
            NewIntegration {
                name: "api",
                bot_id: None,
                alert_email_enabled: false,
                alert_email: None,
            },
            NewApiDetails {
                key_digest: format!("key-of-{name}").as_bytes(),
                key_hint: "abcd",
                variable_injection: false,
                rate_limit_per_minute: 60,
            },
        )
        .await
        .unwrap();
    (account, integration.id.get())
}

fn letter<'a>(event_id: &'a str, integration: Option<i64>, reason: &'a str) -> NewDeadLetter<'a> {
    NewDeadLetter {
        event_id,
        integration_id: integration,
        conversation_key: Some("7:s1"),
        source_queue: "bot.inbound.1",
        exchange: "bot.inbound",
        routing_key: "7:s1",
        body: br#"{"schema":"v1"}"#,
        headers: json!({"message_id": event_id}),
        reason,
        attempts: 6,
        first_attempt_at: Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap(),
        last_attempt_at: Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 30).unwrap(),
    }
}

fn mine(account: AccountId) -> LetterScope {
    LetterScope {
        account,
        unowned: false,
    }
}

fn all(limit: i64) -> LetterFilter {
    LetterFilter {
        limit,
        ..LetterFilter::default()
    }
}

#[tokio::test]
async fn a_letter_is_recorded_once_per_event_and_found_by_its_account_only() {
    let (_db, store) = fresh().await;
    let (acme, acme_api) = tenant(&store, "acme").await;
    let (other, _) = tenant(&store, "other").await;

    let id = store
        .record_dead_letter(&letter("e1", Some(acme_api), "delivery limit"))
        .await
        .unwrap();
    // The drain seeing the same dead-lettering again changes nothing but what it says.
    let again = store
        .record_dead_letter(&letter("e1", Some(acme_api), "delivery limit"))
        .await
        .unwrap();
    assert_eq!(again, id);

    let found = store.get_dead_letter(mine(acme), id).await.unwrap();
    assert_eq!(found.summary.account_id, Some(acme.get()));
    assert_eq!(found.summary.integration_id, Some(acme_api));
    assert_eq!(found.summary.attempts, 6);
    assert_eq!(found.summary.status(), DeadLetterStatus::Dead);
    assert_eq!(found.summary.exchange, "bot.inbound");
    assert_eq!(found.summary.routing_key, "7:s1");
    assert_eq!(found.body, br#"{"schema":"v1"}"#);
    assert_eq!(found.headers["message_id"], "e1");
    assert_eq!(store.count_dead_letters().await.unwrap(), 1);

    // Another account sees nothing and can change nothing.
    assert!(matches!(
        store.get_dead_letter(mine(other), id).await,
        Err(StoreError::NotFound)
    ));
    assert!(store
        .list_dead_letters(mine(other), &all(10))
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.mark_dead_letter_replayed(mine(other), id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.discard_dead_letter(mine(other), id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .get_dead_letter(mine(acme), id)
            .await
            .unwrap()
            .summary
            .status(),
        DeadLetterStatus::Dead
    );
}

#[tokio::test]
async fn a_replayed_letter_that_fails_again_is_dead_again_with_its_attempts_added_up() {
    let (_db, store) = fresh().await;
    let (acme, api) = tenant(&store, "acme").await;
    let id = store
        .record_dead_letter(&letter("e1", Some(api), "rejected"))
        .await
        .unwrap();
    let replayed = store
        .mark_dead_letter_replayed(mine(acme), id)
        .await
        .unwrap();
    assert_eq!(replayed.status(), DeadLetterStatus::Replayed);
    assert!(replayed.replayed_at.is_some());
    assert_eq!(store.count_dead_letters().await.unwrap(), 0);

    let mut later = letter("e1", Some(api), "invalid text");
    later.attempts = 3;
    later.first_attempt_at = Utc.with_ymd_and_hms(2026, 11, 30, 11, 0, 0).unwrap();
    later.last_attempt_at = Utc.with_ymd_and_hms(2026, 11, 30, 11, 0, 5).unwrap();
    assert_eq!(store.record_dead_letter(&later).await.unwrap(), id);
    let dead = store.get_dead_letter(mine(acme), id).await.unwrap().summary;
    assert_eq!(dead.status(), DeadLetterStatus::Dead);
    assert_eq!(dead.reason, "invalid text");
    assert_eq!(dead.attempts, 9);
    assert_eq!(
        dead.first_attempt_at,
        letter("x", None, "").first_attempt_at
    );
    assert_eq!(dead.last_attempt_at, later.last_attempt_at);
    assert_eq!(store.count_dead_letters().await.unwrap(), 1);
}

#[tokio::test]
async fn a_discarded_letter_cannot_be_replayed_and_discarding_twice_is_harmless() {
    let (_db, store) = fresh().await;
    let (acme, api) = tenant(&store, "acme").await;
    let id = store
        .record_dead_letter(&letter("e1", Some(api), "rejected"))
        .await
        .unwrap();
    let discarded = store.discard_dead_letter(mine(acme), id).await.unwrap();
    assert_eq!(discarded.status(), DeadLetterStatus::Discarded);
    assert_eq!(
        store
            .discard_dead_letter(mine(acme), id)
            .await
            .unwrap()
            .status(),
        DeadLetterStatus::Discarded
    );
    assert!(matches!(
        store.mark_dead_letter_replayed(mine(acme), id).await,
        Err(StoreError::Rule("dead_letter_discarded"))
    ));
    assert!(matches!(
        store.mark_dead_letter_replayed(mine(acme), id + 100).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.count_dead_letters().await.unwrap(), 0);
}

#[tokio::test]
async fn lists_are_newest_first_filtered_and_paginated() {
    let (_db, store) = fresh().await;
    let (acme, api) = tenant(&store, "acme").await;
    let (_, other_api) = tenant(&store, "other").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let event = format!("e{n}");
        ids.push(
            store
                .record_dead_letter(&letter(&event, Some(api), "rejected"))
                .await
                .unwrap(),
        );
    }
    store
        .record_dead_letter(&letter("theirs", Some(other_api), "rejected"))
        .await
        .unwrap();
    store.discard_dead_letter(mine(acme), ids[1]).await.unwrap();

    let listed: Vec<i64> = store
        .list_dead_letters(mine(acme), &all(100))
        .await
        .unwrap()
        .iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(listed, [ids[4], ids[3], ids[2], ids[1], ids[0]]);

    let page = store.list_dead_letters(mine(acme), &all(2)).await.unwrap();
    assert_eq!(
        page.iter().map(|l| l.id).collect::<Vec<_>>(),
        [ids[4], ids[3]]
    );
    let next = store
        .list_dead_letters(
            mine(acme),
            &LetterFilter {
                before: Some(ids[3]),
                limit: 2,
                ..LetterFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|l| l.id).collect::<Vec<_>>(),
        [ids[2], ids[1]]
    );

    let dead = store
        .list_dead_letters(
            mine(acme),
            &LetterFilter {
                status: Some(DeadLetterStatus::Dead),
                integration_id: Some(api),
                limit: 100,
                ..LetterFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(dead.len(), 4);
    assert!(dead.iter().all(|l| l.status() == DeadLetterStatus::Dead));
    let none = store
        .list_dead_letters(
            mine(acme),
            &LetterFilter {
                integration_id: Some(other_api),
                limit: 100,
                ..LetterFilter::default()
            },
        )
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn letters_without_an_integration_are_for_platform_admins_and_any_content_is_storable() {
    let (_db, store) = fresh().await;
    let (acme, _) = tenant(&store, "acme").await;
    // What a poison message carries: NUL in text, an integration that does not exist.
    let mut poison = letter("bad\0event", Some(999_999), "malformed\0 v1");
    poison.conversation_key = Some("1:\0");
    poison.headers = json!({"x\0": "a\0b"});
    poison.body = b"\0\xff not json";
    let id = store.record_dead_letter(&poison).await.unwrap();

    assert!(matches!(
        store.get_dead_letter(mine(acme), id).await,
        Err(StoreError::NotFound)
    ));
    let admin = LetterScope {
        account: acme,
        unowned: true,
    };
    let found = store.get_dead_letter(admin, id).await.unwrap();
    assert_eq!(found.summary.account_id, None);
    assert_eq!(found.summary.event_id, "bad\u{fffd}event");
    assert_eq!(found.summary.reason, "malformed\u{fffd} v1");
    assert_eq!(found.body, b"\0\xff not json");
    assert_eq!(found.headers["x\u{fffd}"], "a\u{fffd}b");
    assert_eq!(
        store
            .list_dead_letters(admin, &all(10))
            .await
            .unwrap()
            .len(),
        1
    );

    let too_long = "e".repeat(513);
    assert!(matches!(
        store
            .record_dead_letter(&letter(&too_long, None, "rejected"))
            .await,
        Err(StoreError::Rule(_))
    ));
}
