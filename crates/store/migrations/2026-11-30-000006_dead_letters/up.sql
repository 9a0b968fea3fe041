-- Messages given up on, kept so that an operator can see why, replay or discard them
-- (docs/messaging.md, "Dead letters"). Written by the drain of `bot.dead-letter` (what RabbitMQ
-- dead-lettered) and by services that give an event up themselves; one row per event id, so a
-- second dead-lettering of the same event (a replay that failed again) updates its row.
CREATE TABLE dead_letters (
    id               BIGSERIAL PRIMARY KEY,
    -- the event's id (InboundEvent / OutboundWhatsapp `event_id`), else the AMQP message id,
    -- else a digest of the body
    event_id         TEXT NOT NULL UNIQUE CHECK (length(event_id) BETWEEN 1 AND 512),
    -- the integration's account when the letter was recorded; NULL when the body names no
    -- (existing) integration: only platform admins see those
    account_id       BIGINT REFERENCES accounts (id) ON DELETE CASCADE,
    -- kept as recorded (no foreign key): the letter outlives a deleted integration
    integration_id   BIGINT,
    conversation_key TEXT,
    source_queue     TEXT NOT NULL,
    -- where a replay publishes: the exchange and routing key the message was first sent with
    exchange         TEXT NOT NULL,
    routing_key      TEXT NOT NULL,
    body             BYTEA NOT NULL,
    -- the AMQP properties and headers worth keeping (message id, content type, traceparent)
    headers          JSONB NOT NULL DEFAULT '{}',
    reason           TEXT NOT NULL,
    attempts         INTEGER NOT NULL CHECK (attempts >= 0),
    first_attempt_at TIMESTAMPTZ NOT NULL,
    last_attempt_at  TIMESTAMPTZ NOT NULL,
    status           TEXT NOT NULL DEFAULT 'dead'
        CHECK (status IN ('dead', 'replayed', 'discarded')),
    replayed_at      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The admin list: an account's letters, newest first, optionally by status.
CREATE INDEX dead_letters_account ON dead_letters (account_id, id DESC);
-- The depth metric.
CREATE INDEX dead_letters_dead ON dead_letters (status) WHERE status = 'dead';

-- The outbound batch (`OutboundWhatsapp.event_id`) each sent message belonged to, so that a
-- `failed` status Meta reports later with 131047 (outside the 24-hour window) can ask the
-- sender for the template fallback once per batch, as a synchronous 131047 does.
ALTER TABLE outbound_messages ADD COLUMN batch_event_id TEXT;
