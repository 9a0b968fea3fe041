-- Foundation: tenants, operator tokens, bots with immutable published versions, integrations.
-- Secrets never appear in clear: tokens and API keys as HMAC digests, WhatsApp secrets sealed
-- with AES-256-GCM (nonce || ciphertext || tag, the integration id as associated data).

CREATE TABLE accounts (
    id                BIGSERIAL PRIMARY KEY,
    name              TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    is_platform_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE operator_tokens (
    id           BIGSERIAL PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_digest BYTEA NOT NULL UNIQUE,
    token_hint   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX operator_tokens_account ON operator_tokens (account_id);

CREATE TABLE bots (
    id             BIGSERIAL PRIMARY KEY,
    account_id     BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name           TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    variables      JSONB NOT NULL DEFAULT '[]'::jsonb,
    draft_flow     JSONB NOT NULL,
    -- bumped on every draft change; publish snapshots a known revision (optimistic check)
    draft_revision BIGINT NOT NULL DEFAULT 1,
    latest_version INTEGER,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT bots_account_name_unique UNIQUE (account_id, name)
);

CREATE TABLE bot_versions (
    bot_id       BIGINT NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL CHECK (version > 0),
    variables    JSONB NOT NULL,
    flow         JSONB NOT NULL,
    published_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, version)
);

-- A published version is immutable: sessions are pinned to it.
CREATE FUNCTION bot_versions_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'bot versions are immutable' USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER bot_versions_no_update BEFORE UPDATE ON bot_versions
    FOR EACH ROW EXECUTE FUNCTION bot_versions_immutable();

CREATE TABLE integrations (
    id                  BIGSERIAL PRIMARY KEY,
    account_id          BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind                TEXT NOT NULL CHECK (kind IN ('api', 'whatsapp')),
    name                TEXT NOT NULL DEFAULT '',
    bot_id              BIGINT REFERENCES bots (id) ON DELETE RESTRICT,
    active              BOOLEAN NOT NULL DEFAULT FALSE,
    alert_email_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    alert_email         TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_activity_at    TIMESTAMPTZ,
    CONSTRAINT integrations_active_needs_bot CHECK (NOT active OR bot_id IS NOT NULL)
);
CREATE INDEX integrations_account ON integrations (account_id);
CREATE INDEX integrations_bot ON integrations (bot_id);

CREATE TABLE api_integrations (
    integration_id        BIGINT PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    key_digest            BYTEA NOT NULL,
    key_hint              TEXT NOT NULL,
    variable_injection    BOOLEAN NOT NULL DEFAULT FALSE,
    rate_limit_per_minute INTEGER NOT NULL CHECK (rate_limit_per_minute > 0)
);

CREATE TABLE whatsapp_integrations (
    integration_id              BIGINT PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    business_account_id         TEXT NOT NULL,
    phone_number_id             TEXT NOT NULL,
    app_id                      TEXT NOT NULL,
    app_secret_sealed           BYTEA NOT NULL,
    access_token_sealed         BYTEA NOT NULL,
    access_token_expires_at     TIMESTAMPTZ,
    verify_token_sealed         BYTEA NOT NULL,
    verify_token_digest         BYTEA NOT NULL,
    api_version                 TEXT NOT NULL DEFAULT 'v21.0',
    conversation_expiry_seconds INTEGER CHECK (conversation_expiry_seconds > 0),
    template_name               TEXT,
    template_language           TEXT,
    trigger_recipients          TEXT[] NOT NULL DEFAULT '{}',
    -- equals phone_number_id while the integration is active, NULL otherwise: the unique
    -- constraint makes "one active integration per phone number" race-free.
    active_phone_number_id      TEXT,
    CONSTRAINT whatsapp_verify_token_unique UNIQUE (verify_token_digest),
    CONSTRAINT whatsapp_one_active_per_phone_number UNIQUE (active_phone_number_id)
);
CREATE INDEX whatsapp_integrations_phone ON whatsapp_integrations (phone_number_id);
