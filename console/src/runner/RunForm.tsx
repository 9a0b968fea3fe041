import { useState, type ChangeEvent, type FormEvent } from "react";
import { ErrorAlert } from "../ui/Alert";
import { Field } from "../ui/Field";
import { useVersions } from "../bots/queries";
import type { StartTestRun } from "./queries";

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

/** A version, a channel and one scenario (typed or uploaded), as the admin API takes them. */
export function RunForm({ botId, busy, error, onStart }: Props) {
  const versions = useVersions(botId);
  const [version, setVersion] = useState("");
  const [channel, setChannel] = useState<string>("both");
  const [name, setName] = useState("scenario.yaml");
  const [yaml, setYaml] = useState("");

  const upload = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (!file) return;
    setName(file.name);
    setYaml(await file.text());
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    onStart({ scenarios: [{ name, yaml }], channel, version: version === "" ? null : Number(version) });
  };

  const published = versions.data ?? [];
  return (
    <form className="card runner-form" onSubmit={submit} aria-label="Start a test run">
      <Field label="Version" hint={published.length ? undefined : "Publish the bot first: drafts are not run."}>
        {({ id, describedBy }) => (
          <select id={id} aria-describedby={describedBy} value={version} onChange={(e) => setVersion(e.target.value)}>
            <option value="">the newest</option>
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
      <Field label="Scenario (YAML)" hint="The scenario format of docs/test-runner.md; JSON works too.">
        {({ id, describedBy }) => (
          <textarea
            id={id}
            aria-describedby={describedBy}
            className="code-editor"
            rows={14}
            spellCheck={false}
            value={yaml}
            required
            onChange={(e) => setYaml(e.target.value)}
          />
        )}
      </Field>
      <Field label="Or upload a scenario file">
        {({ id }) => <input id={id} type="file" accept=".yaml,.yml,.json,text/yaml,application/json" onChange={upload} />}
      </Field>
      {error && <ErrorAlert>{error.message}</ErrorAlert>}
      <button type="submit" className="button button-primary" disabled={busy || !yaml.trim()}>
        Run
      </button>
    </form>
  );
}
