//! The flow executor's side: sessions and the exactly-once bookkeeping of a turn, all in one
//! transaction (`TurnTx`). Only the executor uses this module; it is the only writer of
//! sessions.

use chrono::{DateTime, Utc};
use contracts::{BotId, IntegrationId};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};
use serde_json::Value;

use crate::bots::bot_id;
use crate::schema::{idempotency_keys, processed_events, sessions};
use crate::{Conn, Store, StoreError};

/// The primary key of `sessions` (integration, session id), as PostgreSQL names it.
const SESSIONS_PKEY: &str = "sessions_pkey";

/// A session insert that found one already there: the caller locked and found none, so another
/// turn created it in between (two executors starting the same conversation while a shard
/// moves): `Concurrent`, so that the retry finds and advances it, not a permanent conflict.
fn session_insert_error(error: diesel::result::Error) -> StoreError {
    match StoreError::from(error) {
        StoreError::Conflict { constraint } if constraint == SESSIONS_PKEY => {
            StoreError::Concurrent
        }
        other => other,
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub struct SessionRecord {
    pub integration_id: i64,
    pub session_id: String,
    pub user_identifier: String,
    pub bot_id: i64,
    pub bot_version: i32,
    /// `flow::engine::SessionState` as JSON.
    pub state: Value,
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl SessionRecord {
    pub fn bot(&self) -> Result<BotId, StoreError> {
        bot_id(self.bot_id)
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession {
    pub integration_id: i64,
    pub session_id: String,
    pub user_identifier: String,
    pub bot_id: i64,
    pub bot_version: i32,
    pub state: Value,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a new session of an integration starts on.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct StartTarget {
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub bot_id: Option<i64>,
    /// The connected bot's newest version: new sessions pin it.
    #[diesel(sql_type = Nullable<Integer>)]
    pub bot_version: Option<i32>,
    /// API integrations: whether `variables` may be injected at start.
    #[diesel(sql_type = Nullable<Bool>)]
    pub variable_injection: Option<bool>,
    /// WhatsApp integrations: idle conversations expire after this long.
    #[diesel(sql_type = Nullable<Integer>)]
    pub conversation_expiry_seconds: Option<i32>,
    /// WhatsApp integrations: the template sent when Meta refuses a message outside the
    /// 24-hour window.
    #[diesel(sql_type = Nullable<Text>)]
    pub template_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub template_language: Option<String>,
}

/// An open transaction for one turn. Commit it explicitly; dropping it without commit discards
/// the connection (the pool refuses connections with an open transaction), which rolls back.
pub struct TurnTx {
    conn: Conn,
}

impl Store {
    /// Opens a turn's transaction. A row lock not granted within `lock_timeout` fails the
    /// statement (`StoreError::Concurrent`, transient) instead of holding the conversation's
    /// lane indefinitely; the setting travels with `BEGIN` in one round trip.
    pub async fn begin_turn(
        &self,
        lock_timeout: std::time::Duration,
    ) -> Result<TurnTx, StoreError> {
        self.begin_turn_with(lock_timeout, Commit::Durable).await
    }

    /// As `begin_turn`, with the commit's durability: `Commit::Disposable` turns the
    /// transaction's `synchronous_commit` off, so its commit does not wait for the WAL flush
    /// (a crash may forget the last turns, never corrupt anything). Only for data thrown away
    /// anyway: the test runner's sandboxes, whose turns were waiting on a disk flush each.
    pub async fn begin_turn_with(
        &self,
        lock_timeout: std::time::Duration,
        commit: Commit,
    ) -> Result<TurnTx, StoreError> {
        let mut conn = self.conn().await?;
        let millis = lock_timeout.as_millis().clamp(1, i32::MAX as u128);
        let durability = match commit {
            Commit::Durable => "",
            Commit::Disposable => "; SET LOCAL synchronous_commit = off",
        };
        AnsiTransactionManager::begin_transaction_sql(
            &mut *conn,
            &format!("BEGIN; SET LOCAL lock_timeout = '{millis}ms'{durability}"),
        )
        .await?;
        Ok(TurnTx { conn })
    }

    /// The outputs stored for an event that was already handled, if it was.
    pub async fn processed_outputs(&self, event_id: &str) -> Result<Option<Value>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(processed_events::table
            .find(event_id)
            .select(processed_events::outputs)
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// The integration's state for starting a session, or `None` when it does not exist.
    pub async fn start_target(
        &self,
        integration: IntegrationId,
    ) -> Result<Option<StartTarget>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(crate::prepared::prepared(
            "SELECT i.active, i.bot_id, COALESCE(i.pinned_version, b.latest_version) AS bot_version, \
                    a.variable_injection, w.conversation_expiry_seconds, \
                    w.template_name, w.template_language \
             FROM integrations i \
             LEFT JOIN bots b ON b.id = i.bot_id \
             LEFT JOIN api_integrations a ON a.integration_id = i.id \
             LEFT JOIN whatsapp_integrations w ON w.integration_id = i.id \
             WHERE i.id = $1",
        )
        .bind::<BigInt, _>(integration.get())
        .get_result(&mut conn)
        .await
        .optional()?)
    }

    /// A session as it is now (no lock), for reading.
    pub async fn get_session(
        &self,
        integration: IntegrationId,
        session_id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(sessions::table
            .find((integration.get(), session_id))
            .select(SessionRecord::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// Deletes up to `limit` sessions whose expiry has passed; returns how many.
    pub async fn delete_expired_sessions(&self, limit: i64) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::sql_query(
            "DELETE FROM sessions WHERE ctid IN (SELECT ctid FROM sessions \
             WHERE expires_at <= now() LIMIT $1)",
        )
        .bind::<BigInt, _>(limit)
        .execute(&mut conn)
        .await?)
    }

    /// Forgets handled events older than `before` (redeliveries older than that are no longer
    /// expected), and completed idempotency records older than `keys_before`.
    pub async fn prune_history(
        &self,
        before: DateTime<Utc>,
        keys_before: DateTime<Utc>,
    ) -> Result<(usize, usize), StoreError> {
        let mut conn = self.conn().await?;
        let events = diesel::delete(
            processed_events::table.filter(processed_events::processed_at.lt(before)),
        )
        .execute(&mut conn)
        .await?;
        let keys = diesel::delete(
            idempotency_keys::table
                .filter(idempotency_keys::created_at.lt(keys_before))
                .filter(idempotency_keys::lease_until.lt(keys_before)),
        )
        .execute(&mut conn)
        .await?;
        Ok((events, keys))
    }
}

/// What a turn starts from, read in its first statement.
#[derive(Debug)]
pub struct Preflight {
    /// The outputs stored if the event was already handled.
    pub stored: Option<Value>,
    /// The integration's state for starting a session (`None` when it does not exist).
    pub target: Option<StartTarget>,
    /// The conversation's session, locked until the transaction ends.
    pub session: Option<SessionRecord>,
}

/// The session's columns, each nullable: a session row left-joined to the preflight.
#[derive(QueryableByName)]
struct LockedSession {
    #[diesel(sql_type = Nullable<BigInt>)]
    s_integration_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    s_session_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    s_user_identifier: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    s_bot_id: Option<i64>,
    #[diesel(sql_type = Nullable<Integer>)]
    s_bot_version: Option<i32>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Jsonb>)]
    s_state: Option<Value>,
    #[diesel(sql_type = Nullable<BigInt>)]
    s_revision: Option<i64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    s_created_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    s_updated_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    s_expires_at: Option<DateTime<Utc>>,
}

impl LockedSession {
    fn record(self) -> Option<SessionRecord> {
        Some(SessionRecord {
            integration_id: self.s_integration_id?,
            session_id: self.s_session_id?,
            user_identifier: self.s_user_identifier?,
            bot_id: self.s_bot_id?,
            bot_version: self.s_bot_version?,
            state: self.s_state?,
            revision: self.s_revision?,
            created_at: self.s_created_at?,
            updated_at: self.s_updated_at?,
            expires_at: self.s_expires_at,
        })
    }
}

/// A turn's first statement, one round trip: the outputs stored if `event_id` was already
/// handled, the integration's state for starting a session, and the session, locked (the
/// CTE is materialised, so the lock is taken whether or not the rest finds anything).
async fn preflight(
    conn: &mut AsyncPgConnection,
    event_id: &str,
    integration: IntegrationId,
    session_id: &str,
) -> Result<Preflight, StoreError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Nullable<diesel::sql_types::Jsonb>)]
        outputs: Option<Value>,
        #[diesel(sql_type = Bool)]
        found: bool,
        #[diesel(embed)]
        target: StartTarget,
        #[diesel(embed)]
        session: LockedSession,
    }
    let row: Row = crate::prepared::prepared(
        "WITH locked AS (SELECT * FROM sessions WHERE integration_id = $2 AND session_id = $3                          FOR UPDATE) \
         SELECT (SELECT outputs FROM processed_events WHERE event_id = $1) AS outputs, \
                (i.id IS NOT NULL) AS found, \
                COALESCE(i.active, false) AS active, i.bot_id, COALESCE(i.pinned_version, b.latest_version) AS bot_version, \
                a.variable_injection, w.conversation_expiry_seconds, \
                w.template_name, w.template_language, \
                s.integration_id AS s_integration_id, s.session_id AS s_session_id, \
                s.user_identifier AS s_user_identifier, s.bot_id AS s_bot_id, \
                s.bot_version AS s_bot_version, s.state AS s_state, s.revision AS s_revision, \
                s.created_at AS s_created_at, s.updated_at AS s_updated_at, \
                s.expires_at AS s_expires_at \
         FROM (SELECT 1) AS one \
         LEFT JOIN integrations i ON i.id = $2 \
         LEFT JOIN bots b ON b.id = i.bot_id \
         LEFT JOIN api_integrations a ON a.integration_id = i.id \
         LEFT JOIN whatsapp_integrations w ON w.integration_id = i.id \
         LEFT JOIN locked s ON true",
    )
    .bind::<Text, _>(event_id)
    .bind::<BigInt, _>(integration.get())
    .bind::<Text, _>(session_id)
    .get_result(conn)
    .await?;
    Ok(Preflight {
        stored: row.outputs,
        target: row.found.then_some(row.target),
        session: row.session.record(),
    })
}

/// What a turn does to its session, written with the turn's record (`TurnTx::finish`).
#[derive(Debug, Clone, PartialEq)]
pub enum SessionWrite {
    /// Nothing (the flow did not run, or failed: the session is unchanged).
    Keep,
    /// A new session (`Concurrent` if one exists now: another turn created it in between).
    Insert(NewSession),
    /// The session's new state, if it is still at `expected_revision` (else `Concurrent`).
    Update {
        expected_revision: i64,
        state: Value,
        expires_at: Option<DateTime<Utc>>,
    },
    /// The flow ended.
    Delete,
}

/// Whether a turn's commit waits for its WAL flush (`Store::begin_turn_with`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Production: a committed turn survives a crash of the database.
    Durable,
    /// Sandboxes: the data is removed when the run ends, so durability buys nothing.
    Disposable,
}

/// The record that an event was handled, written by `TurnTx::finish`: what the turn produced
/// (republished as is for a duplicate) and, for recording the conversation as a scenario, the
/// conversation's session id with its `transcripts::TranscriptTurn`.
pub struct Processed<'a> {
    pub event_id: &'a str,
    pub outputs: &'a Value,
    pub transcript: Option<(&'a str, &'a Value)>,
}

/// What becomes of the event's Idempotency-Key, written with the turn's record.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyOutcome<'a> {
    /// The answer, for a retry to replay.
    Complete {
        endpoint: &'a str,
        key: &'a str,
        status: u16,
        body: Value,
    },
    /// Refused before the flow ran: a retry is decided again.
    Release { endpoint: &'a str, key: &'a str },
}

impl TurnTx {
    /// The turn's first statement (one connection and one round trip per turn matter at the
    /// rates we target): whether the event was already handled, with its stored outputs, the
    /// integration's state, and the conversation's session, locked until commit.
    pub async fn preflight(
        &mut self,
        event_id: &str,
        integration: IntegrationId,
        session_id: &str,
    ) -> Result<Preflight, StoreError> {
        preflight(&mut self.conn, event_id, integration, session_id).await
    }

    /// The rest of a turn, in one round trip (the statements are pipelined on the
    /// connection): the session write, the record that `event_id` was handled with its
    /// outputs, and the Idempotency-Key's outcome. `Ok(false)` when the event was already
    /// recorded (a duplicate raced us): the caller rolls back and republishes the stored
    /// outputs. Any error leaves the transaction to be rolled back, as each statement alone
    /// would.
    pub async fn finish(
        &mut self,
        integration: IntegrationId,
        session_id: &str,
        session: &SessionWrite,
        processed: &Processed<'_>,
        key: Option<&KeyOutcome<'_>>,
    ) -> Result<bool, StoreError> {
        let conn: &AsyncPgConnection = &self.conn;
        let write = async {
            let mut conn = conn;
            let found = sessions::table.find((integration.get(), session_id));
            match session {
                SessionWrite::Keep => Ok(()),
                SessionWrite::Insert(new) => diesel::insert_into(sessions::table)
                    .values(new)
                    .execute(&mut conn)
                    .await
                    .map(|_| ())
                    .map_err(session_insert_error),
                SessionWrite::Update {
                    expected_revision,
                    state,
                    expires_at,
                } => {
                    let updated =
                        diesel::update(found.filter(sessions::revision.eq(*expected_revision)))
                            .set((
                                sessions::state.eq(state),
                                sessions::revision.eq(expected_revision + 1),
                                sessions::updated_at.eq(diesel::dsl::now),
                                sessions::expires_at.eq(expires_at),
                            ))
                            .execute(&mut conn)
                            .await?;
                    if updated == 1 {
                        Ok(())
                    } else {
                        Err(StoreError::Concurrent)
                    }
                }
                SessionWrite::Delete => diesel::delete(found)
                    .execute(&mut conn)
                    .await
                    .map(|_| ())
                    .map_err(StoreError::from),
            }
        };
        let record = async {
            let mut conn = conn;
            diesel::insert_into(processed_events::table)
                .values((
                    processed_events::event_id.eq(processed.event_id),
                    processed_events::integration_id.eq(integration.get()),
                    processed_events::outputs.eq(processed.outputs),
                    processed_events::session_id.eq(processed.transcript.map(|(id, _)| id)),
                    processed_events::transcript.eq(processed.transcript.map(|(_, turn)| turn)),
                ))
                .on_conflict_do_nothing()
                .execute(&mut conn)
                .await
                .map_err(StoreError::from)
        };
        let settle = async {
            let mut conn = conn;
            match key {
                None => Ok(()),
                Some(KeyOutcome::Complete {
                    endpoint,
                    key,
                    status,
                    body,
                }) => diesel::update(idempotency_keys::table.find((
                    integration.get(),
                    *endpoint,
                    *key,
                )))
                .set((
                    idempotency_keys::state.eq("completed"),
                    idempotency_keys::response_status.eq(Some(i32::from(*status))),
                    idempotency_keys::response_body.eq(Some(body)),
                ))
                .execute(&mut conn)
                .await
                .map(|_| ())
                .map_err(StoreError::from),
                Some(KeyOutcome::Release { endpoint, key }) => diesel::delete(
                    idempotency_keys::table.find((integration.get(), *endpoint, *key)),
                )
                .execute(&mut conn)
                .await
                .map(|_| ())
                .map_err(StoreError::from),
            }
        };
        // Polled in this order, so sent in this order, all before the first answer is read;
        // the first failure in statement order is the one reported (the later ones then only
        // say that the transaction is aborted).
        let (written, recorded, settled) = tokio::join!(biased; write, record, settle);
        written?;
        let recorded = recorded?;
        settled?;
        Ok(recorded == 1)
    }

    pub async fn delete_session(
        &mut self,
        integration: IntegrationId,
        session_id: &str,
    ) -> Result<(), StoreError> {
        diesel::delete(sessions::table.find((integration.get(), session_id)))
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Inserts a new session (`Concurrent` if one exists now: see `session_insert_error`).
    pub async fn insert_session(&mut self, new: &NewSession) -> Result<(), StoreError> {
        diesel::insert_into(sessions::table)
            .values(new)
            .execute(&mut *self.conn)
            .await
            .map(|_| ())
            .map_err(session_insert_error)
    }

    /// Frees an Idempotency-Key whose request was refused before the flow ran (404, 409, 422):
    /// such answers are not stored, so a retry is decided again.
    pub async fn release_idempotency(
        &mut self,
        integration: IntegrationId,
        endpoint: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        diesel::delete(idempotency_keys::table.find((integration.get(), endpoint, key)))
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        AnsiTransactionManager::commit_transaction(&mut *self.conn).await?;
        Ok(())
    }

    pub async fn rollback(mut self) -> Result<(), StoreError> {
        AnsiTransactionManager::rollback_transaction(&mut *self.conn).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        synchronous_commit: String,
    }

    async fn synchronous_commit(tx: &mut TurnTx) -> String {
        diesel::sql_query("SHOW synchronous_commit")
            .get_result::<Setting>(&mut *tx.conn)
            .await
            .unwrap()
            .synchronous_commit
    }

    /// Production turns wait for their WAL flush; sandbox turns do not, and the setting does
    /// not outlive their transaction (the pooled connection serves production turns next).
    #[tokio::test]
    async fn only_a_disposable_turn_commits_without_waiting_for_the_flush() {
        let db = testkit::database::TestDatabase::create().await.unwrap();
        let store = Store::connect(&crate::StoreOptions {
            url: db.url().to_owned(),
            max_connections: 1,
            connect_timeout: std::time::Duration::from_secs(5),
        })
        .await
        .unwrap();
        let timeout = std::time::Duration::from_secs(5);
        let mut tx = store
            .begin_turn_with(timeout, Commit::Disposable)
            .await
            .unwrap();
        assert_eq!(synchronous_commit(&mut tx).await, "off");
        tx.commit().await.unwrap();
        let mut tx = store.begin_turn(timeout).await.unwrap();
        assert_eq!(synchronous_commit(&mut tx).await, "on");
        tx.rollback().await.unwrap();
    }
}
