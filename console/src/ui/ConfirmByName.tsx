import { useState } from "react";
import { Dialog } from "./Dialog";
import { Field } from "./Field";
import { ErrorAlert } from "./Alert";

interface Props {
  /** What is deleted, e.g. "integration". */
  what: string;
  /** The name to type in full. */
  name: string;
  consequence: string;
  busy: boolean;
  error: Error | null;
  onConfirm: () => void;
}

/** "Delete…", then a dialog whose button works only once the name is typed in full. */
export function ConfirmByName({ what, name, consequence, busy, error, onConfirm }: Props) {
  const [open, setOpen] = useState(false);
  const [typed, setTyped] = useState("");
  const close = () => {
    setOpen(false);
    setTyped("");
  };
  return (
    <>
      <button type="button" className="button button-danger" onClick={() => setOpen(true)}>
        Delete…
      </button>
      <Dialog title={`Delete this ${what}?`} open={open} onClose={close}>
        <p>{consequence} This cannot be undone.</p>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            onConfirm();
          }}
        >
          <Field label={`Type “${name}” to confirm`}>
            {({ id }) => <input id={id} value={typed} autoComplete="off" onChange={(e) => setTyped(e.target.value)} />}
          </Field>
          {error && <ErrorAlert>{error.message}</ErrorAlert>}
          <div className="actions">
            <button type="button" className="button" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="button button-danger" disabled={typed !== name || busy}>
              Delete {what}
            </button>
          </div>
        </form>
      </Dialog>
    </>
  );
}
