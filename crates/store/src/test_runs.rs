//! Test runs started through the admin API (docs/test-runner.md): the request while running,
//! the result once finished. Account-scoped like every other object.

use chrono::{DateTime, Utc};
use contracts::{AccountId, BotId};
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct TestRun {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub bot_id: i64,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Jsonb)]
    pub request: Value,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub result: Option<Value>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, bot_id, status, request, result, created_at, finished_at";

impl Store {
    /// Records a run of the account's bot as running, played by the admin process `owner`;
    /// `NotFound` when the bot is not theirs.
    pub async fn create_test_run(
        &self,
        account: AccountId,
        bot: BotId,
        request: &Value,
        owner: &str,
    ) -> Result<TestRun, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::sql_query(format!(
            "INSERT INTO test_runs (account_id, bot_id, status, request, owner) \
             SELECT account_id, id, 'running', $3, $4 FROM bots \
             WHERE id = $2 AND account_id = $1 \
             RETURNING {COLUMNS}"
        ))
        .bind::<BigInt, _>(account.get())
        .bind::<BigInt, _>(bot.get())
        .bind::<Jsonb, _>(request)
        .bind::<Text, _>(owner)
        .get_result(&mut conn)
        .await?)
    }

    /// Marks the running runs of `owner` as alive; returns how many.
    pub async fn heartbeat_test_runs(&self, owner: &str) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::sql_query(
            "UPDATE test_runs SET heartbeat_at = now() WHERE owner = $1 AND status = 'running'",
        )
        .bind::<Text, _>(owner)
        .execute(&mut conn)
        .await?)
    }

    /// Ends as `interrupted` the running runs whose owner has not marked them alive for
    /// `silent_for` (its process stopped); returns their ids.
    pub async fn interrupt_orphaned_test_runs(
        &self,
        silent_for: std::time::Duration,
    ) -> Result<Vec<i64>, StoreError> {
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = BigInt)]
            id: i64,
        }
        let mut conn = self.conn().await?;
        let millis = i64::try_from(silent_for.as_millis()).unwrap_or(i64::MAX);
        let ids: Vec<Id> = diesel::sql_query(
            "UPDATE test_runs SET status = 'interrupted', finished_at = now() \
             WHERE status = 'running' AND heartbeat_at < now() - $1 * interval '1 millisecond' \
             RETURNING id",
        )
        .bind::<BigInt, _>(millis)
        .load(&mut conn)
        .await?;
        Ok(ids.into_iter().map(|row| row.id).collect())
    }

    /// Stores a finished run's status and result.
    pub async fn finish_test_run(
        &self,
        id: i64,
        status: &str,
        result: &Value,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::sql_query(
            "UPDATE test_runs SET status = $2, result = $3, finished_at = now() \
             WHERE id = $1 AND status = 'running'",
        )
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(status)
        .bind::<Jsonb, _>(result)
        .execute(&mut conn)
        .await?;
        Ok(())
    }

    pub async fn get_test_run(&self, account: AccountId, id: i64) -> Result<TestRun, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::sql_query(format!(
            "SELECT {COLUMNS} FROM test_runs WHERE id = $2 AND account_id = $1"
        ))
        .bind::<BigInt, _>(account.get())
        .bind::<BigInt, _>(id)
        .get_result(&mut conn)
        .await?)
    }

    /// The bot's runs, newest first (at most `limit`). A list carries counts, not timelines:
    /// each `result` holds only its `summary` (a result can be megabytes).
    pub async fn list_test_runs(
        &self,
        account: AccountId,
        bot: BotId,
        limit: i64,
    ) -> Result<Vec<TestRun>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::sql_query(
            "SELECT id, bot_id, status, request, \
                    CASE WHEN result IS NULL THEN NULL \
                         ELSE jsonb_build_object('summary', result -> 'summary') END AS result, \
                    created_at, finished_at \
             FROM test_runs WHERE account_id = $1 AND bot_id = $2 \
             ORDER BY id DESC LIMIT $3",
        )
        .bind::<BigInt, _>(account.get())
        .bind::<BigInt, _>(bot.get())
        .bind::<BigInt, _>(limit)
        .load(&mut conn)
        .await?)
    }
}
