import { describe, expect, it } from "vitest";
import { ApiFailure } from "./failure";
import { fieldError } from "./fieldErrors";

describe("fieldError", () => {
  it("reads the field from invalid_field's message, dotted names included", () => {
    expect(fieldError(new ApiFailure(422, "invalid_field", "verify_token must be 8 to 255 characters"))?.field).toBe("verify_token");
    expect(fieldError(new ApiFailure(422, "invalid_field", "template.name must be Meta's template name"))?.field).toBe("template.name");
  });

  it("maps codes that concern one field", () => {
    expect(fieldError(new ApiFailure(409, "phone_number_in_use", "…"))?.field).toBe("phone_number_id");
    expect(fieldError(new ApiFailure(422, "weak_api_key", "…"))?.field).toBe("api_key");
    expect(fieldError(new ApiFailure(422, "bot_not_published", "…"))?.field).toBe("bot_id");
    expect(fieldError(new ApiFailure(422, "invalid_scenario", "yaml: unknown field `turnz`"))?.field).toBe("yaml");
  });

  it("leaves other errors to the form as a whole", () => {
    expect(fieldError(new ApiFailure(503, "unavailable", "retry"))).toEqual({ field: null, message: "retry" });
    expect(fieldError(null)).toBeNull();
  });
});
