//! What a turn remembers while it runs: the HTTP calls' answers across re-runs, and the
//! engine's path and changes that the test runner draws its timeline from.

use std::time::Duration;

use flow::engine::{
    ComponentVisit, HttpCall, HttpOutcome, SessionState, TurnError, TurnResult, VariableChange,
};

/// The answers of the HTTP calls a turn made so far, in order. The engine is pure, so running
/// the turn again from the same session and input asks for the same calls: they are answered
/// from here. If the session changed in between (another executor), the calls differ from
/// the first mismatch on and are made again.
#[derive(Debug, Default)]
pub(super) struct HttpAnswers {
    pub(super) answers: Vec<(HttpCall, HttpOutcome)>,
    /// Per call: the component that made it and how long the call took.
    pub(super) timings: Vec<(String, Duration)>,
}

impl HttpAnswers {
    pub(super) fn answer(&self, index: usize, call: &HttpCall) -> Option<&HttpOutcome> {
        self.answers
            .get(index)
            .filter(|(made, _)| made == call)
            .map(|(_, outcome)| outcome)
    }

    pub(super) fn record(
        &mut self,
        index: usize,
        call: HttpCall,
        outcome: HttpOutcome,
        timing: (String, Duration),
    ) {
        self.answers.truncate(index);
        self.answers.push((call, outcome));
        self.timings.truncate(index);
        self.timings.push(timing);
    }
}

/// What the engine did during one event's turn: production drops it, the test runner draws
/// its timeline from it. Empty for an event answered from its stored outputs.
#[derive(Debug, Clone, Default)]
pub struct TurnTrace {
    /// The components the last attempt went through, in order (up to the error, if any).
    pub path: Vec<ComponentVisit>,
    /// Net change of the variables over the turn.
    pub variable_changes: Vec<VariableChange>,
    /// The state after the turn (`None` when the turn failed or did not run the flow).
    pub state: Option<SessionState>,
    /// The bot's execution error: (component, message).
    pub error: Option<(String, String)>,
    /// The HTTP calls made for the turn and their answers, in order.
    pub http_calls: Vec<(HttpCall, HttpOutcome)>,
    /// Per HTTP call, in the same order: the `http_request` component that made it and the
    /// time the call took (the engine's own time per component is in the path's visits when
    /// the engine has a clock).
    pub http_timings: Vec<(String, Duration)>,
    /// The turn started a session.
    pub started: bool,
    /// The bot version the flow ran on (`None` when it did not run).
    pub bot_version: Option<i32>,
}

impl TurnTrace {
    pub(super) fn record(&mut self, turn: &Result<TurnResult, TurnError>) {
        match turn {
            Ok(turn) => {
                self.path = turn.path.clone();
                self.variable_changes = turn.variable_changes.clone();
                self.state = Some(turn.state.clone());
                self.error = None;
            }
            Err(TurnError::Execution(failure)) => {
                self.path = failure.path.clone();
                self.error = Some((
                    failure.error.component().to_owned(),
                    failure.error.to_string(),
                ));
            }
            Err(TurnError::Input(_)) => {}
        }
    }
}
