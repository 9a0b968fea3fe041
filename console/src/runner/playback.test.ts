import { describe, expect, it } from "vitest";
import { coverageOf, edgeKey, traceUpTo } from "./playback";

const path = ["welcome", "ask_name", "ask_name", "main_menu", "opening_hours", "main_menu"];
const edges = [
  { from: "welcome", to: "ask_name" },
  { from: "ask_name", to: "main_menu" },
  { from: "main_menu", to: "opening_hours" },
  { from: "opening_hours", to: "main_menu" },
];

describe("traceUpTo", () => {
  it("counts visits and edges of the whole path", () => {
    const trace = traceUpTo(path, edges, path.length);
    expect(trace.visits.get("main_menu")).toBe(2);
    expect(trace.visits.get("ask_name")).toBe(2);
    expect(trace.edges.get(edgeKey("opening_hours", "main_menu"))).toBe(1);
    expect(trace.edges.size).toBe(4);
    expect(trace.current).toBe("main_menu");
  });

  it("stops at the step, edges included", () => {
    const trace = traceUpTo(path, edges, 3);
    expect([...trace.visits.keys()]).toEqual(["welcome", "ask_name"]);
    expect([...trace.edges.keys()]).toEqual([edgeKey("welcome", "ask_name")]);
    expect(trace.current).toBe("ask_name");
  });

  it("shows nothing at step 0", () => {
    const trace = traceUpTo(path, edges, 0);
    expect(trace.visits.size).toBe(0);
    expect(trace.current).toBeNull();
  });
});

describe("coverageOf", () => {
  it("adds up every run's whole path, with nothing current", () => {
    const other = { path: ["welcome", "ask_name", "main_menu", "contact"], edges: [edges[0], edges[1], { from: "main_menu", to: "contact" }] };
    const coverage = coverageOf([{ path, edges }, other]);
    expect(coverage.visits.get("welcome")).toBe(2);
    expect(coverage.visits.get("main_menu")).toBe(3);
    expect(coverage.visits.get("contact")).toBe(1);
    expect(coverage.visits.has("order_done")).toBe(false);
    expect(coverage.edges.get(edgeKey("welcome", "ask_name"))).toBe(2);
    expect(coverage.edges.get(edgeKey("main_menu", "contact"))).toBe(1);
    expect(coverage.current).toBeNull();
  });

  it("is empty for no runs", () => {
    const coverage = coverageOf([]);
    expect(coverage.visits.size + coverage.edges.size).toBe(0);
  });
});
