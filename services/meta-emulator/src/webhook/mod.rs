//! Webhooks to an ingress: user messages and raw bodies on request
//! (`POST /_emulator/webhooks/deliver`), statuses after accepted sends.

pub mod deliver;
pub mod payload;
pub mod statuses;

use serde_json::Value;

use crate::api::DeliverRequest;
use crate::escape::{escape_json_text, to_meta_json};
use crate::state::EmulatorState;
use deliver::{Body, Plan, Target};
use payload::PayloadError;

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("give exactly one of payload, payloads, raw_body or messages")]
    Source,
    #[error("raw_body is not JSON: {0}")]
    RawBody(serde_json::Error),
    #[error(transparent)]
    Message(#[from] PayloadError),
    #[error("no target_url given and none configured (POST /_emulator/config)")]
    NoTarget,
    #[error("no app_secret given and none configured (POST /_emulator/config)")]
    NoSecret,
    #[error("serialising the body: {0}")]
    Serialise(serde_json::Error),
}

/// Builds the bodies of a deliver request, signed for its target, and opens the 24-hour
/// windows of the users who "wrote" them.
pub fn prepare(
    state: &EmulatorState,
    request: &DeliverRequest,
) -> Result<(Target, Vec<Body>, Plan), DeliverError> {
    let sources = usize::from(request.payload.is_some())
        + usize::from(request.payloads.is_some())
        + usize::from(request.raw_body.is_some())
        + usize::from(!request.messages.is_empty());
    if sources != 1 {
        return Err(DeliverError::Source);
    }
    let slashes = request.escape_slashes;
    let mut values: Vec<Value> = Vec::new();
    let mut bodies = Vec::new();
    if let Some(raw) = &request.raw_body {
        let value: Value = serde_json::from_str(raw).map_err(DeliverError::RawBody)?;
        bodies.push(Body {
            text: escape_json_text(raw, slashes),
            ids: payload::body_ids(&value),
        });
        values.push(value);
    }
    for value in request
        .payload
        .iter()
        .chain(request.payloads.iter().flatten())
    {
        bodies.push(Body {
            text: to_meta_json(value, slashes).map_err(DeliverError::Serialise)?,
            ids: payload::body_ids(value),
        });
        values.push(value.clone());
    }
    let first_number = request
        .messages
        .first()
        .map(|m| m.phone_number_id.clone())
        .or_else(|| values.iter().find_map(phone_number_of));
    let settings = state
        .lock()
        .effective(first_number.as_deref().unwrap_or_default());
    if !request.messages.is_empty() {
        let now = chrono::Utc::now().timestamp();
        let built = request
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let display = state
                    .lock()
                    .effective(&m.phone_number_id)
                    .display_phone_number;
                payload::build_message(i, m, &display, now)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let groups: Vec<Vec<payload::BuiltMessage>> = if request.batch {
            vec![built]
        } else {
            built.into_iter().map(|b| vec![b]).collect()
        };
        for group in groups {
            let envelope = payload::messages_envelope(&settings.waba_id, group);
            let value = serde_json::to_value(&envelope).map_err(DeliverError::Serialise)?;
            bodies.push(Body {
                text: to_meta_json(&envelope, slashes).map_err(DeliverError::Serialise)?,
                ids: payload::body_ids(&value),
            });
            values.push(value);
        }
    }
    let target = Target {
        url: request
            .target_url
            .clone()
            .or(settings.webhook_target_url)
            .ok_or(DeliverError::NoTarget)?,
        app_secret: request
            .app_secret
            .clone()
            .or(settings.app_secret)
            .ok_or(DeliverError::NoSecret)?,
    };
    {
        let mut data = state.lock();
        for (pnid, user, at) in values.iter().flat_map(payload::inbound_senders) {
            data.note_inbound(&pnid, &user, at);
        }
    }
    let plan = Plan {
        duplicate: request.duplicate,
        reorder: request.reorder,
        concurrent: request.concurrent,
        retry: request.retry.unwrap_or_default(),
    };
    Ok((target, bodies, plan))
}

fn phone_number_of(body: &Value) -> Option<String> {
    body.pointer("/entry/0/changes/0/value/metadata/phone_number_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
}
