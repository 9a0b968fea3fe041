import { useState, type FormEvent } from "react";
import { Field } from "../ui/Field";
import { ErrorAlert, Notice } from "../ui/Alert";
import { draftText, parseDraft } from "./draftJson";
import { useUpdateBot, type BotView } from "./queries";

/** The draft as JSON; saving checks the JSON here and then the flow on the server. */
export function DraftEditor({ bot, onSaved }: { bot: BotView; onSaved: () => void }) {
  const update = useUpdateBot(bot.id);
  const [text, setText] = useState(() => draftText(bot.variables, bot.flow));
  const [syntax, setSyntax] = useState<string | undefined>();
  const save = (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseDraft(text);
    if ("error" in parsed) {
      setSyntax(parsed.error);
      return;
    }
    setSyntax(undefined);
    update.mutate(parsed.draft, { onSuccess: onSaved });
  };
  return (
    <form onSubmit={save} className="draft-editor">
      <Field
        label="Draft (JSON)"
        error={syntax}
        hint={
          <>
            <code>{"{\"variables\": [...], \"flow\": {\"start\", \"components\"}}"}</code>, as in docs/flow-format.md. Saved
            drafts are validated; publishing makes an immutable version.
          </>
        }
      >
        {({ id, describedBy, invalid }) => (
          <textarea
            id={id}
            className="code-editor"
            spellCheck={false}
            rows={22}
            value={text}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            onChange={(e) => setText(e.target.value)}
          />
        )}
      </Field>
      {update.error && <ErrorAlert>{update.error.message}</ErrorAlert>}
      {update.isSuccess && !update.isPending && <Notice>Draft saved.</Notice>}
      <div className="actions">
        <button type="submit" className="button-primary" disabled={update.isPending}>
          Save draft
        </button>
        <button type="button" className="button" onClick={() => setText(draftText(bot.variables, bot.flow))}>
          Revert to the saved draft
        </button>
      </div>
    </form>
  );
}
