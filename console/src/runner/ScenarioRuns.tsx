import type { ChannelRun } from "./queries";

/** What the result shows: the coverage of the whole set, or one scenario run (its index). */
export type Shown = "coverage" | number;

export const channelLabel = (channel: ChannelRun["channel"]) => (channel === "api" ? "API" : "WhatsApp");

/** Every scenario × channel of a run with its outcome; choosing one shows its timeline and path. */
export function ScenarioRuns({ runs, shown, onShow }: { runs: ChannelRun[]; shown: Shown; onShow: (shown: Shown) => void }) {
  return (
    <nav aria-label="Scenario runs" className="scenario-runs">
      <ul>
        <li>
          <button type="button" className="scenario-run" aria-pressed={shown === "coverage"} onClick={() => onShow("coverage")}>
            <span className="scenario-run-name">All scenarios: coverage</span>
          </button>
        </li>
        {runs.map((run, index) => (
          <li key={index}>
            <button
              type="button"
              className="scenario-run"
              aria-pressed={shown === index}
              data-scenario-status={run.status}
              onClick={() => onShow(index)}
            >
              <span className="scenario-run-name">{run.scenario}</span>
              <span className="muted">{channelLabel(run.channel)}</span>
              <span className={`badge run-status run-status-${run.status}`}>{run.status.replace("_", " ")}</span>
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}
