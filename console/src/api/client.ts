// The one HTTP client of the console: typed from docs/openapi/admin.json (openapi-typescript
// generates ./admin.d.ts; no request or response type is written by hand).
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./admin";
import { readToken, signOut } from "../auth/session";

export { ApiFailure, unwrap } from "./failure";

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
