import { Dialog } from "../ui/Dialog";
import { CopyButton } from "../ui/CopyButton";

/** The one time the key is shown in clear. */
export function ApiKeyDialog({ apiKey, onClose }: { apiKey: string | null; onClose: () => void }) {
  return (
    <Dialog title="Your API key" open={apiKey !== null} onClose={onClose}>
      <p>
        Copy the key now: it is shown <strong>only this once</strong>. Afterwards only its last four characters are
        shown.
      </p>
      <div className="copyable">
        <code className="copyable-value" data-testid="api-key">
          {apiKey}
        </code>
        <CopyButton value={apiKey ?? ""} label="Copy the API key" />
      </div>
      <div className="actions">
        <button type="button" className="button-primary" onClick={onClose}>
          I have saved the key
        </button>
      </div>
    </Dialog>
  );
}
