import type { Schemas } from "../api/client";

export type Draft = { variables: Schemas["VariableView"][]; flow: Record<string, unknown> };

/** The draft as the editor shows it: the bot's variables and its flow. */
export function draftText(variables: unknown[], flow: unknown): string {
  return JSON.stringify({ variables, flow }, null, 2);
}

/** Parses the editor's text; the error says where, with a line number when it can. */
export function parseDraft(text: string): { draft: Draft } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /position (\d+)/.exec(message)?.[1];
    if (position) {
      const line = text.slice(0, Number(position)).split("\n").length;
      return { error: `Not valid JSON (line ${line}): ${message}` };
    }
    return { error: `Not valid JSON: ${message}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { error: "The draft must be a JSON object with `variables` and `flow`." };
  }
  const { variables = [], flow, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest).filter((key) => key !== "name");
  if (unknown.length) return { error: `Unknown field(s): ${unknown.join(", ")}. Expected \`variables\` and \`flow\`.` };
  if (!Array.isArray(variables)) return { error: "`variables` must be a list of {\"name\", \"default\"?}." };
  if (typeof flow !== "object" || flow === null || Array.isArray(flow)) {
    return { error: "`flow` must be an object with `start` and `components`." };
  }
  return { draft: { variables: variables as Draft["variables"], flow: flow as Draft["flow"] } };
}
