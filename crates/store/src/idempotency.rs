//! The API gateway's side of Idempotency-Key (PRODUCT.md 4): claiming a key before a request is
//! published, replaying a stored answer, refusing a reused or busy key.

use std::time::Duration;

use chrono::{DateTime, Utc};
use contracts::IntegrationId;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use crate::schema::idempotency_keys;
use crate::{Store, StoreError};

/// The outcome of claiming a key for a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Go ahead and publish under `event_id` (the first claim's, when a lapsed claim is taken
    /// over, so that the executor recognises the event if the first attempt did reach it).
    Claimed { event_id: String },
    /// The flow already ran for this key and request: answer this again.
    Replay { status: u16, body: Value },
    /// The first request with this key is still running.
    InProgress,
    /// The key was used with a different request.
    Mismatch,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = idempotency_keys, check_for_backend(diesel::pg::Pg))]
struct KeyRow {
    request_hash: Vec<u8>,
    event_id: String,
    state: String,
    response_status: Option<i32>,
    response_body: Option<Value>,
    lease_until: DateTime<Utc>,
}

pub struct KeyRef<'a> {
    pub integration: IntegrationId,
    /// `session_start` or `message`.
    pub endpoint: &'a str,
    pub key: &'a str,
}

impl Store {
    /// Claims `key` for a request whose hash is `request_hash`, holding it for `lease` (after
    /// which a retry may take it over, should this gateway have died before publishing).
    pub async fn claim_idempotency_key(
        &self,
        key: KeyRef<'_>,
        request_hash: &[u8],
        event_id: &str,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let mut conn = self.conn().await?;
        let lease_until = Utc::now()
            + chrono::Duration::from_std(lease).unwrap_or_else(|_| chrono::Duration::seconds(60));
        let inserted = diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::integration_id.eq(key.integration.get()),
                idempotency_keys::endpoint.eq(key.endpoint),
                idempotency_keys::key.eq(key.key),
                idempotency_keys::request_hash.eq(request_hash),
                idempotency_keys::event_id.eq(event_id),
                idempotency_keys::state.eq("in_progress"),
                idempotency_keys::lease_until.eq(lease_until),
            ))
            .on_conflict_do_nothing()
            .execute(&mut conn)
            .await?;
        if inserted == 1 {
            return Ok(Claim::Claimed {
                event_id: event_id.to_owned(),
            });
        }
        let target = idempotency_keys::table.find((key.integration.get(), key.endpoint, key.key));
        let Some(row) = target
            .select(KeyRow::as_select())
            .first::<KeyRow>(&mut conn)
            .await
            .optional()?
        else {
            // Gone in between (expired rows are swept): claim it afresh.
            return Box::pin(self.claim_idempotency_key(key, request_hash, event_id, lease)).await;
        };
        if !crypto_free_eq(&row.request_hash, request_hash) {
            return Ok(Claim::Mismatch);
        }
        if row.state == "completed" {
            return Ok(Claim::Replay {
                status: row
                    .response_status
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(200),
                body: row.response_body.unwrap_or(Value::Null),
            });
        }
        if row.lease_until > Utc::now() {
            return Ok(Claim::InProgress);
        }
        // The claim lapsed: take it over atomically (only one retry wins).
        let taken = diesel::update(
            target
                .filter(idempotency_keys::state.eq("in_progress"))
                .filter(idempotency_keys::lease_until.eq(row.lease_until)),
        )
        .set(idempotency_keys::lease_until.eq(lease_until))
        .execute(&mut conn)
        .await?;
        Ok(if taken == 1 {
            Claim::Claimed {
                event_id: row.event_id,
            }
        } else {
            Claim::InProgress
        })
    }

    /// Gives a claimed key back when handing the request to the executor failed: its lease
    /// ends now, but the key keeps its request and its event id, so that the client's retry
    /// takes it over with the same event id. A publish that failed may still have reached the
    /// queue (the broker stored it and died before confirming: the fault suite's
    /// `rabbitmq-kill-9` found two such); the executor then sees the retry as the same event
    /// and runs the turn once. With a fresh event id it would run twice.
    pub async fn release_idempotency_key(&self, key: KeyRef<'_>) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::update(
            idempotency_keys::table
                .find((key.integration.get(), key.endpoint, key.key))
                .filter(idempotency_keys::state.eq("in_progress")),
        )
        .set(idempotency_keys::lease_until.eq(Utc::now() - chrono::Duration::seconds(1)))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}

/// Request hashes are not secrets; a plain comparison is fine.
fn crypto_free_eq(a: &[u8], b: &[u8]) -> bool {
    a == b
}
