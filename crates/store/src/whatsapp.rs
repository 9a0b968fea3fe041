//! WhatsApp delivery bookkeeping: the statuses of outbound messages (written by the sender when
//! the Graph API accepts a message, moved forward by whatsapp-ingress as Meta reports them) and
//! the log of webhooks that were answered 200 without a bot turn (`webhook_receipts`).
//!
//! Statuses move forward only: each has a rank (`accepted` < `sent` < `delivered` < `read` <
//! `played` < `failed`) and a status is applied only when its rank is higher than the stored
//! one, in the same statement, so concurrent and out-of-order webhooks cannot move a message
//! back. `failed` ranks last: it is terminal, and a late `sent` must not hide it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use contracts::IntegrationId;
use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use crate::{Store, StoreError};

/// Where an outbound message stands, as far as Meta has told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// The Graph API accepted the send (not yet a webhook).
    Accepted,
    Sent,
    Delivered,
    Read,
    /// A voice message was played.
    Played,
    Failed,
}

impl MessageStatus {
    /// The order statuses are applied in; a lower or equal rank never replaces a higher one.
    pub const fn rank(self) -> i32 {
        match self {
            Self::Accepted => 0,
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Played => 4,
            Self::Failed => 5,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Played => "played",
            Self::Failed => "failed",
        }
    }

    /// Meta's `statuses[].status` (and our `accepted`); `None` for a value we do not know.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "accepted" => Self::Accepted,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "played" => Self::Played,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// One status webhook entry to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub wamid: String,
    /// The integration the webhook was routed to; a row of another integration is not touched.
    pub integration_id: IntegrationId,
    pub status: MessageStatus,
    pub recipient: Option<String>,
    /// `statuses[].errors`, kept as Meta sent them.
    pub errors: Option<Value>,
    /// Meta's `timestamp` of the status.
    pub status_at: Option<DateTime<Utc>>,
}

/// An outbound message and its latest status.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundMessage {
    pub wamid: String,
    pub integration_id: i64,
    pub conversation_key: Option<String>,
    pub recipient: Option<String>,
    /// The outbound batch the sender sent it in (unknown for rows a status created).
    pub batch_event_id: Option<String>,
    pub status: MessageStatus,
    pub errors: Option<Value>,
    pub status_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct OutboundRow {
    #[diesel(sql_type = Text)]
    wamid: String,
    #[diesel(sql_type = BigInt)]
    integration_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    conversation_key: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    recipient: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    batch_event_id: Option<String>,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Jsonb>)]
    errors: Option<Value>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    status_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
}

/// Why a webhook (or a part of one) was recorded instead of starting a bot turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptKind {
    Message,
    Status,
    /// A payload we never act on (another `object`, another webhook `field`).
    Ignored,
    /// The phone number is not served by an active integration.
    IgnoredInactive,
    /// The sender is not in the integration's trigger recipients.
    IgnoredRecipient,
    /// A `system` message (number or identity changed).
    System,
    /// Meta reported errors (`value.errors`), or a part of the payload could not be used.
    Error,
    /// A POST whose signature was refused.
    BadSignature,
}

impl ReceiptKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Status => "status",
            Self::Ignored => "ignored",
            Self::IgnoredInactive => "ignored_inactive",
            Self::IgnoredRecipient => "ignored_recipient",
            Self::System => "system",
            Self::Error => "error",
            Self::BadSignature => "bad_signature",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "message" => Self::Message,
            "status" => Self::Status,
            "ignored" => Self::Ignored,
            "ignored_inactive" => Self::IgnoredInactive,
            "ignored_recipient" => Self::IgnoredRecipient,
            "system" => Self::System,
            "error" => Self::Error,
            "bad_signature" => Self::BadSignature,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewReceipt {
    pub integration_id: IntegrationId,
    pub kind: ReceiptKind,
    pub detail: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    pub id: i64,
    pub integration_id: i64,
    pub received_at: DateTime<Utc>,
    pub kind: ReceiptKind,
    pub detail: Value,
}

#[derive(QueryableByName)]
struct ReceiptRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    integration_id: i64,
    #[diesel(sql_type = Timestamptz)]
    received_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Jsonb)]
    detail: Value,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Per wamid, the update with the highest rank (the first of equals): one upsert statement
/// may not touch a row twice, and only the highest one could be applied anyway.
fn highest_per_message(updates: &[StatusUpdate]) -> Vec<&StatusUpdate> {
    let mut best: HashMap<&str, usize> = HashMap::new();
    for (index, update) in updates.iter().enumerate() {
        best.entry(update.wamid.as_str())
            .and_modify(|current| {
                if update.status.rank() > updates[*current].status.rank() {
                    *current = index;
                }
            })
            .or_insert(index);
    }
    let mut chosen: Vec<usize> = best.into_values().collect();
    chosen.sort_unstable();
    chosen.into_iter().map(|index| &updates[index]).collect()
}

impl Store {
    /// The sender's record of a message the Graph API accepted. A status that arrived first
    /// (Meta can be faster than our insert) is kept; only the missing facts are filled in.
    pub async fn record_outbound_message(
        &self,
        integration: IntegrationId,
        wamid: &str,
        conversation_key: &str,
        recipient: &str,
        batch_event_id: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        crate::prepared::prepared(
            "INSERT INTO outbound_messages (wamid, integration_id, conversation_key, recipient, \
                                            batch_event_id, status, status_rank) \
             VALUES ($1, $2, $3, $4, $5, 'accepted', 0) \
             ON CONFLICT (wamid) DO UPDATE SET \
                 conversation_key = COALESCE(outbound_messages.conversation_key, \
                                             EXCLUDED.conversation_key), \
                 recipient = COALESCE(outbound_messages.recipient, EXCLUDED.recipient), \
                 batch_event_id = COALESCE(outbound_messages.batch_event_id, \
                                           EXCLUDED.batch_event_id), \
                 updated_at = now() \
             WHERE outbound_messages.integration_id = EXCLUDED.integration_id",
        )
        .bind::<Text, _>(wamid)
        .bind::<BigInt, _>(integration.get())
        .bind::<Text, _>(conversation_key)
        .bind::<Text, _>(recipient)
        .bind::<Text, _>(batch_event_id)
        .execute(&mut conn)
        .await?;
        Ok(())
    }

    /// Applies status webhooks forward-only, in one statement; a status for an unknown wamid
    /// creates its row. Returns how many rows were created or moved forward.
    pub async fn apply_message_statuses(
        &self,
        updates: &[StatusUpdate],
    ) -> Result<usize, StoreError> {
        let chosen = highest_per_message(updates);
        if chosen.is_empty() {
            return Ok(0);
        }
        let wamids: Vec<&str> = chosen.iter().map(|u| u.wamid.as_str()).collect();
        let integrations: Vec<i64> = chosen.iter().map(|u| u.integration_id.get()).collect();
        let recipients: Vec<Option<&str>> = chosen.iter().map(|u| u.recipient.as_deref()).collect();
        let statuses: Vec<&str> = chosen.iter().map(|u| u.status.as_str()).collect();
        let ranks: Vec<i32> = chosen.iter().map(|u| u.status.rank()).collect();
        let errors: Vec<Option<&Value>> = chosen.iter().map(|u| u.errors.as_ref()).collect();
        let times: Vec<Option<DateTime<Utc>>> = chosen.iter().map(|u| u.status_at).collect();
        let mut conn = self.conn().await?;
        let changed = crate::prepared::prepared(
            "INSERT INTO outbound_messages \
                 (wamid, integration_id, recipient, status, status_rank, errors, status_at) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], \
                                  $5::integer[], $6::jsonb[], $7::timestamptz[]) \
             ON CONFLICT (wamid) DO UPDATE SET \
                 status = EXCLUDED.status, \
                 status_rank = EXCLUDED.status_rank, \
                 errors = COALESCE(EXCLUDED.errors, outbound_messages.errors), \
                 recipient = COALESCE(outbound_messages.recipient, EXCLUDED.recipient), \
                 status_at = EXCLUDED.status_at, \
                 updated_at = now() \
             WHERE outbound_messages.status_rank < EXCLUDED.status_rank \
               AND outbound_messages.integration_id = EXCLUDED.integration_id",
        )
        .bind::<Array<Text>, _>(wamids)
        .bind::<Array<BigInt>, _>(integrations)
        .bind::<Array<Nullable<Text>>, _>(recipients)
        .bind::<Array<Text>, _>(statuses)
        .bind::<Array<Integer>, _>(ranks)
        .bind::<Array<Nullable<Jsonb>>, _>(errors)
        .bind::<Array<Nullable<Timestamptz>>, _>(times)
        .execute(&mut conn)
        .await?;
        Ok(changed)
    }

    pub async fn outbound_message(
        &self,
        wamid: &str,
    ) -> Result<Option<OutboundMessage>, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<OutboundRow> = crate::prepared::prepared(
            "SELECT wamid, integration_id, conversation_key, recipient, batch_event_id, status, \
                    errors, \
                    status_at, created_at, updated_at \
             FROM outbound_messages WHERE wamid = $1",
        )
        .bind::<Text, _>(wamid)
        .get_result(&mut conn)
        .await
        .map(Some)
        .or_else(|err| match err {
            diesel::result::Error::NotFound => Ok(None),
            other => Err(other),
        })?;
        row.map(|row| {
            Ok(OutboundMessage {
                status: MessageStatus::parse(&row.status).ok_or_else(|| {
                    StoreError::Corrupt(format!("outbound message status {}", row.status))
                })?,
                wamid: row.wamid,
                integration_id: row.integration_id,
                conversation_key: row.conversation_key,
                recipient: row.recipient,
                batch_event_id: row.batch_event_id,
                errors: row.errors,
                status_at: row.status_at,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
        })
        .transpose()
    }

    /// Records receipts in one statement.
    pub async fn record_webhook_receipts(&self, receipts: &[NewReceipt]) -> Result<(), StoreError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let integrations: Vec<i64> = receipts.iter().map(|r| r.integration_id.get()).collect();
        let kinds: Vec<&str> = receipts.iter().map(|r| r.kind.as_str()).collect();
        let details: Vec<&Value> = receipts.iter().map(|r| &r.detail).collect();
        let mut conn = self.conn().await?;
        crate::prepared::prepared(
            "INSERT INTO webhook_receipts (integration_id, kind, detail) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::jsonb[])",
        )
        .bind::<Array<BigInt>, _>(integrations)
        .bind::<Array<Text>, _>(kinds)
        .bind::<Array<Jsonb>, _>(details)
        .execute(&mut conn)
        .await?;
        Ok(())
    }

    /// An integration's newest receipts first.
    pub async fn webhook_receipts(
        &self,
        integration: IntegrationId,
        limit: i64,
    ) -> Result<Vec<Receipt>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<ReceiptRow> = diesel::sql_query(
            "SELECT id, integration_id, received_at, kind, detail FROM webhook_receipts \
             WHERE integration_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind::<BigInt, _>(integration.get())
        .bind::<BigInt, _>(limit)
        .load(&mut conn)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Receipt {
                    kind: ReceiptKind::parse(&row.kind).ok_or_else(|| {
                        StoreError::Corrupt(format!("webhook receipt kind {}", row.kind))
                    })?,
                    id: row.id,
                    integration_id: row.integration_id,
                    received_at: row.received_at,
                    detail: row.detail,
                })
            })
            .collect()
    }

    /// How many receipts of `kind` an integration got since `since` (bad-signature bursts).
    pub async fn count_webhook_receipts_since(
        &self,
        integration: IntegrationId,
        kind: ReceiptKind,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn().await?;
        let row: CountRow = diesel::sql_query(
            "SELECT count(*) AS count FROM webhook_receipts \
             WHERE integration_id = $1 AND kind = $2 AND received_at >= $3",
        )
        .bind::<BigInt, _>(integration.get())
        .bind::<Text, _>(kind.as_str())
        .bind::<Timestamptz, _>(since)
        .get_result(&mut conn)
        .await?;
        Ok(row.count)
    }

    /// Deletes up to `batch` receipts older than `before`; returns how many.
    pub async fn prune_webhook_receipts(
        &self,
        before: DateTime<Utc>,
        batch: i64,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::sql_query(
            "DELETE FROM webhook_receipts WHERE id IN \
                 (SELECT id FROM webhook_receipts WHERE received_at < $1 LIMIT $2)",
        )
        .bind::<Timestamptz, _>(before)
        .bind::<BigInt, _>(batch)
        .execute(&mut conn)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(wamid: &str, status: MessageStatus) -> StatusUpdate {
        StatusUpdate {
            wamid: wamid.into(),
            integration_id: IntegrationId::new(1).unwrap_or_else(|_| unreachable!()),
            status,
            recipient: None,
            errors: None,
            status_at: None,
        }
    }

    #[test]
    fn ranks_follow_the_lifecycle_and_names_round_trip() {
        use MessageStatus::*;
        let order = [Accepted, Sent, Delivered, Read, Played, Failed];
        for pair in order.windows(2) {
            assert!(pair[0].rank() < pair[1].rank());
        }
        for status in order {
            assert_eq!(MessageStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(MessageStatus::parse("deleted"), None);
    }

    #[test]
    fn only_the_highest_status_per_message_is_kept_in_input_order() {
        use MessageStatus::*;
        let updates = [
            update("a", Read),
            update("b", Sent),
            update("a", Delivered),
            update("b", Delivered),
            update("c", Sent),
        ];
        let chosen: Vec<(&str, MessageStatus)> = highest_per_message(&updates)
            .into_iter()
            .map(|u| (u.wamid.as_str(), u.status))
            .collect();
        assert_eq!(chosen, [("a", Read), ("b", Delivered), ("c", Sent)]);
    }
}
