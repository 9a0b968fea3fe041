import { describe, expect, it } from "vitest";
import { flowGraph } from "./flowGraph";
import demo from "../../../examples/demo-bot.json";

describe("flowGraph", () => {
  it("draws every component of the demo bot and one edge per exit", () => {
    const graph = flowGraph(demo.flow);
    expect(graph.nodes).toHaveLength(demo.flow.components.length);
    const exits = graph.nodes.reduce((sum, node) => sum + node.exits.length, 0);
    expect(graph.edges).toHaveLength(exits);
    expect(graph.nodes.filter((node) => node.isStart).map((node) => node.id)).toEqual([demo.flow.start]);
  });

  it("names exits after options, branches, else and on_error, in that order", () => {
    const graph = flowGraph({
      start: "a",
      components: [
        { id: "a", type: "buttons", text: "?", options: [{ id: "o1", title: "Yes", next: "b" }, { id: "o2", title: "No", next: "c" }] },
        { id: "b", type: "condition", branches: [{ when: { variable: "x", op: "is_set" }, next: "c" }], else: "a" },
        { id: "c", type: "http_request", method: "GET", url: "https://x.test", next: "a", on_error: "b" },
      ],
    });
    const exits = Object.fromEntries(graph.nodes.map((n) => [n.id, n.exits.map((e) => `${e.label}>${e.target}`)]));
    expect(exits).toEqual({ a: ["Yes>b", "No>c"], b: ["x is set>c", "else>a"], c: ["2xx>a", "on error>b"] });
  });

  it("keeps a dangling exit on its node but draws no edge to nowhere", () => {
    const graph = flowGraph({ start: "a", components: [{ id: "a", type: "text", text: "hi", next: "missing" }] });
    expect(graph.nodes[0].exits).toHaveLength(1);
    expect(graph.edges).toHaveLength(0);
  });

  it("reads an incomplete draft without failing", () => {
    expect(flowGraph(null)).toEqual({ nodes: [], edges: [] });
    expect(flowGraph({ components: [{ type: "text" }, "junk"] }).nodes).toHaveLength(0);
  });
});
