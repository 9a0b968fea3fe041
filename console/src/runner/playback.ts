// A run's path up to a step, as counts for the drawing. Pure, so that the slider's meaning can be
// tested apart from React.
import type { Schemas } from "../api/client";

type Edge = Schemas["Edge"];

export interface Trace {
  /** Times each component was entered up to the step. */
  visits: Map<string, number>;
  /** Times each `from -> to` edge was taken up to the step. */
  edges: Map<string, number>;
  /** The component the step shows. */
  current: string | null;
}

export const edgeKey = (from: string, to: string) => `${from} -> ${to}`;

/** The path's first `step` components (1-based) and the edges taken among them. */
export function traceUpTo(path: string[], edges: Edge[], step: number): Trace {
  const shown = path.slice(0, Math.max(0, Math.min(step, path.length)));
  const visits = new Map<string, number>();
  for (const id of shown) visits.set(id, (visits.get(id) ?? 0) + 1);
  // The edges are in path order: each is matched to the next place in the path it joins.
  const counted = new Map<string, number>();
  let at = 0;
  for (const edge of edges) {
    let i = at;
    while (i + 1 < shown.length && !(shown[i] === edge.from && shown[i + 1] === edge.to)) i++;
    if (i + 1 >= shown.length) break;
    const key = edgeKey(edge.from, edge.to);
    counted.set(key, (counted.get(key) ?? 0) + 1);
    at = i + 1;
  }
  return { visits, edges: counted, current: shown.length ? shown[shown.length - 1] : null };
}

/**
 * Coverage of a set of scenario runs: how often each component was entered and each edge taken
 * over all of them (each run's whole path), for the drawing. Nothing is "current".
 */
export function coverageOf(runs: { path: string[]; edges: Edge[] }[]): Trace {
  const visits = new Map<string, number>();
  const edges = new Map<string, number>();
  const add = (into: Map<string, number>, from: Map<string, number>) => {
    for (const [key, count] of from) into.set(key, (into.get(key) ?? 0) + count);
  };
  for (const run of runs) {
    const whole = traceUpTo(run.path, run.edges, run.path.length);
    add(visits, whole.visits);
    add(edges, whole.edges);
  }
  return { visits, edges, current: null };
}
