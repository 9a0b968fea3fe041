import { useState, type FormEvent } from "react";
import { fieldError, messageFor } from "../api/fieldErrors";
import { ErrorAlert, Notice } from "../ui/Alert";
import { Field } from "../ui/Field";
import { useStartWhatsapp, type IntegrationView } from "./queries";

interface Row {
  name: string;
  value: string;
}

/** Sends the integration's template to a number and opens a session there. */
export function WhatsappStart({ view }: { view: IntegrationView }) {
  const start = useStartWhatsapp(view.id);
  const [to, setTo] = useState("");
  const [rows, setRows] = useState<Row[]>([]);
  const problem = fieldError(start.error);
  const template = view.whatsapp?.template;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const variables = Object.fromEntries(rows.filter((row) => row.name.trim()).map((row) => [row.name.trim(), row.value]));
    start.mutate({ to: to.trim(), variables });
  };
  const setRow = (index: number, change: Partial<Row>) =>
    setRows((current) => current.map((row, i) => (i === index ? { ...row, ...change } : row)));
  return (
    <section aria-labelledby="start-title" className="card">
      <h2 id="start-title">Start a conversation</h2>
      <p className="hint">
        {template
          ? `Sends the template “${template.name}” (${template.language_code}) and waits for the user's answer at the bot's first question.`
          : "Configure a template above first: outside the 24-hour window a template is the only message WhatsApp delivers."}
      </p>
      <form onSubmit={submit}>
        {problem && problem.field !== "to" && <ErrorAlert>{problem.message}</ErrorAlert>}
        <Field label="Phone number" hint="International form, e.g. +15551234567" error={messageFor(problem, "to")}>
          {({ id, describedBy, invalid }) => (
            <input id={id} type="tel" value={to} required aria-describedby={describedBy} aria-invalid={invalid} onChange={(e) => setTo(e.target.value)} />
          )}
        </Field>
        <fieldset>
          <legend>Variables (optional)</legend>
          {rows.map((row, index) => (
            <div className="field-row" key={index}>
              <label>
                Name
                <input value={row.name} onChange={(e) => setRow(index, { name: e.target.value })} />
              </label>
              <label>
                Value
                <input value={row.value} onChange={(e) => setRow(index, { value: e.target.value })} />
              </label>
              <button type="button" className="button-small" onClick={() => setRows(rows.filter((_, i) => i !== index))} aria-label={`Remove variable ${index + 1}`}>
                Remove
              </button>
            </div>
          ))}
          <button type="button" className="button-small" onClick={() => setRows([...rows, { name: "", value: "" }])}>
            Add a variable
          </button>
        </fieldset>
        <div className="actions">
          <button type="submit" className="button-primary" disabled={start.isPending || !template}>
            Send the template
          </button>
        </div>
        {start.data && (
          <Notice>
            Template “{start.data.template.name}” sent to {start.data.to}; the session {start.data.wa_id} waits for the answer.
          </Notice>
        )}
      </form>
    </section>
  );
}
