//! The data that goes in and out of the engine. All of it is serde-serialisable: the session
//! state is stored in PostgreSQL as JSON and the messages cross the broker.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{ComponentType, HttpMethod, MediaType};

/// What the executor stores between turns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// The waiting component the session is at; `None` once the conversation has ended.
    pub current: Option<String>,
    /// Declared and built-in variables that have a value.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// How many answers the current waiting component has rejected (re-prompts) so far.
    #[serde(default)]
    pub retries: u32,
}

impl SessionState {
    pub fn is_final(&self) -> bool {
        self.current.is_none()
    }
}

/// What a session starts with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartContext {
    pub session_id: String,
    pub user_identifier: String,
    /// `whatsapp` or `api` (readable by the flow as `channel`).
    pub channel: String,
    /// Injected values for declared variables (the API's `variables`).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// The API's `message_payload`: the session's first input.
    #[serde(default)]
    pub message_payload: Option<String>,
}

/// A user's message to a waiting session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// Free text (the API's `message`, a WhatsApp text).
    Text(String),
    /// An option id (the API's `selected_option_id`, a WhatsApp button or list reply).
    SelectedOption(String),
}

/// A message for the user, serialised exactly as the API manual shows it
/// (`media_type`, `button_text` and option `description` are additions the channels need).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutMessage {
    Text {
        text: String,
    },
    Buttons {
        text: String,
        options: Vec<OutOption>,
    },
    List {
        text: String,
        options: Vec<OutOption>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        button_text: Option<String>,
    },
    Media {
        /// The caption again, or empty: the manual's clients read `text` for every type.
        text: String,
        media_url: String,
        caption: Option<String>,
        media_type: MediaType,
    },
}

/// An option of a buttons or list message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutOption {
    pub id: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A variable that changed: `from: None` means added, `to: None` means removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableChange {
    pub name: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Why a component appears in a turn's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitEvent {
    /// The turn entered the component (counts towards the step limit).
    Entered,
    /// The waiting component accepted the user's input and the flow moves on.
    Answered,
    /// The waiting component rejected the input and sent its prompt again.
    Reprompted,
}

/// One entry of a turn's path: what a component did. The Test Runner's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentVisit {
    pub id: String,
    #[serde(rename = "type")]
    pub component_type: ComponentType,
    pub event: VisitEvent,
    pub messages: Vec<OutMessage>,
    pub variable_changes: Vec<VariableChange>,
    /// True when the turn stops here to wait for the user.
    pub waits_for_input: bool,
    /// What was decided, for people: the branch taken, the HTTP status, why input was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Nanoseconds the engine spent in the component, when it was given a clock
    /// ([`super::Engine::with_clock`]); `None` otherwise (the engine has no clock of its own).
    /// An HTTP call's own time is not in it: the caller performs the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_ns: Option<u64>,
}

/// The outcome of a complete turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnResult {
    /// The state to store (`current` is the API's `state`).
    pub state: SessionState,
    /// Every message of the turn, in order.
    pub messages: Vec<OutMessage>,
    /// Net change of the variables over the turn, by name.
    pub variable_changes: Vec<VariableChange>,
    pub is_final: bool,
    pub path: Vec<ComponentVisit>,
}

/// An HTTP request the executor must perform for an `http_request` component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCall {
    pub method: HttpMethod,
    /// Absolute `http(s)` URL; its host is not a literal private address unless allowed.
    /// The executor must still check the addresses the host resolves to.
    pub url: String,
    /// Header names as written in the flow; values free of control characters.
    pub headers: BTreeMap<String, String>,
    /// JSON body (with a `Content-Type: application/json` header when present).
    pub body: Option<serde_json::Value>,
    pub timeout_ms: u32,
}

/// What the executor reports back after performing an [`HttpCall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpOutcome {
    /// An answer arrived; `body_json` is `None` when the body is not JSON.
    Response {
        status: u16,
        body_json: Option<serde_json::Value>,
    },
    /// No usable answer: connection error, timeout, refused address, oversized body...
    Failed { reason: String },
}
