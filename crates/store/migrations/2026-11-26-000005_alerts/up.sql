-- Throttle state of error e-mail alerts, shared by every replica of every service: one row per
-- (integration, kind). The first alert of a kind is mailed at once and opens a window; alerts
-- within the window only raise `suppressed_count`; the first alert after the window (or the
-- periodic sweep, when none comes) mails "N more since <window_started_at>" and opens a new
-- window. Decisions are single statements over this row (see store/src/alerts.rs), so two
-- replicas never both mail the same window.
CREATE TABLE alert_throttle (
    integration_id    BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    kind              TEXT NOT NULL
        CHECK (kind IN ('send_failed', 'token_failure', 'bot_execution_error', 'bad_signatures')),
    -- when the mail that opened the current window was decided
    window_started_at TIMESTAMPTZ NOT NULL,
    -- alerts counted (not mailed) since then
    suppressed_count  BIGINT NOT NULL DEFAULT 0 CHECK (suppressed_count >= 0),
    last_sent_at      TIMESTAMPTZ NOT NULL,
    -- the summary of the alert counted last (no secrets: callers build summaries without them),
    -- quoted by the sweep's mail when no later alert comes to carry the count
    last_summary      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (integration_id, kind)
);
