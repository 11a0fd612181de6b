-- Core hub schema (PostgreSQL). Times are milliseconds since the Unix epoch (UTC) so the
-- SQLite and PostgreSQL schemas compare and sort identically. No column ever holds a raw
-- identifier: subjects are keyed BLAKE3 tokens plus the key version that made them.

CREATE TABLE members (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    display_name    TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('active', 'suspended')),
    rate_per_second BIGINT  NOT NULL,
    burst           BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT    PRIMARY KEY,
    member_id   BIGINT  NOT NULL REFERENCES members (id),
    secret_hash BYTEA    NOT NULL,
    scopes      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_member ON api_keys (member_id);

CREATE TABLE flags (
    id                      TEXT    PRIMARY KEY,
    member_id               BIGINT  NOT NULL REFERENCES members (id),
    subject_token           BYTEA    NOT NULL,
    key_version             BIGINT  NOT NULL,
    kind                    TEXT    NOT NULL,
    consent_reference       TEXT,
    police_report_reference TEXT,
    created_at              BIGINT  NOT NULL,
    expires_at              BIGINT  NOT NULL,
    lifted_at               BIGINT
);
CREATE INDEX flags_subject ON flags (subject_token, expires_at);

CREATE TABLE idempotency_keys (
    member_id        BIGINT NOT NULL,
    idempotency_key  TEXT   NOT NULL,
    fingerprint      BYTEA   NOT NULL,
    flag_id          TEXT   NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (member_id, idempotency_key)
);

-- The audit log is an append-only Merkle tree (docs/audit.md). leaf_index is dense and
-- assigned in commit order under the tlog_state row lock; the leaf hash of entry i is
-- tlog_nodes(level 0, idx i). Retention clears the personal-data columns and sets
-- redacted = 1, while the leaf hash stays so the log still verifies.
CREATE TABLE audit_log (
    leaf_index    BIGINT  PRIMARY KEY,
    at            BIGINT  NOT NULL,
    member_id     BIGINT,
    key_id        TEXT,
    action        TEXT    NOT NULL,
    purpose       TEXT,
    subject_token BYTEA,
    key_version   BIGINT,
    outcome       TEXT    NOT NULL,
    request_id    TEXT,
    redacted      BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX audit_log_subject ON audit_log (subject_token, at);
CREATE INDEX audit_log_member ON audit_log (member_id, leaf_index);
CREATE INDEX audit_log_at ON audit_log (at) WHERE redacted = 0;

-- Every perfect subtree hash: node (level, idx) covers leaves [idx * 2^level, (idx+1) * 2^level).
CREATE TABLE tlog_nodes (
    level BIGINT NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA  NOT NULL,
    PRIMARY KEY (level, idx)
);

-- The log head: size and compact frontier. Its row lock serialises appends across
-- writers (and hub instances), which is what keeps leaf indexes dense and ordered.
CREATE TABLE tlog_state (
    id       BIGINT PRIMARY KEY CHECK (id = 1),
    size     BIGINT NOT NULL,
    frontier BYTEA  NOT NULL
);
INSERT INTO tlog_state (id, size, frontier) VALUES (1, 0, '\x0000000000000000'::bytea);

CREATE TABLE tlog_checkpoints (
    size       BIGINT PRIMARY KEY,
    root       BYTEA  NOT NULL,
    note       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
