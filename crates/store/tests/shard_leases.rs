#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Shard leases against a real PostgreSQL: exclusive claims, renewal, expiry, release, and the
//! membership count the fair share divides by.

use std::time::Duration;

use store::Store;
use testkit::database::TestDatabase;

mod common;

const TTL: Duration = Duration::from_secs(30);

async fn fresh() -> (TestDatabase, Store) {
    let (db, store) = common::fresh_with(8).await;
    store.ensure_shard_rows(8).await.unwrap();
    (db, store)
}

fn shards(held: &[store::shard_leases::HeldShard]) -> Vec<i32> {
    let mut shards: Vec<i32> = held.iter().map(|h| h.shard).collect();
    shards.sort_unstable();
    shards
}

#[tokio::test]
async fn concurrent_claims_never_give_a_shard_to_two_executors() {
    let (_db, store) = fresh().await;
    // Eight executors each want all eight shards at the same moment.
    let mut claims = tokio::task::JoinSet::new();
    for n in 0..8 {
        let store = store.clone();
        claims.spawn(async move {
            store
                .claim_shards(&format!("exec-{n}"), 8, 8, TTL)
                .await
                .unwrap()
        });
    }
    let results = claims.join_all().await;
    let mut all: Vec<i32> = results.iter().flat_map(|held| shards(held)).collect();
    all.sort_unstable();
    assert_eq!(all, (0..8).collect::<Vec<_>>(), "{results:?}");
    // Nothing is left to claim.
    assert!(store
        .claim_shards("late", 8, 8, TTL)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn claims_take_the_lowest_free_shards_up_to_the_count_and_raise_the_epoch() {
    let (_db, store) = fresh().await;
    let first = store.claim_shards("a", 8, 3, TTL).await.unwrap();
    assert_eq!(shards(&first), vec![0, 1, 2]);
    assert!(first.iter().all(|h| h.epoch == 1));
    let second = store.claim_shards("b", 8, 10, TTL).await.unwrap();
    assert_eq!(shards(&second), vec![3, 4, 5, 6, 7]);
    // Shards at or above the configured count are not claimed (a shrunk deployment).
    store.ensure_shard_rows(10).await.unwrap();
    assert!(store
        .claim_shards("c", 8, 10, TTL)
        .await
        .unwrap()
        .is_empty());

    store.release_shard("a", 1).await.unwrap();
    // Releasing someone else's shard changes nothing.
    store.release_shard("a", 4).await.unwrap();
    let again = store.claim_shards("c", 8, 10, TTL).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].shard, again[0].epoch), (1, 2));
    let holders = store.shard_holders().await.unwrap();
    assert!(holders.contains(&("c".to_owned(), 1)));
    assert!(holders.contains(&("b".to_owned(), 4)));
}

#[tokio::test]
async fn an_expired_lease_is_claimable_and_lost_to_its_old_holder_only_once_claimed() {
    let (_db, store) = fresh().await;
    let short = Duration::from_millis(200);
    store.claim_shards("old", 8, 2, short).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Expired but unclaimed: the old holder renews it and keeps it.
    assert_eq!(
        shards(&store.renew_shards("old", short).await.unwrap()),
        vec![0, 1]
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Expired and claimed by another: the renewal no longer returns it.
    let taken = store.claim_shards("new", 8, 1, TTL).await.unwrap();
    assert_eq!(shards(&taken), vec![0]);
    assert_eq!(
        shards(&store.renew_shards("old", TTL).await.unwrap()),
        vec![1]
    );
    // A live lease is not claimable.
    assert!(store
        .claim_shards("third", 8, 8, TTL)
        .await
        .unwrap()
        .iter()
        .all(|h| h.shard > 1));
}

#[tokio::test]
async fn membership_counts_live_executors_and_disagreeing_shard_counts() {
    let (_db, store) = fresh().await;
    let one = store.heartbeat_member("a", 8, TTL).await.unwrap();
    assert_eq!((one.live, one.disagreeing), (1, 0));
    store
        .heartbeat_member("gone", 8, Duration::from_millis(100))
        .await
        .unwrap();
    store.heartbeat_member("odd", 16, TTL).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = store.heartbeat_member("a", 8, TTL).await.unwrap();
    assert_eq!(
        (now.live, now.disagreeing),
        (2, 1),
        "the expired member no longer counts"
    );
    store.leave_members("odd").await.unwrap();
    let after = store.heartbeat_member("a", 8, TTL).await.unwrap();
    assert_eq!((after.live, after.disagreeing), (1, 0));
}
