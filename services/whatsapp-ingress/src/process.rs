//! Turns a verified webhook payload into a plan: the events to publish, the statuses to apply
//! and the receipts to record. Nothing is written here; `lib.rs` carries the plan out and
//! answers 200 only when all of it is done.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use contracts::v1::{
    Channel, ConversationKey, InboundEvent, Input, Recipient, SchemaVersion, WhatsappContext,
};
use contracts::IntegrationId;
use serde_json::{json, Value};
use store::whatsapp::{MessageStatus, NewReceipt, ReceiptKind, StatusUpdate};

use crate::integrations::{IntegrationCache, LookupError, WhatsappIntegration};
use crate::normalize::{self, Meaning, Sender};
use crate::payload::{
    unix_seconds, Change, ChangeValue, Contact, Entry, Envelope, Message, Status, MESSAGES_FIELD,
    WHATSAPP_OBJECT,
};
use crate::window::{is_window_failure, LateWindowFailure};

/// The executor keeps session ids to 255 characters; a longer user key could never start one.
const MAX_USER_KEY_LEN: usize = 255;
/// WhatsApp's own limit for a text message (and above its captions' and titles'): a longer
/// text in a signed payload is cut to it, and the cut is recorded (docs/whatsapp-ingress.md).
pub const MAX_INPUT_CHARS: usize = 4096;

/// One event to publish, with what orders it within its conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEvent {
    pub event: InboundEvent,
    /// Meta's timestamp (unix seconds).
    pub sent_at: i64,
    /// Position in the payload: the tie-break for equal timestamps.
    pub position: usize,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub events: Vec<PlannedEvent>,
    pub statuses: Vec<StatusUpdate>,
    pub receipts: Vec<NewReceipt>,
    /// Integrations that received messages (their last activity is updated).
    pub active: BTreeSet<IntegrationId>,
    /// `failed` statuses with 131047: a template fallback may be due (see `window.rs`).
    pub window_failures: Vec<LateWindowFailure>,
}

impl Plan {
    fn record(&mut self, integration: IntegrationId, kind: ReceiptKind, detail: Value) {
        self.receipts.push(NewReceipt {
            integration_id: integration,
            kind,
            detail,
        });
    }
}

/// Which integration a change's phone number id belongs to, decided once per number per POST.
struct Router<'a> {
    url: &'a Arc<WhatsappIntegration>,
    cache: &'a IntegrationCache,
    decided: HashMap<String, Option<Arc<WhatsappIntegration>>>,
}

impl Router<'_> {
    /// The integration serving `phone_number_id` for this webhook:
    /// 1. the URL's integration when it is active and serves the number;
    /// 2. else the active integration serving the number, when it is of the same account and
    ///    Meta app (one app has one callback URL for all its numbers, and its secret signed);
    /// 3. else the URL's integration when the number is its own (inactive: messages are
    ///    ignored, statuses still recorded);
    /// 4. else none.
    async fn route(
        &mut self,
        phone_number_id: &str,
    ) -> Result<Option<Arc<WhatsappIntegration>>, LookupError> {
        if let Some(decided) = self.decided.get(phone_number_id) {
            return Ok(decided.clone());
        }
        let own_number = self.url.phone_number_id == phone_number_id;
        let decided = if own_number && self.url.active {
            Some(self.url.clone())
        } else {
            match self.cache.active_for_number(phone_number_id).await? {
                Some(other) if self.url.shares_app_with(&other) => Some(other),
                _ if own_number => Some(self.url.clone()),
                _ => None,
            }
        };
        self.decided
            .insert(phone_number_id.to_owned(), decided.clone());
        Ok(decided)
    }
}

/// Builds the plan for a payload that passed the signature check of `url`'s integration.
pub async fn plan(
    envelope: Envelope,
    url: &Arc<WhatsappIntegration>,
    cache: &IntegrationCache,
    received_at_unix_ms: i64,
) -> Result<Plan, LookupError> {
    let mut plan = Plan::default();
    if envelope.object != WHATSAPP_OBJECT {
        // Another product's webhook on this URL: valid for Meta, never for us. Answering 200
        // stops Meta from retrying it for days.
        plan.record(
            url.id,
            ReceiptKind::Ignored,
            json!({"reason": "object", "object": envelope.object}),
        );
        return Ok(plan);
    }
    let mut router = Router {
        url,
        cache,
        decided: HashMap::new(),
    };
    let mut position = 0usize;
    for raw_entry in envelope.entries {
        let entry: Entry = match serde_json::from_value(raw_entry) {
            Ok(entry) => entry,
            Err(error) => {
                plan.record(url.id, ReceiptKind::Error, unusable("entry", &error));
                continue;
            }
        };
        for change in entry.changes {
            plan_change(
                &mut plan,
                &mut router,
                change,
                received_at_unix_ms,
                &mut position,
            )
            .await?;
        }
    }
    Ok(plan)
}

async fn plan_change(
    plan: &mut Plan,
    router: &mut Router<'_>,
    change: Change,
    received_at_unix_ms: i64,
    position: &mut usize,
) -> Result<(), LookupError> {
    let url_id = router.url.id;
    if change.field.as_deref() != Some(MESSAGES_FIELD) {
        plan.record(
            url_id,
            ReceiptKind::Ignored,
            json!({"reason": "field", "field": change.field}),
        );
        return Ok(());
    }
    let value: ChangeValue = match serde_json::from_value(change.value) {
        Ok(value) => value,
        Err(error) => {
            plan.record(url_id, ReceiptKind::Error, unusable("change value", &error));
            return Ok(());
        }
    };
    let number = value.metadata.phone_number_id.as_str();
    let target = router.route(number).await?;
    let owner = target.as_ref().map_or(url_id, |t| t.id);
    if !value.errors.is_empty() {
        plan.record(
            owner,
            ReceiptKind::Error,
            json!({"reason": "meta_errors", "phone_number_id": number, "errors": value.errors}),
        );
    }
    if !value.statuses.is_empty() {
        match &target {
            Some(target) => plan_statuses(plan, target.id, number, value.statuses),
            None => plan.record(
                url_id,
                ReceiptKind::IgnoredInactive,
                json!({"phone_number_id": number, "statuses": value.statuses.len()}),
            ),
        }
    }
    if value.messages.is_empty() {
        return Ok(());
    }
    let Some(target) = target.filter(|t| t.active) else {
        let ids: Vec<Value> = value
            .messages
            .iter()
            .map(|m| m.get("id").cloned().unwrap_or(Value::Null))
            .collect();
        plan.record(
            owner,
            ReceiptKind::IgnoredInactive,
            json!({"phone_number_id": number, "messages": ids}),
        );
        return Ok(());
    };
    let contacts: Vec<Contact> = value
        .contacts
        .into_iter()
        .filter_map(|c| serde_json::from_value(c).ok())
        .collect();
    for raw in value.messages {
        *position += 1;
        let message: Message = match serde_json::from_value(raw) {
            Ok(message) => message,
            Err(error) => {
                plan.record(target.id, ReceiptKind::Error, unusable("message", &error));
                continue;
            }
        };
        let destination = Destination {
            integration: target.id,
            trigger_recipients: &target.trigger_recipients,
            phone_number_id: number,
        };
        plan_message(
            plan,
            &destination,
            &contacts,
            message,
            received_at_unix_ms,
            *position,
        );
    }
    Ok(())
}

/// Adds the status updates (or error receipts) of a `statuses[]` array to the plan.
pub fn plan_statuses(
    plan: &mut Plan,
    integration: IntegrationId,
    phone_number_id: &str,
    statuses: Vec<Value>,
) {
    for raw in statuses {
        let status: Status = match serde_json::from_value(raw) {
            Ok(status) => status,
            Err(error) => {
                plan.record(integration, ReceiptKind::Error, unusable("status", &error));
                continue;
            }
        };
        let Some(state) = MessageStatus::parse(&status.status) else {
            plan.record(
                integration,
                ReceiptKind::Error,
                json!({"reason": "unknown_status", "wamid": status.id, "status": status.status}),
            );
            continue;
        };
        let seconds = unix_seconds(status.timestamp.as_ref());
        let to = match (&status.recipient_id, &status.recipient_user_id) {
            (Some(wa_id), _) => Some(Recipient::WaId(wa_id.clone())),
            (None, Some(user_id)) => Some(Recipient::UserId(user_id.clone())),
            (None, None) => None,
        };
        if let (MessageStatus::Failed, Some(to)) = (state, to) {
            if is_window_failure(status.errors.as_ref()) {
                plan.window_failures.push(LateWindowFailure {
                    integration_id: integration,
                    phone_number_id: phone_number_id.to_owned(),
                    wamid: status.id.clone(),
                    to,
                });
            }
        }
        plan.statuses.push(StatusUpdate {
            wamid: status.id,
            integration_id: integration,
            status: state,
            recipient: status.recipient_id.or(status.recipient_user_id),
            errors: status.errors,
            status_at: (seconds > 0)
                .then(|| chrono::DateTime::from_timestamp(seconds, 0))
                .flatten(),
        });
    }
}

/// Where a routed message goes: the active integration serving its business number.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    pub integration: IntegrationId,
    pub trigger_recipients: &'a [String],
    pub phone_number_id: &'a str,
}

/// Adds one decoded message for `destination` to the plan: an event, or a receipt saying why
/// there is none. Pure, so that the property tests drive it without a database.
pub fn plan_message(
    plan: &mut Plan,
    destination: &Destination<'_>,
    contacts: &[Contact],
    message: Message,
    received_at_unix_ms: i64,
    position: usize,
) {
    let Destination {
        integration,
        trigger_recipients,
        phone_number_id,
    } = *destination;
    let mut input = match normalize::meaning(&message) {
        Ok(Meaning::Input(input)) => input,
        Ok(Meaning::System) => {
            plan.record(
                integration,
                ReceiptKind::System,
                json!({"wamid": message.id, "from": message.from, "system": message.system}),
            );
            return;
        }
        Err(malformed) => {
            plan.record(
                integration,
                ReceiptKind::Error,
                json!({"reason": "malformed_message", "wamid": message.id,
                       "detail": malformed.to_string()}),
            );
            return;
        }
    };
    let sender = Sender::of(&message, contacts);
    let Some(user) = sender.key().filter(|k| k.len() <= MAX_USER_KEY_LEN) else {
        plan.record(
            integration,
            ReceiptKind::Error,
            json!({"reason": "no_usable_sender", "wamid": message.id}),
        );
        return;
    };
    if !normalize::recipient_allowed(trigger_recipients, &sender) {
        plan.record(
            integration,
            ReceiptKind::IgnoredRecipient,
            json!({"wamid": message.id, "wa_id": sender.wa_id, "user_id": sender.user_id}),
        );
        return;
    }
    if bound_input(&mut input, MAX_INPUT_CHARS) {
        plan.record(
            integration,
            ReceiptKind::Error,
            json!({"reason": "text_truncated", "wamid": message.id, "max_chars": MAX_INPUT_CHARS}),
        );
    }
    let user = user.to_owned();
    plan.active.insert(integration);
    plan.events.push(PlannedEvent {
        sent_at: message.unix_seconds(),
        position,
        event: InboundEvent {
            schema: SchemaVersion::V1,
            event_id: message.id.clone(),
            integration_id: integration,
            channel: Channel::Whatsapp,
            conversation_key: ConversationKey::whatsapp(integration, phone_number_id, &user),
            session_id: user.clone(),
            user_identifier: user,
            received_at_unix_ms,
            input,
            reply: None,
            idempotency: None,
            whatsapp: Some(WhatsappContext {
                phone_number_id: phone_number_id.to_owned(),
                wa_id: sender.wa_id,
                user_id: sender.user_id,
                profile_name: sender.profile_name,
                inbound_message_id: message.id,
            }),
        },
    });
}

/// Cuts every text of `input` to `max_chars`; true when something was cut.
fn bound_input(input: &mut Input, max_chars: usize) -> bool {
    let mut cut = |text: &mut String| contracts::edge::truncate_chars(text, max_chars);
    match input {
        Input::Text { text } => cut(text),
        Input::SelectedOption { option_id } => cut(option_id),
        Input::Media {
            media_id, caption, ..
        } => cut(media_id) | caption.as_mut().is_some_and(&mut cut),
        Input::Location { name, address, .. } => {
            name.as_mut().is_some_and(&mut cut) | address.as_mut().is_some_and(&mut cut)
        }
        Input::Unsupported { kind } => cut(kind),
        Input::Start { .. } | Input::ProactiveStart { .. } => false,
    }
}

/// The receipt detail of a part that did not decode (serde's message names the field; no
/// payload content is echoed).
fn unusable(part: &str, error: &serde_json::Error) -> Value {
    json!({"reason": "unusable", "part": part, "detail": error.to_string()})
}
