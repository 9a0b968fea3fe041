-- Conversations and the exactly-once bookkeeping of the flow executor and the API gateway.

-- One user's conversation with one integration. Written only by the flow executor.
CREATE TABLE sessions (
    integration_id  BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    session_id      TEXT NOT NULL CHECK (length(session_id) BETWEEN 1 AND 255),
    user_identifier TEXT NOT NULL,
    bot_id          BIGINT NOT NULL,
    bot_version     INTEGER NOT NULL,
    -- flow::engine::SessionState as JSON: the waiting component, variables, retries
    state           JSONB NOT NULL,
    -- bumped by every turn: fences writes at the moment of a consumer failover
    revision        BIGINT NOT NULL DEFAULT 1,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ,
    PRIMARY KEY (integration_id, session_id),
    FOREIGN KEY (bot_id, bot_version) REFERENCES bot_versions (bot_id, version) ON DELETE CASCADE
);
CREATE INDEX sessions_expiry ON sessions (expires_at) WHERE expires_at IS NOT NULL;

-- Every inbound event the executor has handled, with what it produced (the reply to the API
-- request, the outbound messages). In the same transaction as the session: a redelivered event
-- is recognised and its stored outputs are published again instead of running the flow twice.
-- This is the outbox: the inbound message is acked only after the outputs are published.
CREATE TABLE processed_events (
    event_id       TEXT PRIMARY KEY,
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    outputs        JSONB NOT NULL,
    processed_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX processed_events_age ON processed_events (processed_at);

-- Idempotency-Key records of the API gateway (PRODUCT.md 4). `in_progress` while the turn
-- runs (under a lease, so that a crashed gateway does not lock a key forever), `completed`
-- with the stored answer once the executor has run the flow.
CREATE TABLE idempotency_keys (
    integration_id  BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    endpoint        TEXT NOT NULL CHECK (endpoint IN ('session_start', 'message')),
    key             TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash    BYTEA NOT NULL,
    event_id        TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('in_progress', 'completed')),
    response_status INTEGER,
    response_body   JSONB,
    lease_until     TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, endpoint, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
