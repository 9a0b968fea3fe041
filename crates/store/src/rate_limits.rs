//! Token buckets shared by every replica (`rate_limit_buckets`): the gateway's per-integration
//! limit and the admin's sign-in failure limit. Each call is one statement over the bucket's
//! row: it refills the bucket by the time elapsed on the database's clock (one clock for every
//! replica, so replicas' clocks never matter) and takes what it can, under the row lock, so two
//! replicas never spend the same token.

use std::time::Duration;

use diesel::sql_types::{Double, Integer, Text};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::RunQueryDsl;

use crate::{Store, StoreError};

/// A bucket's shape: it holds at most `capacity` tokens and gains `per_second` a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketShape {
    pub capacity: f64,
    pub per_second: f64,
}

impl BucketShape {
    /// `per_minute` requests a minute, a minute's worth at once (PRODUCT.md 4).
    pub fn per_minute(per_minute: u32) -> Self {
        let capacity = f64::from(per_minute.max(1));
        Self {
            capacity,
            per_second: capacity / 60.0,
        }
    }

    /// How long until one token is back, from `tokens` left.
    pub fn wait_for_one(&self, tokens: f64) -> Duration {
        Duration::from_secs_f64(((1.0 - tokens).max(0.0) / self.per_second).min(86_400.0))
    }
}

/// What a take got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lease {
    /// Tokens taken (at most what was asked).
    pub granted: u32,
    /// Tokens left in the bucket after the take.
    pub remaining: f64,
}

#[derive(QueryableByName)]
struct TakeRow {
    #[diesel(sql_type = Integer)]
    granted: i32,
    #[diesel(sql_type = Double)]
    tokens: f64,
}

#[derive(QueryableByName)]
struct PeekRow {
    #[diesel(sql_type = Double)]
    tokens: f64,
}

/// The refilled level of the row `b`, as SQL, given the parameters holding the capacity and
/// the tokens per second.
fn refilled(capacity: &str, per_second: &str) -> String {
    format!(
        "LEAST({capacity}, b.tokens + {per_second} * GREATEST(0, \
         EXTRACT(EPOCH FROM statement_timestamp() - b.updated_at)::float8))"
    )
}

impl Store {
    /// Takes up to `want` whole tokens from bucket `key` (created full on first use).
    pub async fn take_tokens(
        &self,
        key: &str,
        shape: BucketShape,
        want: u32,
    ) -> Result<Lease, StoreError> {
        let mut conn = self.conn().await?;
        let level = refilled("$2", "$4");
        let sql = format!(
            "INSERT INTO rate_limit_buckets AS b (bucket_key, tokens, updated_at, granted) \
             VALUES ($1, $2 - LEAST($3, FLOOR($2)), statement_timestamp(), LEAST($3, FLOOR($2))) \
             ON CONFLICT (bucket_key) DO UPDATE SET \
               tokens = {level} - LEAST($3, FLOOR({level})), \
               granted = LEAST($3, FLOOR({level})), \
               updated_at = GREATEST(b.updated_at, statement_timestamp()) \
             RETURNING granted, tokens"
        );
        let row: TakeRow = diesel::sql_query(sql)
            .bind::<Text, _>(key)
            .bind::<Double, _>(shape.capacity)
            .bind::<Double, _>(f64::from(want))
            .bind::<Double, _>(shape.per_second)
            .get_result(&mut conn)
            .await?;
        Ok(Lease {
            granted: u32::try_from(row.granted).unwrap_or(0),
            remaining: row.tokens,
        })
    }

    /// The tokens bucket `key` holds now, without taking any (a bucket never used is full).
    pub async fn peek_tokens(&self, key: &str, shape: BucketShape) -> Result<f64, StoreError> {
        let mut conn = self.conn().await?;
        let sql = format!(
            "SELECT {} AS tokens FROM rate_limit_buckets b WHERE b.bucket_key = $1",
            refilled("$2", "$3")
        );
        let row: Option<PeekRow> = diesel::sql_query(sql)
            .bind::<Text, _>(key)
            .bind::<Double, _>(shape.capacity)
            .bind::<Double, _>(shape.per_second)
            .get_result(&mut conn)
            .await
            .optional()?;
        Ok(row.map_or(shape.capacity, |row| row.tokens))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_computed_from_the_rate() {
        let shape = BucketShape::per_minute(6);
        assert_eq!(shape.capacity, 6.0);
        assert_eq!(shape.wait_for_one(0.0), Duration::from_secs(10));
        assert_eq!(shape.wait_for_one(0.5), Duration::from_secs(5));
        assert_eq!(shape.wait_for_one(2.0), Duration::ZERO);
    }
}
