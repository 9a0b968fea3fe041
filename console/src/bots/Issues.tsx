import type { Issue } from "./queries";

interface Props {
  title: string;
  issues: Issue[];
  kind: "error" | "warning";
  onShow: (component: string) => void;
}

/** Validation errors or warnings; each names its component, which the drawing can centre. */
export function Issues({ title, issues, kind, onShow }: Props) {
  if (issues.length === 0) return null;
  return (
    <section className={`issues issues-${kind}`} aria-label={title}>
      <h3>
        {title} ({issues.length})
      </h3>
      <ul>
        {issues.map((issue, index) => (
          <li key={index} data-rule={issue.rule}>
            {issue.component ? (
              <button type="button" className="link-button" onClick={() => onShow(issue.component!)}>
                {issue.component}
              </button>
            ) : (
              <span className="muted">flow</span>
            )}{" "}
            <code>{issue.rule}</code> {issue.message}
          </li>
        ))}
      </ul>
    </section>
  );
}
