ALTER TABLE integrations DROP COLUMN pinned_version;
ALTER TABLE integrations DROP COLUMN sandbox;
