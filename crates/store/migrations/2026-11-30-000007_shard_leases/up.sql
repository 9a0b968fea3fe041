-- Which flow-executor consumes which inbound shard (`bot.inbound.<shard>`). Every executor
-- heartbeats its row in `shard_members`, claims free or expired shards up to its fair share
-- ceil(shards / live members), renews what it holds, and releases its excess only after that
-- shard's consumer has drained (in-flight turns finished and acked). Times are the database's
-- clock (`now()`), so executors on hosts with skewed clocks agree on what has expired.
-- See docs/messaging.md ("Sharing the shards") and store/src/shard_leases.rs.
CREATE TABLE shard_leases (
    shard      INTEGER PRIMARY KEY CHECK (shard >= 0),
    -- the executor instance holding it; NULL when free
    holder     TEXT,
    -- raised on every claim: a lease's identity, and how often a shard moved
    epoch      BIGINT NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    -- past this, any executor may claim it (a holder renews well before)
    expires_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (holder IS NULL OR holder <> '')
);

-- Live executors: the divisor of the fair share. A member missing heartbeats past
-- `expires_at` no longer counts, and its leases expire with it.
CREATE TABLE shard_members (
    instance    TEXT PRIMARY KEY CHECK (instance <> ''),
    -- the shard count it was configured with; members that disagree are reported
    shard_count INTEGER NOT NULL CHECK (shard_count > 0),
    expires_at  TIMESTAMPTZ NOT NULL
);
