import { type ChangeEvent } from "react";
import { fieldError, messageFor } from "../api/fieldErrors";
import { ErrorAlert, Notice } from "../ui/Alert";
import { Field } from "../ui/Field";
import { useSaveScenario, type SavedScenario, type ScenarioFile } from "./queries";

/** The scenario being written: new (`id` null) or a saved one opened to be changed. */
export interface EditedScenario {
  id: number | null;
  name: string;
  yaml: string;
}

export const NEW_SCENARIO: EditedScenario = { id: null, name: "scenario.yaml", yaml: "" };

interface Props {
  botId: number;
  scenario: EditedScenario;
  onChange: (scenario: EditedScenario) => void;
  /** Whether the editor's scenario goes into the next run. */
  included: boolean;
  onInclude: (included: boolean) => void;
  /** Several files uploaded at once: they run as they are, beside the editor's. */
  onUploadMany: (files: ScenarioFile[]) => void;
  onSaved: (saved: SavedScenario) => void;
}

/** A scenario typed or uploaded, saved with the bot under a name (or replacing the one opened). */
export function ScenarioEditor({ botId, scenario, onChange, included, onInclude, onUploadMany, onSaved }: Props) {
  const save = useSaveScenario(botId);
  const problem = fieldError(save.error);

  const upload = async (event: ChangeEvent<HTMLInputElement>) => {
    const files = await Promise.all([...(event.target.files ?? [])].map(async (file) => ({ name: file.name, yaml: await file.text() })));
    event.target.value = "";
    if (files.length === 1) onChange({ id: null, ...files[0] });
    else if (files.length > 1) onUploadMany(files);
  };

  const saveIt = () => {
    save.reset();
    save.mutate({ id: scenario.id, body: { name: scenario.name, yaml: scenario.yaml } }, { onSuccess: onSaved });
  };

  return (
    <fieldset className="scenario-editor">
      <legend>{scenario.id === null ? "Scenario" : `Saved scenario “${scenario.name}”`}</legend>
      <Field label="Scenario name" error={messageFor(problem, "name")} hint="The name it is saved and reported under.">
        {({ id, describedBy, invalid }) => (
          <input
            id={id}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            value={scenario.name}
            onChange={(e) => onChange({ ...scenario, name: e.target.value })}
          />
        )}
      </Field>
      <Field
        label="Scenario (YAML)"
        error={messageFor(problem, "yaml")}
        hint="The scenario format of docs/test-runner.md; JSON works too."
      >
        {({ id, describedBy, invalid }) => (
          <textarea
            id={id}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            className="code-editor"
            rows={14}
            spellCheck={false}
            value={scenario.yaml}
            onChange={(e) => onChange({ ...scenario, yaml: e.target.value })}
          />
        )}
      </Field>
      <Field label="Or upload scenario files" hint="One file opens here; several run as they are.">
        {({ id, describedBy }) => (
          <input
            id={id}
            aria-describedby={describedBy}
            type="file"
            multiple
            accept=".yaml,.yml,.json,text/yaml,application/json"
            onChange={upload}
          />
        )}
      </Field>
      <label className="checkbox">
        <input type="checkbox" checked={included} onChange={(e) => onInclude(e.target.checked)} />
        Run this scenario too
      </label>
      {problem && !problem.field && <ErrorAlert>{problem.message}</ErrorAlert>}
      {save.isSuccess && !save.isPending && <Notice>Saved “{save.data.name}” and selected it for the run.</Notice>}
      <div className="actions">
        <button
          type="button"
          className="button"
          disabled={save.isPending || !scenario.yaml.trim() || !scenario.name.trim()}
          onClick={saveIt}
        >
          {scenario.id === null ? "Save scenario" : "Save changes"}
        </button>
        <button
          type="button"
          className="button"
          onClick={() => {
            save.reset();
            onChange(NEW_SCENARIO);
          }}
        >
          New scenario
        </button>
      </div>
    </fieldset>
  );
}
