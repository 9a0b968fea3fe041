import { useState, type FormEvent } from "react";
import { fieldError } from "../api/fieldErrors";
import { ErrorAlert } from "../ui/Alert";
import { BotSelect } from "./BotSelect";
import { CheckboxField, TextField, type Bound } from "./formFields";
import { AlertFields, ApiFields, WhatsappFields } from "./KindFields";
import { type FormState, type Kind } from "./formModel";
import type { IntegrationView } from "./queries";

interface Props {
  kind: Kind;
  initial: FormState;
  /** The saved integration when editing; absent when creating. */
  view?: IntegrationView;
  submitLabel: string;
  busy: boolean;
  error: unknown;
  onSubmit: (form: FormState) => void;
}

export function IntegrationForm({ kind, initial, view, submitLabel, busy, error, onSubmit }: Props) {
  const [form, setForm] = useState(initial);
  const problem = fieldError(error);
  const bound: Bound = {
    form,
    set: (field, value) => setForm((current) => ({ ...current, [field]: value })),
    error: problem,
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onSubmit(form);
  };
  return (
    <form onSubmit={submit} className="integration-form" aria-label={`${kind === "api" ? "API" : "WhatsApp"} integration`} noValidate>
      {problem && !problem.field && <ErrorAlert>{problem.message}</ErrorAlert>}
      {problem?.field && <ErrorAlert>Please correct the field marked below.</ErrorAlert>}
      <fieldset>
        <legend>General</legend>
        <TextField bound={bound} field="name" label={kind === "api" ? "Integration alias" : "Name"} required />
        <BotSelect bound={bound} currentName={view?.bot?.name} />
        {!view && <CheckboxField bound={bound} field="activate" label="Activate after creating (only with a bot)" />}
      </fieldset>
      {kind === "api" ? <ApiFields bound={bound} view={view} /> : <WhatsappFields bound={bound} view={view} />}
      <AlertFields bound={bound} />
      <div className="actions">
        <button type="submit" className="button-primary" disabled={busy}>
          {busy ? "Saving…" : submitLabel}
        </button>
      </div>
    </form>
  );
}
