import { useState } from "react";
import { ErrorAlert, Loading } from "../ui/Alert";
import { RelativeTime } from "../ui/RelativeTime";
import { Playback } from "./Playback";
import { Timeline } from "./Timeline";
import { useCancelRun, useRun, type ChannelRun } from "./queries";

const runLabel = (run: ChannelRun) => `${run.scenario} · ${run.channel === "api" ? "API" : "WhatsApp"} · ${run.status}`;

function Cancel({ runId }: { runId: number }) {
  const cancel = useCancelRun(runId);
  return (
    <>
      <button type="button" className="button" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
        Cancel the run
      </button>
      {cancel.error && <ErrorAlert>{cancel.error.message}</ErrorAlert>}
    </>
  );
}

/** One run: its status while it runs, then its summary, coverage and every scenario's timeline. */
export function RunView({ botId, runId }: { botId: number; runId: number }) {
  const run = useRun(runId);
  const [chosen, setChosen] = useState(0);
  if (run.isPending) return <Loading what="the run" />;
  if (run.error) return <ErrorAlert>{run.error.message}</ErrorAlert>;
  const view = run.data;
  const result = view.result ?? null;
  const shown = result?.runs[Math.min(chosen, result.runs.length - 1)];
  return (
    <section className="runner-run" aria-labelledby="run-title" data-run-status={view.status}>
      <div className="page-head">
        <h2 id="run-title">
          Run {view.id}: <span className={`badge run-status run-status-${view.status}`}>{view.status.replace("_", " ")}</span>
        </h2>
        {view.status === "running" && <Cancel runId={runId} />}
      </div>
      <p className="muted">
        Started <RelativeTime iso={view.created_at} />
        {view.finished_at && (
          <>
            , finished <RelativeTime iso={view.finished_at} />
          </>
        )}
      </p>
      {view.status === "running" && <Loading what="the result (the run is going on)" />}
      {result && (
        <>
          <p role="status">
            {result.summary.passed} of {result.summary.total} passed · {result.summary.failed} failed ·{" "}
            {result.summary.not_finished} not finished · coverage: {result.coverage.components_visited}/
            {result.coverage.components_total} components, {result.coverage.edges_visited}/{result.coverage.edges_total} edges
          </p>
          {result.runs.length > 1 && (
            <label className="runner-pick">
              Scenario run
              <select value={chosen} onChange={(e) => setChosen(Number(e.target.value))}>
                {result.runs.map((r, i) => (
                  <option key={i} value={i}>
                    {runLabel(r)}
                  </option>
                ))}
              </select>
            </label>
          )}
          {shown && (
            <div className="runner-result" key={`${chosen}`}>
              <h3>{runLabel(shown)}</h3>
              {shown.stopped && <ErrorAlert>Stopped: {shown.stopped}</ErrorAlert>}
              {shown.errors.map((e, i) => (
                <ErrorAlert key={i}>
                  Turn {e.turn}, {e.component}: {e.message}
                </ErrorAlert>
              ))}
              <Playback botId={botId} run={shown} />
              <Timeline run={shown} />
            </div>
          )}
        </>
      )}
    </section>
  );
}
