import { CheckboxField, SecretField, TextField, type Bound } from "./formFields";
import { Field } from "../ui/Field";
import { messageFor } from "../api/fieldErrors";
import type { IntegrationView } from "./queries";

export function ApiFields({ bound, view }: { bound: Bound; view?: IntegrationView }) {
  const { form, set, error } = bound;
  return (
    <fieldset>
      <legend>API</legend>
      {view?.api ? (
        <Field label="API key" hint="Shown once, at creation. A key cannot be changed: create a new integration for a new key.">
          {({ id, describedBy }) => (
            <output id={id} aria-describedby={describedBy} data-secret="api_key">
              {view.api!.api_key}
            </output>
          )}
        </Field>
      ) : (
        <div role="radiogroup" aria-label="API key" className="field">
          <span className="field-label">API key</span>
          <label className="checkbox">
            <input type="radio" name="key_mode" checked={form.key_mode === "generate"} onChange={() => set("key_mode", "generate")} />
            Generate a key
          </label>
          <label className="checkbox">
            <input type="radio" name="key_mode" checked={form.key_mode === "provide"} onChange={() => set("key_mode", "provide")} />
            Provide my own key
          </label>
          {form.key_mode === "provide" ? (
            <TextField bound={bound} field="api_key" label="Your key" type="password" required hint="At least as strong as a generated one (40 random characters)." />
          ) : (
            messageFor(error, "api_key") && <p className="error" role="alert">{messageFor(error, "api_key")}</p>
          )}
        </div>
      )}
      <CheckboxField bound={bound} field="variable_injection" label="Allow variable injection (the session start may set the bot's declared variables)" />
      <TextField
        bound={bound}
        field="rate_limit_per_minute"
        label="Rate limit (requests per minute)"
        type="number"
        inputMode="numeric"
        hint={view ? undefined : "Empty: the platform's default."}
      />
    </fieldset>
  );
}

export function WhatsappFields({ bound, view }: { bound: Bound; view?: IntegrationView }) {
  const wa = view?.whatsapp ?? undefined;
  return (
    <>
      <fieldset>
        <legend>Meta credentials</legend>
        <TextField bound={bound} field="business_account_id" label="WhatsApp Business Account ID" inputMode="numeric" required />
        <TextField bound={bound} field="phone_number_id" label="Phone number ID" inputMode="numeric" required />
        <TextField bound={bound} field="app_id" label="App ID" inputMode="numeric" required />
        <SecretField bound={bound} field="app_secret" label="App secret" masked={wa?.app_secret} />
        <SecretField
          bound={bound}
          field="access_token"
          label="Access token"
          masked={wa?.access_token}
          hint="The short-lived token from Meta's dashboard; the platform exchanges it for a long-lived one."
        />
        <SecretField
          bound={bound}
          field="verify_token"
          label="Verify token"
          masked={wa?.verify_token}
          hint="Any string of 8 to 255 characters; enter the same in Meta's App Dashboard."
        />
        <TextField bound={bound} field="api_version" label="Graph API version" hint="Defaults to v21.0." required />
      </fieldset>
      <fieldset>
        <legend>Conversations</legend>
        <TextField
          bound={bound}
          field="conversation_expiry_minutes"
          label="Conversation expiry (minutes)"
          type="number"
          inputMode="numeric"
          hint="Idle conversations expire after this long. Empty: never."
        />
        <div className="field-row">
          <TextField bound={bound} field="template_name" apiField="template.name" label="Template name" hint="For proactive starts, e.g. hello_world." />
          <TextField bound={bound} field="template_language" apiField="template.language_code" label="Template language" hint="e.g. en_US" />
        </div>
        <TextField
          bound={bound}
          field="trigger_recipients"
          label="Trigger recipients"
          multiline
          hint="Numbers allowed to start the bot, one per line in international form (+15551234567). Empty: everyone."
        />
      </fieldset>
    </>
  );
}

export function AlertFields({ bound }: { bound: Bound }) {
  return (
    <fieldset>
      <legend>Error alerts</legend>
      <CheckboxField bound={bound} field="alert_enabled" label="E-mail me when this integration fails" />
      <TextField bound={bound} field="alert_address" apiField="alert_email.address" label="Alert e-mail address" type="email" />
    </fieldset>
  );
}
