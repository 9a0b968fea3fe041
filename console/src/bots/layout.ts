// Automatic layered layout with ELK, left to right. Each exit is a port on the node's east
// side in a fixed order, so that edges leave the node in the order its exits are listed.
import type { FlowGraph, GraphNode } from "./flowGraph";

export const NODE_WIDTH = 240;
const HEADER_HEIGHT = 64;
const EXIT_HEIGHT = 22;

export function nodeHeight(node: GraphNode): number {
  return HEADER_HEIGHT + Math.max(1, node.exits.length) * EXIT_HEIGHT;
}

export type Positions = Map<string, { x: number; y: number }>;

// ELK is most of the console's weight: loaded with the first drawing, not with the sign-in page.
let elk: Promise<{ layout: (graph: import("elkjs").ElkNode) => Promise<import("elkjs").ElkNode> }> | null = null;
function loadElk() {
  elk ??= import("elkjs/lib/elk.bundled.js").then(({ default: ELK }) => new ELK());
  return elk;
}

export async function layout(graph: FlowGraph): Promise<Positions> {
  const result = await (await loadElk()).layout({
    id: "flow",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.layered.spacing.nodeNodeBetweenLayers": "90",
      "elk.spacing.nodeNode": "36",
      "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
      "elk.edgeRouting": "SPLINES",
    },
    children: graph.nodes.map((node) => ({
      id: node.id,
      width: NODE_WIDTH,
      height: nodeHeight(node),
      layoutOptions: { "elk.portConstraints": "FIXED_ORDER" },
      ports: [
        { id: `${node.id}::in`, layoutOptions: { "elk.port.side": "WEST" } },
        ...node.exits.map((exit, index) => ({
          id: `${node.id}::${exit.key}`,
          layoutOptions: { "elk.port.side": "EAST", "elk.port.index": String(node.exits.length - index) },
        })),
      ],
    })),
    edges: graph.edges.map((edge) => ({
      id: edge.id,
      sources: [`${edge.source}::${edge.sourceHandle}`],
      targets: [`${edge.target}::in`],
    })),
  });
  const positions: Positions = new Map();
  for (const child of result.children ?? []) positions.set(child.id, { x: child.x ?? 0, y: child.y ?? 0 });
  return positions;
}
