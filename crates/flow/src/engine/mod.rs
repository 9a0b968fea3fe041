//! The pure flow engine: given a bot version, a session state and an input, compute the
//! messages, the new state and the path through the flow.
//!
//! The engine performs no I/O. When the flow reaches an `http_request`, a turn returns
//! [`TurnStep::NeedsHttp`]; the executor performs the call (checking the addresses the host
//! resolves to with [`crate::url::is_forbidden_ip`]) and continues with [`Engine::resume`].
//!
//! Errors come in two kinds: an [`InputError`] is the user's (the API answers 4xx and the
//! session is unchanged); an [`ExecutionError`] is the bot's (the API answers 500, the session
//! keeps its last good state, and an alert is raised).

mod answers;
mod bot;
mod http;
mod turn;
mod types;

use serde::{Deserialize, Serialize};

pub use bot::BotVersion;
pub use turn::Clock;
pub use types::*;

use crate::model::Component;
use crate::variables::{
    is_builtin, CHANNEL, LAST_INPUT, ON_CREATE_MESSAGE_PAYLOAD, SESSION_ID, USER_IDENTIFIER,
};
use turn::Turn;

/// Bounds that keep a turn finite and a deployment's network private.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineLimits {
    /// Components a turn may enter; one more is a [`ExecutionError::StepLimitExceeded`].
    pub max_steps_per_turn: u32,
    /// `http_request` components a turn may run.
    pub max_http_calls_per_turn: u32,
    /// Allow `http_request` to literal private and loopback addresses.
    pub allow_private_network: bool,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            max_steps_per_turn: 200,
            max_http_calls_per_turn: 10,
            allow_private_network: false,
        }
    }
}

/// A turn that has either finished or is waiting for the executor's HTTP call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnStep {
    Complete(TurnResult),
    /// Perform `request`, then call [`Engine::resume`] with `resume` and the outcome.
    NeedsHttp {
        request: HttpCall,
        resume: Suspended,
    },
}

/// A turn paused at an `http_request`. Serialisable, so that it can be kept anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspended {
    turn: Turn,
    component: String,
}

impl Suspended {
    /// The `http_request` component the turn is paused at.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// The path of the turn so far, ending with the `http_request` component.
    pub fn path(&self) -> &[ComponentVisit] {
        self.turn.path()
    }
}

/// Input the session cannot take. The session is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the conversation has ended")]
    SessionFinished,
    #[error("option \"{option}\" is not offered here; valid options: {}", .valid_ids.join(", "))]
    InvalidOption {
        component: String,
        option: String,
        valid_ids: Vec<String>,
    },
    #[error("component \"{component}\" waits for a text message, not an option")]
    TextExpected { component: String },
    #[error("component \"{component}\" does not wait for input")]
    NotWaiting { component: String },
    #[error("variables not declared by the bot: {}", .names.join(", "))]
    UndeclaredVariables { names: Vec<String> },
}

/// The bot failed; the message names the component where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionError {
    #[error("component \"{component}\" does not exist")]
    UnknownComponent { component: String },
    #[error("the turn entered more than {limit} components; stopped before \"{component}\"")]
    StepLimitExceeded { component: String, limit: u32 },
    #[error("the turn ran more than {limit} http requests; stopped at \"{component}\"")]
    HttpLimitExceeded { component: String, limit: u32 },
    #[error("http_request \"{component}\" failed and has no on_error: {reason}")]
    HttpFailed { component: String, reason: String },
    #[error("component \"{component}\" writes the built-in variable \"{variable}\"")]
    ReadOnlyVariable { component: String, variable: String },
    #[error("component \"{component}\" is invalid: {reason}")]
    InvalidComponent { component: String, reason: String },
    #[error("the suspended turn does not wait at an http_request (\"{component}\")")]
    InvalidResume { component: String },
}

impl ExecutionError {
    /// The component where the bot failed.
    pub fn component(&self) -> &str {
        match self {
            Self::UnknownComponent { component }
            | Self::StepLimitExceeded { component, .. }
            | Self::HttpLimitExceeded { component, .. }
            | Self::HttpFailed { component, .. }
            | Self::ReadOnlyVariable { component, .. }
            | Self::InvalidComponent { component, .. }
            | Self::InvalidResume { component } => component,
        }
    }
}

/// An execution error with the path the turn took before it (for the Test Runner).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct ExecutionFailure {
    pub error: ExecutionError,
    pub path: Vec<ComponentVisit>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Execution(#[from] ExecutionFailure),
}

/// Runs flows. Cheap to copy; holds only its limits (and, to time components, a clock).
#[derive(Debug, Clone, Copy, Default)]
pub struct Engine {
    limits: EngineLimits,
    clock: Option<Clock>,
}

impl Engine {
    pub fn new(limits: EngineLimits) -> Self {
        Self {
            limits,
            clock: None,
        }
    }

    /// An engine that records in each [`ComponentVisit::engine_ns`] the time it spent there,
    /// read from `clock` (the test runner's timeline). Without one the engine reads no time,
    /// so its results are deterministic.
    pub fn with_clock(limits: EngineLimits, clock: Clock) -> Self {
        Self {
            limits,
            clock: Some(clock),
        }
    }

    pub fn limits(&self) -> EngineLimits {
        self.limits
    }

    /// Starts a session: sets defaults, injected variables and built-ins, then runs from the
    /// start component to the first waiting component or the end.
    pub fn start(&self, bot: &BotVersion, ctx: StartContext) -> Result<TurnStep, TurnError> {
        let undeclared: Vec<String> = ctx
            .variables
            .keys()
            .filter(|name| is_builtin(name) || !bot.is_declared(name))
            .cloned()
            .collect();
        if !undeclared.is_empty() {
            return Err(InputError::UndeclaredVariables { names: undeclared }.into());
        }
        let mut variables: std::collections::BTreeMap<String, String> = bot
            .variables()
            .iter()
            .filter_map(|decl| Some((decl.name.clone(), decl.default.clone()?)))
            .collect();
        variables.extend(ctx.variables);
        variables.insert(SESSION_ID.to_owned(), ctx.session_id);
        variables.insert(USER_IDENTIFIER.to_owned(), ctx.user_identifier);
        variables.insert(CHANNEL.to_owned(), ctx.channel);
        if let Some(payload) = ctx.message_payload {
            variables.insert(ON_CREATE_MESSAGE_PAYLOAD.to_owned(), payload.clone());
            variables.insert(LAST_INPUT.to_owned(), payload);
        }
        let turn = Turn::new_session(variables).timed(self.clock);
        turn::run(self.limits, bot, turn, bot.flow().start.clone())
    }

    /// Gives the user's input to the waiting component of `state` and runs on from there.
    pub fn advance(
        &self,
        bot: &BotVersion,
        state: SessionState,
        input: Input,
    ) -> Result<TurnStep, TurnError> {
        let Some(current) = state.current.clone() else {
            return Err(InputError::SessionFinished.into());
        };
        let turn = Turn::new(state).timed(self.clock);
        let Some(component) = bot.component(&current) else {
            return Err(turn.fail(
                None,
                ExecutionError::UnknownComponent { component: current },
            ));
        };
        if !component.waits_for_input() {
            return Err(InputError::NotWaiting { component: current }.into());
        }
        answers::take_input(self.limits, bot, turn, component, input)
    }

    /// Continues a turn suspended at an `http_request` with the outcome of its call.
    pub fn resume(
        &self,
        bot: &BotVersion,
        suspended: Suspended,
        outcome: HttpOutcome,
    ) -> Result<TurnStep, TurnError> {
        let Suspended { turn, component } = suspended;
        let turn = turn.timed(self.clock);
        let Some(Component::HttpRequest(http)) = bot.component(&component) else {
            return Err(turn.fail(None, ExecutionError::InvalidResume { component }));
        };
        http::resume(self.limits, bot, turn, http, outcome)
    }
}
