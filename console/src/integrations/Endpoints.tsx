import { CopyableValue } from "../ui/CopyButton";
import type { IntegrationView } from "./queries";

/** Where clients and Meta reach this integration. */
export function Endpoints({ view }: { view: IntegrationView }) {
  if (view.api) {
    const { session_start, send_message } = view.api.endpoints;
    return (
      <section aria-labelledby="endpoints-title" className="card">
        <h2 id="endpoints-title">API endpoints</h2>
        <CopyableValue label="Session start (POST)" value={session_start} />
        <CopyableValue label="Send message (POST)" value={send_message} />
        <details>
          <summary>Example request</summary>
          <pre className="code-block">{`curl -X POST '${session_start}' \\
  -H 'Content-Type: application/json' \\
  -H 'X-API-Key: your_api_key_here' \\
  -d '{"session_id": "user-123", "user_identifier": "user-123"}'`}</pre>
        </details>
      </section>
    );
  }
  if (view.whatsapp) {
    return (
      <section aria-labelledby="endpoints-title" className="card">
        <h2 id="endpoints-title">Webhook</h2>
        <p className="hint">Enter this URL and the verify token as the callback in Meta's App Dashboard.</p>
        <CopyableValue label="Webhook URL" value={view.whatsapp.webhook_url} />
        {view.whatsapp.access_token_expires_at && (
          <p className="hint">
            Access token valid until{" "}
            <time dateTime={view.whatsapp.access_token_expires_at}>
              {new Date(view.whatsapp.access_token_expires_at).toLocaleString()}
            </time>
            .
          </p>
        )}
      </section>
    );
  }
  return null;
}
