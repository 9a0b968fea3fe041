//! What error e-mail alerts need from the database: an integration's alert settings, and the
//! throttle shared by every replica (`alert_throttle`, one row per integration and kind).
//!
//! The throttle's decisions are single SQL statements over that row, so that two replicas
//! raising the same kind at the same moment never both mail it: the row is locked by the
//! statement that reads it, and every decision sees the previous one's result.

use std::time::Duration;

use chrono::{DateTime, Utc};
use contracts::IntegrationId;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::RunQueryDsl;

use crate::{Store, StoreError};

/// An integration's alert settings, with its name for the mail's subject.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct AlertSettings {
    #[diesel(sql_type = Text)]
    pub integration_name: String,
    #[diesel(sql_type = Bool)]
    pub enabled: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub email: Option<String>,
}

impl AlertSettings {
    /// The address to mail, when alerts are on and an address is set.
    pub fn recipient(&self) -> Option<&str> {
        self.email
            .as_deref()
            .map(str::trim)
            .filter(|email| self.enabled && !email.is_empty())
    }
}

/// What to do with one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleDecision {
    /// Mail it now. `suppressed` alerts of the same kind were counted (not mailed) since
    /// `since`, the time of the previous mail; `since` is `None` for the first mail ever.
    Send {
        suppressed: i64,
        since: Option<DateTime<Utc>>,
    },
    /// A mail of this kind went out within the window: only counted.
    Counted,
}

/// A window that ended with counted alerts that no later alert carried: mail the count.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct DueAlertSummary {
    #[diesel(sql_type = BigInt)]
    integration_id: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// Alerts counted since `since`.
    #[diesel(sql_type = BigInt)]
    pub suppressed: i64,
    /// The time of the previous mail of this kind.
    #[diesel(sql_type = Timestamptz)]
    pub since: DateTime<Utc>,
    /// The summary of the alert counted last.
    #[diesel(sql_type = Text)]
    pub last_summary: String,
}

impl DueAlertSummary {
    pub fn integration_id(&self) -> Result<IntegrationId, StoreError> {
        IntegrationId::new(self.integration_id).map_err(|err| StoreError::Corrupt(err.to_string()))
    }
}

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = Timestamptz)]
    #[allow(dead_code)] // only its presence matters
    window_started_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct Updated {
    #[diesel(sql_type = Bool)]
    send: bool,
    #[diesel(sql_type = BigInt)]
    suppressed: i64,
    #[diesel(sql_type = Timestamptz)]
    since: DateTime<Utc>,
}

fn millis(window: Duration) -> i64 {
    i64::try_from(window.as_millis()).unwrap_or(i64::MAX)
}

/// At most this many due summaries are claimed by one sweep.
const SWEEP_BATCH: i64 = 100;

impl Store {
    /// The alert settings of integration `id`; `None` when it does not exist.
    pub async fn alert_settings(
        &self,
        id: IntegrationId,
    ) -> Result<Option<AlertSettings>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::sql_query(
            "SELECT name AS integration_name, alert_email_enabled AS enabled, \
             alert_email AS email FROM integrations WHERE id = $1",
        )
        .bind::<BigInt, _>(id.get())
        .get_result(&mut conn)
        .await
        .optional()?)
    }

    /// Decides whether an alert of `kind` on `id` is mailed now or only counted, with a
    /// throttle window of `window`, and records the decision. `summary` (no secrets) is kept
    /// for the sweep's mail. `None` when the integration no longer exists.
    pub async fn throttle_alert(
        &self,
        id: IntegrationId,
        kind: &str,
        window: Duration,
        summary: &str,
    ) -> Result<Option<ThrottleDecision>, StoreError> {
        let mut conn = self.conn().await?;
        // The first alert of a kind creates the row and is mailed.
        let inserted: Option<Inserted> = match diesel::sql_query(
            "INSERT INTO alert_throttle \
               (integration_id, kind, window_started_at, suppressed_count, last_sent_at, last_summary) \
             VALUES ($1, $2, now(), 0, now(), $3) \
             ON CONFLICT (integration_id, kind) DO NOTHING \
             RETURNING window_started_at",
        )
        .bind::<BigInt, _>(id.get())
        .bind::<Text, _>(kind)
        .bind::<Text, _>(summary)
        .get_result(&mut conn)
        .await
        .optional()
        {
            Ok(row) => row,
            Err(err) => {
                return match StoreError::from(err) {
                    StoreError::Conflict { constraint }
                        if constraint == "alert_throttle_integration_id_fkey" =>
                    {
                        Ok(None)
                    }
                    other => Err(other),
                }
            }
        };
        if inserted.is_some() {
            return Ok(Some(ThrottleDecision::Send {
                suppressed: 0,
                since: None,
            }));
        }
        // The row exists (a separate statement, so that it sees a row another replica has just
        // committed). The sub-select locks the row and yields its latest values, so the SET
        // and RETURNING below see the state left by the previous decision, whoever made it.
        let updated: Option<Updated> = diesel::sql_query(
            "UPDATE alert_throttle AS t SET \
               suppressed_count = CASE WHEN old.expired THEN 0 ELSE old.suppressed_count + 1 END, \
               window_started_at = CASE WHEN old.expired THEN now() ELSE old.window_started_at END, \
               last_sent_at = CASE WHEN old.expired THEN now() ELSE old.last_sent_at END, \
               last_summary = $3 \
             FROM (SELECT integration_id, kind, suppressed_count, window_started_at, last_sent_at, \
                     window_started_at <= now() - $4::float8 * interval '1 millisecond' AS expired \
                   FROM alert_throttle WHERE integration_id = $1 AND kind = $2 FOR UPDATE) AS old \
             WHERE t.integration_id = old.integration_id AND t.kind = old.kind \
             RETURNING old.expired AS send, old.suppressed_count AS suppressed, \
               old.window_started_at AS since",
        )
        .bind::<BigInt, _>(id.get())
        .bind::<Text, _>(kind)
        .bind::<Text, _>(summary)
        .bind::<BigInt, _>(millis(window))
        .get_result(&mut conn)
        .await
        .optional()?;
        Ok(updated.map(|row| {
            if row.send {
                ThrottleDecision::Send {
                    suppressed: row.suppressed,
                    since: Some(row.since),
                }
            } else {
                ThrottleDecision::Counted
            }
        }))
    }

    /// Claims the windows older than `window` that ended with counted alerts, opens a new
    /// window for each (so that the claim counts as that window's mail) and returns them for
    /// mailing. Rows another replica is claiming at the same moment are skipped, not waited
    /// for, so every summary is claimed once.
    pub async fn take_due_alert_summaries(
        &self,
        window: Duration,
    ) -> Result<Vec<DueAlertSummary>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::sql_query(
            "UPDATE alert_throttle AS t SET \
               suppressed_count = 0, window_started_at = now(), last_sent_at = now() \
             FROM (SELECT integration_id, kind, suppressed_count, window_started_at \
                   FROM alert_throttle \
                   WHERE suppressed_count > 0 \
                     AND window_started_at <= now() - $1::float8 * interval '1 millisecond' \
                   ORDER BY window_started_at LIMIT $2 \
                   FOR UPDATE SKIP LOCKED) AS old \
             WHERE t.integration_id = old.integration_id AND t.kind = old.kind \
             RETURNING t.integration_id, t.kind, old.suppressed_count AS suppressed, \
               old.window_started_at AS since, t.last_summary",
        )
        .bind::<BigInt, _>(millis(window))
        .bind::<BigInt, _>(SWEEP_BATCH)
        .load(&mut conn)
        .await?)
    }
}
