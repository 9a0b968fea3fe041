import { Handle, Position, type Node, type NodeProps } from "@xyflow/react";
import type { GraphNode } from "./flowGraph";
import type { Issue } from "./queries";

export type ComponentNodeData = GraphNode & {
  issues: Issue[];
  /**
   * Set when a test run is drawn: how often the run entered it, and whether its step shows it;
   * `coverage` when the counts are over a set of runs (unvisited then means never visited).
   */
  trace?: { visits: number; current: boolean; coverage: boolean };
};
export type ComponentFlowNode = Node<ComponentNodeData, "component">;

const severity = (issues: Issue[]) => (issues.length ? "error" : undefined);

function traceClass(trace: ComponentNodeData["trace"]): string {
  if (!trace) return "";
  if (trace.current) return " flow-node-visited flow-node-current";
  return trace.visits ? " flow-node-visited" : " flow-node-unreached";
}

/** One component: its type, id and gist, and one handle per exit on the right. */
export function ComponentNode({ data, selected }: NodeProps<ComponentFlowNode>) {
  return (
    <div
      className={`flow-node flow-node-${data.type}${selected ? " flow-node-selected" : ""}${traceClass(data.trace)}`}
      data-component-id={data.id}
      data-issues={severity(data.issues)}
      data-visits={data.trace?.visits}
      title={data.issues.map((issue) => `${issue.rule}: ${issue.message}`).join("\n") || undefined}
    >
      <Handle type="target" position={Position.Left} id="in" />
      <div className="flow-node-head">
        <span className="flow-node-type">{data.type.replace(/_/g, " ")}</span>
        {data.isStart && <span className="badge badge-active">start</span>}
        {data.trace && data.trace.visits > 0 && (
          <span className="badge badge-visits" aria-label={`entered ${data.trace.visits} time(s)`}>
            {data.trace.visits}×
          </span>
        )}
        {data.trace?.coverage && data.trace.visits === 0 && <span className="badge badge-never">never visited</span>}
        {data.issues.length > 0 && (
          <span className="badge badge-error" aria-label={`${data.issues.length} issue(s)`}>
            {data.issues.length} issue{data.issues.length > 1 ? "s" : ""}
          </span>
        )}
      </div>
      <div className="flow-node-id">{data.id}</div>
      <div className="flow-node-summary">{data.summary}</div>
      <ul className="flow-node-exits">
        {data.exits.map((exit) => (
          <li key={exit.key}>
            <span>{exit.label}</span>
            <Handle type="source" position={Position.Right} id={exit.key} />
          </li>
        ))}
      </ul>
    </div>
  );
}
