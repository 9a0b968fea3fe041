import { fieldError } from "../api/fieldErrors";
import { ErrorAlert } from "../ui/Alert";
import { useSetActive, type IntegrationView } from "./queries";

/** Activate / deactivate, with the API's refusal (e.g. no bot connected) beside it. */
export function StatusControl({ view, pendingError }: { view: IntegrationView; pendingError?: string }) {
  const setActive = useSetActive(view.id);
  const problem = fieldError(setActive.error)?.message ?? (setActive.isIdle ? pendingError : undefined);
  return (
    <div className="status-control">
      <span className={`badge badge-${view.status}`} data-status={view.status}>
        {view.active ? "Active" : "Inactive"}
      </span>
      <button
        type="button"
        className={view.active ? "button" : "button button-primary"}
        disabled={setActive.isPending}
        onClick={() => setActive.mutate(!view.active)}
      >
        {view.active ? "Deactivate" : "Activate"}
      </button>
      {problem && <ErrorAlert>{problem}</ErrorAlert>}
    </div>
  );
}
