-- Retention (docs/operations.md, "Retention"): idempotency keys are stored as keyed hashes
-- and expire; ended flags are purged, so the purge needs indexes on when a flag ends.
--
-- The old table held member-chosen keys verbatim, and a keyed hash cannot be computed in
-- SQL (the key is derived from the master key, which never reaches the database), so its
-- rows are dropped. That is safe: a key only protects retries for 24 hours, so the worst
-- case is that a retry spanning this upgrade creates a second flag, which the member sees
-- in the response and can lift.
DROP TABLE idempotency_keys;

CREATE TABLE idempotency_keys (
    member_id    BIGINT NOT NULL,
    -- BLAKE3 keyed with a master-key-derived key over (member id, Idempotency-Key).
    key_hash     BLOB   NOT NULL,
    fingerprint  BLOB   NOT NULL,
    flag_id      TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (member_id, key_hash)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE INDEX flags_expires ON flags (expires_at);
CREATE INDEX flags_lifted ON flags (lifted_at) WHERE lifted_at IS NOT NULL;
