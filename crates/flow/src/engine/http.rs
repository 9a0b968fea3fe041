//! `http_request`: building the call the executor performs, and applying its outcome.

use std::collections::BTreeMap;

use serde_json::Value;

use super::turn::{run, Turn};
use super::types::{ComponentVisit, HttpCall, HttpOutcome};
use super::{BotVersion, EngineLimits, ExecutionError, TurnError, TurnStep};
use crate::model::{HttpRequestComponent, MAX_HTTP_TIMEOUT_MS};
use crate::url::{is_forbidden_host, split_http_url};

/// What entering an `http_request` leads to.
pub(super) enum Entered {
    /// The executor must perform this call; the turn is suspended.
    Call(HttpCall),
    /// The call was refused before it was sent and the flow continues at this component.
    Next(String),
}

pub(super) fn enter(
    limits: EngineLimits,
    turn: &mut Turn,
    entry: &mut ComponentVisit,
    c: &HttpRequestComponent,
) -> Result<Entered, ExecutionError> {
    if turn.http_calls >= limits.max_http_calls_per_turn {
        return Err(ExecutionError::HttpLimitExceeded {
            component: c.id.clone(),
            limit: limits.max_http_calls_per_turn,
        });
    }
    turn.http_calls += 1;
    match build_call(limits, turn, c) {
        Ok((call, host)) => {
            entry.detail = Some(format!(
                "{} {host}: waiting for the answer",
                call.method.as_str()
            ));
            Ok(Entered::Call(call))
        }
        Err(reason) => {
            if let Some(status) = &c.status_variable {
                turn.set_variable(entry, status, None)?;
            }
            failure(entry, c, reason).map(Entered::Next)
        }
    }
}

/// Applies the executor's outcome to the suspended turn and runs on.
pub(super) fn resume(
    limits: EngineLimits,
    bot: &BotVersion,
    mut turn: Turn,
    c: &HttpRequestComponent,
    outcome: HttpOutcome,
) -> Result<TurnStep, TurnError> {
    let mut entry = match turn.pop_visit() {
        Some(entry) if entry.id == c.id => entry,
        other => {
            if let Some(entry) = other {
                turn.push_visit(entry);
            }
            return Err(turn.fail(
                None,
                ExecutionError::InvalidResume {
                    component: c.id.clone(),
                },
            ));
        }
    };
    match apply(&mut turn, &mut entry, c, outcome) {
        Ok(next) => {
            turn.push_visit(entry);
            run(limits, bot, turn, next)
        }
        Err(error) => Err(turn.fail(Some(entry), error)),
    }
}

fn apply(
    turn: &mut Turn,
    entry: &mut ComponentVisit,
    c: &HttpRequestComponent,
    outcome: HttpOutcome,
) -> Result<String, ExecutionError> {
    match outcome {
        HttpOutcome::Response { status, body_json } => {
            if let Some(variable) = &c.status_variable {
                turn.set_variable(entry, variable, Some(status.to_string()))?;
            }
            if !(200..300).contains(&status) {
                return failure(entry, c, format!("the answer has HTTP status {status}"));
            }
            for mapping in &c.map {
                let value = body_json
                    .as_ref()
                    .and_then(|body| lookup(body, &mapping.path));
                turn.set_variable(entry, &mapping.variable, value)?;
            }
            entry.detail = Some(format!("HTTP {status} → \"{}\"", c.next));
            Ok(c.next.clone())
        }
        HttpOutcome::Failed { reason } => {
            if let Some(variable) = &c.status_variable {
                turn.set_variable(entry, variable, None)?;
            }
            failure(entry, c, reason)
        }
    }
}

/// A failed call goes to `on_error`, or fails the bot when there is none.
fn failure(
    entry: &mut ComponentVisit,
    c: &HttpRequestComponent,
    reason: String,
) -> Result<String, ExecutionError> {
    match &c.on_error {
        Some(on_error) => {
            entry.detail = Some(format!("{reason} → on_error \"{on_error}\""));
            Ok(on_error.clone())
        }
        None => Err(ExecutionError::HttpFailed {
            component: c.id.clone(),
            reason,
        }),
    }
}

/// The call for the component, and its host for the path; `Err` when it must not be sent.
fn build_call(
    limits: EngineLimits,
    turn: &Turn,
    c: &HttpRequestComponent,
) -> Result<(HttpCall, String), String> {
    let url = turn.render_url(&c.url);
    let host = match split_http_url(&url) {
        Some(parts) => parts.host.to_owned(),
        None => return Err("the URL is not an absolute http(s) URL once interpolated".into()),
    };
    if !limits.allow_private_network && is_forbidden_host(&host) {
        return Err(format!("refused: {host} is a private or loopback address"));
    }
    let mut headers: BTreeMap<String, String> = c
        .headers
        .iter()
        .map(|(name, value)| {
            // A value may come from user input: no control character may split the header.
            let value: String = turn
                .render(value)
                .chars()
                .map(|ch| if ch.is_control() { ' ' } else { ch })
                .collect();
            (name.clone(), value)
        })
        .collect();
    let body = c.body.as_ref().map(|body| render_json(turn, body));
    if body.is_some()
        && !headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"))
    {
        headers.insert("Content-Type".to_owned(), "application/json".to_owned());
    }
    let call = HttpCall {
        method: c.method,
        url,
        headers,
        body,
        timeout_ms: c.timeout_ms.clamp(1, MAX_HTTP_TIMEOUT_MS),
    };
    Ok((call, host))
}

/// Renders every string of a JSON template; the values stay JSON strings, so they are escaped.
fn render_json(turn: &Turn, template: &Value) -> Value {
    match template {
        Value::String(s) => Value::String(turn.render(s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| render_json(turn, v)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_json(turn, v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The value at a dotted path (`data.items.0.id`) as a variable value; `None` when absent or null.
pub(crate) fn lookup(body: &Value, path: &str) -> Option<String> {
    let mut current = body;
    for segment in path.split('.') {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match current {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::lookup;
    use serde_json::json;

    #[test]
    fn looks_up_dotted_paths() {
        let body = json!({"data": {"items": [{"id": 7, "name": "Ada", "ok": true, "tags": ["a"], "none": null}]}});
        assert_eq!(lookup(&body, "data.items.0.id").as_deref(), Some("7"));
        assert_eq!(lookup(&body, "data.items.0.name").as_deref(), Some("Ada"));
        assert_eq!(lookup(&body, "data.items.0.ok").as_deref(), Some("true"));
        assert_eq!(
            lookup(&body, "data.items.0.tags").as_deref(),
            Some("[\"a\"]")
        );
        assert_eq!(lookup(&body, "data.items.0.none"), None);
        assert_eq!(lookup(&body, "data.items.1.id"), None);
        assert_eq!(lookup(&body, "data.items.x"), None);
        assert_eq!(lookup(&body, "data.items.0.id.deeper"), None);
        assert_eq!(lookup(&json!([10, 20]), "1").as_deref(), Some("20"));
    }
}
