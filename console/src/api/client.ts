// The one HTTP client of the console: typed from docs/openapi/admin.json (openapi-typescript
// generates ./admin.d.ts; no request or response type is written by hand).
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./admin";
import { readToken, signOut } from "../auth/session";

export type Schemas = components["schemas"];

const withOperatorToken: Middleware = {
  onRequest({ request }) {
    const token = readToken();
    if (token && !request.headers.has("Authorization")) {
      request.headers.set("Authorization", `Bearer ${token}`);
    }
    return request;
  },
  onResponse({ response }) {
    // A revoked or unknown token: back to the sign-in page.
    if (response.status === 401) signOut();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(withOperatorToken);

/** An error answer of the admin API, `{"error": {"code", "message", "details"?}}`. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown[] = [],
  ) {
    super(message);
  }
}

type Answer<T> = { data?: T; error?: unknown; response: Response };

/** The data of a successful answer, or an ApiFailure. */
export async function unwrap<T>(pending: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await pending;
  if (response.ok) return data as T;
  const body = (error ?? {}) as Partial<Schemas["ErrorBody"]>;
  throw new ApiFailure(
    response.status,
    body.error?.code ?? `http_${response.status}`,
    body.error?.message ?? `The admin API answered ${response.status}.`,
    body.error?.details ?? [],
  );
}
