//! Validation of a flow against the bot's declared variables.
//!
//! Errors make a flow unpublishable; warnings describe how WhatsApp will deliver it differently
//! from how it is written (split, sent as a list, ...). See `docs/flow-format.md`.

mod components;
mod graph;
mod limits;

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{BotDefinition, Flow, VariableDecl};
use crate::template;
use crate::variables::{is_builtin, is_valid_variable_name};

/// A flow may have at most this many components.
pub const MAX_COMPONENTS: usize = 1_000;

/// The outcome of validating a flow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationReport {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
}

impl ValidationReport {
    /// True when the flow can be published (warnings do not count).
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    fn push(&mut self, issue: Issue) {
        if issue.rule.is_warning() {
            self.warnings.push(issue);
        } else {
            self.errors.push(issue);
        }
    }
}

/// One problem, naming the component (when there is one) and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub component: Option<String>,
    pub rule: Rule,
    pub message: String,
}

impl Issue {
    pub fn new(component: Option<&str>, rule: Rule, message: impl Into<String>) -> Self {
        Self {
            component: component.map(str::to_owned),
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.component {
            Some(id) => write!(f, "{}: component \"{id}\": {}", self.rule, self.message),
            None => write!(f, "{}: {}", self.rule, self.message),
        }
    }
}

macro_rules! rules {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $warning:literal; )*) => {
        /// The rule an [`Issue`] breaks. Serialised (and displayed) in snake_case.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Rule {
            $( $(#[$doc])* $variant, )*
        }

        impl Rule {
            /// Every rule, errors first.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Rule::$variant => $name,)* }
            }

            /// Warnings never block publishing.
            pub fn is_warning(self) -> bool {
                match self { $(Rule::$variant => $warning,)* }
            }
        }
    };
}

rules! {
    /// The JSON does not have the shape of a flow (serde's message says where).
    MalformedFlow = "malformed_flow", false;
    MissingStart = "missing_start", false;
    UnknownStart = "unknown_start", false;
    EmptyComponentId = "empty_component_id", false;
    DuplicateComponentId = "duplicate_component_id", false;
    TooManyComponents = "too_many_components", false;
    /// A next / option next / branch next / else / on_error names no component.
    DanglingNext = "dangling_next", false;
    UnreachableComponent = "unreachable_component", false;
    /// A cycle made only of components that do not wait for input.
    LoopWithoutWait = "loop_without_wait", false;
    /// A variable that is neither declared nor built in.
    UnknownVariable = "unknown_variable", false;
    /// Writing to (or declaring) a built-in variable.
    ReadOnlyVariable = "read_only_variable", false;
    InvalidVariableName = "invalid_variable_name", false;
    DuplicateVariable = "duplicate_variable", false;
    TemplateSyntax = "template_syntax", false;
    EmptyText = "empty_text", false;
    EmptyOptions = "empty_options", false;
    /// Option ids are unique within the whole bot.
    DuplicateOptionId = "duplicate_option_id", false;
    /// Empty, or longer than WhatsApp accepts.
    InvalidOptionId = "invalid_option_id", false;
    /// Two options of one component with the same title (case-insensitive): a typed answer
    /// could not tell them apart.
    DuplicateOptionTitle = "duplicate_option_title", false;
    EmptyBranches = "empty_branches", false;
    MissingValue = "missing_value", false;
    InvalidRegex = "invalid_regex", false;
    InvalidUrl = "invalid_url", false;
    InvalidHeader = "invalid_header", false;
    InvalidTimeout = "invalid_timeout", false;
    /// A response mapping path that is empty or has an empty segment.
    InvalidPath = "invalid_path", false;
    TextTooLong = "text_too_long", true;
    InteractiveTextTooLong = "interactive_text_too_long", true;
    CaptionTooLong = "caption_too_long", true;
    UnsupportedCaption = "unsupported_caption", true;
    TooManyButtons = "too_many_buttons", true;
    ButtonTitleTooLong = "button_title_too_long", true;
    TooManyListOptions = "too_many_list_options", true;
    ListTitleTooLong = "list_title_too_long", true;
    ListDescriptionTooLong = "list_description_too_long", true;
    ButtonTextTooLong = "button_text_too_long", true;
    /// A literal private or loopback host: refused unless the deployment allows it.
    PrivateHost = "private_host", true;
    /// greater_than / less_than against a literal that is not a number: always false.
    NonNumericComparison = "non_numeric_comparison", true;
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Validates a flow against the variables declared in the bot's settings.
pub fn validate(flow: &Flow, variables: &[VariableDecl]) -> ValidationReport {
    let mut checker = Checker::new(variables);
    checker.check_declarations(variables);
    if flow.components.len() > MAX_COMPONENTS {
        checker.error(
            None,
            Rule::TooManyComponents,
            format!(
                "{} components; at most {MAX_COMPONENTS} are allowed",
                flow.components.len()
            ),
        );
    }
    for component in &flow.components {
        components::check_component(&mut checker, component);
    }
    components::check_option_ids(&mut checker, flow);
    graph::check_graph(&mut checker, flow);
    for component in &flow.components {
        limits::check_whatsapp_limits(&mut checker, component);
    }
    checker.report
}

/// Validates a bot file's flow against its own declarations.
pub fn validate_bot(bot: &BotDefinition) -> ValidationReport {
    validate(&bot.flow, &bot.variables)
}

/// Accumulates issues while the checks walk the flow.
pub(crate) struct Checker<'a> {
    declared: HashSet<&'a str>,
    pub(crate) report: ValidationReport,
}

/// How a component uses a variable.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

impl<'a> Checker<'a> {
    fn new(variables: &'a [VariableDecl]) -> Self {
        Self {
            declared: variables.iter().map(|v| v.name.as_str()).collect(),
            report: ValidationReport::default(),
        }
    }

    fn check_declarations(&mut self, variables: &[VariableDecl]) {
        let mut seen: HashSet<&str> = HashSet::new();
        for decl in variables {
            let name = decl.name.as_str();
            if !is_valid_variable_name(name) {
                self.error(
                    None,
                    Rule::InvalidVariableName,
                    format!("declared variable \"{name}\" is not a valid name ([A-Za-z_][A-Za-z0-9_]{{0,63}})"),
                );
            } else if is_builtin(name) {
                self.error(
                    None,
                    Rule::ReadOnlyVariable,
                    format!("\"{name}\" is a built-in variable and cannot be declared"),
                );
            }
            if !seen.insert(name) {
                self.error(
                    None,
                    Rule::DuplicateVariable,
                    format!("variable \"{name}\" is declared twice"),
                );
            }
        }
    }

    /// The component id to put in an issue: `None` for an empty id (there is nothing to name).
    fn subject(component: &str) -> Option<&str> {
        (!component.trim().is_empty()).then_some(component)
    }

    pub(crate) fn error(&mut self, component: Option<&str>, rule: Rule, message: String) {
        self.report
            .push(Issue::new(component.and_then(Self::subject), rule, message));
    }

    pub(crate) fn issue(&mut self, component: &str, rule: Rule, message: String) {
        self.error(Some(component), rule, message);
    }

    /// Checks a use of a variable by name in `field` of `component`.
    pub(crate) fn variable(&mut self, component: &str, field: &str, name: &str, access: Access) {
        if !is_valid_variable_name(name) {
            self.issue(
                component,
                Rule::InvalidVariableName,
                format!("{field}: \"{name}\" is not a valid variable name ([A-Za-z_][A-Za-z0-9_]{{0,63}})"),
            );
        } else if access == Access::Write && is_builtin(name) {
            self.issue(
                component,
                Rule::ReadOnlyVariable,
                format!("{field}: \"{name}\" is a built-in variable and cannot be written"),
            );
        } else if !self.declared.contains(name) && !is_builtin(name) {
            // Built-ins reaching this point are reads, which are always allowed.
            self.issue(
                component,
                Rule::UnknownVariable,
                format!("{field}: variable \"{name}\" is not declared in the bot's settings"),
            );
        }
    }

    /// Checks the syntax of a template and the variables it reads.
    pub(crate) fn template(&mut self, component: &str, field: &str, text: &str) {
        match template::variables(text) {
            Ok(names) => {
                for name in names {
                    self.variable(component, field, name, Access::Read);
                }
            }
            Err(e) => self.issue(component, Rule::TemplateSyntax, format!("{field}: {e}")),
        }
    }

    /// A template that must not be blank.
    pub(crate) fn required_text(&mut self, component: &str, field: &str, text: &str) {
        if text.trim().is_empty() {
            self.issue(component, Rule::EmptyText, format!("{field} is empty"));
        } else {
            self.template(component, field, text);
        }
    }
}
