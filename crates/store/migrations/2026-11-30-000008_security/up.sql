-- Security (docs/security.md).
--
-- Rate limits shared by every replica: one token bucket per key (`api:<integration id>` for
-- the gateway's per-integration limit, `signin:<source>` for admin sign-in failures). Each
-- statement over a row refills it by the time elapsed on the database's clock (one clock for
-- all replicas) and takes what it can, so replicas never both spend the same token.
CREATE TABLE rate_limit_buckets (
    bucket_key TEXT PRIMARY KEY CHECK (length(bucket_key) <= 200),
    tokens     DOUBLE PRECISION NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    -- what the last statement took (returned to its caller)
    granted    INTEGER NOT NULL DEFAULT 0
);

-- The token digest chain: the digest key layers of earlier deployment keys, each sealed under
-- the current deployment key (associated data `digest-key-chain/<generation>`). The current
-- key's own layer is never stored. Written by the key rotation (`admin rotate-key`).
CREATE TABLE digest_key_chain (
    generation INTEGER PRIMARY KEY CHECK (generation BETWEEN 0 AND 254),
    sealed     BYTEA NOT NULL,
    stored_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
