import type { Check } from "./queries";

/** Expectations and how they came out; a failed one shows expected against actual. */
export function Checks({ checks }: { checks: Check[] }) {
  if (!checks.length) return null;
  return (
    <ul className="runner-checks" aria-label="Expectations">
      {checks.map((check, i) => (
        <li key={i} className={check.passed ? "check-passed" : "check-failed"} data-passed={check.passed}>
          <span aria-hidden="true">{check.passed ? "✓" : "✗"}</span> <code>{check.what}</code>{" "}
          {check.passed ? (
            <span className="muted">{check.expected}</span>
          ) : (
            <span className="check-diff">
              <span className="sr-only">failed:</span>
              <del aria-label="expected">{check.expected}</del> <ins aria-label="actual">{check.actual}</ins>
            </span>
          )}
        </li>
      ))}
    </ul>
  );
}
