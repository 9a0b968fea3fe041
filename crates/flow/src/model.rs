//! The flow model: the JSON a bot's flow is written in.
//!
//! Every struct denies unknown fields so that a typo (`"nxt"`) is a parse error instead of a
//! silently ignored field. The format is described for users in `docs/flow-format.md`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Default `timeout_ms` of an `http_request` component.
pub const DEFAULT_HTTP_TIMEOUT_MS: u32 = 5_000;
/// Largest accepted `timeout_ms` of an `http_request` component.
pub const MAX_HTTP_TIMEOUT_MS: u32 = 30_000;

/// A bot file: a name, the variables declared in the bot's settings, and its flow.
/// This is the shape of `examples/demo-bot.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotDefinition {
    pub name: String,
    #[serde(default)]
    pub variables: Vec<VariableDecl>,
    pub flow: Flow,
}

/// A variable declared in the bot's settings, with an optional default value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

impl VariableDecl {
    pub fn new(name: impl Into<String>, default: Option<&str>) -> Self {
        Self {
            name: name.into(),
            default: default.map(str::to_owned),
        }
    }
}

/// A flow: the id of the start component and the list of components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// Empty when absent, so that validation can report `missing_start` instead of a parse error.
    #[serde(default)]
    pub start: String,
    pub components: Vec<Component>,
}

impl Flow {
    /// The first component with this id (ids are unique in a valid flow).
    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.id() == id)
    }
}

/// One node of the flow graph, tagged by `"type"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Component {
    Text(TextComponent),
    QuestionText(QuestionTextComponent),
    Buttons(ButtonsComponent),
    List(ListComponent),
    Media(MediaComponent),
    Condition(ConditionComponent),
    SetVariable(SetVariableComponent),
    HttpRequest(HttpRequestComponent),
    End(EndComponent),
}

/// The `type` of a component, without its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentType {
    Text,
    QuestionText,
    Buttons,
    List,
    Media,
    Condition,
    SetVariable,
    HttpRequest,
    End,
}

impl ComponentType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::QuestionText => "question_text",
            Self::Buttons => "buttons",
            Self::List => "list",
            Self::Media => "media",
            Self::Condition => "condition",
            Self::SetVariable => "set_variable",
            Self::HttpRequest => "http_request",
            Self::End => "end",
        }
    }

    /// Waiting components stop the turn until the user answers.
    pub fn waits_for_input(self) -> bool {
        matches!(self, Self::QuestionText | Self::Buttons | Self::List)
    }
}

impl fmt::Display for ComponentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an edge of the graph comes from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeSource<'a> {
    Next,
    Option(&'a str),
    Branch(usize),
    Else,
    OnError,
}

impl fmt::Display for EdgeSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Next => f.write_str("next"),
            Self::Option(id) => write!(f, "option \"{id}\" next"),
            Self::Branch(i) => write!(f, "branches[{i}] next"),
            Self::Else => f.write_str("else"),
            Self::OnError => f.write_str("on_error"),
        }
    }
}

impl Component {
    pub fn id(&self) -> &str {
        match self {
            Self::Text(c) => &c.id,
            Self::QuestionText(c) => &c.id,
            Self::Buttons(c) => &c.id,
            Self::List(c) => &c.id,
            Self::Media(c) => &c.id,
            Self::Condition(c) => &c.id,
            Self::SetVariable(c) => &c.id,
            Self::HttpRequest(c) => &c.id,
            Self::End(c) => &c.id,
        }
    }

    pub fn component_type(&self) -> ComponentType {
        match self {
            Self::Text(_) => ComponentType::Text,
            Self::QuestionText(_) => ComponentType::QuestionText,
            Self::Buttons(_) => ComponentType::Buttons,
            Self::List(_) => ComponentType::List,
            Self::Media(_) => ComponentType::Media,
            Self::Condition(_) => ComponentType::Condition,
            Self::SetVariable(_) => ComponentType::SetVariable,
            Self::HttpRequest(_) => ComponentType::HttpRequest,
            Self::End(_) => ComponentType::End,
        }
    }

    pub fn waits_for_input(&self) -> bool {
        self.component_type().waits_for_input()
    }

    /// The options of a `buttons` or `list` component; `None` for other types.
    pub fn options(&self) -> Option<Vec<OptionRef<'_>>> {
        match self {
            Self::Buttons(c) => Some(
                c.options
                    .iter()
                    .map(|o| OptionRef {
                        id: &o.id,
                        title: &o.title,
                        description: None,
                        next: &o.next,
                    })
                    .collect(),
            ),
            Self::List(c) => Some(
                c.options
                    .iter()
                    .map(|o| OptionRef {
                        id: &o.id,
                        title: &o.title,
                        description: o.description.as_deref(),
                        next: &o.next,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    /// Every outgoing edge: (what kind of edge, target component id).
    pub fn edges(&self) -> Vec<(EdgeSource<'_>, &str)> {
        match self {
            Self::Text(c) => vec![(EdgeSource::Next, c.next.as_str())],
            Self::QuestionText(c) => vec![(EdgeSource::Next, c.next.as_str())],
            Self::Buttons(c) => c
                .options
                .iter()
                .map(|o| (EdgeSource::Option(&o.id), o.next.as_str()))
                .collect(),
            Self::List(c) => c
                .options
                .iter()
                .map(|o| (EdgeSource::Option(&o.id), o.next.as_str()))
                .collect(),
            Self::Media(c) => vec![(EdgeSource::Next, c.next.as_str())],
            Self::Condition(c) => {
                let mut edges: Vec<_> = c
                    .branches
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (EdgeSource::Branch(i), b.next.as_str()))
                    .collect();
                edges.push((EdgeSource::Else, c.else_next.as_str()));
                edges
            }
            Self::SetVariable(c) => vec![(EdgeSource::Next, c.next.as_str())],
            Self::HttpRequest(c) => {
                let mut edges = vec![(EdgeSource::Next, c.next.as_str())];
                if let Some(on_error) = &c.on_error {
                    edges.push((EdgeSource::OnError, on_error.as_str()));
                }
                edges
            }
            Self::End(_) => Vec::new(),
        }
    }
}

/// A borrowed view of a button or list option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionRef<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub next: &'a str,
}

/// Sends a text message and goes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextComponent {
    pub id: String,
    pub text: String,
    pub next: String,
}

/// Sends a prompt and waits for free text, stored in `variable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionTextComponent {
    pub id: String,
    pub text: String,
    pub variable: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<InputValidation>,
    /// Sent when the answer fails validation; the prompt is sent again when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_text: Option<String>,
    pub next: String,
}

/// How an answer to a `question_text` is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputValidation {
    /// The whole (trimmed) answer must match `pattern`.
    Regex {
        pattern: String,
    },
    Number,
    Email,
    Phone,
}

/// Sends a prompt with reply buttons and waits for a choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonsComponent {
    pub id: String,
    pub text: String,
    pub options: Vec<ButtonOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonOption {
    pub id: String,
    pub title: String,
    pub next: String,
}

/// Sends a prompt with a list of options and waits for a choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListComponent {
    pub id: String,
    pub text: String,
    /// Label of the button that opens the list on WhatsApp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button_text: Option<String>,
    pub options: Vec<ListOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListOption {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub next: String,
}

/// Sends an image, video, audio or document by URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaComponent {
    pub id: String,
    pub media_type: MediaType,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    pub next: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    Image,
    Video,
    Audio,
    Document,
}

/// Goes to the `next` of the first branch whose predicate holds, else to `else`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionComponent {
    pub id: String,
    pub branches: Vec<Branch>,
    #[serde(rename = "else")]
    pub else_next: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    pub when: Predicate,
    pub next: String,
}

/// `variable <op> value`. `value` is a template, except for `regex` where it is the pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    pub variable: String,
    pub op: ConditionOp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionOp {
    Equals,
    NotEquals,
    Contains,
    GreaterThan,
    LessThan,
    IsSet,
    IsNotSet,
    Regex,
}

impl ConditionOp {
    pub fn needs_value(self) -> bool {
        !matches!(self, Self::IsSet | Self::IsNotSet)
    }
}

/// Assigns a rendered template to a declared variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetVariableComponent {
    pub id: String,
    pub variable: String,
    pub value: String,
    pub next: String,
}

/// Calls an external HTTP API and maps parts of its JSON answer into variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRequestComponent {
    pub id: String,
    pub method: HttpMethod,
    /// A template; interpolated values are percent-encoded.
    pub url: String,
    /// Header values are templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A JSON value whose string leaves are templates; sent as `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub map: Vec<ResponseMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_variable: Option<String>,
    pub next: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
}

fn default_timeout_ms() -> u32 {
    DEFAULT_HTTP_TIMEOUT_MS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// Copies the value at a dotted `path` of the JSON answer (`data.items.0.id`) into `variable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseMapping {
    pub path: String,
    pub variable: String,
}

/// Ends the conversation, optionally with a last message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndComponent {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}
