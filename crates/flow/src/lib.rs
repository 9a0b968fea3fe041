//! The bot flow: its JSON model, its validation, and the pure engine that runs it.
//!
//! This crate does no I/O, reads no clock and draws no randomness: everything it needs comes
//! from its caller, which makes every behaviour testable without a database or network.
//! The format is documented for bot authors in `docs/flow-format.md`.

pub mod engine;
pub mod model;
pub mod number;
pub mod parse;
pub mod patterns;
pub mod template;
pub mod url;
pub mod validate;
pub mod variables;
pub mod whatsapp_limits;

pub use engine::{
    BotVersion, ComponentVisit, Engine, EngineLimits, ExecutionError, ExecutionFailure, HttpCall,
    HttpOutcome, Input, InputError, OutMessage, OutOption, SessionState, StartContext, Suspended,
    TurnError, TurnResult, TurnStep, VariableChange, VisitEvent,
};
pub use model::*;
pub use parse::{parse_bot, parse_flow, parse_flow_value, validate_flow_json, MalformedFlow};
pub use url::{is_forbidden_host, is_forbidden_ip};
pub use validate::{validate, validate_bot, Issue, Rule, ValidationReport, MAX_COMPONENTS};
pub use variables::BUILTIN_VARIABLES;
