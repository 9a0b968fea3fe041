//! Status webhooks for accepted sends: `sent`, `delivered`, `read` (configurable order), or a
//! `failed` status carrying 131047 for a send outside the 24-hour window in `async` mode.

use std::sync::Arc;

use super::deliver::{self, Body, Target};
use super::payload::{self, Metadata, Status};
use crate::escape::to_meta_json;
use crate::state::EmulatorState;

/// One accepted send whose statuses are to be emitted.
#[derive(Debug, Clone)]
pub struct StatusJob {
    pub phone_number_id: String,
    pub user: String,
    pub wamid: String,
    pub is_template: bool,
    pub biz_opaque_callback_data: Option<String>,
    /// Accepted although the 24-hour window was closed: emit `failed` with 131047.
    pub window_closed: bool,
}

/// Emits the job's statuses in the background, each after the configured delay, retried as
/// configured; the conversation log follows each status emitted.
pub fn spawn(state: Arc<EmulatorState>, job: StatusJob) {
    let settings = state.lock().effective(&job.phone_number_id);
    let sequence: Vec<String> = if job.window_closed {
        vec!["failed".into()]
    } else if settings.emit_statuses {
        settings.statuses.clone()
    } else {
        return;
    };
    let target = match (&settings.webhook_target_url, &settings.app_secret) {
        (Some(url), Some(secret)) => Some(Target {
            url: url.clone(),
            app_secret: secret.clone(),
        }),
        (Some(url), None) => {
            tracing::warn!(%url, "a webhook target without app_secret: statuses not sent");
            None
        }
        _ => None,
    };
    let runtime = state.runtime.clone();
    runtime.spawn(async move {
        for status in sequence {
            tokio::time::sleep(settings.status_delay).await;
            state.lock().set_outbound_status(&job.phone_number_id, &job.user, &job.wamid, &status);
            let Some(target) = &target else { continue };
            let body = status_body(&job, &status, &settings.waba_id, &settings.display_phone_number);
            let Ok(text) = to_meta_json(&body, false) else { continue };
            let outcome = deliver::deliver(
                &state.http,
                target,
                Body {
                    text,
                    ids: vec![job.wamid.clone()],
                },
                settings.retry,
            )
            .await;
            if !outcome.acknowledged {
                tracing::warn!(wamid = %job.wamid, %status, attempts = outcome.attempts.len(), "status webhook not acknowledged");
            }
        }
    });
}

fn status_body(
    job: &StatusJob,
    status: &str,
    waba_id: &str,
    display_phone_number: &str,
) -> payload::Envelope {
    let priced = matches!(status, "sent" | "delivered");
    payload::status_envelope(
        waba_id,
        Metadata {
            display_phone_number: display_phone_number.to_owned(),
            phone_number_id: job.phone_number_id.clone(),
        },
        Status {
            id: job.wamid.clone(),
            status: status.to_owned(),
            timestamp: chrono::Utc::now().timestamp().to_string(),
            recipient_id: job.user.clone(),
            biz_opaque_callback_data: job.biz_opaque_callback_data.clone(),
            pricing: priced.then(|| payload::pricing(job.is_template)),
            errors: (status == "failed").then(|| vec![payload::window_closed_error()]),
        },
    )
}
