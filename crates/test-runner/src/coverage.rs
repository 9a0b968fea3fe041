//! Coverage of a bot over many runs: components and edges visited out of all.

use std::collections::BTreeSet;

use flow::engine::BotVersion;
use serde::Serialize;

use crate::result::ChannelRun;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Coverage {
    pub components_visited: usize,
    pub components_total: usize,
    pub edges_visited: usize,
    pub edges_total: usize,
    pub components_never_visited: Vec<String>,
    /// `from -> to`
    pub edges_never_visited: Vec<String>,
}

impl Coverage {
    pub fn of(bot: &BotVersion, runs: &[ChannelRun]) -> Self {
        let flow = bot.flow();
        let all_components: Vec<&str> = flow.components.iter().map(|c| c.id()).collect();
        let all_edges: BTreeSet<(String, String)> = flow
            .components
            .iter()
            .flat_map(|c| {
                c.edges()
                    .into_iter()
                    .map(|(_, to)| (c.id().to_owned(), to.to_owned()))
            })
            .collect();
        let visited: BTreeSet<&str> = runs
            .iter()
            .flat_map(|r| r.path.iter().map(String::as_str))
            .collect();
        let taken: BTreeSet<(String, String)> = runs
            .iter()
            .flat_map(|r| r.edges.iter().map(|e| (e.from.clone(), e.to.clone())))
            .filter(|edge| all_edges.contains(edge))
            .collect();
        Self {
            components_visited: all_components
                .iter()
                .filter(|c| visited.contains(*c))
                .count(),
            components_total: all_components.len(),
            edges_visited: taken.len(),
            edges_total: all_edges.len(),
            components_never_visited: all_components
                .iter()
                .filter(|c| !visited.contains(*c))
                .map(|c| (*c).to_owned())
                .collect(),
            edges_never_visited: all_edges
                .difference(&taken)
                .map(|(from, to)| format!("{from} -> {to}"))
                .collect(),
        }
    }
}
