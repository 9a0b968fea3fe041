// Error answers of the admin API, apart from the client so that they can be used (and tested)
// without a browser.
import type { components } from "./admin";

type ErrorBody = components["schemas"]["ErrorBody"];

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
  const body = (error ?? {}) as Partial<ErrorBody>;
  throw new ApiFailure(
    response.status,
    body.error?.code ?? `http_${response.status}`,
    body.error?.message ?? `The admin API answered ${response.status}.`,
    body.error?.details ?? [],
  );
}
