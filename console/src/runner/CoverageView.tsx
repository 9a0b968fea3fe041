import { useMemo } from "react";
import { FlowDrawing } from "../bots/FlowDrawing";
import { useVersion } from "../bots/queries";
import { Loading } from "../ui/Alert";
import { coverageOf } from "./playback";
import type { ChannelRun, Coverage } from "./queries";

/** The coverage of a run's scenarios: totals, what was never visited, and counts on the drawing. */
export function CoverageView({ botId, runs, coverage }: { botId: number; runs: ChannelRun[]; coverage: Coverage }) {
  // The scenarios of one run share its version.
  const version = useVersion(botId, runs[0]?.bot_version ?? null);
  const trace = useMemo(() => coverageOf(runs), [runs]);
  return (
    <section className="runner-coverage" aria-labelledby="coverage-title">
      <h3 id="coverage-title">
        Coverage of {runs.length} scenario run{runs.length === 1 ? "" : "s"}
      </h3>
      <dl className="coverage-totals">
        <div>
          <dt>Components</dt>
          <dd data-testid="coverage-components">
            {coverage.components_visited}/{coverage.components_total}
          </dd>
        </div>
        <div>
          <dt>Edges</dt>
          <dd data-testid="coverage-edges">
            {coverage.edges_visited}/{coverage.edges_total}
          </dd>
        </div>
      </dl>
      {coverage.components_never_visited.length > 0 && (
        <p className="coverage-never">
          Never visited: <code>{coverage.components_never_visited.join(", ")}</code>
        </p>
      )}
      {coverage.edges_never_visited.length > 0 && (
        <details className="coverage-never">
          <summary>{coverage.edges_never_visited.length} edges never taken</summary>
          <ul>
            {coverage.edges_never_visited.map((edge) => (
              <li key={edge}>
                <code>{edge}</code>
              </li>
            ))}
          </ul>
        </details>
      )}
      {version.data ? (
        <FlowDrawing flow={version.data.flow} issues={[]} focus={null} trace={trace} coverage />
      ) : (
        <Loading what={`version ${runs[0]?.bot_version}`} />
      )}
    </section>
  );
}
