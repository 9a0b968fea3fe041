-- The sender's progress through each outbound batch (`OutboundWhatsapp.event_id`), so that a
-- batch redelivered by the broker (sender restart, lost ack) does not send again what Meta
-- already accepted: `sent_count` payloads are done, and a batch with an `outcome` is finished
-- (all sent, replaced by the fallback template, or given up after an error).
CREATE TABLE outbound_batches (
    event_id       TEXT PRIMARY KEY CHECK (length(event_id) BETWEEN 1 AND 512),
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    sent_count     INTEGER NOT NULL DEFAULT 0 CHECK (sent_count >= 0),
    outcome        TEXT CHECK (outcome IN ('sent', 'fallback', 'failed')),
    completed_at   TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT outbound_batches_completed_with_outcome
        CHECK ((outcome IS NULL) = (completed_at IS NULL))
);
CREATE INDEX outbound_batches_age ON outbound_batches (updated_at);

-- The token refresher looks for tokens that expire soon.
CREATE INDEX whatsapp_integrations_token_expiry
    ON whatsapp_integrations (access_token_expires_at)
    WHERE access_token_expires_at IS NOT NULL;
