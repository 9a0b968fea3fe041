const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

export function relativeTime(at: Date, now: Date = new Date()): string {
  const seconds = Math.round((at.getTime() - now.getTime()) / 1000);
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === "second") {
      return relative.format(Math.round(seconds / size), unit);
    }
  }
  return relative.format(0, "second");
}

/** "3 minutes ago", with the exact time on hover (and for assistive technology). */
export function RelativeTime({ iso, empty = "never" }: { iso?: string | null; empty?: string }) {
  if (!iso) return <span className="muted">{empty}</span>;
  const at = new Date(iso);
  return (
    <time dateTime={iso} title={exact.format(at)}>
      {relativeTime(at)}
    </time>
  );
}
