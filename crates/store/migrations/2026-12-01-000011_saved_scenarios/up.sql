-- Scenarios saved with a bot for the Test Runner (docs/test-runner.md, "Saved scenarios"): the
-- YAML as the operator wrote it (checked by the runner's parser before it is stored), under a
-- name unique per bot (whose index also serves the per-bot lists). They go with their bot.
CREATE TABLE saved_scenarios (
    id         BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    bot_id     BIGINT NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    yaml       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT saved_scenarios_bot_name_unique UNIQUE (bot_id, name)
);
