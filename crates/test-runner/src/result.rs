//! What a run reports: the timeline, the path for playback, expectations, cleanup.

use std::collections::BTreeMap;

use flow::engine::{ComponentVisit, OutMessage, VariableChange, VisitEvent};
use serde::Serialize;
use serde_json::Value;
use store::sandbox::SandboxRemoval;

use crate::expect::Check;
use crate::scenario::ScenarioChannel;
use crate::stubs::RecordedCall;
use crate::whatsapp::{render_component, Delivery};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Passed,
    Failed,
    /// The run could not finish (the executor's turn failed, e.g. the database).
    Error,
    TimedOut,
    Cancelled,
}

/// One scenario on one channel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelRun {
    pub scenario: String,
    pub channel: ScenarioChannel,
    pub bot_id: i64,
    pub bot_version: i32,
    /// The sandbox integration the run used (deleted by the time the result exists).
    pub sandbox_integration: i64,
    pub status: RunStatus,
    /// Why the run stopped early (error, timeout, cancel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    pub turns: Vec<TurnRecord>,
    /// Every component entered, in order, for playback on the drawing.
    pub path: Vec<String>,
    /// The edges taken, in order.
    pub edges: Vec<Edge>,
    pub final_state: Option<String>,
    pub variables: BTreeMap<String, String>,
    pub is_final: bool,
    pub errors: Vec<ComponentError>,
    pub http_calls: Vec<RecordedCall>,
    /// Checks not tied to a turn (`expect_http_calls`).
    pub checks: Vec<Check>,
    /// What the sandbox held and was deleted at the end: counts of `integrations`,
    /// `bot_versions` (a draft run's hidden copy), `sessions`, `processed_events`,
    /// `idempotency_keys`, `outbound_batches`, `outbound_messages`.
    #[schema(value_type = Object)]
    pub cleanup: SandboxRemoval,
    pub duration_ms: f64,
}

impl ChannelRun {
    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.turns
            .iter()
            .flat_map(|t| t.checks.iter())
            .chain(self.checks.iter())
            .filter(|c| !c.passed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Edge {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComponentError {
    /// 0 for the start, then the turn's number.
    pub turn: usize,
    pub component: String,
    pub message: String,
}

/// One user action and everything it caused.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TurnRecord {
    /// 0 for the start.
    pub turn: usize,
    /// The input as the channel carried it (`None` when the user said nothing).
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    pub duration_ms: f64,
    pub components: Vec<ComponentRecord>,
    /// API: the reply as the gateway answers it (status and the manual's JSON body).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub api_reply: Option<Value>,
    /// WhatsApp: what the sender sends for the turn's batches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub whatsapp: Vec<Delivery>,
    pub state: Option<String>,
    pub is_final: bool,
    pub checks: Vec<Check>,
    /// A note when the turn did not run on this channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// A component entered during a turn.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComponentRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub component_type: String,
    /// `entered`, `answered` or `reprompted`.
    #[schema(value_type = String)]
    pub event: VisitEvent,
    pub waits_for_input: bool,
    /// API: the messages as the manual's JSON.
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<OutMessage>,
    /// WhatsApp: the `/messages` bodies these messages become.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub whatsapp_bodies: Option<Vec<Value>>,
    /// WhatsApp limits these messages exceed, and what the renderer does about it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limit_checks: Vec<String>,
    pub variables: VariableDelta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Time taken in the component: the engine's time there and, for an `http_request`, its
    /// call (the turn's database time is the turn's, not a component's).
    pub duration_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VariableDelta {
    pub added: BTreeMap<String, String>,
    pub changed: BTreeMap<String, Change>,
    pub removed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Change {
    pub from: String,
    pub to: String,
}

impl VariableDelta {
    pub fn of(changes: &[VariableChange]) -> Self {
        let mut delta = Self::default();
        for change in changes {
            match (&change.from, &change.to) {
                (None, Some(to)) => {
                    delta.added.insert(change.name.clone(), to.clone());
                }
                (Some(from), Some(to)) => {
                    delta.changed.insert(
                        change.name.clone(),
                        Change {
                            from: from.clone(),
                            to: to.clone(),
                        },
                    );
                }
                (Some(_), None) => delta.removed.push(change.name.clone()),
                (None, None) => {}
            }
        }
        delta
    }
}

impl ComponentRecord {
    /// `http` is the time of the HTTP call the component made, if it made one.
    pub fn of(
        visit: &ComponentVisit,
        whatsapp_to: Option<&contracts::v1::Recipient>,
        http: Option<std::time::Duration>,
    ) -> Self {
        let engine = std::time::Duration::from_nanos(visit.engine_ns.unwrap_or(0));
        Self {
            id: visit.id.clone(),
            component_type: visit.component_type.as_str().to_owned(),
            event: visit.event,
            waits_for_input: visit.waits_for_input,
            messages: visit.messages.clone(),
            whatsapp_bodies: whatsapp_to.map(|to| render_component(&visit.messages, to)),
            limit_checks: whatsapp_to
                .map(|_| limit_checks(&visit.messages))
                .unwrap_or_default(),
            variables: VariableDelta::of(&visit.variable_changes),
            detail: visit.detail.clone(),
            duration_ms: (engine + http.unwrap_or_default()).as_secs_f64() * 1000.0,
        }
    }
}

/// The WhatsApp limits a component's messages exceed (docs/flow-format.md), in words.
fn limit_checks(messages: &[OutMessage]) -> Vec<String> {
    use flow::whatsapp_limits::{
        options_delivery, OptionsDelivery, BUTTON_TITLE_MAX_CHARS, INTERACTIVE_BODY_MAX_CHARS,
        LIST_ROW_TITLE_MAX_CHARS, TEXT_MAX_CHARS,
    };
    let mut found = Vec::new();
    for message in crate::whatsapp::bot_messages(messages) {
        let value = serde_json::to_value(&message).unwrap_or_default();
        let text = value["text"].as_str().unwrap_or_default();
        let options = value["options"].as_array().cloned().unwrap_or_default();
        let chars = text.chars().count();
        let as_buttons = value["type"] == "buttons";
        if options.is_empty() {
            if chars > TEXT_MAX_CHARS {
                found.push(format!(
                    "text of {chars} characters exceeds {TEXT_MAX_CHARS}: split"
                ));
            }
            continue;
        }
        match options_delivery(options.len(), as_buttons) {
            OptionsDelivery::Buttons => {}
            OptionsDelivery::List if as_buttons => found.push(format!(
                "{} options exceed 3 reply buttons: sent as a list",
                options.len()
            )),
            OptionsDelivery::List => {}
            OptionsDelivery::NumberedText => found.push(format!(
                "{} options exceed 10 list rows: sent as numbered text",
                options.len()
            )),
        }
        if chars > INTERACTIVE_BODY_MAX_CHARS {
            found.push(format!(
                "body of {chars} characters exceeds {INTERACTIVE_BODY_MAX_CHARS}: the start goes first as text"
            ));
        }
        let limit = if as_buttons {
            BUTTON_TITLE_MAX_CHARS
        } else {
            LIST_ROW_TITLE_MAX_CHARS
        };
        for option in &options {
            let title = option["text"].as_str().unwrap_or_default();
            if title.chars().count() > limit {
                found.push(format!("title {title:?} exceeds {limit} characters: cut"));
            }
        }
    }
    found
}
