//! Scenario files: what a test of a bot says (docs/test-runner.md). YAML (or JSON, which YAML
//! reads too); the JSON Schema is committed in `proto/test-runner/scenario.schema.json`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One scripted conversation with a bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Shown in the timeline and in JUnit as the test case's name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The channels the scenario runs on; both when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<ScenarioChannel>>,
    #[serde(default)]
    pub start: Start,
    /// Answers for the flow's `http_request` calls; a call no stub matches fails (as a
    /// connection error would).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_stubs: Vec<HttpStub>,
    /// The stub ids the run must call, in this order (checked at the end of the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_http_calls: Option<Vec<String>>,
    /// WhatsApp: the integration's fallback template for a closed 24-hour window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_template: Option<Template>,
    /// The user's turns, in order.
    #[serde(default)]
    pub turns: Vec<Turn>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioChannel {
    Api,
    Whatsapp,
}

impl ScenarioChannel {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Whatsapp => "whatsapp",
        }
    }
}

/// How the conversation starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Start {
    /// Injected variables (API `variables`; on WhatsApp, where a user's message starts the
    /// conversation, they seed the session only together with `at`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// API `message_payload`; on WhatsApp the text of the user's first message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_payload: Option<String>,
    /// Start in the middle of the flow: the session is seeded waiting at this component (a
    /// waiting one: question or options) with `variables`, and the first turn answers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Expectations on the start turn.
    #[serde(default)]
    pub expect: Expect,
}

/// One thing the user does (exactly one of the input fields) and what must follow.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An option by its id (API `selected_option_id`; WhatsApp: the reply's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option: Option<String>,
    /// An option's title typed as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option_title: Option<String>,
    /// A WhatsApp reply-button or list-row tap, by option id (on the API: the option id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tap: Option<String>,
    /// A WhatsApp media message (the API has no media input: the turn is skipped there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaInput>,
    /// The user says nothing: no event is sent and the session must stay as it is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub silence: bool,
    /// WhatsApp: the first message sent after this turn fails at Meta with this error code
    /// (131047 closed window, 130429 throughput, 190 token); the sender's decision is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_send_fails: Option<i64>,
    #[serde(default)]
    pub expect: Expect,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaInput {
    /// image, audio, video, document or sticker
    pub media_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

/// What must hold after a turn. Absent fields are not checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The component the session waits at after the turn (`null` for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Option<String>>,
    /// Components the turn must enter, in this order (others may come between).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reached: Vec<String>,
    /// The turn's messages, by position (each one's text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<TextExpect>>,
    /// Variables after the turn.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, VariableExpect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_final: Option<bool>,
    /// The bot's execution error: its component and a part of its message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorExpect>,
    /// WhatsApp only: what the sender does with the turn's batch (`sent`, `sent_after_retry`,
    /// `sent_after_token_refresh`, `fallback_template`, `given_up`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_delivery: Option<String>,
}

/// A message text: exactly, containing, or matching a regular expression (one of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextExpect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// A variable: equal to a value, or set (`true`) / unset (`false`) (one of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableExpect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorExpect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
}

/// An answer for the flow's HTTP calls that match `method` and `url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpStub {
    /// Named in `expect_http_calls`; `METHOD url` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Any method when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The exact URL, or a prefix ending in `*`.
    pub url: String,
    #[serde(default = "ok_status")]
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// Delay before answering; past the component's timeout the call times out.
    #[serde(default)]
    pub latency_ms: u64,
    /// The call times out (no answer).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timeout: bool,
}

fn ok_status() -> u16 {
    200
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: String,
    pub language: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("the scenario is not valid YAML: {0}")]
    Syntax(String),
    #[error("turn {turn}: {reason}")]
    Turn { turn: usize, reason: String },
}

impl Scenario {
    /// Parses a scenario (YAML or JSON) and checks what the types cannot.
    pub fn parse(text: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario =
            serde_norway::from_str(text).map_err(|e| ScenarioError::Syntax(e.to_string()))?;
        scenario.check()?;
        Ok(scenario)
    }

    pub fn check(&self) -> Result<(), ScenarioError> {
        for (index, turn) in self.turns.iter().enumerate() {
            let inputs = [
                turn.text.is_some(),
                turn.option.is_some(),
                turn.option_title.is_some(),
                turn.tap.is_some(),
                turn.media.is_some(),
                turn.silence,
            ];
            if inputs.iter().filter(|set| **set).count() != 1 {
                return Err(ScenarioError::Turn {
                    turn: index + 1,
                    reason: "exactly one of text, option, option_title, tap, media, silence".into(),
                });
            }
            check_expect(index + 1, &turn.expect)?;
        }
        check_expect(0, &self.start.expect)
    }

    /// The channels to run on.
    pub fn channels(&self) -> Vec<ScenarioChannel> {
        self.channels
            .clone()
            .unwrap_or_else(|| vec![ScenarioChannel::Api, ScenarioChannel::Whatsapp])
    }
}

fn check_expect(turn: usize, expect: &Expect) -> Result<(), ScenarioError> {
    let bad = |reason: String| ScenarioError::Turn { turn, reason };
    for text in expect.messages.iter().flatten() {
        let given = [&text.exact, &text.contains, &text.regex];
        if given.iter().filter(|v| v.is_some()).count() != 1 {
            return Err(bad(
                "a message expectation has exactly one of exact, contains, regex".into(),
            ));
        }
        if let Some(pattern) = &text.regex {
            regex::Regex::new(pattern).map_err(|e| bad(format!("regex {pattern:?}: {e}")))?;
        }
    }
    for (name, variable) in &expect.variables {
        if variable.equals.is_some() == variable.set.is_some() {
            return Err(bad(format!("variable {name}: exactly one of equals, set")));
        }
    }
    Ok(())
}

/// The JSON Schema of scenario files.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default()
}
