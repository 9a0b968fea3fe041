-- WhatsApp delivery bookkeeping: the statuses of the messages we sent, and a small log of the
-- webhooks the ingress answered 200 without a bot turn.

-- One row per message the Graph API accepted (written by the sender, status `accepted`);
-- whatsapp-ingress applies Meta's statuses to it forward-only: a status is applied only when
-- its rank is higher than the stored one, so a late `delivered` after `read` changes nothing.
-- A status for a wamid we have no row for (yet) creates the row.
CREATE TABLE outbound_messages (
    wamid            TEXT PRIMARY KEY CHECK (length(wamid) BETWEEN 1 AND 256),
    integration_id   BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    -- unknown when a status arrived before the sender recorded the message
    conversation_key TEXT,
    recipient        TEXT,
    status           TEXT NOT NULL
        CHECK (status IN ('accepted', 'sent', 'delivered', 'read', 'played', 'failed')),
    status_rank      INTEGER NOT NULL,
    -- `statuses[].errors` of a failed status, as Meta sent them
    errors           JSONB,
    -- Meta's timestamp of the status applied last
    status_at        TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT outbound_messages_rank_matches_status CHECK (status_rank = CASE status
        WHEN 'accepted' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2
        WHEN 'read' THEN 3 WHEN 'played' THEN 4 WHEN 'failed' THEN 5 END)
);
CREATE INDEX outbound_messages_integration ON outbound_messages (integration_id, created_at);

-- Webhooks (or parts of one) answered 200 and recorded instead of starting a bot turn, and
-- refused signatures (for burst alerts). A log, pruned by age.
CREATE TABLE webhook_receipts (
    id             BIGSERIAL PRIMARY KEY,
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    received_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    kind           TEXT NOT NULL CHECK (kind IN ('message', 'status', 'ignored',
        'ignored_inactive', 'ignored_recipient', 'system', 'error', 'bad_signature')),
    detail         JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX webhook_receipts_integration ON webhook_receipts (integration_id, received_at);
CREATE INDEX webhook_receipts_age ON webhook_receipts (received_at);
