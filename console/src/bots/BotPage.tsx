import { useState } from "react";
import { Link, navigate } from "../app/router";
import { ApiFailure } from "../api/client";
import { ErrorAlert, Loading, Notice } from "../ui/Alert";
import { RelativeTime } from "../ui/RelativeTime";
import { ConfirmByName } from "../ui/ConfirmByName";
import { DraftEditor } from "./DraftEditor";
import { FlowDrawing } from "./FlowDrawing";
import { Issues } from "./Issues";
import { useBot, useDeleteBot, usePublishBot, useValidation, useVersion, useVersions, type BotView, type Issue } from "./queries";

/** Validate and publish, with the issues each found (publish refuses with the same list). */
function useChecks(id: number, revision: number | undefined) {
  const validate = useValidation(id, revision);
  const publish = usePublishBot(id);
  const refusal = publish.error instanceof ApiFailure && publish.error.code === "invalid_flow" ? publish.error : null;
  const errors = (refusal ? refusal.details : (validate.data?.errors ?? [])) as Issue[];
  const warnings = ((publish.data?.warnings ?? validate.data?.warnings) ?? []) as Issue[];
  return { validate, publish, errors, warnings };
}

function DeleteBot({ bot }: { bot: BotView }) {
  const remove = useDeleteBot(bot.id);
  return (
    <ConfirmByName
      what="bot"
      name={bot.name}
      consequence="The bot and all its published versions are deleted; a bot connected to an integration cannot be."
      busy={remove.isPending}
      error={remove.error}
      onConfirm={() => remove.mutate(undefined, { onSuccess: () => navigate("/bots") })}
    />
  );
}

function Versions({ id, shown, onShow }: { id: number; shown: number | null; onShow: (version: number | null) => void }) {
  const versions = useVersions(id);
  return (
    <label className="version-select">
      Showing
      <select value={shown ?? ""} onChange={(e) => onShow(e.target.value === "" ? null : Number(e.target.value))}>
        <option value="">the draft</option>
        {(versions.data ?? []).map((v) => (
          <option key={v.version} value={v.version}>
            version {v.version} (published {new Date(v.published_at).toLocaleString()})
          </option>
        ))}
      </select>
    </label>
  );
}

export function BotPage({ id }: { id: number }) {
  const bot = useBot(id);
  const checks = useChecks(id, bot.data?.draft_revision);
  const [shown, setShown] = useState<number | null>(null);
  const [focus, setFocus] = useState<string | null>(null);
  const version = useVersion(id, shown);
  if (bot.isPending) return <Loading what="the bot" />;
  if (bot.error) return <ErrorAlert>{bot.error.message}</ErrorAlert>;
  const view = bot.data;
  const flow = shown === null ? view.flow : version.data?.flow;
  const { validate, publish } = checks;
  const showIssue = (component: string) => {
    setShown(null);
    setFocus(null);
    window.setTimeout(() => setFocus(component));
  };
  return (
    <section aria-labelledby="bot-title">
      <p className="breadcrumb">
        <Link to="/bots">Bots</Link> /
      </p>
      <div className="page-head">
        <h1 id="bot-title">{view.name}</h1>
        <div className="actions">
          <button type="button" className="button" onClick={() => validate.refetch()} disabled={validate.isFetching}>
            Validate
          </button>
          <button
            type="button"
            className="button button-primary"
            onClick={() => publish.mutate(undefined, { onSuccess: (published) => setShown(published.version) })}
            disabled={publish.isPending}
          >
            Publish
          </button>
          <Link to={`/bots/${id}/test`} className="button">
            Test runner
          </Link>
          <DeleteBot bot={view} />
        </div>
      </div>
      <p className="muted">
        {view.published ? `Latest version ${view.latest_version}` : "Not published yet"} · draft revision {view.draft_revision},
        changed <RelativeTime iso={view.updated_at} />
      </p>
      {validate.data?.valid && !publish.data && <Notice>The draft is valid.</Notice>}
      {publish.data && <Notice>Published version {publish.data.version}.</Notice>}
      {publish.error && !(publish.error instanceof ApiFailure && publish.error.code === "invalid_flow") && (
        <ErrorAlert>{publish.error.message}</ErrorAlert>
      )}
      {validate.error && <ErrorAlert>{validate.error.message}</ErrorAlert>}
      <Issues title="Errors" kind="error" issues={checks.errors} onShow={showIssue} />
      <Issues title="Warnings" kind="warning" issues={checks.warnings} onShow={showIssue} />
      <div className="drawing-head">
        <h2>Flow</h2>
        <Versions id={id} shown={shown} onShow={setShown} />
      </div>
      {flow ? (
        <FlowDrawing flow={flow} issues={shown === null ? checks.errors : []} focus={focus} />
      ) : (
        <Loading what="the version" />
      )}
      <details className="card">
        <summary>Edit the draft as JSON</summary>
        <DraftEditor
          key={view.draft_revision}
          bot={view}
          onSaved={() => {
            // The new revision is validated on its own (useValidation's key).
            setShown(null);
            publish.reset();
          }}
        />
      </details>
    </section>
  );
}
