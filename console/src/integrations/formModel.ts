// The integration form's state, and the API bodies made from it. Everything is a string while
// it is edited; conversion happens once, here.
import type { Schemas } from "../api/client";
import type { IntegrationView } from "./queries";

export type Kind = "api" | "whatsapp";

export interface FormState {
  name: string;
  bot_id: string;
  alert_enabled: boolean;
  alert_address: string;
  activate: boolean;
  // API
  key_mode: "generate" | "provide";
  api_key: string;
  variable_injection: boolean;
  rate_limit_per_minute: string;
  // WhatsApp; the three secrets are empty unless typed (write-only after save).
  business_account_id: string;
  phone_number_id: string;
  app_id: string;
  app_secret: string;
  access_token: string;
  verify_token: string;
  api_version: string;
  conversation_expiry_minutes: string;
  template_name: string;
  template_language: string;
  trigger_recipients: string;
}

export const DEFAULT_API_VERSION = "v21.0";

export function emptyForm(): FormState {
  return {
    name: "",
    bot_id: "",
    alert_enabled: false,
    alert_address: "",
    activate: true,
    key_mode: "generate",
    api_key: "",
    variable_injection: false,
    rate_limit_per_minute: "",
    business_account_id: "",
    phone_number_id: "",
    app_id: "",
    app_secret: "",
    access_token: "",
    verify_token: "",
    api_version: DEFAULT_API_VERSION,
    conversation_expiry_minutes: "",
    template_name: "",
    template_language: "",
    trigger_recipients: "",
  };
}

export function formFromView(view: IntegrationView): FormState {
  const wa = view.whatsapp;
  return {
    ...emptyForm(),
    name: view.name,
    bot_id: view.bot ? String(view.bot.id) : "",
    alert_enabled: view.alert_email.enabled,
    alert_address: view.alert_email.address ?? "",
    activate: view.active,
    variable_injection: view.api?.variable_injection ?? false,
    rate_limit_per_minute: view.api ? String(view.api.rate_limit_per_minute) : "",
    business_account_id: wa?.business_account_id ?? "",
    phone_number_id: wa?.phone_number_id ?? "",
    app_id: wa?.app_id ?? "",
    api_version: wa?.api_version ?? DEFAULT_API_VERSION,
    conversation_expiry_minutes: wa?.conversation_expiry_minutes?.toString() ?? "",
    template_name: wa?.template?.name ?? "",
    template_language: wa?.template?.language_code ?? "",
    // The API lists numbers as WhatsApp ids (digits); the form shows them as typed: +digits.
    trigger_recipients: (wa?.trigger_recipients ?? []).map((n) => (/^\d+$/.test(n) ? `+${n}` : n)).join("\n"),
  };
}

const numberOrNull = (text: string) => (text.trim() === "" ? null : Number(text.trim()));
const idOrNull = (text: string) => (text === "" ? null : Number(text));

function template(form: FormState): Schemas["Template"] | null {
  const name = form.template_name.trim();
  const language = form.template_language.trim();
  return name || language ? { name, language_code: language } : null;
}

function recipients(form: FormState): string[] {
  return form.trigger_recipients
    .split(/[\n,]/)
    .map((number) => number.trim())
    .filter(Boolean);
}

function alertEmail(form: FormState): Schemas["AlertEmail"] {
  return { enabled: form.alert_enabled, address: form.alert_address.trim() || null };
}

export function createBody(kind: Kind, form: FormState): Schemas["CreateIntegration"] {
  const common = { name: form.name, bot_id: idOrNull(form.bot_id), alert_email: alertEmail(form) };
  if (kind === "api") {
    return {
      kind,
      ...common,
      api_key: form.key_mode === "provide" ? form.api_key : null,
      variable_injection: form.variable_injection,
      rate_limit_per_minute: numberOrNull(form.rate_limit_per_minute),
    };
  }
  return {
    kind,
    ...common,
    business_account_id: form.business_account_id.trim(),
    phone_number_id: form.phone_number_id.trim(),
    app_id: form.app_id.trim(),
    app_secret: form.app_secret,
    access_token: form.access_token,
    verify_token: form.verify_token,
    api_version: form.api_version.trim() || DEFAULT_API_VERSION,
    conversation_expiry_minutes: numberOrNull(form.conversation_expiry_minutes),
    template: template(form),
    trigger_recipients: recipients(form),
  };
}

/** Only what changed; secrets only when typed again ("Replace"). */
export function updateBody(kind: Kind, initial: FormState, form: FormState): Schemas["UpdateIntegration"] {
  const body: Schemas["UpdateIntegration"] = {};
  const changed = (field: keyof FormState) => form[field] !== initial[field];
  if (changed("name")) body.name = form.name;
  if (changed("bot_id")) body.bot_id = idOrNull(form.bot_id);
  if (changed("alert_enabled") || changed("alert_address")) body.alert_email = alertEmail(form);
  if (kind === "api") {
    if (changed("variable_injection")) body.variable_injection = form.variable_injection;
    if (changed("rate_limit_per_minute")) body.rate_limit_per_minute = numberOrNull(form.rate_limit_per_minute);
    return body;
  }
  for (const field of ["business_account_id", "phone_number_id", "app_id", "api_version"] as const) {
    if (changed(field)) body[field] = form[field].trim();
  }
  for (const secret of ["app_secret", "access_token", "verify_token"] as const) {
    if (form[secret] !== "") body[secret] = form[secret];
  }
  if (changed("conversation_expiry_minutes")) {
    body.conversation_expiry_minutes = numberOrNull(form.conversation_expiry_minutes);
  }
  if (changed("template_name") || changed("template_language")) body.template = template(form);
  if (changed("trigger_recipients")) body.trigger_recipients = recipients(form);
  return body;
}
