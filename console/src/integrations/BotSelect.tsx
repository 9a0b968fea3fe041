import { Field } from "../ui/Field";
import { messageFor } from "../api/fieldErrors";
import { usePublishedBots } from "./queries";
import type { Bound } from "./formFields";

/** The connected bot: published bots only, alphabetically. */
export function BotSelect({ bound, currentName }: { bound: Bound; currentName?: string | null }) {
  const bots = usePublishedBots();
  const { form, set, error } = bound;
  const listed = bots.data ?? [];
  const missing = form.bot_id !== "" && !listed.some((bot) => String(bot.id) === form.bot_id);
  return (
    <Field
      label="Connected bot"
      hint={bots.isError ? "The bots could not be loaded." : "Only published bots can be connected."}
      error={messageFor(error, "bot_id")}
    >
      {({ id, describedBy, invalid }) => (
        <select
          id={id}
          name="bot_id"
          value={form.bot_id}
          aria-describedby={describedBy}
          aria-invalid={invalid}
          onChange={(e) => set("bot_id", e.target.value)}
        >
          <option value="">— No bot —</option>
          {missing && <option value={form.bot_id}>{currentName ?? `Bot ${form.bot_id}`}</option>}
          {listed.map((bot) => (
            <option key={bot.id} value={String(bot.id)}>
              {bot.name}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}
