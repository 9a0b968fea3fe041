import { useState } from "react";
import { navigate } from "../app/router";
import { Dialog } from "../ui/Dialog";
import { Field } from "../ui/Field";
import { ErrorAlert } from "../ui/Alert";
import { useDeleteIntegration, type IntegrationView } from "./queries";

/** Deleting needs the integration's name typed in full. */
export function DeleteIntegration({ view }: { view: IntegrationView }) {
  const remove = useDeleteIntegration(view.id);
  const [open, setOpen] = useState(false);
  const [typed, setTyped] = useState("");
  const confirmName = view.name || `Integration ${view.id}`;
  const close = () => {
    setOpen(false);
    setTyped("");
  };
  return (
    <>
      <button type="button" className="button button-danger" onClick={() => setOpen(true)}>
        Delete…
      </button>
      <Dialog title="Delete this integration?" open={open} onClose={close}>
        <p>
          Its conversations end and its {view.kind === "api" ? "API key stops working" : "webhook stops answering"}. This
          cannot be undone.
        </p>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            remove.mutate(undefined, { onSuccess: () => navigate("/integrations") });
          }}
        >
          <Field label={`Type “${confirmName}” to confirm`}>
            {({ id }) => <input id={id} value={typed} autoComplete="off" onChange={(e) => setTyped(e.target.value)} />}
          </Field>
          {remove.error && <ErrorAlert>{remove.error.message}</ErrorAlert>}
          <div className="actions">
            <button type="button" className="button" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="button button-danger" disabled={typed !== confirmName || remove.isPending}>
              Delete integration
            </button>
          </div>
        </form>
      </Dialog>
    </>
  );
}
