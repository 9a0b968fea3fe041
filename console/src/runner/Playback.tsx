import { useId, useMemo, useState } from "react";
import { FlowDrawing } from "../bots/FlowDrawing";
import { useVersion } from "../bots/queries";
import { Loading } from "../ui/Alert";
import { traceUpTo } from "./playback";
import type { ChannelRun } from "./queries";

/** The run's path on the version's drawing, replayed step by step with a slider. */
export function Playback({ botId, run }: { botId: number; run: ChannelRun }) {
  const version = useVersion(botId, run.bot_version);
  const [step, setStep] = useState(run.path.length);
  const trace = useMemo(() => traceUpTo(run.path, run.edges, step), [run, step]);
  const sliderId = useId();
  return (
    <div className="runner-playback">
      <div className="runner-step">
        <label htmlFor={sliderId}>Step</label>
        <input
          id={sliderId}
          type="range"
          min={0}
          max={run.path.length}
          value={step}
          onChange={(e) => setStep(Number(e.target.value))}
          aria-valuetext={trace.current ? `step ${step} of ${run.path.length}: ${trace.current}` : "before the start"}
        />
        <output htmlFor={sliderId}>
          {step} / {run.path.length}
          {trace.current && ` · ${trace.current}`}
        </output>
      </div>
      {version.data ? (
        <FlowDrawing flow={version.data.flow} issues={[]} focus={null} trace={trace} />
      ) : (
        <Loading what={`version ${run.bot_version}`} />
      )}
    </div>
  );
}
