DELETE FROM integrations WHERE sandbox;
DELETE FROM bot_versions WHERE version < 0;
ALTER TABLE bot_versions DROP CONSTRAINT bot_versions_version_check;
ALTER TABLE bot_versions ADD CONSTRAINT bot_versions_version_check CHECK (version > 0);
DROP SEQUENCE sandbox_versions;
DROP INDEX test_runs_running;
UPDATE test_runs SET status = 'error' WHERE status = 'interrupted';
ALTER TABLE test_runs DROP CONSTRAINT test_runs_status_check;
ALTER TABLE test_runs ADD CONSTRAINT test_runs_status_check CHECK (status IN
    ('running', 'passed', 'failed', 'error', 'timed_out', 'cancelled'));
ALTER TABLE test_runs DROP COLUMN heartbeat_at;
ALTER TABLE test_runs DROP COLUMN owner;
DROP INDEX processed_events_conversation;
ALTER TABLE processed_events DROP COLUMN transcript;
ALTER TABLE processed_events DROP COLUMN session_id;
