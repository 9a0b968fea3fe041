//! Turning untrusted JSON into a [`Flow`] or [`BotDefinition`], with errors a person can act on.
//!
//! Components are deserialised one by one so that every malformed component is reported with
//! its position and id, instead of only the first serde error of the document.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::model::{BotDefinition, Component, Flow, VariableDecl};
use crate::validate::{validate, Issue, Rule, ValidationReport};

/// The JSON is not a flow; each issue has rule `malformed_flow` and says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed flow: {}", .issues.iter().map(|i| i.message.as_str()).collect::<Vec<_>>().join("; "))]
pub struct MalformedFlow {
    pub issues: Vec<Issue>,
}

impl MalformedFlow {
    fn single(message: String) -> Self {
        Self {
            issues: vec![Issue::new(None, Rule::MalformedFlow, message)],
        }
    }
}

/// Parses a flow document: `{"start": ..., "components": [...]}`.
pub fn parse_flow(json: &str) -> Result<Flow, MalformedFlow> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| MalformedFlow::single(format!("invalid JSON: {e}")))?;
    parse_flow_value(value)
}

/// Parses a flow that already is a JSON value (as received in an API request body).
pub fn parse_flow_value(value: Value) -> Result<Flow, MalformedFlow> {
    let mut issues = Vec::new();
    let flow = flow_from_value(value, "", &mut issues);
    match flow {
        Some(flow) if issues.is_empty() => Ok(flow),
        _ => Err(MalformedFlow { issues }),
    }
}

/// Parses a bot file: `{"name": ..., "variables": [...], "flow": {...}}`.
pub fn parse_bot(json: &str) -> Result<BotDefinition, MalformedFlow> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| MalformedFlow::single(format!("invalid JSON: {e}")))?;
    let mut issues = Vec::new();
    let Value::Object(mut object) = value else {
        return Err(MalformedFlow::single(
            "a bot must be a JSON object with name, variables and flow".into(),
        ));
    };
    unknown_keys(&object, &["name", "variables", "flow"], "", &mut issues);
    let name = match object.remove("name") {
        Some(Value::String(name)) => Some(name),
        Some(_) => {
            issues.push(malformed(None, "name must be a string".into()));
            None
        }
        None => {
            issues.push(malformed(None, "name is missing".into()));
            None
        }
    };
    let variables: Vec<VariableDecl> = match object.remove("variables") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| from_value(item, &format!("variables[{i}]"), None, &mut issues))
            .collect(),
        Some(_) => {
            issues.push(malformed(None, "variables must be an array".into()));
            Vec::new()
        }
    };
    let flow = match object.remove("flow") {
        Some(flow) => flow_from_value(flow, "flow.", &mut issues),
        None => {
            issues.push(malformed(None, "flow is missing".into()));
            None
        }
    };
    match (name, flow) {
        (Some(name), Some(flow)) if issues.is_empty() => Ok(BotDefinition {
            name,
            variables,
            flow,
        }),
        _ => Err(MalformedFlow { issues }),
    }
}

/// Parses and validates in one step: a malformed document yields its `malformed_flow` errors.
pub fn validate_flow_json(json: &str, variables: &[VariableDecl]) -> ValidationReport {
    match parse_flow(json) {
        Ok(flow) => validate(&flow, variables),
        Err(malformed) => ValidationReport {
            errors: malformed.issues,
            warnings: Vec::new(),
        },
    }
}

fn flow_from_value(value: Value, prefix: &str, issues: &mut Vec<Issue>) -> Option<Flow> {
    let Value::Object(mut object) = value else {
        issues.push(malformed(
            None,
            located(
                prefix,
                "a flow must be a JSON object with start and components",
            ),
        ));
        return None;
    };
    unknown_keys(&object, &["start", "components"], prefix, issues);
    let start = match object.remove("start") {
        None => Some(String::new()),
        Some(Value::String(start)) => Some(start),
        Some(_) => {
            issues.push(malformed(None, format!("{prefix}start must be a string")));
            None
        }
    };
    let components = match object.remove("components") {
        Some(Value::Array(items)) => {
            let mut components = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let id = item.get("id").and_then(Value::as_str).map(str::to_owned);
                let at = match &id {
                    Some(id) => format!("{prefix}components[{i}] (id \"{id}\")"),
                    None => format!("{prefix}components[{i}]"),
                };
                let parsed: Option<Component> = from_value(item, &at, id.as_deref(), issues);
                components.extend(parsed);
            }
            Some(components)
        }
        Some(_) => {
            issues.push(malformed(
                None,
                format!("{prefix}components must be an array"),
            ));
            None
        }
        None => {
            issues.push(malformed(None, format!("{prefix}components is missing")));
            None
        }
    };
    Some(Flow {
        start: start?,
        components: components?,
    })
}

fn from_value<T: DeserializeOwned>(
    value: Value,
    at: &str,
    component: Option<&str>,
    issues: &mut Vec<Issue>,
) -> Option<T> {
    match serde_json::from_value(value) {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            issues.push(malformed(
                component.filter(|c| !c.trim().is_empty()),
                format!("{at}: {e}"),
            ));
            None
        }
    }
}

fn unknown_keys(
    object: &Map<String, Value>,
    known: &[&str],
    prefix: &str,
    issues: &mut Vec<Issue>,
) {
    for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
        let expected = known
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        issues.push(malformed(
            None,
            located(
                prefix,
                &format!("unknown field `{key}`, expected one of {expected}"),
            ),
        ));
    }
}

/// `message`, preceded by where it happened when that is not the document's root.
fn located(prefix: &str, message: &str) -> String {
    match prefix.trim_end_matches('.') {
        "" => message.to_owned(),
        at => format!("{at}: {message}"),
    }
}

fn malformed(component: Option<&str>, message: String) -> Issue {
    Issue::new(component, Rule::MalformedFlow, message)
}
