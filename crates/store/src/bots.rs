//! Bots: a draft (variables + flow, freely editable) and immutable published versions.
//! The store keeps flows as JSON; validating them is the flow crate's job, done by the caller
//! before `publish_bot`, which snapshots exactly the draft revision that was validated.

use chrono::{DateTime, Utc};
use contracts::{AccountId, BotId};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::Value;

use crate::accounts::account_id;
use crate::schema::{bot_versions, bots};
use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct Bot {
    pub id: BotId,
    pub account_id: AccountId,
    pub name: String,
    pub variables: Value,
    pub draft_flow: Value,
    pub draft_revision: i64,
    pub latest_version: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BotVersion {
    pub bot_id: BotId,
    pub version: i32,
    pub variables: Value,
    pub flow: Value,
    pub published_at: DateTime<Utc>,
}

pub struct NewBot<'a> {
    pub name: &'a str,
    pub variables: &'a Value,
    pub draft_flow: &'a Value,
}

/// A draft edit; `None` leaves a field as it is.
#[derive(Default, AsChangeset)]
#[diesel(table_name = bots)]
pub struct BotChanges {
    pub name: Option<String>,
    pub variables: Option<Value>,
    pub draft_flow: Option<Value>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = bots, check_for_backend(diesel::pg::Pg))]
struct BotRow {
    id: i64,
    account_id: i64,
    name: String,
    variables: Value,
    draft_flow: Value,
    draft_revision: i64,
    latest_version: Option<i32>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = bot_versions, check_for_backend(diesel::pg::Pg))]
struct VersionRow {
    bot_id: i64,
    version: i32,
    variables: Value,
    flow: Value,
    published_at: DateTime<Utc>,
}

pub(crate) fn bot_id(raw: i64) -> Result<BotId, StoreError> {
    BotId::new(raw).map_err(|err| StoreError::Corrupt(err.to_string()))
}

impl TryFrom<BotRow> for Bot {
    type Error = StoreError;
    fn try_from(row: BotRow) -> Result<Self, StoreError> {
        Ok(Bot {
            id: bot_id(row.id)?,
            account_id: account_id(row.account_id)?,
            name: row.name,
            variables: row.variables,
            draft_flow: row.draft_flow,
            draft_revision: row.draft_revision,
            latest_version: row.latest_version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl TryFrom<VersionRow> for BotVersion {
    type Error = StoreError;
    fn try_from(row: VersionRow) -> Result<Self, StoreError> {
        Ok(BotVersion {
            bot_id: bot_id(row.bot_id)?,
            version: row.version,
            variables: row.variables,
            flow: row.flow,
            published_at: row.published_at,
        })
    }
}

impl Store {
    pub async fn create_bot(&self, account: AccountId, new: NewBot<'_>) -> Result<Bot, StoreError> {
        let mut conn = self.conn().await?;
        let row: BotRow = diesel::insert_into(bots::table)
            .values((
                bots::account_id.eq(account.get()),
                bots::name.eq(new.name),
                bots::variables.eq(new.variables),
                bots::draft_flow.eq(new.draft_flow),
            ))
            .returning(BotRow::as_returning())
            .get_result(&mut conn)
            .await?;
        row.try_into()
    }

    pub async fn get_bot(&self, account: AccountId, bot: BotId) -> Result<Bot, StoreError> {
        let mut conn = self.conn().await?;
        let row: BotRow = bots::table
            .filter(bots::id.eq(bot.get()))
            .filter(bots::account_id.eq(account.get()))
            .select(BotRow::as_select())
            .first(&mut conn)
            .await?;
        row.try_into()
    }

    /// The account's bots in alphabetical order (case-insensitive); with `published_only`, just
    /// those that can be connected to an integration.
    pub async fn list_bots(
        &self,
        account: AccountId,
        published_only: bool,
    ) -> Result<Vec<Bot>, StoreError> {
        let mut conn = self.conn().await?;
        let mut query = bots::table
            .filter(bots::account_id.eq(account.get()))
            .select(BotRow::as_select())
            .order((
                diesel::dsl::sql::<Text>("lower(bots.name)").asc(),
                bots::name.asc(),
                bots::id.asc(),
            ))
            .into_boxed();
        if published_only {
            query = query.filter(bots::latest_version.is_not_null());
        }
        let rows: Vec<BotRow> = query.load(&mut conn).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Edits the draft and bumps its revision. Published versions are untouched.
    pub async fn update_bot(
        &self,
        account: AccountId,
        bot: BotId,
        changes: BotChanges,
    ) -> Result<Bot, StoreError> {
        let mut conn = self.conn().await?;
        let target = bots::table
            .filter(bots::id.eq(bot.get()))
            .filter(bots::account_id.eq(account.get()));
        let row: BotRow = diesel::update(target)
            .set((
                &changes,
                bots::draft_revision.eq(bots::draft_revision + 1),
                bots::updated_at.eq(diesel::dsl::now),
            ))
            .returning(BotRow::as_returning())
            .get_result(&mut conn)
            .await?;
        row.try_into()
    }

    /// Publishes the draft as the next version, provided the draft is still at
    /// `expected_revision` (the one the caller validated); otherwise `Concurrent`.
    pub async fn publish_bot(
        &self,
        account: AccountId,
        bot: BotId,
        expected_revision: i64,
    ) -> Result<BotVersion, StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction(async move |conn| {
            let current: BotRow = bots::table
                .filter(bots::id.eq(bot.get()))
                .filter(bots::account_id.eq(account.get()))
                .select(BotRow::as_select())
                .for_update()
                .first(conn)
                .await?;
            if current.draft_revision != expected_revision {
                return Err(StoreError::Concurrent);
            }
            let next = current.latest_version.unwrap_or(0) + 1;
            let version: VersionRow = diesel::insert_into(bot_versions::table)
                .values((
                    bot_versions::bot_id.eq(current.id),
                    bot_versions::version.eq(next),
                    bot_versions::variables.eq(&current.variables),
                    bot_versions::flow.eq(&current.draft_flow),
                ))
                .returning(VersionRow::as_returning())
                .get_result(conn)
                .await?;
            diesel::update(bots::table.find(current.id))
                .set(bots::latest_version.eq(next))
                .execute(conn)
                .await?;
            version.try_into()
        })
        .await
    }

    pub async fn list_versions(
        &self,
        account: AccountId,
        bot: BotId,
    ) -> Result<Vec<BotVersion>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<VersionRow> = bot_versions::table
            .inner_join(bots::table)
            .filter(bots::id.eq(bot.get()))
            .filter(bots::account_id.eq(account.get()))
            // Negative: a draft run's hidden copy (store::sandbox), never shown.
            .filter(bot_versions::version.gt(0))
            .order(bot_versions::version.asc())
            .select(VersionRow::as_select())
            .load(&mut conn)
            .await?;
        if rows.is_empty() {
            // Distinguish "no versions yet" from "no such bot" (or another account's bot).
            self.get_bot(account, bot).await?;
        }
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn get_version(
        &self,
        account: AccountId,
        bot: BotId,
        version: i32,
    ) -> Result<BotVersion, StoreError> {
        let mut conn = self.conn().await?;
        let row: VersionRow = bot_versions::table
            .inner_join(bots::table)
            .filter(bots::id.eq(bot.get()))
            .filter(bots::account_id.eq(account.get()))
            .filter(bot_versions::version.eq(version))
            .filter(bot_versions::version.gt(0))
            .select(VersionRow::as_select())
            .first(&mut conn)
            .await?;
        row.try_into()
    }

    /// A published version by id alone, for the executor (the session already pins it).
    pub async fn load_version(&self, bot: BotId, version: i32) -> Result<BotVersion, StoreError> {
        let mut conn = self.conn().await?;
        let row: VersionRow = bot_versions::table
            .find((bot.get(), version))
            .select(VersionRow::as_select())
            .first(&mut conn)
            .await?;
        row.try_into()
    }

    /// Deletes a bot and its versions. Refused (`Conflict` on `integrations_bot_id_fkey`) while
    /// an integration is connected to it.
    pub async fn delete_bot(&self, account: AccountId, bot: BotId) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let deleted = diesel::delete(
            bots::table
                .filter(bots::id.eq(bot.get()))
                .filter(bots::account_id.eq(account.get())),
        )
        .execute(&mut conn)
        .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
