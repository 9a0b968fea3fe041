//! Scenarios saved with a bot for the Test Runner (docs/test-runner.md, "Saved scenarios"):
//! a name unique per bot and the YAML as written. Checking the YAML is the caller's business
//! (the runner's parser); the store bounds how many a bot keeps.

use chrono::{DateTime, Utc};
use contracts::{AccountId, BotId};
use diesel::sql_types::{Array, BigInt, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::{Store, StoreError};

/// The rule a creation past the per-bot bound breaks (`StoreError::Rule`).
pub const TOO_MANY_SAVED_SCENARIOS: &str = "too_many_saved_scenarios";

#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct SavedScenario {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub bot_id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub yaml: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

/// A saved scenario without its text, for lists.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct SavedScenarioSummary {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

const COLUMNS: &str = "id, bot_id, name, yaml, created_at, updated_at";

impl Store {
    /// Saves a scenario with the account's bot: `NotFound` when the bot is not theirs,
    /// `Conflict` (`saved_scenarios_bot_name_unique`) for a name the bot already has, and
    /// `Rule(TOO_MANY_SAVED_SCENARIOS)` when the bot already keeps `max_per_bot`.
    pub async fn create_saved_scenario(
        &self,
        account: AccountId,
        bot: BotId,
        name: &str,
        yaml: &str,
        max_per_bot: i64,
    ) -> Result<SavedScenario, StoreError> {
        let mut conn = self.conn().await?;
        let (name, yaml) = (name.to_owned(), yaml.to_owned());
        conn.transaction(async move |conn| {
            // The bot's row is locked so that two creations cannot both pass the bound.
            let kept: Count = diesel::sql_query(
                "SELECT (SELECT count(*) FROM saved_scenarios s WHERE s.bot_id = b.id) AS count \
                 FROM bots b WHERE b.id = $2 AND b.account_id = $1 FOR UPDATE",
            )
            .bind::<BigInt, _>(account.get())
            .bind::<BigInt, _>(bot.get())
            .get_result(conn)
            .await?;
            if kept.count >= max_per_bot {
                return Err(StoreError::Rule(TOO_MANY_SAVED_SCENARIOS));
            }
            Ok(diesel::sql_query(format!(
                "INSERT INTO saved_scenarios (account_id, bot_id, name, yaml) \
                 VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
            ))
            .bind::<BigInt, _>(account.get())
            .bind::<BigInt, _>(bot.get())
            .bind::<Text, _>(&name)
            .bind::<Text, _>(&yaml)
            .get_result(conn)
            .await?)
        })
        .await
    }

    /// The bot's saved scenarios by name (case-insensitive); empty for a bot that is not the
    /// account's too (callers that must tell read the bot first).
    pub async fn list_saved_scenarios(
        &self,
        account: AccountId,
        bot: BotId,
    ) -> Result<Vec<SavedScenarioSummary>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::sql_query(
            "SELECT id, name, updated_at FROM saved_scenarios \
             WHERE account_id = $1 AND bot_id = $2 ORDER BY lower(name), id",
        )
        .bind::<BigInt, _>(account.get())
        .bind::<BigInt, _>(bot.get())
        .load(&mut conn)
        .await?)
    }

    pub async fn get_saved_scenario(
        &self,
        account: AccountId,
        bot: BotId,
        id: i64,
    ) -> Result<SavedScenario, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::sql_query(format!(
            "SELECT {COLUMNS} FROM saved_scenarios \
             WHERE account_id = $1 AND bot_id = $2 AND id = $3"
        ))
        .bind::<BigInt, _>(account.get())
        .bind::<BigInt, _>(bot.get())
        .bind::<BigInt, _>(id)
        .get_result(&mut conn)
        .await?)
    }

    /// The bot's saved scenarios with these ids, in the order of `ids`; `NotFound` when one of
    /// them is not the bot's (or not the account's).
    pub async fn saved_scenarios_by_ids(
        &self,
        account: AccountId,
        bot: BotId,
        ids: &[i64],
    ) -> Result<Vec<SavedScenario>, StoreError> {
        let mut conn = self.conn().await?;
        let found: Vec<SavedScenario> = diesel::sql_query(format!(
            "SELECT {COLUMNS} FROM saved_scenarios \
             WHERE account_id = $1 AND bot_id = $2 AND id = ANY($3)"
        ))
        .bind::<BigInt, _>(account.get())
        .bind::<BigInt, _>(bot.get())
        .bind::<Array<BigInt>, _>(ids)
        .load(&mut conn)
        .await?;
        ids.iter()
            .map(|id| {
                found
                    .iter()
                    .find(|scenario| scenario.id == *id)
                    .cloned()
                    .ok_or(StoreError::NotFound)
            })
            .collect()
    }

    /// Replaces a saved scenario's name and text.
    pub async fn replace_saved_scenario(
        &self,
        account: AccountId,
        bot: BotId,
        id: i64,
        name: &str,
        yaml: &str,
    ) -> Result<SavedScenario, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::sql_query(format!(
            "UPDATE saved_scenarios SET name = $4, yaml = $5, updated_at = now() \
             WHERE account_id = $1 AND bot_id = $2 AND id = $3 RETURNING {COLUMNS}"
        ))
        .bind::<BigInt, _>(account.get())
        .bind::<BigInt, _>(bot.get())
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(name)
        .bind::<Text, _>(yaml)
        .get_result(&mut conn)
        .await?)
    }

    pub async fn delete_saved_scenario(
        &self,
        account: AccountId,
        bot: BotId,
        id: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let deleted = diesel::sql_query(
            "DELETE FROM saved_scenarios WHERE account_id = $1 AND bot_id = $2 AND id = $3",
        )
        .bind::<BigInt, _>(account.get())
        .bind::<BigInt, _>(bot.get())
        .bind::<BigInt, _>(id)
        .execute(&mut conn)
        .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
