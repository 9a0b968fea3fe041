import { describe, expect, it } from "vitest";
import { createBody, emptyForm, formFromView, updateBody } from "./formModel";
import type { IntegrationView } from "./queries";

const whatsapp: IntegrationView = {
  id: 7,
  kind: "whatsapp",
  name: "Support",
  active: true,
  status: "active",
  alert_email: { enabled: false, address: null },
  created_at: "2026-11-30T10:00:00Z",
  updated_at: "2026-11-30T10:00:00Z",
  bot: { id: 3, name: "Demo Bot" },
  whatsapp: {
    business_account_id: "1",
    phone_number_id: "2",
    app_id: "3",
    app_secret: "••••••••",
    access_token: "••••••••",
    verify_token: "••••••••",
    api_version: "v21.0",
    conversation_expiry_minutes: 60,
    template: { name: "hello_world", language_code: "en_US" },
    trigger_recipients: ["15551234567"],
    webhook_url: "http://x/webhooks/whatsapp/7",
  },
};

describe("the integration form's bodies", () => {
  it("an API creation without a provided key asks for a generated one, and empty numbers are left out", () => {
    const body = createBody("api", { ...emptyForm(), name: "Shop", bot_id: "3", api_key: "ignored" });
    expect(body).toMatchObject({ kind: "api", name: "Shop", bot_id: 3, api_key: null, rate_limit_per_minute: null });
  });

  it("a WhatsApp creation defaults the version to v21.0 and splits the recipients", () => {
    const body = createBody("whatsapp", { ...emptyForm(), api_version: " ", trigger_recipients: "+1555, +1666\n\n+1777" });
    expect(body).toMatchObject({ api_version: "v21.0", trigger_recipients: ["+1555", "+1666", "+1777"], template: null });
  });

  it("an unchanged form sends nothing, not even the masked secrets", () => {
    const initial = formFromView(whatsapp);
    expect(updateBody("whatsapp", initial, { ...initial })).toEqual({});
    expect(initial.trigger_recipients).toBe("+15551234567");
  });

  it("an edit sends only what changed; clearing the expiry and the template sends null", () => {
    const initial = formFromView(whatsapp);
    const edited = { ...initial, verify_token: "new-verify-token", conversation_expiry_minutes: "", template_name: "", template_language: "", bot_id: "" };
    expect(updateBody("whatsapp", initial, edited)).toEqual({
      verify_token: "new-verify-token",
      conversation_expiry_minutes: null,
      template: null,
      bot_id: null,
    });
  });
});
