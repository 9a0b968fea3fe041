//! A bot version prepared for running: components indexed by id, patterns compiled once.

use std::collections::HashMap;

use regex::Regex;

use crate::model::{BotDefinition, Component, ConditionOp, Flow, InputValidation, VariableDecl};
use crate::patterns::{compile_full_match, compile_search};

/// An immutable bot version (its declared variables and flow), ready for the engine.
///
/// Building one never fails, so that a draft can run in the Test Runner: what validation would
/// reject (a missing component, a broken pattern) becomes an execution error where it is met.
/// Executors build it once per published version and share it.
#[derive(Debug, Clone)]
pub struct BotVersion {
    variables: Vec<VariableDecl>,
    flow: Flow,
    index: HashMap<String, usize>,
    /// `question_text` validation patterns by component id.
    answer_patterns: HashMap<String, Result<Regex, String>>,
    /// `condition` patterns by (component id, branch index).
    condition_patterns: HashMap<(String, usize), Result<Regex, String>>,
}

impl BotVersion {
    pub fn new(variables: Vec<VariableDecl>, flow: Flow) -> Self {
        let mut index = HashMap::new();
        let mut answer_patterns = HashMap::new();
        let mut condition_patterns = HashMap::new();
        for (i, component) in flow.components.iter().enumerate() {
            if index.contains_key(component.id()) {
                continue; // the first component with an id wins, as in validation
            }
            index.insert(component.id().to_owned(), i);
            match component {
                Component::QuestionText(q) => {
                    if let Some(InputValidation::Regex { pattern }) = &q.validation {
                        answer_patterns.insert(q.id.clone(), compile_full_match(pattern));
                    }
                }
                Component::Condition(c) => {
                    for (b, branch) in c.branches.iter().enumerate() {
                        if let (ConditionOp::Regex, Some(pattern)) =
                            (branch.when.op, &branch.when.value)
                        {
                            condition_patterns.insert((c.id.clone(), b), compile_search(pattern));
                        }
                    }
                }
                _ => {}
            }
        }
        Self {
            variables,
            flow,
            index,
            answer_patterns,
            condition_patterns,
        }
    }

    pub fn from_definition(bot: BotDefinition) -> Self {
        Self::new(bot.variables, bot.flow)
    }

    pub fn flow(&self) -> &Flow {
        &self.flow
    }

    pub fn variables(&self) -> &[VariableDecl] {
        &self.variables
    }

    pub fn component(&self, id: &str) -> Option<&Component> {
        self.index
            .get(id)
            .and_then(|&i| self.flow.components.get(i))
    }

    pub(crate) fn is_declared(&self, name: &str) -> bool {
        self.variables.iter().any(|v| v.name == name)
    }

    pub(crate) fn answer_pattern(&self, component: &str) -> Option<&Result<Regex, String>> {
        self.answer_patterns.get(component)
    }

    pub(crate) fn condition_pattern(
        &self,
        component: &str,
        branch: usize,
    ) -> Option<&Result<Regex, String>> {
        self.condition_patterns.get(&(component.to_owned(), branch))
    }
}
