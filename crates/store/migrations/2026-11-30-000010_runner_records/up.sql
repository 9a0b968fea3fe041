-- What `botctl test record` needs to turn a real conversation into a scenario
-- (docs/test-runner.md, "Recording"). Written by the executor into the row it already inserts
-- for every turn, in the turn's transaction: no statement is added to a turn.
-- `session_id`: the conversation within the integration (the API session id, the WhatsApp
-- user's wa_id or user_id). `transcript`: store::transcripts::TranscriptTurn (the input, the
-- components the turn went through, where it ended, the HTTP calls and their answers).
-- Both are NULL on rows written before this migration. The rows are pruned after the
-- executor's EVENT_HISTORY_RETENTION_HOURS like the rest of processed_events.
ALTER TABLE processed_events ADD COLUMN session_id TEXT;
ALTER TABLE processed_events ADD COLUMN transcript JSONB;
CREATE INDEX processed_events_conversation ON processed_events (integration_id, session_id, processed_at)
    WHERE session_id IS NOT NULL;

-- Test runs whose admin process stopped (docs/test-runner.md, "Interrupted runs"). A run is
-- played by the admin replica that started it (`owner`, a random id per process), which
-- refreshes `heartbeat_at` of its running runs every 10 seconds. Any replica ends a run whose
-- heartbeat is older than a minute as `interrupted` (its result stays empty).
ALTER TABLE test_runs ADD COLUMN owner TEXT;
ALTER TABLE test_runs ADD COLUMN heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE test_runs DROP CONSTRAINT test_runs_status_check;
ALTER TABLE test_runs ADD CONSTRAINT test_runs_status_check CHECK (status IN
    ('running', 'passed', 'failed', 'error', 'timed_out', 'cancelled', 'interrupted'));
CREATE INDEX test_runs_running ON test_runs (heartbeat_at) WHERE status = 'running';

-- Draft runs (docs/test-runner.md, "Drafts"): the run's sandbox copies the bot's draft into a
-- hidden version with a negative number (sessions reference a version), deleted with the
-- sandbox. Published versions stay positive; version lists and reads show only those.
CREATE SEQUENCE sandbox_versions AS INTEGER CYCLE;
ALTER TABLE bot_versions DROP CONSTRAINT bot_versions_version_check;
ALTER TABLE bot_versions ADD CONSTRAINT bot_versions_version_check CHECK (version <> 0);
