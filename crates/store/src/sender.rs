//! What the sender keeps: its progress through each outbound batch (so that a redelivered batch
//! is not sent twice) and the access tokens it refreshes.

use chrono::{DateTime, Utc};
use contracts::IntegrationId;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Bytea, Integer, Nullable, Text, Timestamptz};
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

/// A message the Graph API accepted, recorded with its batch's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedMessage {
    pub wamid: String,
    pub conversation_key: String,
    /// The `wa_id` or the business-scoped user id it went to.
    pub recipient: String,
}

/// One batch's progress to save ([`Store::save_progress`]): `sent_count` payloads done, the
/// outcome once finished, and the message whose acceptance moved it forward, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressRecord {
    pub integration: IntegrationId,
    pub event_id: String,
    pub sent_count: u32,
    pub outcome: Option<BatchOutcome>,
    pub accepted: Option<AcceptedMessage>,
}

/// What the sender needs to start a batch, read in one statement: where the batch stands and
/// the integration it is sent for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStart {
    /// `None` when the batch was never started.
    pub progress: Option<BatchProgress>,
    /// `None` when the integration is gone.
    pub integration: Option<SendingIntegration>,
}

/// An integration as the sender sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingIntegration {
    pub active: bool,
    /// `None` when it is not a WhatsApp integration.
    pub whatsapp: Option<SendingDetails>,
}

/// The WhatsApp settings a batch is sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingDetails {
    pub phone_number_id: String,
    pub access_token_sealed: Vec<u8>,
    pub api_version: String,
    pub template_name: Option<String>,
    pub template_language: Option<String>,
}

#[derive(QueryableByName)]
struct BatchStartRow {
    #[diesel(sql_type = Nullable<Integer>)]
    sent_count: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    outcome: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    active: Option<bool>,
    #[diesel(sql_type = Nullable<Text>)]
    phone_number_id: Option<String>,
    #[diesel(sql_type = Nullable<Bytea>)]
    access_token_sealed: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    api_version: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    template_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    template_language: Option<String>,
}

fn progress_of(sent_count: i32, outcome: Option<String>) -> Result<BatchProgress, StoreError> {
    let outcome = outcome
        .map(|raw| {
            BatchOutcome::parse(&raw)
                .ok_or_else(|| StoreError::Corrupt(format!("batch outcome {raw}")))
        })
        .transpose()?;
    Ok(BatchProgress {
        sent_count: u32::try_from(sent_count)
            .map_err(|_| StoreError::Corrupt("negative sent_count".into()))?,
        outcome,
    })
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
        let row: Option<ProgressRow> = crate::prepared::prepared(
            "SELECT sent_count, outcome FROM outbound_batches WHERE event_id = $1",
        )
        .bind::<Text, _>(event_id)
        .get_result(&mut conn)
        .await
        .optional()?;
        row.map(|row| progress_of(row.sent_count, row.outcome))
            .transpose()
    }

    /// A batch's progress and its integration, in one round trip.
    pub async fn batch_start(
        &self,
        integration: IntegrationId,
        event_id: &str,
    ) -> Result<BatchStart, StoreError> {
        let mut conn = self.conn().await?;
        let row: BatchStartRow = crate::prepared::prepared(
            "SELECT b.sent_count, b.outcome, i.active, w.phone_number_id, \
                    w.access_token_sealed, w.api_version, w.template_name, w.template_language \
             FROM (SELECT 1) AS one \
             LEFT JOIN outbound_batches b ON b.event_id = $1 \
             LEFT JOIN integrations i ON i.id = $2 \
             LEFT JOIN whatsapp_integrations w ON w.integration_id = i.id",
        )
        .bind::<Text, _>(event_id)
        .bind::<BigInt, _>(integration.get())
        .get_result(&mut conn)
        .await?;
        let progress = row
            .sent_count
            .map(|count| progress_of(count, row.outcome))
            .transpose()?;
        let whatsapp = match (
            row.phone_number_id,
            row.access_token_sealed,
            row.api_version,
        ) {
            (Some(phone_number_id), Some(access_token_sealed), Some(api_version)) => {
                Some(SendingDetails {
                    phone_number_id,
                    access_token_sealed,
                    api_version,
                    template_name: row.template_name,
                    template_language: row.template_language,
                })
            }
            _ => None,
        };
        Ok(BatchStart {
            progress,
            integration: row
                .active
                .map(|active| SendingIntegration { active, whatsapp }),
        })
    }

    /// Saves the progress of several batches and the messages that moved them forward, in
    /// one statement (one commit): the sender's group commit. Same rules as
    /// [`Store::record_outbound_message`] and [`Store::save_batch_progress`]: a status that
    /// arrived first is kept, progress never goes back, a finished batch keeps its first
    /// outcome. Several records of one batch (or one wamid) merge into one row.
    pub async fn save_progress(&self, records: &[&ProgressRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        // One row per key (an upsert may not touch a row twice), in key order, so that two
        // writers lock rows in the same order.
        let mut batches: std::collections::BTreeMap<&str, (i64, i32, Option<&str>)> =
            std::collections::BTreeMap::new();
        let mut messages: std::collections::BTreeMap<&str, (i64, &str, &str, &str)> =
            std::collections::BTreeMap::new();
        for record in records {
            let count = i32::try_from(record.sent_count)
                .map_err(|_| StoreError::Corrupt(format!("sent_count {}", record.sent_count)))?;
            let outcome = record.outcome.map(BatchOutcome::as_str);
            let integration = record.integration.get();
            batches
                .entry(record.event_id.as_str())
                .and_modify(|(_, sent, first)| {
                    *sent = (*sent).max(count);
                    *first = first.or(outcome);
                })
                .or_insert((integration, count, outcome));
            if let Some(accepted) = &record.accepted {
                messages.entry(accepted.wamid.as_str()).or_insert((
                    integration,
                    accepted.conversation_key.as_str(),
                    accepted.recipient.as_str(),
                    record.event_id.as_str(),
                ));
            }
        }
        let wamids: Vec<&str> = messages.keys().copied().collect();
        let message_integrations: Vec<i64> = messages.values().map(|m| m.0).collect();
        let keys: Vec<&str> = messages.values().map(|m| m.1).collect();
        let recipients: Vec<&str> = messages.values().map(|m| m.2).collect();
        let message_batches: Vec<&str> = messages.values().map(|m| m.3).collect();
        let event_ids: Vec<&str> = batches.keys().copied().collect();
        let batch_integrations: Vec<i64> = batches.values().map(|b| b.0).collect();
        let counts: Vec<i32> = batches.values().map(|b| b.1).collect();
        let outcomes: Vec<Option<&str>> = batches.values().map(|b| b.2).collect();
        let mut conn = self.conn().await?;
        crate::prepared::prepared(
            "WITH accepted AS ( \
                 INSERT INTO outbound_messages (wamid, integration_id, conversation_key, \
                                                recipient, batch_event_id, status, status_rank) \
                 SELECT m.wamid, m.integration_id, m.conversation_key, m.recipient, \
                        m.batch_event_id, 'accepted', 0 \
                 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[]) \
                      AS m (wamid, integration_id, conversation_key, recipient, batch_event_id) \
                 ON CONFLICT (wamid) DO UPDATE SET \
                     conversation_key = COALESCE(outbound_messages.conversation_key, \
                                                 EXCLUDED.conversation_key), \
                     recipient = COALESCE(outbound_messages.recipient, EXCLUDED.recipient), \
                     batch_event_id = COALESCE(outbound_messages.batch_event_id, \
                                               EXCLUDED.batch_event_id), \
                     updated_at = now() \
                 WHERE outbound_messages.integration_id = EXCLUDED.integration_id) \
             INSERT INTO outbound_batches (event_id, integration_id, sent_count, outcome, \
                                           completed_at) \
             SELECT b.event_id, b.integration_id, b.sent_count, b.outcome, \
                    CASE WHEN b.outcome IS NULL THEN NULL ELSE now() END \
             FROM unnest($6::text[], $7::bigint[], $8::integer[], $9::text[]) \
                  AS b (event_id, integration_id, sent_count, outcome) \
             ON CONFLICT (event_id) DO UPDATE SET \
                 sent_count = GREATEST(outbound_batches.sent_count, EXCLUDED.sent_count), \
                 outcome = COALESCE(outbound_batches.outcome, EXCLUDED.outcome), \
                 completed_at = COALESCE(outbound_batches.completed_at, EXCLUDED.completed_at), \
                 updated_at = now()",
        )
        .bind::<Array<Text>, _>(&wamids)
        .bind::<Array<BigInt>, _>(&message_integrations)
        .bind::<Array<Text>, _>(&keys)
        .bind::<Array<Text>, _>(&recipients)
        .bind::<Array<Text>, _>(&message_batches)
        .bind::<Array<Text>, _>(&event_ids)
        .bind::<Array<BigInt>, _>(&batch_integrations)
        .bind::<Array<Integer>, _>(&counts)
        .bind::<Array<Nullable<Text>>, _>(&outcomes)
        .execute(&mut conn)
        .await?;
        Ok(())
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
        crate::prepared::prepared(
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
        Ok(crate::prepared::prepared(
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
