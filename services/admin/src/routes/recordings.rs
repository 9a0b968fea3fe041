//! Recording a real conversation as a test scenario (`botctl test record`, docs/test-runner.md
//! "Recording"): the turns the executor stored with each processed event, turned into a
//! scenario file by `test_runner::record`.

use actix_web::web;
use contracts::IntegrationId;
use test_runner::record::{record, RecordError, Recording};

use crate::auth::Operator;
use crate::error::{ApiError, ErrorBody, FromStore};
use crate::state::AppState;

/// A conversation of the integration as a scenario file that replays it: its start, each
/// user turn, and per turn the components entered, the waiting component, the messages and
/// the error it had; the flow's HTTP calls answered by stubs with the answers it got.
/// `conversation` is the API session id, or the WhatsApp user's `wa_id`. The newest
/// conversation under that id is recorded, while its turns are in the executor's history
/// (`EVENT_HISTORY_RETENTION_HOURS`, 7 days by default).
#[utoipa::path(get, path = "/v1/integrations/{integration_id}/conversations/{conversation}/scenario",
    tag = "test runner",
    params(("integration_id" = i64, Path), ("conversation" = String, Path,
        description = "the API session id, or the WhatsApp user's wa_id")),
    responses((status = 200, body = Recording),
        (status = 404, body = ErrorBody, description = "no such integration in this account, or no recorded turns of this conversation (never, or pruned)"),
        (status = 422, body = ErrorBody, description = "the conversation cannot be replayed (begun by a proactive start)")))]
pub async fn record_conversation(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<(IntegrationId, String)>,
) -> Result<web::Json<Recording>, ApiError> {
    let (integration, conversation) = path.into_inner();
    let turns = state
        .store
        .conversation_transcript(operator.account.id, integration, &conversation)
        .await
        .map_err(|err| ApiError::from_store(err, "integration"))?;
    match record(integration.get(), &conversation, &turns) {
        Ok(recording) => Ok(web::Json(recording)),
        Err(err @ RecordError::NoStart) => Err(ApiError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("conversation not found: {err}"),
        )),
        Err(err @ RecordError::ProactiveStart) => {
            Err(ApiError::unprocessable("not_recordable", err.to_string()))
        }
        Err(err @ RecordError::Write(_)) => {
            tracing::error!(error = %err, "recording a conversation failed");
            Err(ApiError::internal())
        }
    }
}
