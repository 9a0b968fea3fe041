// A flow (docs/flow-format.md) as a graph: one node per component, one edge per exit. Pure, so
// that drawing and layout can be reasoned about apart from React.

export type Exit = {
  /** Unique within the node: the handle and ELK port id. */
  key: string;
  label: string;
  target: string;
};

export type GraphNode = {
  id: string;
  type: string;
  summary: string;
  exits: Exit[];
  isStart: boolean;
};

export interface GraphEdge {
  id: string;
  source: string;
  sourceHandle: string;
  target: string;
  label: string;
}

export interface FlowGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

type Json = Record<string, unknown>;
const str = (value: unknown): string => (typeof value === "string" ? value : "");
const list = (value: unknown): Json[] => (Array.isArray(value) ? (value as Json[]) : []);

function conditionLabel(when: unknown): string {
  const test = (when ?? {}) as Json;
  const value = test.value === undefined ? "" : ` ${JSON.stringify(test.value)}`;
  return `${str(test.variable)} ${str(test.op).replace(/_/g, " ")}${value}`.trim();
}

function exitsOf(component: Json): Exit[] {
  const exits: Exit[] = [];
  const add = (key: string, label: string, target: unknown) => {
    if (typeof target === "string" && target) exits.push({ key, label, target });
  };
  list(component.options).forEach((option, i) => add(`option-${i}`, str(option.title) || str(option.id), option.next));
  list(component.branches).forEach((branch, i) => add(`branch-${i}`, conditionLabel(branch.when), branch.next));
  add("next", component.type === "http_request" ? "2xx" : "next", component.next);
  add("else", "else", component.else);
  add("on_error", "on error", component.on_error);
  return exits;
}

function summaryOf(component: Json): string {
  switch (component.type) {
    case "media":
      return `${str(component.media_type)} ${str(component.url)}`;
    case "condition":
      return `${list(component.branches).length} branch(es)`;
    case "set_variable":
      return `${str(component.variable)} = ${str(component.value)}`;
    case "http_request":
      return `${str(component.method)} ${str(component.url)}`;
    case "question_text":
      return `${str(component.text)} → ${str(component.variable)}`;
    default:
      return str(component.text);
  }
}

/** Reads whatever shape the draft has: unknown parts are skipped, not fatal (drafts may be incomplete). */
export function flowGraph(flow: unknown): FlowGraph {
  const root = (flow ?? {}) as Json;
  const components = list(root.components).filter((c) => typeof c.id === "string" && c.id);
  const ids = new Set(components.map((c) => c.id as string));
  const nodes: GraphNode[] = components.map((component) => ({
    id: component.id as string,
    type: str(component.type) || "unknown",
    summary: summaryOf(component),
    exits: exitsOf(component),
    isStart: component.id === root.start,
  }));
  const edges: GraphEdge[] = nodes.flatMap((node) =>
    node.exits
      .filter((exit) => ids.has(exit.target))
      .map((exit) => ({
        id: `${node.id}:${exit.key}`,
        source: node.id,
        sourceHandle: exit.key,
        target: exit.target,
        label: exit.label,
      })),
  );
  return { nodes, edges };
}
