import { useState } from "react";
import { ErrorAlert, Loading } from "../ui/Alert";
import { Dialog } from "../ui/Dialog";
import { RelativeTime } from "../ui/RelativeTime";
import { useDeleteScenario, useOpenScenario, useSavedScenarios, type SavedScenario, type SavedScenarioSummary } from "./queries";

interface Props {
  botId: number;
  selected: ReadonlySet<number>;
  onSelect: (ids: ReadonlySet<number>) => void;
  onOpen: (scenario: SavedScenario) => void;
}

function DeleteSaved({ botId, scenario, onDeleted }: { botId: number; scenario: SavedScenarioSummary; onDeleted: () => void }) {
  const remove = useDeleteScenario(botId);
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" className="button-small button-danger" aria-label={`Delete ${scenario.name}`} onClick={() => setOpen(true)}>
        Delete
      </button>
      <Dialog title="Delete this saved scenario?" open={open} onClose={() => setOpen(false)}>
        <p>
          “{scenario.name}” is removed from this bot's saved scenarios. Past runs keep their results.
        </p>
        {remove.error && <ErrorAlert>{remove.error.message}</ErrorAlert>}
        <div className="actions">
          <button type="button" className="button" onClick={() => setOpen(false)}>
            Cancel
          </button>
          <button
            type="button"
            className="button button-danger"
            disabled={remove.isPending}
            onClick={() => remove.mutate(scenario.id, { onSuccess: onDeleted })}
          >
            Delete scenario
          </button>
        </div>
      </Dialog>
    </>
  );
}

/** The bot's saved scenarios: tick those to run, open one in the editor, delete one. */
export function SavedScenarios({ botId, selected, onSelect, onOpen }: Props) {
  const saved = useSavedScenarios(botId);
  const open = useOpenScenario(botId);
  const toggle = (id: number, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(id);
    else next.delete(id);
    onSelect(next);
  };
  const list = saved.data ?? [];
  return (
    <fieldset className="saved-scenarios">
      <legend>Saved scenarios</legend>
      {saved.isPending && <Loading what="saved scenarios" />}
      {saved.error && <ErrorAlert>{saved.error.message}</ErrorAlert>}
      {saved.data && list.length === 0 && <p className="muted">None yet: save the scenario of the editor below.</p>}
      {list.length > 1 && (
        <div className="actions saved-scenarios-all">
          <button type="button" className="button-small" onClick={() => onSelect(new Set(list.map((s) => s.id)))}>
            Select all
          </button>
          <button type="button" className="button-small" onClick={() => onSelect(new Set())}>
            Select none
          </button>
        </div>
      )}
      <ul>
        {list.map((scenario) => (
          <li key={scenario.id} data-saved-scenario={scenario.name}>
            <label className="checkbox">
              <input type="checkbox" checked={selected.has(scenario.id)} onChange={(e) => toggle(scenario.id, e.target.checked)} />
              {scenario.name}
            </label>
            <span className="muted">
              saved <RelativeTime iso={scenario.updated_at} />
            </span>
            <span className="saved-scenario-actions">
              <button
                type="button"
                className="button-small"
                aria-label={`Open ${scenario.name} in the editor`}
                disabled={open.isPending}
                onClick={() => open.mutate(scenario.id, { onSuccess: onOpen })}
              >
                Open
              </button>
              <DeleteSaved botId={botId} scenario={scenario} onDeleted={() => toggle(scenario.id, false)} />
            </span>
          </li>
        ))}
      </ul>
      {open.error && <ErrorAlert>{open.error.message}</ErrorAlert>}
    </fieldset>
  );
}
