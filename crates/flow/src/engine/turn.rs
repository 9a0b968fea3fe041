//! One turn: entering components from a starting point until the flow waits or ends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::{
    ComponentVisit, OutMessage, OutOption, SessionState, TurnResult, VariableChange, VisitEvent,
};
use super::{
    http, BotVersion, EngineLimits, ExecutionError, ExecutionFailure, Suspended, TurnError,
    TurnStep,
};
use crate::model::{Component, ConditionComponent, ConditionOp, MediaComponent};
use crate::number::parse_number;
use crate::template::render_with;
use crate::url::encode_component;
use crate::variables::is_builtin;

/// A monotonic clock in nanoseconds from any origin. The engine is pure and has none of its
/// own; a caller that wants the time spent per component passes one
/// ([`super::Engine::with_clock`]).
pub type Clock = fn() -> u64;

/// Times the components of a turn when there is a clock: each visit gets the time since the
/// previous one was recorded (or since the turn began).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stopwatch {
    clock: Option<Clock>,
    last: u64,
}

impl Stopwatch {
    fn start(clock: Option<Clock>) -> Self {
        Self {
            clock,
            last: clock.map_or(0, |now| now()),
        }
    }

    fn lap(&mut self) -> Option<u64> {
        let now = (self.clock?)();
        let lap = now.saturating_sub(self.last);
        self.last = now;
        Some(lap)
    }
}

/// Timing never makes two turns different (and the clock is not compared).
impl PartialEq for Stopwatch {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Stopwatch {}

/// The work in progress of a turn. Serialisable because a suspended turn carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Turn {
    pub(super) state: SessionState,
    /// The variables before the turn, for its net changes.
    initial: BTreeMap<String, String>,
    messages: Vec<OutMessage>,
    path: Vec<ComponentVisit>,
    steps: u32,
    pub(super) http_calls: u32,
    #[serde(skip)]
    watch: Stopwatch,
}

impl Turn {
    pub(super) fn new(state: SessionState) -> Self {
        let initial = state.variables.clone();
        Self {
            state,
            initial,
            messages: Vec::new(),
            path: Vec::new(),
            steps: 0,
            http_calls: 0,
            watch: Stopwatch::default(),
        }
    }

    /// Times the turn's components from now on with `clock` (none: not timed).
    pub(super) fn timed(mut self, clock: Option<Clock>) -> Self {
        self.watch = Stopwatch::start(clock);
        self
    }

    /// Adds the time since the previous visit was recorded to `visit`.
    fn stamp(&mut self, visit: &mut ComponentVisit) {
        if let Some(lap) = self.watch.lap() {
            *visit.engine_ns.get_or_insert(0) += lap;
        }
    }

    /// A new session: every variable it starts with counts as added by its first turn.
    pub(super) fn new_session(variables: BTreeMap<String, String>) -> Self {
        let mut turn = Self::new(SessionState {
            current: None,
            variables,
            retries: 0,
        });
        turn.initial.clear();
        turn
    }

    pub(super) fn path(&self) -> &[ComponentVisit] {
        &self.path
    }

    pub(super) fn push_visit(&mut self, mut visit: ComponentVisit) {
        self.stamp(&mut visit);
        self.path.push(visit);
    }

    pub(super) fn pop_visit(&mut self) -> Option<ComponentVisit> {
        self.path.pop()
    }

    fn value(&self, name: &str) -> String {
        self.state.variables.get(name).cloned().unwrap_or_default()
    }

    /// Interpolates a template; unset variables render as empty text.
    pub(super) fn render(&self, template: &str) -> String {
        render_with(template, |name| self.value(name))
    }

    /// Interpolates a URL template, percent-encoding the values so that they stay data.
    pub(super) fn render_url(&self, template: &str) -> String {
        render_with(template, |name| encode_component(&self.value(name)))
    }

    pub(super) fn emit(&mut self, visit: &mut ComponentVisit, message: OutMessage) {
        visit.messages.push(message.clone());
        self.messages.push(message);
    }

    /// Sets (or with `None`, unsets) a variable on behalf of the flow: built-ins are read-only.
    pub(super) fn set_variable(
        &mut self,
        visit: &mut ComponentVisit,
        name: &str,
        value: Option<String>,
    ) -> Result<(), ExecutionError> {
        if is_builtin(name) {
            return Err(ExecutionError::ReadOnlyVariable {
                component: visit.id.clone(),
                variable: name.to_owned(),
            });
        }
        self.set_any(visit, name, value);
        Ok(())
    }

    /// Sets any variable, built-ins included (the engine's own bookkeeping, like `last_input`).
    pub(super) fn set_any(
        &mut self,
        visit: &mut ComponentVisit,
        name: &str,
        value: Option<String>,
    ) {
        let value = value.filter(|v| !v.is_empty());
        let from = match &value {
            Some(v) => self.state.variables.insert(name.to_owned(), v.clone()),
            None => self.state.variables.remove(name),
        };
        if from != value {
            visit.variable_changes.push(VariableChange {
                name: name.to_owned(),
                from,
                to: value,
            });
        }
    }

    /// Ends the turn at a waiting component.
    pub(super) fn wait_at(mut self, mut visit: ComponentVisit) -> TurnStep {
        self.state.current = Some(visit.id.clone());
        visit.waits_for_input = true;
        self.push_visit(visit);
        TurnStep::Complete(self.finish(false))
    }

    pub(super) fn finish(self, is_final: bool) -> TurnResult {
        let mut changes = Vec::new();
        for (name, from) in &self.initial {
            let to = self.state.variables.get(name);
            if to != Some(from) {
                changes.push(VariableChange {
                    name: name.clone(),
                    from: Some(from.clone()),
                    to: to.cloned(),
                });
            }
        }
        for (name, to) in &self.state.variables {
            if !self.initial.contains_key(name) {
                changes.push(VariableChange {
                    name: name.clone(),
                    from: None,
                    to: Some(to.clone()),
                });
            }
        }
        changes.sort_by(|a, b| a.name.cmp(&b.name));
        TurnResult {
            state: self.state,
            messages: self.messages,
            variable_changes: changes,
            is_final,
            path: self.path,
        }
    }

    /// Turns an execution error into a failure carrying the path so far (and `visit`, the
    /// component it happened in, when that was already entered).
    pub(super) fn fail(
        mut self,
        visit: Option<ComponentVisit>,
        error: ExecutionError,
    ) -> TurnError {
        if let Some(mut visit) = visit {
            visit.detail = Some(error.to_string());
            self.push_visit(visit);
        }
        TurnError::Execution(ExecutionFailure {
            error,
            path: self.path,
        })
    }
}

pub(super) fn visit(component: &Component, event: VisitEvent) -> ComponentVisit {
    ComponentVisit {
        id: component.id().to_owned(),
        component_type: component.component_type(),
        event,
        messages: Vec::new(),
        variable_changes: Vec::new(),
        waits_for_input: false,
        detail: None,
        engine_ns: None,
    }
}

/// Enters components from `id` until one waits, the flow ends, or an HTTP call is needed.
pub(super) fn run(
    limits: EngineLimits,
    bot: &BotVersion,
    mut turn: Turn,
    mut id: String,
) -> Result<TurnStep, TurnError> {
    loop {
        if turn.steps >= limits.max_steps_per_turn {
            let error = ExecutionError::StepLimitExceeded {
                component: id,
                limit: limits.max_steps_per_turn,
            };
            return Err(turn.fail(None, error));
        }
        turn.steps += 1;
        let Some(component) = bot.component(&id) else {
            return Err(turn.fail(None, ExecutionError::UnknownComponent { component: id }));
        };
        let mut entry = visit(component, VisitEvent::Entered);
        let next = match component {
            Component::Text(c) => {
                let text = turn.render(&c.text);
                emit_text(&mut turn, &mut entry, text);
                c.next.clone()
            }
            Component::QuestionText(c) => {
                let text = turn.render(&c.text);
                turn.emit(&mut entry, OutMessage::Text { text });
                return Ok(turn.wait_at(entry));
            }
            Component::Buttons(_) | Component::List(_) => {
                if let Some(message) = choice_message(&turn, component) {
                    turn.emit(&mut entry, message);
                }
                return Ok(turn.wait_at(entry));
            }
            Component::Media(c) => {
                let message = media_message(&turn, c);
                turn.emit(&mut entry, message);
                c.next.clone()
            }
            Component::Condition(c) => match evaluate(bot, &turn, c) {
                Ok((next, detail)) => {
                    entry.detail = Some(detail);
                    next
                }
                Err(e) => return Err(turn.fail(Some(entry), e)),
            },
            Component::SetVariable(c) => {
                let value = turn.render(&c.value);
                if let Err(e) = turn.set_variable(&mut entry, &c.variable, Some(value)) {
                    return Err(turn.fail(Some(entry), e));
                }
                c.next.clone()
            }
            Component::HttpRequest(c) => match http::enter(limits, &mut turn, &mut entry, c) {
                Ok(http::Entered::Call(request)) => {
                    turn.push_visit(entry);
                    return Ok(TurnStep::NeedsHttp {
                        request,
                        resume: Suspended {
                            turn,
                            component: id,
                        },
                    });
                }
                Ok(http::Entered::Next(next)) => next,
                Err(e) => return Err(turn.fail(Some(entry), e)),
            },
            Component::End(c) => {
                if let Some(text) = &c.text {
                    let text = turn.render(text);
                    emit_text(&mut turn, &mut entry, text);
                }
                turn.state.current = None;
                turn.state.retries = 0;
                turn.push_visit(entry);
                return Ok(TurnStep::Complete(turn.finish(true)));
            }
        };
        turn.push_visit(entry);
        id = next;
    }
}

/// Blank text cannot be delivered (WhatsApp refuses it), so it is noted instead of sent.
fn emit_text(turn: &mut Turn, entry: &mut ComponentVisit, text: String) {
    if text.trim().is_empty() {
        entry.detail = Some("the text rendered empty; nothing was sent".into());
    } else {
        turn.emit(entry, OutMessage::Text { text });
    }
}

/// The prompt of a buttons or list component, with its options; `None` for other types.
pub(super) fn choice_message(turn: &Turn, component: &Component) -> Option<OutMessage> {
    let render_options = || -> Vec<OutOption> {
        component
            .options()
            .unwrap_or_default()
            .into_iter()
            .map(|o| OutOption {
                id: o.id.to_owned(),
                text: turn.render(o.title),
                description: o
                    .description
                    .map(|d| turn.render(d))
                    .filter(|d| !d.is_empty()),
            })
            .collect()
    };
    match component {
        Component::List(c) => Some(OutMessage::List {
            text: turn.render(&c.text),
            options: render_options(),
            button_text: c.button_text.as_deref().map(|b| turn.render(b)),
        }),
        Component::Buttons(c) => Some(OutMessage::Buttons {
            text: turn.render(&c.text),
            options: render_options(),
        }),
        _ => None,
    }
}

fn media_message(turn: &Turn, c: &MediaComponent) -> OutMessage {
    let caption = c
        .caption
        .as_deref()
        .map(|t| turn.render(t))
        .filter(|t| !t.trim().is_empty());
    OutMessage::Media {
        text: caption.clone().unwrap_or_default(),
        media_url: turn.render_url(&c.url),
        caption,
        media_type: c.media_type,
    }
}

/// Picks the first branch that holds: (next component, what was decided).
fn evaluate(
    bot: &BotVersion,
    turn: &Turn,
    c: &ConditionComponent,
) -> Result<(String, String), ExecutionError> {
    for (i, branch) in c.branches.iter().enumerate() {
        let when = &branch.when;
        let actual = turn
            .state
            .variables
            .get(&when.variable)
            .map(String::as_str)
            .unwrap_or("");
        let expected = || turn.render(when.value.as_deref().unwrap_or(""));
        let numbers = || Some((parse_number(actual)?, parse_number(&expected())?));
        let holds = match when.op {
            ConditionOp::Equals => actual == expected(),
            ConditionOp::NotEquals => actual != expected(),
            ConditionOp::Contains => actual.contains(&expected()),
            ConditionOp::GreaterThan => numbers().is_some_and(|(a, b)| a > b),
            ConditionOp::LessThan => numbers().is_some_and(|(a, b)| a < b),
            ConditionOp::IsSet => !actual.is_empty(),
            ConditionOp::IsNotSet => actual.is_empty(),
            ConditionOp::Regex => match bot.condition_pattern(&c.id, i) {
                Some(Ok(pattern)) => pattern.is_match(actual),
                Some(Err(reason)) => {
                    return Err(ExecutionError::InvalidComponent {
                        component: c.id.clone(),
                        reason: format!("branches[{i}] pattern: {reason}"),
                    })
                }
                None => {
                    return Err(ExecutionError::InvalidComponent {
                        component: c.id.clone(),
                        reason: format!("branches[{i}] has op regex without a pattern"),
                    })
                }
            },
        };
        if holds {
            return Ok((
                branch.next.clone(),
                format!("branches[{i}] holds → \"{}\"", branch.next),
            ));
        }
    }
    Ok((
        c.else_next.clone(),
        format!("no branch holds → else \"{}\"", c.else_next),
    ))
}
