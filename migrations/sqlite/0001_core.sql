-- Core hub schema (SQLite). Times are milliseconds since the Unix epoch (UTC) so the
-- SQLite and PostgreSQL schemas compare and sort identically. No column ever holds a raw
-- identifier: subjects are keyed BLAKE3 tokens plus the key version that made them.

CREATE TABLE members (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
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
    secret_hash BLOB    NOT NULL,
    scopes      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_member ON api_keys (member_id);

CREATE TABLE flags (
    id                      TEXT    PRIMARY KEY,
    member_id               BIGINT  NOT NULL REFERENCES members (id),
    subject_token           BLOB    NOT NULL,
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
    fingerprint      BLOB   NOT NULL,
    flag_id          TEXT   NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (member_id, idempotency_key)
);

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            BIGINT  NOT NULL,
    member_id     BIGINT,
    key_id        TEXT,
    action        TEXT    NOT NULL,
    purpose       TEXT,
    subject_token BLOB,
    key_version   BIGINT ,
    outcome       TEXT    NOT NULL,
    request_id    TEXT    NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject_token, at);
CREATE INDEX audit_log_member ON audit_log (member_id, id);
