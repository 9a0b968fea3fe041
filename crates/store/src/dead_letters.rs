//! Dead letters: messages the platform gave up on, kept with the reason so that an operator can
//! list them, look at one, replay it to where it was first published, or discard it.
//!
//! One row per event id: recording the same event again (the drain seeing a duplicate, or a
//! replay that failed again) updates the row and makes it `dead` again. Every query on an
//! account's letters takes a [`LetterScope`]; letters whose body named no integration belong to
//! no account and are seen by platform admins only.

use chrono::{DateTime, Utc};
use contracts::AccountId;
use diesel::sql_types::{BigInt, Bool, Bytea, Integer, Jsonb, Nullable, Text, Timestamptz};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{Store, StoreError};

/// Longest stored event id (the column's check).
pub const MAX_EVENT_ID_LEN: usize = 512;

/// A letter to record. Text fields may hold anything a broken message carries: characters
/// PostgreSQL cannot store (NUL) are replaced, so that recording never fails on its content.
#[derive(Debug, Clone)]
pub struct NewDeadLetter<'a> {
    /// 1 to [`MAX_EVENT_ID_LEN`] bytes.
    pub event_id: &'a str,
    pub integration_id: Option<i64>,
    pub conversation_key: Option<&'a str>,
    pub source_queue: &'a str,
    /// Where a replay publishes: `bot.inbound` or `bot.outbound`.
    pub exchange: &'a str,
    /// The conversation key for `bot.inbound`, `whatsapp` for `bot.outbound`.
    pub routing_key: &'a str,
    pub body: &'a [u8],
    /// The AMQP properties and headers worth keeping (message id, content type, traceparent).
    pub headers: serde_json::Value,
    pub reason: &'a str,
    pub attempts: i32,
    pub first_attempt_at: DateTime<Utc>,
    pub last_attempt_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadLetterStatus {
    /// Waiting for an operator.
    Dead,
    /// Published again; the event's consumer deduplicates by its id.
    Replayed,
    /// Left alone for good.
    Discarded,
}

impl DeadLetterStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Dead => "dead",
            Self::Replayed => "replayed",
            Self::Discarded => "discarded",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "dead" => Self::Dead,
            "replayed" => Self::Replayed,
            "discarded" => Self::Discarded,
            _ => return None,
        })
    }
}

/// Whose letters a query sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LetterScope {
    pub account: AccountId,
    /// Also letters that belong to no account (undecodable messages): platform admins only.
    pub unowned: bool,
}

/// A letter without its body, as lists show it.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct DeadLetterSummary {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub event_id: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub account_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub integration_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub conversation_key: Option<String>,
    #[diesel(sql_type = Text)]
    pub source_queue: String,
    #[diesel(sql_type = Text)]
    pub exchange: String,
    #[diesel(sql_type = Text)]
    pub routing_key: String,
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    pub first_attempt_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub last_attempt_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub replayed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

impl DeadLetterSummary {
    /// The column's check allows only the three statuses; anything else reads as `Dead`.
    pub fn status(&self) -> DeadLetterStatus {
        DeadLetterStatus::parse(&self.status).unwrap_or(DeadLetterStatus::Dead)
    }
}

/// A letter with what a replay needs.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct DeadLetter {
    #[diesel(embed)]
    pub summary: DeadLetterSummary,
    #[diesel(sql_type = Bytea)]
    pub body: Vec<u8>,
    #[diesel(sql_type = Jsonb)]
    pub headers: serde_json::Value,
}

const SUMMARY_COLUMNS: &str = "id, event_id, account_id, integration_id, conversation_key, \
     source_queue, exchange, routing_key, reason, attempts, first_attempt_at, last_attempt_at, \
     status, replayed_at, created_at";

/// `$1` is the account, `$2` whether letters of no account are included.
const IN_SCOPE: &str = "(account_id = $1 OR ($2 AND account_id IS NULL))";

/// Which letters a list returns: newest first, `limit` of them, ids below `before`.
#[derive(Debug, Clone, Default)]
pub struct LetterFilter {
    pub status: Option<DeadLetterStatus>,
    pub integration_id: Option<i64>,
    pub before: Option<i64>,
    pub limit: i64,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// PostgreSQL's text and jsonb refuse NUL; a dead letter must be recordable whatever it holds.
fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{fffd}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn storable_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(storable(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(storable_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (storable(k).into_owned(), storable_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Store {
    /// Records a letter and returns its id. Idempotent on `event_id`: recording the same event
    /// again updates reason, attempts and times and sets the status back to `dead` (attempts
    /// add up when the letter had been replayed or discarded: a new round of failures).
    pub async fn record_dead_letter(&self, letter: &NewDeadLetter<'_>) -> Result<i64, StoreError> {
        if letter.event_id.is_empty() || letter.event_id.len() > MAX_EVENT_ID_LEN {
            return Err(StoreError::Rule("dead_letter_event_id_length"));
        }
        let mut conn = self.conn().await?;
        let row: IdRow = diesel::sql_query(
            "INSERT INTO dead_letters (event_id, account_id, integration_id, conversation_key, \
                 source_queue, exchange, routing_key, body, headers, reason, attempts, \
                 first_attempt_at, last_attempt_at) \
             VALUES ($1, (SELECT account_id FROM integrations WHERE id = $2), $2, $3, $4, $5, \
                     $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (event_id) DO UPDATE SET \
                 account_id = COALESCE(dead_letters.account_id, EXCLUDED.account_id), \
                 reason = EXCLUDED.reason, \
                 attempts = CASE WHEN dead_letters.status = 'dead' \
                     THEN GREATEST(dead_letters.attempts, EXCLUDED.attempts) \
                     ELSE dead_letters.attempts + EXCLUDED.attempts END, \
                 first_attempt_at = LEAST(dead_letters.first_attempt_at, \
                                          EXCLUDED.first_attempt_at), \
                 last_attempt_at = GREATEST(dead_letters.last_attempt_at, \
                                            EXCLUDED.last_attempt_at), \
                 source_queue = EXCLUDED.source_queue, \
                 status = 'dead' \
             RETURNING id",
        )
        .bind::<Text, _>(storable(letter.event_id))
        .bind::<Nullable<BigInt>, _>(letter.integration_id)
        .bind::<Nullable<Text>, _>(letter.conversation_key.map(storable))
        .bind::<Text, _>(storable(letter.source_queue))
        .bind::<Text, _>(storable(letter.exchange))
        .bind::<Text, _>(storable(letter.routing_key))
        .bind::<Bytea, _>(letter.body)
        .bind::<Jsonb, _>(storable_json(&letter.headers))
        .bind::<Text, _>(storable(letter.reason))
        .bind::<Integer, _>(letter.attempts.max(0))
        .bind::<Timestamptz, _>(letter.first_attempt_at.min(letter.last_attempt_at))
        .bind::<Timestamptz, _>(letter.last_attempt_at)
        .get_result(&mut conn)
        .await?;
        Ok(row.id)
    }

    /// The scope's letters, newest first.
    pub async fn list_dead_letters(
        &self,
        scope: LetterScope,
        filter: &LetterFilter,
    ) -> Result<Vec<DeadLetterSummary>, StoreError> {
        let mut conn = self.conn().await?;
        let letters = diesel::sql_query(format!(
            "SELECT {SUMMARY_COLUMNS} FROM dead_letters WHERE {IN_SCOPE} \
               AND ($3::text IS NULL OR status = $3) \
               AND ($4::bigint IS NULL OR integration_id = $4) \
               AND ($5::bigint IS NULL OR id < $5) \
             ORDER BY id DESC LIMIT $6"
        ))
        .bind::<BigInt, _>(scope.account.get())
        .bind::<Bool, _>(scope.unowned)
        .bind::<Nullable<Text>, _>(filter.status.map(DeadLetterStatus::as_str))
        .bind::<Nullable<BigInt>, _>(filter.integration_id)
        .bind::<Nullable<BigInt>, _>(filter.before)
        .bind::<BigInt, _>(filter.limit.max(1))
        .load(&mut conn)
        .await?;
        Ok(letters)
    }

    /// One of the scope's letters, with its body.
    pub async fn get_dead_letter(
        &self,
        scope: LetterScope,
        id: i64,
    ) -> Result<DeadLetter, StoreError> {
        let mut conn = self.conn().await?;
        summary_query::<DeadLetter>(&mut conn, scope, id, ", body, headers").await
    }

    /// Marks a letter replayed (after its message was published again). A discarded letter
    /// stays discarded: `Rule("dead_letter_discarded")`.
    pub async fn mark_dead_letter_replayed(
        &self,
        scope: LetterScope,
        id: i64,
    ) -> Result<DeadLetterSummary, StoreError> {
        self.set_status(scope, id, DeadLetterStatus::Replayed).await
    }

    /// Marks a letter discarded; discarding it again changes nothing.
    pub async fn discard_dead_letter(
        &self,
        scope: LetterScope,
        id: i64,
    ) -> Result<DeadLetterSummary, StoreError> {
        self.set_status(scope, id, DeadLetterStatus::Discarded)
            .await
    }

    async fn set_status(
        &self,
        scope: LetterScope,
        id: i64,
        status: DeadLetterStatus,
    ) -> Result<DeadLetterSummary, StoreError> {
        let mut conn = self.conn().await?;
        let updated: Option<IdRow> = diesel::sql_query(format!(
            "UPDATE dead_letters SET status = $4, \
                 replayed_at = CASE WHEN $4 = 'replayed' THEN now() ELSE replayed_at END \
             WHERE {IN_SCOPE} AND id = $3 AND status <> 'discarded' \
             RETURNING id"
        ))
        .bind::<BigInt, _>(scope.account.get())
        .bind::<Bool, _>(scope.unowned)
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(status.as_str())
        .get_result(&mut conn)
        .await
        .optional()?;
        // Missing (or another account's: NotFound), or discarded.
        let current: DeadLetterSummary = summary_query(&mut conn, scope, id, "").await?;
        match (updated, status) {
            (Some(_), _) | (None, DeadLetterStatus::Discarded) => Ok(current),
            (None, _) => Err(StoreError::Rule("dead_letter_discarded")),
        }
    }

    /// Letters waiting for an operator, across all accounts (the depth metric).
    pub async fn count_dead_letters(&self) -> Result<i64, StoreError> {
        let mut conn = self.conn().await?;
        let row: CountRow =
            diesel::sql_query("SELECT count(*) AS count FROM dead_letters WHERE status = 'dead'")
                .get_result(&mut conn)
                .await?;
        Ok(row.count)
    }
}

/// One letter of the scope by id (`NotFound` otherwise), with the summary's columns and
/// `extra` ones.
async fn summary_query<T>(
    conn: &mut AsyncPgConnection,
    scope: LetterScope,
    id: i64,
    extra: &str,
) -> Result<T, StoreError>
where
    T: QueryableByName<diesel::pg::Pg> + Send + 'static,
{
    Ok(diesel::sql_query(format!(
        "SELECT {SUMMARY_COLUMNS}{extra} FROM dead_letters WHERE {IN_SCOPE} AND id = $3"
    ))
    .bind::<BigInt, _>(scope.account.get())
    .bind::<Bool, _>(scope.unowned)
    .bind::<BigInt, _>(id)
    .get_result(conn)
    .await?)
}
