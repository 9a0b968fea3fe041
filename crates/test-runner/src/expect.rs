//! Checks a turn against its expectations; each failure says expected vs actual.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::scenario::Expect;

/// One checked expectation.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Check {
    /// What was checked, e.g. `messages[0]`, `variables.pizza`, `state`.
    pub what: String,
    pub passed: bool,
    pub expected: String,
    pub actual: String,
}

impl Check {
    fn new(what: impl Into<String>, passed: bool, expected: String, actual: String) -> Self {
        Self {
            what: what.into(),
            passed,
            expected,
            actual,
        }
    }

    /// `what: expected X, got Y` for people.
    pub fn diff(&self) -> String {
        format!(
            "{}:\n    - expected {}\n    + actual   {}",
            self.what, self.expected, self.actual
        )
    }
}

/// What a turn did, as expectations see it.
pub struct Observed<'a> {
    pub state: Option<&'a str>,
    pub path: Vec<&'a str>,
    pub texts: Vec<String>,
    pub variables: &'a BTreeMap<String, String>,
    pub is_final: bool,
    /// (component, message)
    pub error: Option<(&'a str, &'a str)>,
}

fn show(value: Option<&str>) -> String {
    value.map_or_else(|| "nothing".to_owned(), |v| format!("{v:?}"))
}

pub fn check(expect: &Expect, seen: &Observed<'_>) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(state) = &expect.state {
        checks.push(Check::new(
            "state",
            state.as_deref() == seen.state,
            show(state.as_deref()),
            show(seen.state),
        ));
    }
    if !expect.reached.is_empty() {
        let mut rest = seen.path.iter();
        let passed = expect.reached.iter().all(|want| rest.any(|id| id == want));
        checks.push(Check::new(
            "reached",
            passed,
            format!("[{}] in this order", expect.reached.join(", ")),
            format!("[{}]", seen.path.join(", ")),
        ));
    }
    if let Some(messages) = &expect.messages {
        if messages.len() != seen.texts.len() {
            checks.push(Check::new(
                "messages.count",
                false,
                messages.len().to_string(),
                format!("{} {:?}", seen.texts.len(), seen.texts),
            ));
        }
        for (index, want) in messages.iter().enumerate() {
            let actual = seen.texts.get(index);
            let (passed, expected) = if let Some(text) = &want.exact {
                (actual == Some(text), format!("exactly {text:?}"))
            } else if let Some(part) = &want.contains {
                (
                    actual.is_some_and(|a| a.contains(part.as_str())),
                    format!("containing {part:?}"),
                )
            } else {
                let pattern = want.regex.clone().unwrap_or_default();
                (
                    regex::Regex::new(&pattern)
                        .ok()
                        .zip(actual)
                        .is_some_and(|(re, a)| re.is_match(a)),
                    format!("matching /{pattern}/"),
                )
            };
            checks.push(Check::new(
                format!("messages[{index}]"),
                passed,
                expected,
                show(actual.map(String::as_str)),
            ));
        }
    }
    for (name, want) in &expect.variables {
        let actual = seen.variables.get(name).map(String::as_str);
        let (passed, expected) = match (&want.equals, want.set) {
            (Some(value), _) => (actual == Some(value), format!("{value:?}")),
            (None, Some(false)) => (actual.is_none(), "unset".to_owned()),
            (None, _) => (actual.is_some(), "set".to_owned()),
        };
        checks.push(Check::new(
            format!("variables.{name}"),
            passed,
            expected,
            actual.map_or_else(|| "unset".to_owned(), |v| format!("{v:?}")),
        ));
    }
    if let Some(is_final) = expect.is_final {
        checks.push(Check::new(
            "is_final",
            is_final == seen.is_final,
            is_final.to_string(),
            seen.is_final.to_string(),
        ));
    }
    if let Some(error) = &expect.error {
        let passed = seen.error.is_some_and(|(component, message)| {
            error.component.as_deref().is_none_or(|c| c == component)
                && error
                    .contains
                    .as_deref()
                    .is_none_or(|part| message.contains(part))
        });
        checks.push(Check::new(
            "error",
            passed,
            format!(
                "an error at {} containing {}",
                show(error.component.as_deref()),
                show(error.contains.as_deref())
            ),
            seen.error.map_or_else(
                || "no error".to_owned(),
                |(component, message)| format!("{message:?} at {component:?}"),
            ),
        ));
    }
    checks
}

/// Checks the HTTP calls made against `expect_http_calls`.
pub fn check_calls(expected: &[String], made: &[Option<String>]) -> Check {
    let actual: Vec<String> = made
        .iter()
        .map(|stub| stub.clone().unwrap_or_else(|| "(no stub)".into()))
        .collect();
    Check::new(
        "http_calls",
        expected == actual.as_slice(),
        format!("[{}]", expected.join(", ")),
        format!("[{}]", actual.join(", ")),
    )
}
