import { useState } from "react";
import { ErrorAlert, Loading } from "../ui/Alert";
import { RelativeTime } from "../ui/RelativeTime";
import { CoverageView } from "./CoverageView";
import { Playback } from "./Playback";
import { ScenarioRuns, channelLabel, type Shown } from "./ScenarioRuns";
import { Timeline } from "./Timeline";
import { useCancelRun, useRun, type ChannelRun } from "./queries";

const runLabel = (run: ChannelRun) => `${run.scenario} · ${channelLabel(run.channel)} · ${run.status}`;

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

function OneRun({ botId, run }: { botId: number; run: ChannelRun }) {
  return (
    <div className="runner-result">
      <h3>{runLabel(run)}</h3>
      {run.stopped && <ErrorAlert>Stopped: {run.stopped}</ErrorAlert>}
      {run.errors.map((e, i) => (
        <ErrorAlert key={i}>
          Turn {e.turn}, {e.component}: {e.message}
        </ErrorAlert>
      ))}
      <Playback botId={botId} run={run} />
      <Timeline run={run} />
    </div>
  );
}

/**
 * One run (new or past, replayed from what was stored): its status while it runs, then its
 * summary, each scenario × channel, and either the coverage of them all or one's timeline.
 */
export function RunView({ botId, runId }: { botId: number; runId: number }) {
  const run = useRun(runId);
  const [chosen, setChosen] = useState<Shown | null>(null);
  if (run.isPending) return <Loading what="the run" />;
  if (run.error) return <ErrorAlert>{run.error.message}</ErrorAlert>;
  const view = run.data;
  const result = view.result ?? null;
  const runs = result?.runs ?? [];
  // A single scenario run opens on its timeline; a set on its coverage.
  const shown: Shown = chosen ?? (runs.length > 1 ? "coverage" : 0);
  const one = shown === "coverage" ? undefined : runs[Math.min(shown, runs.length - 1)];
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
        {view.scenarios.length > 0 && ` · ${view.scenarios.join(", ")}`}
      </p>
      {view.status === "running" && <Loading what="the result (the run is going on)" />}
      {result && (
        <>
          <p role="status">
            {result.summary.passed} of {result.summary.total} passed · {result.summary.failed} failed ·{" "}
            {result.summary.not_finished} not finished · coverage: {result.coverage.components_visited}/
            {result.coverage.components_total} components, {result.coverage.edges_visited}/{result.coverage.edges_total} edges
          </p>
          {runs.length > 0 && <ScenarioRuns runs={runs} shown={shown} onShow={setChosen} />}
          {shown === "coverage" ? (
            <CoverageView botId={botId} runs={runs} coverage={result.coverage} />
          ) : (
            one && <OneRun key={shown} botId={botId} run={one} />
          )}
        </>
      )}
    </section>
  );
}
