//! Checks of each component's own fields.

use std::collections::{HashMap, HashSet};

use super::{Access, Checker, Rule};
use crate::model::{
    Component, ConditionComponent, ConditionOp, Flow, HttpRequestComponent, InputValidation,
    OptionRef, MAX_HTTP_TIMEOUT_MS,
};
use crate::patterns::{compile_full_match, compile_search};
use crate::template::{self, render_with};
use crate::url::{is_forbidden_host, split_http_url};
use crate::whatsapp_limits::OPTION_ID_MAX_CHARS;

/// Headers the HTTP client owns: letting a flow set them invites request smuggling.
const RESERVED_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
];

pub(super) fn check_component(checker: &mut Checker<'_>, component: &Component) {
    let id = component.id();
    if id.trim().is_empty() {
        checker.error(
            None,
            Rule::EmptyComponentId,
            format!("a {} component has an empty id", component.component_type()),
        );
    }
    match component {
        Component::Text(c) => checker.required_text(id, "text", &c.text),
        Component::QuestionText(c) => {
            checker.required_text(id, "text", &c.text);
            checker.variable(id, "variable", &c.variable, Access::Write);
            if let Some(retry) = &c.retry_text {
                checker.required_text(id, "retry_text", retry);
            }
            if let Some(InputValidation::Regex { pattern }) = &c.validation {
                if let Err(e) = compile_full_match(pattern) {
                    checker.issue(id, Rule::InvalidRegex, format!("validation pattern: {e}"));
                }
            }
        }
        Component::Buttons(c) => {
            checker.required_text(id, "text", &c.text);
            check_options(checker, component);
        }
        Component::List(c) => {
            checker.required_text(id, "text", &c.text);
            if let Some(button_text) = &c.button_text {
                checker.required_text(id, "button_text", button_text);
            }
            check_options(checker, component);
        }
        Component::Media(c) => {
            check_url(checker, id, "url", &c.url);
            if let Some(caption) = &c.caption {
                checker.required_text(id, "caption", caption);
            }
        }
        Component::Condition(c) => check_condition(checker, c),
        Component::SetVariable(c) => {
            checker.variable(id, "variable", &c.variable, Access::Write);
            checker.template(id, "value", &c.value);
        }
        Component::HttpRequest(c) => check_http(checker, c),
        Component::End(c) => {
            if let Some(text) = &c.text {
                checker.required_text(id, "text", text);
            }
        }
    }
}

fn check_options(checker: &mut Checker<'_>, component: &Component) {
    let id = component.id();
    let options = component.options().unwrap_or_default();
    if options.is_empty() {
        checker.issue(
            id,
            Rule::EmptyOptions,
            "options is empty: a choice needs at least one option".into(),
        );
    }
    let mut titles: HashMap<String, &str> = HashMap::new();
    for OptionRef {
        id: option_id,
        title,
        description,
        ..
    } in options
    {
        if option_id.trim().is_empty() {
            checker.issue(
                id,
                Rule::InvalidOptionId,
                format!("option \"{title}\" has an empty id"),
            );
        } else if option_id.chars().count() > OPTION_ID_MAX_CHARS {
            checker.issue(
                id,
                Rule::InvalidOptionId,
                format!(
                    "option id \"{option_id}\" is longer than {OPTION_ID_MAX_CHARS} characters"
                ),
            );
        }
        let field = format!("option \"{option_id}\" title");
        checker.required_text(id, &field, title);
        if let Some(description) = description {
            checker.template(
                id,
                &format!("option \"{option_id}\" description"),
                description,
            );
        }
        let folded = title.trim().to_lowercase();
        if let Some(first) = titles.insert(folded, option_id) {
            checker.issue(
                id,
                Rule::DuplicateOptionTitle,
                format!("options \"{first}\" and \"{option_id}\" have the same title \"{title}\""),
            );
        }
    }
}

/// Option ids are unique within the whole bot, so that a `selected_option_id` names one option.
pub(super) fn check_option_ids(checker: &mut Checker<'_>, flow: &Flow) {
    let mut owners: HashMap<&str, &str> = HashMap::new();
    for component in &flow.components {
        for option in component.options().unwrap_or_default() {
            if option.id.trim().is_empty() {
                continue;
            }
            match owners.insert(option.id, component.id()) {
                Some(owner) if owner == component.id() => checker.issue(
                    component.id(),
                    Rule::DuplicateOptionId,
                    format!(
                        "option id \"{}\" is used twice in this component",
                        option.id
                    ),
                ),
                Some(owner) => checker.issue(
                    component.id(),
                    Rule::DuplicateOptionId,
                    format!(
                        "option id \"{}\" is already used by component \"{owner}\"",
                        option.id
                    ),
                ),
                None => {}
            }
        }
    }
}

fn check_condition(checker: &mut Checker<'_>, c: &ConditionComponent) {
    let id = c.id.as_str();
    if c.branches.is_empty() {
        checker.issue(
            id,
            Rule::EmptyBranches,
            "branches is empty: use a direct next instead".into(),
        );
    }
    for (i, branch) in c.branches.iter().enumerate() {
        let when = &branch.when;
        let field = format!("branches[{i}].when");
        checker.variable(
            id,
            &format!("{field}.variable"),
            &when.variable,
            Access::Read,
        );
        let Some(value) = &when.value else {
            if when.op.needs_value() {
                checker.issue(
                    id,
                    Rule::MissingValue,
                    format!("{field}: op \"{}\" needs a value", op_name(when.op)),
                );
            }
            continue;
        };
        match when.op {
            ConditionOp::Regex => {
                if let Err(e) = compile_search(value) {
                    checker.issue(id, Rule::InvalidRegex, format!("{field}.value: {e}"));
                }
            }
            ConditionOp::GreaterThan | ConditionOp::LessThan => {
                checker.template(id, &format!("{field}.value"), value);
                let is_literal = template::variables(value).is_ok_and(|v| v.is_empty());
                if is_literal && crate::number::parse_number(value).is_none() {
                    checker.issue(
                        id,
                        Rule::NonNumericComparison,
                        format!("{field}.value \"{value}\" is not a number: the comparison is always false"),
                    );
                }
            }
            _ => checker.template(id, &format!("{field}.value"), value),
        }
    }
}

fn op_name(op: ConditionOp) -> String {
    serde_json::to_value(op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn check_http(checker: &mut Checker<'_>, c: &HttpRequestComponent) {
    let id = c.id.as_str();
    check_url(checker, id, "url", &c.url);
    for (name, value) in &c.headers {
        let is_token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !is_token {
            checker.issue(
                id,
                Rule::InvalidHeader,
                format!("header name \"{name}\" is not a valid HTTP header name"),
            );
        } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            checker.issue(
                id,
                Rule::InvalidHeader,
                format!("header \"{name}\" is set by the HTTP client and cannot be set by a flow"),
            );
        }
        if value.chars().any(|ch| ch.is_control() && ch != '\t') {
            checker.issue(
                id,
                Rule::InvalidHeader,
                format!("header \"{name}\" has a control character in its value"),
            );
        }
        checker.template(id, &format!("headers.{name}"), value);
    }
    if let Some(body) = &c.body {
        check_body_templates(checker, id, "body", body);
    }
    if c.timeout_ms == 0 || c.timeout_ms > MAX_HTTP_TIMEOUT_MS {
        checker.issue(
            id,
            Rule::InvalidTimeout,
            format!(
                "timeout_ms {} is outside 1..={MAX_HTTP_TIMEOUT_MS}",
                c.timeout_ms
            ),
        );
    }
    for (i, mapping) in c.map.iter().enumerate() {
        if mapping.path.is_empty() || mapping.path.split('.').any(str::is_empty) {
            checker.issue(
                id,
                Rule::InvalidPath,
                format!("map[{i}].path \"{}\" must be dot-separated keys or indexes, like data.items.0.id", mapping.path),
            );
        }
        checker.variable(
            id,
            &format!("map[{i}].variable"),
            &mapping.variable,
            Access::Write,
        );
    }
    if let Some(status) = &c.status_variable {
        checker.variable(id, "status_variable", status, Access::Write);
    }
}

fn check_body_templates(
    checker: &mut Checker<'_>,
    id: &str,
    field: &str,
    value: &serde_json::Value,
) {
    match value {
        serde_json::Value::String(s) => checker.template(id, field, s),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_body_templates(checker, id, &format!("{field}.{i}"), item);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                check_body_templates(checker, id, &format!("{field}.{key}"), item);
            }
        }
        _ => {}
    }
}

/// A URL template must be an absolute http(s) URL whatever its variables hold; a literal
/// private host is a warning because the deployment may allow private networks.
fn check_url(checker: &mut Checker<'_>, id: &str, field: &str, url: &str) {
    if template::parse(url).is_err() {
        checker.template(id, field, url);
        return;
    }
    checker.template(id, field, url);
    // Two different probes: a host that renders the same under both is literal.
    let probe_a = render_with(url, |_| "a".to_owned());
    let probe_b = render_with(url, |_| "b".to_owned());
    let (Some(a), Some(b)) = (split_http_url(&probe_a), split_http_url(&probe_b)) else {
        checker.issue(
            id,
            Rule::InvalidUrl,
            format!("{field} \"{url}\" is not an absolute http:// or https:// URL (no spaces, no user:password@)"),
        );
        return;
    };
    if a.host == b.host && is_forbidden_host(a.host) {
        checker.issue(
            id,
            Rule::PrivateHost,
            format!("{field} host \"{}\" is a private or loopback address: refused unless the deployment allows private networks", a.host),
        );
    }
}

/// Component ids that appear more than once, reported at each repeat.
pub(super) fn check_duplicate_ids(checker: &mut Checker<'_>, flow: &Flow) {
    let mut seen = HashSet::new();
    for component in &flow.components {
        let id = component.id();
        if !id.trim().is_empty() && !seen.insert(id) {
            checker.issue(
                id,
                Rule::DuplicateComponentId,
                format!("id \"{id}\" is used by more than one component"),
            );
        }
    }
}
