import type { VariableDelta as Delta } from "./queries";

/** What a component did to the variables: added, changed from → to, removed. */
export function VariableDelta({ delta }: { delta: Delta }) {
  const added = Object.entries(delta.added);
  const changed = Object.entries(delta.changed);
  if (!added.length && !changed.length && !delta.removed.length) return null;
  return (
    <ul className="runner-delta" aria-label="Variables">
      {added.map(([name, value]) => (
        <li key={`+${name}`} className="delta-added">
          + <code>{name}</code> = “{value}”
        </li>
      ))}
      {changed.map(([name, change]) => (
        <li key={`~${name}`} className="delta-changed">
          ~ <code>{name}</code>: “{change.from}” → “{change.to}”
        </li>
      ))}
      {delta.removed.map((name) => (
        <li key={`-${name}`} className="delta-removed">
          − <code>{name}</code>
        </li>
      ))}
    </ul>
  );
}
