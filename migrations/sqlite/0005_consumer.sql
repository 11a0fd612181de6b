-- Consumer self-service (docs/consumer.md).
--
-- A person's own flag has no member behind it: flags.member_id becomes optional (NULL for
-- kind 'consumer'). SQLite cannot drop a NOT NULL constraint in place, so the table is
-- rebuilt with the same columns and indexes.
CREATE TABLE flags_new (
    id                      TEXT    PRIMARY KEY,
    member_id               BIGINT  REFERENCES members (id),
    subject_token           BLOB    NOT NULL,
    key_version             BIGINT  NOT NULL,
    kind                    TEXT    NOT NULL,
    consent_reference       TEXT,
    police_report_reference TEXT,
    created_at              BIGINT  NOT NULL,
    expires_at              BIGINT  NOT NULL,
    lifted_at               BIGINT,
    CHECK ((member_id IS NULL) = (kind = 'consumer'))
);
INSERT INTO flags_new SELECT id, member_id, subject_token, key_version, kind, consent_reference,
    police_report_reference, created_at, expires_at, lifted_at FROM flags;
DROP TABLE flags;
ALTER TABLE flags_new RENAME TO flags;
CREATE INDEX flags_subject ON flags (subject_token, expires_at);
CREATE INDEX flags_expires ON flags (expires_at);
CREATE INDEX flags_lifted ON flags (lifted_at) WHERE lifted_at IS NOT NULL;

-- Web sessions of consumers (and later agents). Only a hash of the session id is stored:
-- a copy of this table does not let anyone act as a logged-in person. The person is a
-- token, never a personal number; the name BankID returned is kept for display only and
-- goes with the session.
CREATE TABLE web_sessions (
    id_hash       BLOB    PRIMARY KEY,
    person_token  BLOB,
    key_version   BIGINT,
    display_name  TEXT,
    -- A BankID order in progress for this session (JSON), and a one-time notice to show.
    pending       TEXT,
    notice        TEXT,
    created_at    BIGINT  NOT NULL,
    last_seen_at  BIGINT  NOT NULL
);
CREATE INDEX web_sessions_last_seen ON web_sessions (last_seen_at);
