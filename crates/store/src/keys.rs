//! The deployment key's footprint in the database, and its rotation (docs/security.md,
//! "Deployment-key rotation").
//!
//! - `digest_key_chain`: earlier keys' digest layers, sealed under the current key; every
//!   service that verifies tokens builds its [`DigestKey`] from it ([`Store::digest_key`]).
//! - Sealed columns: a WhatsApp integration's app secret, access token and verify token.
//! - Digest columns: operator tokens, API keys, verify tokens.
//!
//! [`Store::rotate_deployment_key`] moves all of them from `DEPLOYMENT_KEY_PREVIOUS` to
//! `DEPLOYMENT_KEY` while the services run (configured with both keys): each change is a
//! compare-and-set on the value it read, so a concurrent write (a refreshed access token, a
//! new verify token: both already under the new key) is never overwritten, and running the
//! rotation again resumes where it stopped.

use contracts::IntegrationId;
use crypto::{CryptoError, DeploymentKey, DigestKey, StoredLayer};
use diesel::sql_types::{BigInt, Bytea, Integer};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::integrations::secret_aad;
use crate::{Store, StoreError};

/// Rows read per page while rotating.
const PAGE: i64 = 500;

#[derive(QueryableByName)]
struct LayerRow {
    #[diesel(sql_type = Integer)]
    generation: i32,
    #[diesel(sql_type = Bytea)]
    sealed: Vec<u8>,
}

#[derive(QueryableByName)]
struct ValueRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Bytea)]
    value: Vec<u8>,
}

/// A column the rotation rewrites: its table, row id column and value column.
#[derive(Debug, Clone, Copy)]
struct Column {
    table: &'static str,
    id: &'static str,
    value: &'static str,
    kind: ColumnKind,
}

#[derive(Debug, Clone, Copy)]
enum ColumnKind {
    /// Sealed with `secret_aad(integration, field)`.
    Sealed { field: &'static str },
    /// A token digest.
    Digest,
}

const COLUMNS: [Column; 6] = [
    Column {
        table: "whatsapp_integrations",
        id: "integration_id",
        value: "app_secret_sealed",
        kind: ColumnKind::Sealed {
            field: "app_secret",
        },
    },
    Column {
        table: "whatsapp_integrations",
        id: "integration_id",
        value: "access_token_sealed",
        kind: ColumnKind::Sealed {
            field: "access_token",
        },
    },
    Column {
        table: "whatsapp_integrations",
        id: "integration_id",
        value: "verify_token_sealed",
        kind: ColumnKind::Sealed {
            field: "verify_token",
        },
    },
    Column {
        table: "whatsapp_integrations",
        id: "integration_id",
        value: "verify_token_digest",
        kind: ColumnKind::Digest,
    },
    Column {
        table: "api_integrations",
        id: "integration_id",
        value: "key_digest",
        kind: ColumnKind::Digest,
    },
    Column {
        table: "operator_tokens",
        id: "id",
        value: "token_digest",
        kind: ColumnKind::Digest,
    },
];

/// What a rotation did, per kind of value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Digest generation written from now on.
    pub generation: usize,
    /// Sealed values re-sealed under the new key.
    pub resealed: u64,
    /// Digests re-wrapped into the new generation.
    pub rewrapped: u64,
    /// Values found already under the new key (written by the running services, or by an
    /// earlier run of the rotation).
    pub already_current: u64,
    /// Values that could not be moved: they open under neither key, or are digests of an
    /// older generation than the previous key's. Non-zero means the rotation is incomplete:
    /// keep `DEPLOYMENT_KEY_PREVIOUS` and investigate.
    pub stuck: u64,
}

impl RotationReport {
    /// Whether every value is under the new key: `DEPLOYMENT_KEY_PREVIOUS` may be removed.
    pub fn complete(&self) -> bool {
        self.stuck == 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("DEPLOYMENT_KEY_PREVIOUS is not set: configure the key being retired beside the new DEPLOYMENT_KEY")]
    NoPreviousKey,
    #[error("the stored digest key chain does not open under DEPLOYMENT_KEY or DEPLOYMENT_KEY_PREVIOUS: {0}")]
    Chain(CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for RotationError {
    fn from(error: diesel::result::Error) -> Self {
        RotationError::Store(error.into())
    }
}

impl Store {
    async fn stored_layers(
        conn: &mut diesel_async::AsyncPgConnection,
    ) -> Result<Vec<StoredLayer>, StoreError> {
        let rows: Vec<LayerRow> = diesel::sql_query(
            "SELECT generation, sealed FROM digest_key_chain ORDER BY generation",
        )
        .load(conn)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| StoredLayer {
                generation: usize::try_from(row.generation).unwrap_or(usize::MAX),
                sealed: row.sealed,
            })
            .collect())
    }

    /// The token digest key under `key` (and its previous key, during a rotation): the stored
    /// chain of earlier keys' layers plus `key`'s own. Services call this once at start.
    pub async fn digest_key(&self, key: &DeploymentKey) -> Result<DigestKey, StoreError> {
        let mut conn = self.conn().await?;
        let stored = Self::stored_layers(&mut conn).await?;
        key.assemble_digest_chain(&stored)
            .map(|chain| chain.digest_key)
            .map_err(|error| StoreError::Corrupt(format!("digest key chain: {error}")))
    }

    /// Rotates every stored secret and digest from `key`'s previous key to `key`. Safe to run
    /// while the services run with both keys, and to run again (it resumes).
    pub async fn rotate_deployment_key(
        &self,
        key: &DeploymentKey,
    ) -> Result<RotationReport, RotationError> {
        if key.previous().is_none() {
            return Err(RotationError::NoPreviousKey);
        }
        let digest_key = self.store_digest_chain(key).await?;
        let mut report = RotationReport {
            generation: digest_key.generation(),
            ..RotationReport::default()
        };
        for column in COLUMNS {
            self.rotate_column(column, key, &digest_key, &mut report)
                .await?;
        }
        tracing::info!(
            generation = report.generation,
            resealed = report.resealed,
            rewrapped = report.rewrapped,
            already_current = report.already_current,
            stuck = report.stuck,
            "deployment key rotation pass finished"
        );
        Ok(report)
    }

    /// Step one: the chain's rows re-sealed under the new key, the previous key's layer
    /// appended; under a table lock, so two rotations never interleave here.
    async fn store_digest_chain(&self, key: &DeploymentKey) -> Result<DigestKey, RotationError> {
        let mut conn = self.conn().await?;
        let key = key.clone();
        conn.transaction(async move |conn| {
            diesel::sql_query("LOCK TABLE digest_key_chain IN EXCLUSIVE MODE")
                .execute(conn)
                .await
                .map_err(StoreError::from)?;
            let stored = Self::stored_layers(conn).await?;
            let chain = key
                .assemble_digest_chain(&stored)
                .map_err(RotationError::Chain)?;
            for row in &chain.rows_to_store {
                diesel::sql_query(
                    "INSERT INTO digest_key_chain (generation, sealed) VALUES ($1, $2) \
                     ON CONFLICT (generation) DO UPDATE SET sealed = EXCLUDED.sealed, \
                     stored_at = now()",
                )
                .bind::<Integer, _>(i32::try_from(row.generation).unwrap_or(i32::MAX))
                .bind::<Bytea, _>(&row.sealed)
                .execute(conn)
                .await
                .map_err(StoreError::from)?;
            }
            Ok(chain.digest_key)
        })
        .await
    }

    async fn rotate_column(
        &self,
        column: Column,
        key: &DeploymentKey,
        digest_key: &DigestKey,
        report: &mut RotationReport,
    ) -> Result<(), StoreError> {
        let mut after = i64::MIN;
        loop {
            let rows = self.column_page(column, after).await?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            after = last.id;
            for row in rows {
                self.rotate_value(column, key, digest_key, row, report)
                    .await?;
            }
        }
    }

    async fn column_page(&self, column: Column, after: i64) -> Result<Vec<ValueRow>, StoreError> {
        let mut conn = self.conn().await?;
        let Column {
            table, id, value, ..
        } = column;
        Ok(diesel::sql_query(format!(
            "SELECT {id} AS id, {value} AS value FROM {table} WHERE {id} > $1 \
             ORDER BY {id} LIMIT $2"
        ))
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(PAGE)
        .load(&mut conn)
        .await?)
    }

    /// One value: moved with a compare-and-set; when a concurrent writer changed it in
    /// between, the new value is read and judged again (a writer writes under the new key, so
    /// this ends at once).
    async fn rotate_value(
        &self,
        column: Column,
        key: &DeploymentKey,
        digest_key: &DigestKey,
        mut row: ValueRow,
        report: &mut RotationReport,
    ) -> Result<(), StoreError> {
        for _ in 0..5 {
            let moved = match column.kind {
                ColumnKind::Sealed { field } => {
                    let aad = IntegrationId::new(row.id)
                        .map(|id| secret_aad(id, field))
                        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                    match key.reseal(&row.value, &aad) {
                        Ok(moved) => moved,
                        Err(error) => {
                            tracing::error!(table = column.table, column = column.value, id = row.id, %error, "value opens under neither key");
                            report.stuck += 1;
                            return Ok(());
                        }
                    }
                }
                ColumnKind::Digest => match digest_key.rewrap(&row.value) {
                    Some(moved) => Some(moved),
                    None if DigestKey::generation_of(&row.value)
                        == Some(digest_key.generation()) =>
                    {
                        None
                    }
                    None => {
                        tracing::error!(
                            table = column.table,
                            column = column.value,
                            id = row.id,
                            "digest of an unexpected generation"
                        );
                        report.stuck += 1;
                        return Ok(());
                    }
                },
            };
            let Some(moved) = moved else {
                report.already_current += 1;
                return Ok(());
            };
            if self.compare_and_set(column, &row, &moved).await? {
                match column.kind {
                    ColumnKind::Sealed { .. } => report.resealed += 1,
                    ColumnKind::Digest => report.rewrapped += 1,
                }
                return Ok(());
            }
            match self.reread(column, row.id).await? {
                Some(current) => row = current,
                // Deleted meanwhile: nothing to move.
                None => return Ok(()),
            }
        }
        report.stuck += 1;
        Ok(())
    }

    async fn compare_and_set(
        &self,
        column: Column,
        row: &ValueRow,
        moved: &[u8],
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let Column {
            table, id, value, ..
        } = column;
        let updated = diesel::sql_query(format!(
            "UPDATE {table} SET {value} = $1 WHERE {id} = $2 AND {value} = $3"
        ))
        .bind::<Bytea, _>(moved)
        .bind::<BigInt, _>(row.id)
        .bind::<Bytea, _>(&row.value)
        .execute(&mut conn)
        .await?;
        Ok(updated == 1)
    }

    async fn reread(&self, column: Column, row_id: i64) -> Result<Option<ValueRow>, StoreError> {
        use diesel::OptionalExtension;
        let mut conn = self.conn().await?;
        let Column {
            table, id, value, ..
        } = column;
        Ok(diesel::sql_query(format!(
            "SELECT {id} AS id, {value} AS value FROM {table} WHERE {id} = $1"
        ))
        .bind::<BigInt, _>(row_id)
        .get_result(&mut conn)
        .await
        .optional()?)
    }
}
