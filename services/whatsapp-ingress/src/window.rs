//! A 131047 (outside the 24-hour window) that Meta reports later, in a `failed` status
//! webhook, for a message it had accepted: the ingress asks the sender for the template
//! fallback (a v1 `WindowFallback` on `bot.outbound`), which then runs the same code as for a
//! send Meta refuses at once. Once per failed batch: the request's event id is derived from the
//! batch's, and the sender finishes a request once (`outbound_batches`), so more failed messages
//! of the batch and redelivered webhooks ask again harmlessly.

use std::time::Duration;

use broker::topology::{OUTBOUND_EXCHANGE, WHATSAPP_ROUTING_KEY};
use broker::{PublishOptions, Publisher};
use contracts::v1::{ConversationKey, Recipient, SchemaVersion, WindowFallback};
use contracts::IntegrationId;
use serde_json::Value;
use store::Store;
use tokio::runtime::Handle;
use tracing::Instrument;

use crate::publish::PublishError;

/// Meta's "Re-engagement message" error: the 24-hour window is closed.
const OUTSIDE_WINDOW_CODE: i64 = 131047;

/// A `failed` status with 131047, as the webhook said it.
#[derive(Debug, Clone, PartialEq)]
pub struct LateWindowFailure {
    pub integration_id: IntegrationId,
    pub phone_number_id: String,
    pub wamid: String,
    pub to: Recipient,
}

/// Whether a status's `errors` say the window was closed.
pub fn is_window_failure(errors: Option<&Value>) -> bool {
    errors.and_then(Value::as_array).is_some_and(|errors| {
        errors
            .iter()
            .any(|e| e["code"].as_i64() == Some(OUTSIDE_WINDOW_CODE))
    })
}

/// The fallback request for a failure, when the message is one the platform sent (the sender
/// recorded it with its batch) for this integration, and not itself a fallback's template.
pub async fn request_for(
    store: &Store,
    failure: &LateWindowFailure,
) -> Result<Option<WindowFallback>, store::StoreError> {
    let Some(sent) = store.outbound_message(&failure.wamid).await? else {
        return Ok(None);
    };
    let Some(batch) = sent.batch_event_id else {
        return Ok(None);
    };
    if sent.integration_id != failure.integration_id.get() || WindowFallback::is_request(&batch) {
        return Ok(None);
    }
    let user = match &failure.to {
        Recipient::WaId(id) | Recipient::UserId(id) => id.as_str(),
    };
    Ok(Some(WindowFallback {
        schema: SchemaVersion::V1,
        event_id: WindowFallback::event_id_for(&batch),
        integration_id: failure.integration_id,
        conversation_key: ConversationKey::whatsapp(
            failure.integration_id,
            &failure.phone_number_id,
            user,
        ),
        phone_number_id: failure.phone_number_id.clone(),
        to: failure.to.clone(),
        failed_batch: batch,
        failed_message_id: failure.wamid.clone(),
    }))
}

/// Publishes the requests to `bot.outbound`, each confirmed, on the broker's runtime.
pub async fn publish_requests(
    publisher: &Publisher,
    runtime: &Handle,
    requests: Vec<WindowFallback>,
    within: Duration,
) -> Result<(), PublishError> {
    if requests.is_empty() {
        return Ok(());
    }
    let publisher = publisher.clone();
    let span = tracing::Span::current();
    runtime
        .spawn(
            async move {
                for request in requests {
                    let body = contracts::v1::encode(&request)?;
                    let options = PublishOptions::json(request.event_id.clone()).mandatory();
                    publisher
                        .publish_with_retry(
                            OUTBOUND_EXCHANGE,
                            WHATSAPP_ROUTING_KEY,
                            &body,
                            options,
                            within,
                        )
                        .await?;
                    tracing::info!(
                        failed_batch = %request.failed_batch,
                        failed_message = %request.failed_message_id,
                        "outside the 24-hour window: template fallback requested"
                    );
                }
                Ok::<(), PublishError>(())
            }
            .instrument(span),
        )
        .await
        .map_err(|error| PublishError::Task(error.to_string()))?
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_131047_is_a_window_failure() {
        assert!(is_window_failure(Some(&json!([
            {"code": 131047, "title": "Re-engagement message"}
        ]))));
        assert!(!is_window_failure(Some(&json!([{"code": 131026}]))));
        assert!(!is_window_failure(Some(&json!({"code": 131047}))));
        assert!(!is_window_failure(None));
    }
}
