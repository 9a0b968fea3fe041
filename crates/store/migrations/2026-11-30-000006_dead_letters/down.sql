ALTER TABLE outbound_messages DROP COLUMN batch_event_id;
DROP TABLE dead_letters;
