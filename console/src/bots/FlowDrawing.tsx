import { useEffect, useMemo, useState, type FormEvent } from "react";
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  type Edge,
  MarkerType,
} from "@xyflow/react";
import { ComponentNode, type ComponentFlowNode } from "./ComponentNode";
import { flowGraph, type FlowGraph } from "./flowGraph";
import { layout, nodeHeight, NODE_WIDTH, type Positions } from "./layout";
import type { Issue } from "./queries";
import { edgeKey, type Trace } from "../runner/playback";

const nodeTypes = { component: ComponentNode };

function traceOf(trace: Trace | undefined, id: string, coverage: boolean): ComponentFlowNode["data"]["trace"] {
  if (!trace) return undefined;
  const visits = trace.visits.get(id) ?? 0;
  return { visits, current: trace.current === id, coverage };
}

function toNodes(
  graph: FlowGraph,
  positions: Positions,
  issues: Issue[],
  selected: string | null,
  trace: Trace | undefined,
  coverage: boolean,
): ComponentFlowNode[] {
  return graph.nodes.map((node) => ({
    id: node.id,
    type: "component",
    position: positions.get(node.id) ?? { x: 0, y: 0 },
    data: {
      ...node,
      issues: issues.filter((issue) => issue.component === node.id),
      trace: traceOf(trace, node.id, coverage),
    },
    selected: node.id === selected,
    width: NODE_WIDTH,
    height: nodeHeight(node),
  }));
}

/** Without a trace, the exits' labels; with one, how often each edge was taken (once per pair). */
function toEdges(graph: FlowGraph, trace: Trace | undefined): Edge[] {
  const counted = new Set<string>();
  return graph.edges.map((edge) => {
    const plain = {
      ...edge,
      targetHandle: "in",
      label: edge.label === "next" ? undefined : edge.label,
      markerEnd: { type: MarkerType.ArrowClosed },
    };
    if (!trace) return plain;
    const key = edgeKey(edge.source, edge.target);
    const taken = counted.has(key) ? 0 : (trace.edges.get(key) ?? 0);
    counted.add(key);
    return {
      ...plain,
      label: taken ? `${taken}×` : plain.label,
      className: taken ? "flow-edge-taken" : "flow-edge-untaken",
      animated: taken > 0,
      data: { taken },
    };
  });
}

interface Props {
  flow: unknown;
  issues: Issue[];
  /** A component to centre (e.g. chosen from the list of issues). */
  focus: string | null;
  /** A test run's path up to a step: visited components and taken edges emphasised. */
  trace?: Trace;
  /** The trace is the coverage of a set of runs: components never visited are marked as such. */
  coverage?: boolean;
}

function Drawing({ flow, issues, focus, trace, coverage = false }: Props) {
  const graph = useMemo(() => flowGraph(flow), [flow]);
  const [positions, setPositions] = useState<Positions | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [search, setSearch] = useState("");
  const [notFound, setNotFound] = useState(false);
  const { setCenter, fitView } = useReactFlow();

  useEffect(() => {
    let current = true;
    setPositions(null);
    layout(graph).then((laid) => current && setPositions(laid));
    return () => {
      current = false;
    };
  }, [graph]);

  const centre = (id: string) => {
    const position = positions?.get(id);
    const node = graph.nodes.find((n) => n.id === id);
    if (!position || !node) return false;
    setSelected(id);
    setCenter(position.x + NODE_WIDTH / 2, position.y + nodeHeight(node) / 2, { zoom: 1.1, duration: 300 });
    return true;
  };

  useEffect(() => {
    if (focus && positions) centre(focus);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [focus, positions]);

  const find = (event: FormEvent) => {
    event.preventDefault();
    const needle = search.trim().toLowerCase();
    const hit =
      graph.nodes.find((node) => node.id.toLowerCase() === needle) ??
      graph.nodes.find((node) => node.id.toLowerCase().includes(needle) || node.summary.toLowerCase().includes(needle));
    setNotFound(!(hit && centre(hit.id)));
  };

  const nodes = useMemo(
    () => (positions ? toNodes(graph, positions, issues, selected, trace, coverage) : []),
    [graph, positions, issues, selected, trace, coverage],
  );
  const edges = useMemo(() => toEdges(graph, trace), [graph, trace]);

  return (
    <div
      className={`drawing${trace ? " drawing-traced" : ""}${coverage ? " drawing-coverage" : ""}`}
      data-testid="flow-drawing"
      data-laid-out={positions ? "true" : "false"}
    >
      <form className="drawing-search" role="search" onSubmit={find}>
        <label>
          Find a component
          <input
            list="component-ids"
            value={search}
            aria-invalid={notFound}
            onChange={(e) => {
              setSearch(e.target.value);
              setNotFound(false);
            }}
          />
        </label>
        <datalist id="component-ids">
          {graph.nodes.map((node) => (
            <option key={node.id} value={node.id} />
          ))}
        </datalist>
        <button type="submit" className="button-small">
          Find
        </button>
        <button type="button" className="button-small" onClick={() => fitView({ duration: 300 })}>
          Fit to view
        </button>
        <span role="status" className="muted">
          {notFound ? "No component matches." : `${graph.nodes.length} components`}
        </span>
      </form>
      {positions && (
        <ReactFlow
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          colorMode="system"
          fitView
          minZoom={0.1}
          nodesDraggable={false}
          nodesConnectable={false}
          elementsSelectable
          onNodeClick={(_, node) => setSelected(node.id)}
          proOptions={{ hideAttribution: true }}
          aria-label="The flow's components and their connections"
        >
          <Background />
          <MiniMap pannable zoomable ariaLabel="Overview of the flow" />
          <Controls showInteractive={false} />
        </ReactFlow>
      )}
    </div>
  );
}

/** The flow drawn left to right, read-only, laid out by ELK. */
export function FlowDrawing(props: Props) {
  return (
    <ReactFlowProvider>
      <Drawing {...props} />
    </ReactFlowProvider>
  );
}
