//! What every store test starts from: a fresh database of its own, migrated, and accounts.
#![allow(dead_code)] // each test file uses part of it

use std::time::Duration;

use contracts::AccountId;
use store::accounts::NewToken;
use store::{Store, StoreOptions};
use testkit::database::TestDatabase;

/// A fresh database (dropped with the returned guard) and a store of `connections` on it.
pub async fn fresh_with(connections: usize) -> (TestDatabase, Store) {
    let db = TestDatabase::create().await.expect("test database");
    let store = Store::connect(&StoreOptions {
        url: db.url().to_owned(),
        max_connections: connections,
        connect_timeout: Duration::from_secs(5),
    })
    .await
    .expect("store");
    (db, store)
}

pub async fn fresh() -> (TestDatabase, Store) {
    fresh_with(4).await
}

/// A new account named `name` (its first token's digest derived from the name, so that two
/// accounts of one test do not collide).
pub async fn account(store: &Store, name: &str) -> AccountId {
    let digest = format!("digest-of-{name}");
    let (account, _) = store
        .create_account(
            name,
            false,
            NewToken {
                name: "first",
                digest: digest.as_bytes(),
                hint: "abcd",
            },
        )
        .await
        .expect("account");
    account.id
}
