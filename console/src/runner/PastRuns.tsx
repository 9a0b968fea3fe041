import { Link } from "../app/router";
import { ErrorAlert, Loading } from "../ui/Alert";
import { RelativeTime } from "../ui/RelativeTime";
import { useRuns } from "./queries";

/** The bot's past runs, newest first; each opens (replays) the stored run. */
export function PastRuns({ botId, openRunId }: { botId: number; openRunId: number | null }) {
  const runs = useRuns(botId);
  return (
    <section aria-labelledby="past-runs-title" className="past-runs">
      <h2 id="past-runs-title">Past runs</h2>
      {runs.isPending && <Loading what="past runs" />}
      {runs.error && <ErrorAlert>{runs.error.message}</ErrorAlert>}
      {runs.data && (
        <div className="table-wrap">
          <table className="responsive">
            <caption className="visually-hidden">The last {runs.data.length} runs of this bot</caption>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Status</th>
                <th scope="col">Started</th>
                <th scope="col">Passed</th>
                <th scope="col">Failed</th>
                <th scope="col">Scenarios</th>
              </tr>
            </thead>
            <tbody>
              {runs.data.map((run) => (
                <tr key={run.id} data-run={run.id} aria-current={run.id === openRunId ? "true" : undefined}>
                  <td data-label="Run">
                    <Link to={`/bots/${botId}/test?run=${run.id}`}>Run {run.id}</Link>
                  </td>
                  <td data-label="Status">
                    <span className={`badge run-status run-status-${run.status}`}>{run.status.replace("_", " ")}</span>
                  </td>
                  <td data-label="Started">
                    <RelativeTime iso={run.created_at} />
                  </td>
                  <td data-label="Passed">{run.summary ? `${run.summary.passed}/${run.summary.total}` : "—"}</td>
                  <td data-label="Failed">{run.summary ? run.summary.failed : "—"}</td>
                  <td data-label="Scenarios" className="past-run-scenarios">
                    {run.scenarios.join(", ")}
                  </td>
                </tr>
              ))}
              {runs.data.length === 0 && (
                <tr>
                  <td colSpan={6} className="muted">
                    No run yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
