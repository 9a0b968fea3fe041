import { Link, navigate, useSearchParam } from "../app/router";
import { ErrorAlert, Loading } from "../ui/Alert";
import { useBot } from "../bots/queries";
import { PastRuns } from "./PastRuns";
import { RunForm } from "./RunForm";
import { RunView } from "./RunView";
import { useStartRun } from "./queries";

/**
 * The Test Runner of one bot: start a run, then follow it (`?run=N` keeps it linkable), or open
 * a past one.
 */
export function RunnerPage({ botId }: { botId: number }) {
  const bot = useBot(botId);
  const start = useStartRun(botId);
  const runParam = useSearchParam("run");
  const asked = runParam === null ? null : Number(runParam);
  const runId = asked !== null && Number.isInteger(asked) ? asked : null;
  if (bot.isPending) return <Loading what="the bot" />;
  if (bot.error) return <ErrorAlert>{bot.error.message}</ErrorAlert>;
  return (
    <section aria-labelledby="runner-title">
      <p className="breadcrumb">
        <Link to="/bots">Bots</Link> / <Link to={`/bots/${botId}`}>{bot.data.name}</Link> /
      </p>
      <h1 id="runner-title">Test runner</h1>
      <RunForm
        botId={botId}
        busy={start.isPending}
        error={start.error}
        onStart={(body) => start.mutate(body, { onSuccess: (run) => navigate(`/bots/${botId}/test?run=${run.id}`) })}
      />
      {runId !== null && <RunView key={runId} botId={botId} runId={runId} />}
      <PastRuns botId={botId} openRunId={runId} />
    </section>
  );
}
