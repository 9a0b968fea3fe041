import { ApiFailure } from "./failure";

// The admin API names the field of a validation error in the message (`invalid_field`:
// "verify_token must be ...") or through a code of its own; this maps both to form fields.
const FIELD_OF_CODE: Record<string, string> = {
  name_taken: "name",
  verify_token_taken: "verify_token",
  phone_number_in_use: "phone_number_id",
  unknown_bot: "bot_id",
  bot_not_published: "bot_id",
  bot_required: "bot_id",
  weak_api_key: "api_key",
  api_key_immutable: "api_key",
  token_exchange_failed: "access_token",
  invalid_phone_number: "to",
  invalid_scenario: "yaml",
};

export interface FieldError {
  field: string | null;
  message: string;
}

export function fieldError(error: unknown): FieldError | null {
  if (!error) return null;
  if (!(error instanceof ApiFailure)) {
    return { field: null, message: error instanceof Error ? error.message : String(error) };
  }
  const byCode = FIELD_OF_CODE[error.code];
  if (byCode) return { field: byCode, message: error.message };
  if (error.code === "invalid_field") {
    const first = /^([a-z_]+(?:\.[a-z_]+)?)\b/.exec(error.message)?.[1];
    if (first) return { field: first, message: error.message };
  }
  return { field: null, message: error.message };
}

/** The message for `field`, when the error concerns it. */
export function messageFor(error: FieldError | null, field: string): string | undefined {
  return error?.field === field ? error.message : undefined;
}
