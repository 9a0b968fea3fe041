import { useState } from "react";

/** Copies `value` to the clipboard and says so. */
export function CopyButton({ value, label }: { value: string; label: string }) {
  const [copied, setCopied] = useState<"idle" | "done" | "failed">("idle");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied("done");
    } catch {
      setCopied("failed");
    }
    window.setTimeout(() => setCopied("idle"), 2000);
  };
  return (
    <button type="button" className="button-small" onClick={copy} aria-label={label}>
      {copied === "done" ? "Copied" : copied === "failed" ? "Copy failed" : "Copy"}
      <span className="visually-hidden" aria-live="polite">
        {copied === "done" ? "Copied to the clipboard" : ""}
      </span>
    </button>
  );
}

/** A value (URL, endpoint) shown in full with its copy button. */
export function CopyableValue({ label, value }: { label: string; value: string }) {
  return (
    <div className="copyable">
      <span className="copyable-label">{label}</span>
      <code className="copyable-value">{value}</code>
      <CopyButton value={value} label={`Copy ${label}`} />
    </div>
  );
}
