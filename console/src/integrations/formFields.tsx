// Controls bound to one field of the integration form, with the API's error for that field.
import { useState, type ReactNode } from "react";
import { Field } from "../ui/Field";
import { messageFor, type FieldError } from "../api/fieldErrors";
import type { FormState } from "./formModel";

export interface Bound {
  form: FormState;
  set: <K extends keyof FormState>(field: K, value: FormState[K]) => void;
  error: FieldError | null;
}

type StringField = { [K in keyof FormState]: FormState[K] extends string ? K : never }[keyof FormState];
type BoolField = { [K in keyof FormState]: FormState[K] extends boolean ? K : never }[keyof FormState];

interface TextProps {
  bound: Bound;
  field: StringField;
  label: string;
  /** The API's name for the field, when it differs (errors are matched on it). */
  apiField?: string;
  hint?: ReactNode;
  type?: "text" | "number" | "email" | "password";
  required?: boolean;
  placeholder?: string;
  multiline?: boolean;
  inputMode?: "numeric" | "text";
}

export function TextField({ bound, field, label, apiField, hint, type = "text", multiline, ...rest }: TextProps) {
  const { form, set, error } = bound;
  return (
    <Field label={label} hint={hint} error={messageFor(error, apiField ?? field)}>
      {({ id, describedBy, invalid }) =>
        multiline ? (
          <textarea
            id={id}
            name={field}
            rows={3}
            value={form[field]}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            onChange={(e) => set(field, e.target.value)}
            {...rest}
          />
        ) : (
          <input
            id={id}
            name={field}
            type={type}
            value={form[field]}
            spellCheck={false}
            autoComplete="off"
            aria-describedby={describedBy}
            aria-invalid={invalid}
            onChange={(e) => set(field, e.target.value)}
            {...rest}
          />
        )
      }
    </Field>
  );
}

export function CheckboxField({ bound, field, label }: { bound: Bound; field: BoolField; label: string }) {
  return (
    <label className="checkbox">
      <input type="checkbox" name={field} checked={bound.form[field]} onChange={(e) => bound.set(field, e.target.checked)} />
      {label}
    </label>
  );
}

interface SecretProps {
  bound: Bound;
  field: "app_secret" | "access_token" | "verify_token";
  label: string;
  hint?: ReactNode;
  /** What the API shows of the stored secret (`••••` and the last four where it has them); absent on create. */
  masked?: string;
}

/** Write-only after save: the stored value is shown masked, and "Replace" opens an empty input. */
export function SecretField({ bound, field, label, hint, masked }: SecretProps) {
  const [replacing, setReplacing] = useState(masked === undefined);
  if (!replacing) {
    return (
      <Field label={label} hint={hint} error={messageFor(bound.error, field)}>
        {({ id, describedBy }) => (
          <div className="secret-masked">
            <output id={id} aria-describedby={describedBy} data-secret={field}>
              {masked}
            </output>
            <button type="button" className="button-small" onClick={() => setReplacing(true)} aria-label={`Replace ${label}`}>
              Replace
            </button>
          </div>
        )}
      </Field>
    );
  }
  return (
    <div className="secret-replace">
      <TextField bound={bound} field={field} label={label} hint={hint} type="password" required={masked === undefined} />
      {masked !== undefined && (
        <button
          type="button"
          className="button-small"
          onClick={() => {
            bound.set(field, "");
            setReplacing(false);
          }}
        >
          Keep the current value
        </button>
      )}
    </div>
  );
}
