-- Key rotation by chained tokens (docs/operations.md, "Key rotation"). One row: stored
-- tokens are at current_version, or moving to next_version while `fraudhub keys rotate`
-- re-keys them. Created by the first hub (or command) that starts after this migration,
-- with the base version of its keyring.
CREATE TABLE key_rotation (
    id               BIGINT PRIMARY KEY CHECK (id = 1),
    current_version  BIGINT NOT NULL,
    next_version     BIGINT,
    started_at       BIGINT,
    finished_at      BIGINT
);

-- The audit log's subject token is the searchable subject index ("who checked me"),
-- outside the leaf, and rotation re-keys it; key_version is committed in leaves and never
-- changes, so the index's own version lives beside it.
ALTER TABLE audit_log ADD COLUMN subject_token_version BIGINT;
UPDATE audit_log SET subject_token_version = key_version WHERE subject_token IS NOT NULL;

-- Idempotency records hold keyed hashes chained like tokens; NULL (records written before
-- this migration) is set to the current version when the key state row is created.
ALTER TABLE idempotency_keys ADD COLUMN key_version BIGINT;
