DROP TABLE test_runs;
ALTER TABLE integrations DROP COLUMN pinned_version;
ALTER TABLE integrations DROP COLUMN sandbox;
