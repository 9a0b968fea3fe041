//! Checks of the flow as a graph: start, ids, edges, reachability and spinning loops.

use std::collections::HashMap;

use super::components::check_duplicate_ids;
use super::{Checker, Rule};
use crate::model::Flow;

pub(super) fn check_graph(checker: &mut Checker<'_>, flow: &Flow) {
    check_duplicate_ids(checker, flow);
    // First occurrence wins, as in the engine.
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, component) in flow.components.iter().enumerate() {
        index.entry(component.id()).or_insert(i);
    }

    let start = index.get(flow.start.as_str()).copied();
    if flow.start.trim().is_empty() {
        checker.error(
            None,
            Rule::MissingStart,
            "start is missing: name the first component".into(),
        );
    } else if start.is_none() {
        checker.error(
            None,
            Rule::UnknownStart,
            format!("start \"{}\" names no component", flow.start),
        );
    }

    let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); flow.components.len()];
    for (i, component) in flow.components.iter().enumerate() {
        if index.get(component.id()) != Some(&i) {
            continue; // a duplicate, already reported
        }
        for (source, target) in component.edges() {
            match index.get(target) {
                Some(&t) => adjacency[i].push(t),
                None if target.is_empty() => {
                    checker.issue(
                        component.id(),
                        Rule::DanglingNext,
                        format!("{source} is empty"),
                    );
                }
                None => checker.issue(
                    component.id(),
                    Rule::DanglingNext,
                    format!("{source} \"{target}\" names no component"),
                ),
            }
        }
    }

    if let Some(start) = start {
        let reachable = reachable_from(start, &adjacency);
        for (i, component) in flow.components.iter().enumerate() {
            if !reachable[i] && index.get(component.id()) == Some(&i) {
                checker.issue(
                    component.id(),
                    Rule::UnreachableComponent,
                    format!("no path leads here from start \"{}\"", flow.start),
                );
            }
        }
    }

    // Only edges between non-waiting components can spin: a waiting component ends the turn.
    let non_waiting: Vec<Vec<usize>> = adjacency
        .iter()
        .enumerate()
        .map(|(i, targets)| {
            if flow.components[i].waits_for_input() {
                Vec::new()
            } else {
                targets
                    .iter()
                    .copied()
                    .filter(|&t| !flow.components[t].waits_for_input())
                    .collect()
            }
        })
        .collect();
    for mut cycle in strongly_connected_components(&non_waiting) {
        let is_cycle = cycle.len() > 1 || cycle.iter().any(|&v| non_waiting[v].contains(&v));
        if !is_cycle {
            continue;
        }
        cycle.sort_unstable();
        let names: Vec<String> = cycle
            .iter()
            .map(|&v| format!("\"{}\"", flow.components[v].id()))
            .collect();
        let first = flow.components[cycle[0]].id();
        checker.issue(
            first,
            Rule::LoopWithoutWait,
            format!(
                "the loop through {} passes no question_text, buttons or list: it would spin",
                names.join(", ")
            ),
        );
    }
}

fn reachable_from(start: usize, adjacency: &[Vec<usize>]) -> Vec<bool> {
    let mut seen = vec![false; adjacency.len()];
    let mut stack = vec![start];
    seen[start] = true;
    while let Some(v) = stack.pop() {
        for &w in &adjacency[v] {
            if !seen[w] {
                seen[w] = true;
                stack.push(w);
            }
        }
    }
    seen
}

/// Tarjan's algorithm, iterative so that a long chain of components cannot overflow the stack.
fn strongly_connected_components(adjacency: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNVISITED: usize = usize::MAX;
    let n = adjacency.len();
    let mut order = vec![UNVISITED; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut counter = 0;

    for root in 0..n {
        if order[root] != UNVISITED {
            continue;
        }
        let mut calls: Vec<(usize, usize)> = vec![(root, 0)];
        order[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(frame) = calls.last_mut() {
            let v = frame.0;
            if let Some(&w) = adjacency[v].get(frame.1) {
                frame.1 += 1;
                if order[w] == UNVISITED {
                    order[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(order[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == order[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

#[cfg(test)]
mod tests {
    use super::strongly_connected_components;

    fn sorted(mut sccs: Vec<Vec<usize>>) -> Vec<Vec<usize>> {
        for scc in &mut sccs {
            scc.sort_unstable();
        }
        sccs.sort();
        sccs
    }

    #[test]
    fn finds_cycles_and_singletons() {
        // 0 -> 1 -> 2 -> 0, 2 -> 3, 3 -> 3, 4 alone
        let adjacency = vec![vec![1], vec![2], vec![0, 3], vec![3], vec![]];
        assert_eq!(
            sorted(strongly_connected_components(&adjacency)),
            vec![vec![0, 1, 2], vec![3], vec![4]]
        );
    }

    #[test]
    fn handles_a_long_chain_without_recursion() {
        let n = 100_000;
        let adjacency: Vec<Vec<usize>> = (0..n).map(|i| vec![(i + 1) % n]).collect();
        let sccs = strongly_connected_components(&adjacency);
        assert_eq!(sccs.len(), 1);
        assert_eq!(sccs[0].len(), n);
    }
}
