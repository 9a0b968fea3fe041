//! Leases on the inbound shards, shared by the flow-executors (`shard_leases`, `shard_members`).
//!
//! Each statement below is one atomic SQL statement, timed by the database's clock: an
//! executor's view of what it holds is exactly what the last statement returned, and two
//! executors never both claim a shard (the claim's `FOR UPDATE SKIP LOCKED` row lock and its
//! `holder IS NULL OR expires_at <= now()` condition see each other's committed results).
//! The policy (fair share, when to release) lives in the executor (`flow-executor/src/shards.rs`).

use std::time::Duration;

use diesel::sql_types::{BigInt, Integer, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

use crate::{Store, StoreError};

/// A shard this executor holds, and the claim's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct HeldShard {
    #[diesel(sql_type = Integer)]
    pub shard: i32,
    #[diesel(sql_type = BigInt)]
    pub epoch: i64,
}

/// Live executors, as the lease table sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Membership {
    /// Members whose heartbeat has not expired, this one included.
    #[diesel(sql_type = BigInt)]
    pub live: i64,
    /// Of those, members configured with another shard count (a deployment mistake).
    #[diesel(sql_type = BigInt)]
    pub disagreeing: i64,
}

/// One row per shard the executor may hold.
#[derive(QueryableByName)]
struct Holding {
    #[diesel(sql_type = Text)]
    holder: String,
    #[diesel(sql_type = Integer)]
    shard: i32,
}

fn millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    /// Makes sure a lease row exists for shards `0..shard_count` (idempotent).
    pub async fn ensure_shard_rows(&self, shard_count: u16) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::sql_query(
            "INSERT INTO shard_leases (shard) SELECT generate_series(0, $1 - 1) \
             ON CONFLICT (shard) DO NOTHING",
        )
        .bind::<Integer, _>(i32::from(shard_count))
        .execute(&mut conn)
        .await?;
        Ok(())
    }

    /// Records that `instance` is alive for `ttl` more, and returns the live membership.
    pub async fn heartbeat_member(
        &self,
        instance: &str,
        shard_count: u16,
        ttl: Duration,
    ) -> Result<Membership, StoreError> {
        let mut conn = self.conn().await?;
        crate::prepared::prepared(
            "INSERT INTO shard_members (instance, shard_count, expires_at) \
             VALUES ($1, $2, now() + $3 * interval '1 millisecond') \
             ON CONFLICT (instance) DO UPDATE \
             SET shard_count = EXCLUDED.shard_count, expires_at = EXCLUDED.expires_at",
        )
        .bind::<Text, _>(instance)
        .bind::<Integer, _>(i32::from(shard_count))
        .bind::<BigInt, _>(millis(ttl))
        .execute(&mut conn)
        .await?;
        Ok(crate::prepared::prepared(
            "SELECT count(*) AS live, count(*) FILTER (WHERE shard_count <> $1) AS disagreeing \
             FROM shard_members WHERE expires_at > now()",
        )
        .bind::<Integer, _>(i32::from(shard_count))
        .get_result(&mut conn)
        .await?)
    }

    /// Extends every lease `instance` still holds (expired or not: an expired lease nobody
    /// claimed is still ours) and returns them. A shard missing from the answer was taken by
    /// another executor after our lease expired.
    pub async fn renew_shards(
        &self,
        instance: &str,
        ttl: Duration,
    ) -> Result<Vec<HeldShard>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(crate::prepared::prepared(
            "UPDATE shard_leases SET expires_at = now() + $2 * interval '1 millisecond' \
             WHERE holder = $1 RETURNING shard, epoch",
        )
        .bind::<Text, _>(instance)
        .bind::<BigInt, _>(millis(ttl))
        .load(&mut conn)
        .await?)
    }

    /// Claims up to `count` shards below `shard_count` that are free or whose lease expired,
    /// lowest first; returns those claimed (each with a new epoch).
    pub async fn claim_shards(
        &self,
        instance: &str,
        shard_count: u16,
        count: usize,
        ttl: Duration,
    ) -> Result<Vec<HeldShard>, StoreError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn().await?;
        Ok(crate::prepared::prepared(
            "UPDATE shard_leases SET holder = $1, epoch = epoch + 1, \
                 expires_at = now() + $4 * interval '1 millisecond' \
             WHERE shard IN ( \
                 SELECT shard FROM shard_leases \
                 WHERE shard < $2 AND (holder IS NULL OR expires_at <= now()) \
                 ORDER BY shard LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING shard, epoch",
        )
        .bind::<Text, _>(instance)
        .bind::<Integer, _>(i32::from(shard_count))
        .bind::<BigInt, _>(i64::try_from(count).unwrap_or(i64::MAX))
        .bind::<BigInt, _>(millis(ttl))
        .load(&mut conn)
        .await?)
    }

    /// Frees `shard` if `instance` still holds it (its consumer has drained).
    pub async fn release_shard(&self, instance: &str, shard: i32) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::sql_query(
            "UPDATE shard_leases SET holder = NULL, expires_at = now() \
             WHERE shard = $2 AND holder = $1",
        )
        .bind::<Text, _>(instance)
        .bind::<Integer, _>(shard)
        .execute(&mut conn)
        .await?;
        Ok(())
    }

    /// Leaves the membership (graceful stop, after every lease was released).
    pub async fn leave_members(&self, instance: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::sql_query("DELETE FROM shard_members WHERE instance = $1")
            .bind::<Text, _>(instance)
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    /// Who holds what: `(holder, shard)` for every unexpired lease, by holder then shard. For
    /// operators and tests.
    pub async fn shard_holders(&self) -> Result<Vec<(String, i32)>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Holding> = crate::prepared::prepared(
            "SELECT holder, shard FROM shard_leases \
             WHERE holder IS NOT NULL AND expires_at > now() ORDER BY holder, shard",
        )
        .load(&mut conn)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.holder, row.shard))
            .collect())
    }
}
