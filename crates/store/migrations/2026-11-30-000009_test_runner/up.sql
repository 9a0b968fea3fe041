-- The test runner's sandbox: a run creates a hidden integration for its account, runs its
-- scenario's turns on it, and deletes it at the end (sessions, processed events and
-- idempotency keys go with it by cascade). `sandbox` hides the row from every integration
-- query of the admin API; it never holds `active_phone_number_id` (the ingress never finds
-- it) and its API key digest is random (the gateway never authenticates it).
-- `pinned_version` makes new sessions start on that version instead of the bot's latest.
ALTER TABLE integrations ADD COLUMN sandbox BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE integrations ADD COLUMN pinned_version INTEGER;

-- Test runs started through the admin API: the request, then the result once finished.
CREATE TABLE test_runs (
    id          BIGSERIAL PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    bot_id      BIGINT NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    status      TEXT NOT NULL CHECK (status IN ('running', 'passed', 'failed', 'error', 'timed_out', 'cancelled')),
    request     JSONB NOT NULL,
    result      JSONB,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);
CREATE INDEX test_runs_bot ON test_runs (account_id, bot_id, id DESC);
