import { useState, type FormEvent } from "react";
import { navigate } from "../app/router";
import { fieldError, messageFor } from "../api/fieldErrors";
import { ErrorAlert } from "../ui/Alert";
import { Field } from "../ui/Field";
import { draftText, parseDraft } from "./draftJson";
import { useCreateBot } from "./queries";

const STARTER = draftText([], {
  start: "welcome",
  components: [{ id: "welcome", type: "end", text: "Hello!" }],
});

/** A new bot from a name and a draft (for instance a bot file such as examples/demo-bot.json). */
export function NewBotPage() {
  const create = useCreateBot();
  const [name, setName] = useState("");
  const [text, setText] = useState(STARTER);
  const [syntax, setSyntax] = useState<string | undefined>();
  const problem = fieldError(create.error);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseDraft(text);
    if ("error" in parsed) return setSyntax(parsed.error);
    setSyntax(undefined);
    // A pasted bot file brings its own name; the field wins when filled.
    const fileName = (JSON.parse(text) as { name?: unknown }).name;
    const botName = name.trim() || (typeof fileName === "string" ? fileName : "");
    create.mutate({ name: botName, ...parsed.draft }, { onSuccess: (bot) => navigate(`/bots/${bot.id}`) });
  };
  return (
    <section aria-labelledby="new-bot-title">
      <h1 id="new-bot-title">New bot</h1>
      <form onSubmit={submit}>
        {problem && !problem.field && <ErrorAlert>{problem.message}</ErrorAlert>}
        <Field label="Name" error={messageFor(problem, "name")} hint="Leave empty to use the name in a pasted bot file.">
          {({ id, describedBy, invalid }) => (
            <input id={id} value={name} aria-describedby={describedBy} aria-invalid={invalid} onChange={(e) => setName(e.target.value)} />
          )}
        </Field>
        <Field label="Draft (JSON)" error={syntax ?? messageFor(problem, "flow")} hint="Variables and flow, or a whole bot file.">
          {({ id, describedBy, invalid }) => (
            <textarea
              id={id}
              className="code-editor"
              rows={18}
              spellCheck={false}
              value={text}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onChange={(e) => setText(e.target.value)}
            />
          )}
        </Field>
        <div className="actions">
          <button type="submit" className="button-primary" disabled={create.isPending}>
            Create bot
          </button>
        </div>
      </form>
    </section>
  );
}
