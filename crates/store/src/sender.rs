//! What the sender keeps: its progress through each outbound batch (so that a redelivered batch
//! is not sent twice) and the access tokens it refreshes.

use chrono::{DateTime, Utc};
use contracts::IntegrationId;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

use crate::schema::whatsapp_integrations;
use crate::{Store, StoreError};

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchOutcome {
    /// Every payload was accepted by the Graph API.
    Sent,
    /// Meta refused a message outside the 24-hour window; the fallback template went instead.
    Fallback,
    /// Given up: a permanent error, retries exhausted, or no usable token.
    Failed,
}

impl BatchOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Fallback => "fallback",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "sent" => Self::Sent,
            "fallback" => Self::Fallback,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// Where a batch stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchProgress {
    /// Payloads (in render order) the Graph API accepted.
    pub sent_count: u32,
    /// Set once the batch is finished; a finished batch is never sent again.
    pub outcome: Option<BatchOutcome>,
}

#[derive(QueryableByName)]
struct ProgressRow {
    #[diesel(sql_type = Integer)]
    sent_count: i32,
    #[diesel(sql_type = Nullable<Text>)]
    outcome: Option<String>,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    integration_id: i64,
}

impl Store {
    /// The progress recorded for a batch, `None` when it was never started.
    pub async fn batch_progress(
        &self,
        event_id: &str,
    ) -> Result<Option<BatchProgress>, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<ProgressRow> = diesel::sql_query(
            "SELECT sent_count, outcome FROM outbound_batches WHERE event_id = $1",
        )
        .bind::<Text, _>(event_id)
        .get_result(&mut conn)
        .await
        .optional()?;
        row.map(|row| {
            let outcome = row
                .outcome
                .map(|raw| {
                    BatchOutcome::parse(&raw)
                        .ok_or_else(|| StoreError::Corrupt(format!("batch outcome {raw}")))
                })
                .transpose()?;
            Ok(BatchProgress {
                sent_count: u32::try_from(row.sent_count)
                    .map_err(|_| StoreError::Corrupt("negative sent_count".into()))?,
                outcome,
            })
        })
        .transpose()
    }

    /// Records that `sent_count` payloads of a batch are done and, with an `outcome`, that the
    /// batch is finished. Progress never goes back, and a finished batch stays finished with
    /// its first outcome (a late duplicate of the sender cannot reopen it).
    pub async fn save_batch_progress(
        &self,
        integration: IntegrationId,
        event_id: &str,
        sent_count: u32,
        outcome: Option<BatchOutcome>,
    ) -> Result<(), StoreError> {
        let count = i32::try_from(sent_count)
            .map_err(|_| StoreError::Corrupt(format!("sent_count {sent_count}")))?;
        let mut conn = self.conn().await?;
        diesel::sql_query(
            "INSERT INTO outbound_batches (event_id, integration_id, sent_count, outcome, \
                                           completed_at) \
             VALUES ($1, $2, $3, $4, CASE WHEN $4 IS NULL THEN NULL ELSE now() END) \
             ON CONFLICT (event_id) DO UPDATE SET \
                 sent_count = GREATEST(outbound_batches.sent_count, EXCLUDED.sent_count), \
                 outcome = COALESCE(outbound_batches.outcome, EXCLUDED.outcome), \
                 completed_at = COALESCE(outbound_batches.completed_at, EXCLUDED.completed_at), \
                 updated_at = now()",
        )
        .bind::<Text, _>(event_id)
        .bind::<BigInt, _>(integration.get())
        .bind::<Integer, _>(count)
        .bind::<Nullable<Text>, _>(outcome.map(BatchOutcome::as_str))
        .execute(&mut conn)
        .await?;
        Ok(())
    }

    /// Deletes up to `limit` batch records not touched since `before`; returns how many.
    pub async fn prune_outbound_batches(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::sql_query(
            "DELETE FROM outbound_batches WHERE event_id IN \
                 (SELECT event_id FROM outbound_batches WHERE updated_at < $1 LIMIT $2)",
        )
        .bind::<Timestamptz, _>(before)
        .bind::<BigInt, _>(limit)
        .execute(&mut conn)
        .await?)
    }

    /// Stores a new sealed access token (sealed with `secret_aad(id, "access_token")`) and
    /// its expiry (`None`: it does not expire). `NotFound` when there is no such WhatsApp
    /// integration.
    pub async fn update_access_token(
        &self,
        id: IntegrationId,
        sealed: &[u8],
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let updated = diesel::update(whatsapp_integrations::table.find(id.get()))
            .set((
                whatsapp_integrations::access_token_sealed.eq(sealed),
                whatsapp_integrations::access_token_expires_at.eq(expires_at),
            ))
            .execute(&mut conn)
            .await?;
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Like [`Store::update_access_token`], but only while the stored token is still
    /// `previous` (the one the caller refreshed): false when someone else (an operator, another
    /// sender) changed it in between, and the caller should use the stored one instead.
    pub async fn replace_access_token(
        &self,
        id: IntegrationId,
        previous: &[u8],
        sealed: &[u8],
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let updated = diesel::update(
            whatsapp_integrations::table
                .find(id.get())
                .filter(whatsapp_integrations::access_token_sealed.eq(previous)),
        )
        .set((
            whatsapp_integrations::access_token_sealed.eq(sealed),
            whatsapp_integrations::access_token_expires_at.eq(expires_at),
        ))
        .execute(&mut conn)
        .await?;
        Ok(updated == 1)
    }

    /// WhatsApp integrations whose access token expires before `before` (already expired
    /// ones included), soonest first. Tokens without an expiry never appear.
    pub async fn access_tokens_expiring_before(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<IntegrationId>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<IdRow> = diesel::sql_query(
            "SELECT integration_id FROM whatsapp_integrations \
             WHERE access_token_expires_at IS NOT NULL AND access_token_expires_at < $1 \
             ORDER BY access_token_expires_at, integration_id",
        )
        .bind::<Timestamptz, _>(before)
        .load(&mut conn)
        .await?;
        rows.into_iter()
            .map(|row| {
                IntegrationId::new(row.integration_id)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::BatchOutcome;

    #[test]
    fn outcomes_round_trip() {
        for outcome in [
            BatchOutcome::Sent,
            BatchOutcome::Fallback,
            BatchOutcome::Failed,
        ] {
            assert_eq!(BatchOutcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(BatchOutcome::parse("dropped"), None);
    }
}
