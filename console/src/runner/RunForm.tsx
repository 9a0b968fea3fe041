import { useState, type FormEvent } from "react";
import { ErrorAlert } from "../ui/Alert";
import { Field } from "../ui/Field";
import { useVersions } from "../bots/queries";
import { useSavedScenarios, type ScenarioFile, type StartTestRun } from "./queries";
import { SavedScenarios } from "./SavedScenarios";
import { NEW_SCENARIO, ScenarioEditor, type EditedScenario } from "./ScenarioEditor";

const CHANNELS = [
  { value: "both", label: "Both" },
  { value: "api", label: "API" },
  { value: "whatsapp", label: "WhatsApp" },
] as const;

interface Props {
  botId: number;
  busy: boolean;
  error: Error | null;
  onStart: (body: StartTestRun) => void;
}

/** Files uploaded together, each run as it is. */
function Uploaded({ files, onRemove }: { files: ScenarioFile[]; onRemove: (index: number) => void }) {
  if (files.length === 0) return null;
  return (
    <fieldset>
      <legend>Uploaded files</legend>
      <ul className="uploaded-files">
        {files.map((file, index) => (
          <li key={`${index}-${file.name}`}>
            {file.name}{" "}
            <button type="button" className="button-small" aria-label={`Remove ${file.name}`} onClick={() => onRemove(index)}>
              Remove
            </button>
          </li>
        ))}
      </ul>
    </fieldset>
  );
}

/** The version picker's value for "run the bot's draft" (`draft: true` in the request). */
const DRAFT = "draft";

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;

/**
 * A version, a channel and the scenarios of one run: saved ones ticked, the editor's (typed or
 * uploaded), and files uploaded together. The editor's version of an opened saved scenario
 * replaces the stored one in the run.
 */
export function RunForm({ botId, busy, error, onStart }: Props) {
  const versions = useVersions(botId);
  const saved = useSavedScenarios(botId);
  const [version, setVersion] = useState("");
  const [channel, setChannel] = useState<string>("both");
  const [selected, setSelected] = useState<ReadonlySet<number>>(new Set());
  const [editor, setEditor] = useState<EditedScenario>(NEW_SCENARIO);
  const [included, setIncluded] = useState(true);
  const [uploads, setUploads] = useState<ScenarioFile[]>([]);

  const typed = included && editor.yaml.trim() !== "";
  // In the order of the saved list, which is the order they run in.
  const ids = (saved.data ?? []).map((s) => s.id).filter((id) => selected.has(id) && !(typed && id === editor.id));
  const files = [...(typed ? [{ name: editor.name.trim() || "scenario.yaml", yaml: editor.yaml }] : []), ...uploads];
  const total = ids.length + files.length;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    onStart({
      scenario_ids: ids,
      scenarios: files,
      channel,
      ...(version === DRAFT ? { draft: true } : { version: version === "" ? null : Number(version) }),
    });
  };

  const published = versions.data ?? [];
  return (
    <form className="card runner-form" onSubmit={submit} aria-label="Start a test run">
      <Field label="Version" hint={published.length ? undefined : "Not published yet: run the draft, or publish first."}>
        {({ id, describedBy }) => (
          <select id={id} aria-describedby={describedBy} value={version} onChange={(e) => setVersion(e.target.value)}>
            <option value="">the newest</option>
            <option value={DRAFT}>the draft (validated first)</option>
            {published.map((v) => (
              <option key={v.version} value={v.version}>
                version {v.version}
              </option>
            ))}
          </select>
        )}
      </Field>
      <fieldset>
        <legend>Channel</legend>
        <div role="radiogroup" aria-label="Channel" className="runner-channels">
          {CHANNELS.map((c) => (
            <label key={c.value}>
              <input type="radio" name="channel" value={c.value} checked={channel === c.value} onChange={() => setChannel(c.value)} />{" "}
              {c.label}
            </label>
          ))}
        </div>
      </fieldset>
      <SavedScenarios
        botId={botId}
        selected={selected}
        onSelect={setSelected}
        onOpen={(opened) => {
          setEditor({ id: opened.id, name: opened.name, yaml: opened.yaml });
          setIncluded(true);
        }}
      />
      <ScenarioEditor
        botId={botId}
        scenario={editor}
        onChange={setEditor}
        included={included}
        onInclude={setIncluded}
        onUploadMany={(more) => setUploads((before) => [...before, ...more])}
        onSaved={(stored) => {
          setSelected((before) => new Set(before).add(stored.id));
          setEditor(NEW_SCENARIO);
        }}
      />
      <Uploaded files={uploads} onRemove={(index) => setUploads((before) => before.filter((_, i) => i !== index))} />
      {error && <ErrorAlert>{error.message}</ErrorAlert>}
      <div className="actions">
        <button type="submit" className="button button-primary" disabled={busy || total === 0}>
          Run
        </button>
        <span className="muted" role="status" data-testid="run-contents">
          {total === 0
            ? "Tick saved scenarios or write one."
            : [
                ids.length ? plural(ids.length, "saved scenario", "saved scenarios") : null,
                typed ? "the editor's scenario" : null,
                uploads.length ? plural(uploads.length, "uploaded file", "uploaded files") : null,
              ]
                .filter(Boolean)
                .join(" + ")}
        </span>
      </div>
    </form>
  );
}
