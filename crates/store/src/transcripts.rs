//! Conversation transcripts: what `botctl test record` turns into a scenario
//! (docs/test-runner.md, "Recording"). The executor writes one [`TranscriptTurn`] into the
//! `processed_events` row it already inserts for each turn (same statement, same
//! transaction); the admin reads a conversation's turns back, account-scoped. They live as long
//! as the row: `EVENT_HISTORY_RETENTION_HOURS` of the executor.

use chrono::{DateTime, Utc};
use contracts::v1::Input;
use contracts::{AccountId, IntegrationId};
use diesel::sql_types::{BigInt, Jsonb, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Store, StoreError};

/// How the executor ended a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnOutcome {
    /// The flow ran and answered.
    Answered,
    /// The flow ran and failed (a bot execution error).
    Failed,
    /// Refused before the flow ran (404, 409, 422): the session did not change.
    Refused,
    /// Nothing to say (WhatsApp input the session cannot take): the session did not change.
    Silent,
}

/// One HTTP call a turn's flow made, and its answer (the request's headers and body are not
/// kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptHttpCall {
    pub method: String,
    pub url: String,
    /// The answer's status; `None` when no answer came (`failure` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// One turn of a conversation, as recording needs it (the messages are in the row's outputs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptTurn {
    /// `api` or `whatsapp`.
    pub channel: String,
    pub input: Input,
    pub outcome: TurnOutcome,
    /// The turn started a session (the first turn of a conversation).
    #[serde(default)]
    pub started: bool,
    /// The bot version the turn ran on, when the flow ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_version: Option<i32>,
    /// The components entered, in order.
    #[serde(default)]
    pub path: Vec<String>,
    /// The component the session waits at after the turn (`None`: none, or unknown when the
    /// flow did not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default)]
    pub is_final: bool,
    /// The bot's execution error: (component, message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_calls: Vec<TranscriptHttpCall>,
}

/// A stored turn with what it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTurn {
    pub turn: TranscriptTurn,
    /// The executor's outputs (`flow_executor::outputs::Outputs` as JSON): the API reply and
    /// the WhatsApp batches with the bot's messages.
    pub outputs: Value,
    pub processed_at: DateTime<Utc>,
}

/// At most this many of a conversation's newest turns are read back.
pub const MAX_TRANSCRIPT_TURNS: i64 = 500;

impl Store {
    /// The turns recorded for conversation `session_id` of the account's (non-sandbox)
    /// integration, oldest first (at most the newest [`MAX_TRANSCRIPT_TURNS`]). `NotFound`
    /// when the integration is not the account's; an empty list when nothing is recorded
    /// (never, or pruned).
    pub async fn conversation_transcript(
        &self,
        account: AccountId,
        integration: IntegrationId,
        session_id: &str,
    ) -> Result<Vec<StoredTurn>, StoreError> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Jsonb)]
            transcript: Value,
            #[diesel(sql_type = Jsonb)]
            outputs: Value,
            #[diesel(sql_type = Timestamptz)]
            processed_at: DateTime<Utc>,
        }
        #[derive(QueryableByName)]
        struct Found {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = self.conn().await?;
        let owned: Found = diesel::sql_query(
            "SELECT count(*) AS n FROM integrations WHERE id = $1 AND account_id = $2 \
             AND NOT sandbox",
        )
        .bind::<BigInt, _>(integration.get())
        .bind::<BigInt, _>(account.get())
        .get_result(&mut conn)
        .await?;
        if owned.n == 0 {
            return Err(StoreError::NotFound);
        }
        let mut rows: Vec<Row> = diesel::sql_query(
            "SELECT transcript, outputs, processed_at FROM processed_events \
             WHERE integration_id = $1 AND session_id = $2 AND transcript IS NOT NULL \
             ORDER BY processed_at DESC LIMIT $3",
        )
        .bind::<BigInt, _>(integration.get())
        .bind::<Text, _>(session_id)
        .bind::<BigInt, _>(MAX_TRANSCRIPT_TURNS)
        .load(&mut conn)
        .await?;
        rows.reverse();
        rows.into_iter()
            .map(|row| {
                Ok(StoredTurn {
                    turn: serde_json::from_value(row.transcript)
                        .map_err(|e| StoreError::Corrupt(format!("stored transcript: {e}")))?,
                    outputs: row.outputs,
                    processed_at: row.processed_at,
                })
            })
            .collect()
    }
}
