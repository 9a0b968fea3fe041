//! The test runner's sandbox integrations (docs/test-runner.md): created hidden for one run,
//! deleted with everything the run wrote when it ends.

use contracts::{AccountId, BotId, IntegrationId};
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Serialize;

use crate::integrations::IntegrationKind;
use crate::{Store, StoreError};

/// A sandbox integration to create.
#[derive(Debug, Clone)]
pub struct NewSandbox<'a> {
    pub account: AccountId,
    pub bot: BotId,
    /// The published version the run's sessions start on; the newest when `None`.
    pub version: Option<i32>,
    /// Run the bot's draft instead: it is copied into a hidden sandbox version (negative
    /// number: never listed, never published) removed with the sandbox. `version` is ignored.
    pub draft: bool,
    pub kind: IntegrationKind,
    /// WhatsApp: the phone number id the run's events carry (never an active number's).
    pub phone_number_id: &'a str,
    /// WhatsApp: the template the sender falls back to outside the 24-hour window.
    pub template: Option<(&'a str, &'a str)>,
}

/// What was removed with a sandbox integration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SandboxRemoval {
    pub integrations: u64,
    /// The hidden copy of the draft a draft run ran on (0 or 1).
    pub bot_versions: u64,
    pub sessions: u64,
    pub processed_events: u64,
    pub idempotency_keys: u64,
    pub outbound_batches: u64,
    pub outbound_messages: u64,
}

impl SandboxRemoval {
    pub fn total(&self) -> u64 {
        self.integrations
            + self.bot_versions
            + self.sessions
            + self.processed_events
            + self.idempotency_keys
            + self.outbound_batches
            + self.outbound_messages
    }
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct Pinned {
    #[diesel(sql_type = Nullable<BigInt>)]
    bot_id: Option<i64>,
    #[diesel(sql_type = Nullable<Integer>)]
    pinned_version: Option<i32>,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Integer)]
    version: i32,
}

#[derive(QueryableByName)]
struct Created {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Integer)]
    pinned_version: i32,
}

#[derive(QueryableByName)]
struct Counts {
    #[diesel(sql_type = BigInt)]
    integrations: i64,
    #[diesel(sql_type = BigInt)]
    bot_versions: i64,
    #[diesel(sql_type = BigInt)]
    sessions: i64,
    #[diesel(sql_type = BigInt)]
    processed_events: i64,
    #[diesel(sql_type = BigInt)]
    idempotency_keys: i64,
    #[diesel(sql_type = BigInt)]
    outbound_batches: i64,
    #[diesel(sql_type = BigInt)]
    outbound_messages: i64,
}

const COUNTS: &str = "SELECT \
    (SELECT count(*) FROM integrations WHERE id = $1 AND sandbox) AS integrations, \
    (SELECT count(*) FROM integrations i JOIN bot_versions v \
        ON v.bot_id = i.bot_id AND v.version = i.pinned_version \
        WHERE i.id = $1 AND i.sandbox AND v.version < 0) AS bot_versions, \
    (SELECT count(*) FROM sessions WHERE integration_id = $1) AS sessions, \
    (SELECT count(*) FROM processed_events WHERE integration_id = $1) AS processed_events, \
    (SELECT count(*) FROM idempotency_keys WHERE integration_id = $1) AS idempotency_keys, \
    (SELECT count(*) FROM outbound_batches WHERE integration_id = $1) AS outbound_batches, \
    (SELECT count(*) FROM outbound_messages WHERE integration_id = $1) AS outbound_messages";

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl From<Counts> for SandboxRemoval {
    fn from(c: Counts) -> Self {
        Self {
            integrations: count(c.integrations),
            bot_versions: count(c.bot_versions),
            sessions: count(c.sessions),
            processed_events: count(c.processed_events),
            idempotency_keys: count(c.idempotency_keys),
            outbound_batches: count(c.outbound_batches),
            outbound_messages: count(c.outbound_messages),
        }
    }
}

impl Store {
    /// Creates a hidden, active sandbox integration pinned to `version` of the account's bot.
    /// Its secrets are random bytes nobody holds: no API key or webhook can reach it.
    /// Returns the integration and the version it runs; `NotFound` when the account has no
    /// such bot or version.
    pub async fn create_sandbox_integration(
        &self,
        new: &NewSandbox<'_>,
    ) -> Result<(IntegrationId, i32), StoreError> {
        let mut conn = self.conn().await?;
        let new = new.clone();
        let (id, version) = conn
            .transaction(async move |conn| {
                let version = if new.draft {
                    let copied: Version = diesel::sql_query(
                        "INSERT INTO bot_versions (bot_id, version, variables, flow) \
                         SELECT id, -nextval('sandbox_versions'), variables, draft_flow \
                         FROM bots WHERE id = $2 AND account_id = $1 RETURNING version",
                    )
                    .bind::<BigInt, _>(new.account.get())
                    .bind::<BigInt, _>(new.bot.get())
                    .get_result(conn)
                    .await?;
                    Some(copied.version)
                } else {
                    new.version
                };
                let row: Created = diesel::sql_query(
                    "INSERT INTO integrations (account_id, kind, name, bot_id, active, sandbox, \
                         pinned_version) \
                     SELECT b.account_id, $3, 'test runner sandbox', b.id, true, true, v.version \
                     FROM bots b JOIN bot_versions v \
                         ON v.bot_id = b.id AND v.version = COALESCE($4, b.latest_version) \
                     WHERE b.id = $2 AND b.account_id = $1 \
                     RETURNING id, pinned_version",
                )
                .bind::<BigInt, _>(new.account.get())
                .bind::<BigInt, _>(new.bot.get())
                .bind::<Text, _>(new.kind.as_str())
                .bind::<Nullable<Integer>, _>(version)
                .get_result(conn)
                .await?;
                match new.kind {
                    IntegrationKind::Api => {
                        diesel::sql_query(
                            "INSERT INTO api_integrations (integration_id, key_digest, key_hint, \
                                 variable_injection, rate_limit_per_minute) \
                             VALUES ($1, sha256(gen_random_uuid()::text::bytea), 'sandbox', \
                                 true, 1000000)",
                        )
                        .bind::<BigInt, _>(row.id)
                        .execute(conn)
                        .await?;
                    }
                    IntegrationKind::Whatsapp => {
                        let (name, language) = new.template.unzip();
                        diesel::sql_query(
                            "INSERT INTO whatsapp_integrations (integration_id, \
                                 business_account_id, phone_number_id, app_id, \
                                 app_secret_sealed, access_token_sealed, verify_token_sealed, \
                                 verify_token_digest, template_name, template_language) \
                             VALUES ($1, 'sandbox', $2, 'sandbox', \
                                 sha256(gen_random_uuid()::text::bytea), \
                                 sha256(gen_random_uuid()::text::bytea), \
                                 sha256(gen_random_uuid()::text::bytea), \
                                 sha256(gen_random_uuid()::text::bytea), $3, $4)",
                        )
                        .bind::<BigInt, _>(row.id)
                        .bind::<Text, _>(new.phone_number_id)
                        .bind::<Nullable<Text>, _>(name)
                        .bind::<Nullable<Text>, _>(language)
                        .execute(conn)
                        .await?;
                    }
                }
                Ok::<_, StoreError>((row.id, row.pinned_version))
            })
            .await?;
        let id = IntegrationId::new(id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok((id, version))
    }

    /// What a sandbox integration holds now (all zero once it is removed).
    pub async fn sandbox_contents(&self, id: IntegrationId) -> Result<SandboxRemoval, StoreError> {
        let mut conn = self.conn().await?;
        let counts: Counts = diesel::sql_query(COUNTS)
            .bind::<BigInt, _>(id.get())
            .get_result(&mut conn)
            .await?;
        Ok(counts.into())
    }

    /// Deletes a sandbox integration and everything under it (cascade), returning what was
    /// removed. Only a sandbox row is ever deleted here.
    pub async fn remove_sandbox_integration(
        &self,
        id: IntegrationId,
    ) -> Result<SandboxRemoval, StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction(async move |conn| {
            let counts: Counts = diesel::sql_query(COUNTS)
                .bind::<BigInt, _>(id.get())
                .get_result(conn)
                .await?;
            let gone: Vec<Pinned> = diesel::sql_query(
                "DELETE FROM integrations WHERE id = $1 AND sandbox \
                 RETURNING bot_id, pinned_version",
            )
            .bind::<BigInt, _>(id.get())
            .load(conn)
            .await?;
            // The hidden copy of a draft goes with it (its sessions went with the integration).
            for pinned in gone {
                diesel::sql_query(
                    "DELETE FROM bot_versions WHERE bot_id = $1 AND version = $2 AND version < 0",
                )
                .bind::<Nullable<BigInt>, _>(pinned.bot_id)
                .bind::<Nullable<Integer>, _>(pinned.pinned_version)
                .execute(conn)
                .await?;
            }
            Ok::<_, StoreError>(counts.into())
        })
        .await
    }

    /// Sandbox integrations older than `age` (a run's sandbox lives at most as long as the
    /// run's timeout: older ones were left behind by a process that stopped).
    pub async fn stale_sandboxes(
        &self,
        age: std::time::Duration,
    ) -> Result<Vec<IntegrationId>, StoreError> {
        let mut conn = self.conn().await?;
        let millis = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
        let rows: Vec<Id> = diesel::sql_query(
            "SELECT id FROM integrations WHERE sandbox \
             AND created_at < now() - $1 * interval '1 millisecond'",
        )
        .bind::<diesel::sql_types::BigInt, _>(millis)
        .load(&mut conn)
        .await?;
        rows.into_iter()
            .map(|r| IntegrationId::new(r.id).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }
}
