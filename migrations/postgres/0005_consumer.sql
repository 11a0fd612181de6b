-- Consumer self-service (docs/consumer.md).
--
-- A person's own flag has no member behind it: flags.member_id becomes optional (NULL for
-- kind 'consumer').
ALTER TABLE flags ALTER COLUMN member_id DROP NOT NULL;
ALTER TABLE flags ADD CONSTRAINT flags_consumer_has_no_member
    CHECK ((member_id IS NULL) = (kind = 'consumer'));

-- Web sessions of consumers (and later agents). Only a hash of the session id is stored:
-- a copy of this table does not let anyone act as a logged-in person. The person is a
-- token, never a personal number; the name BankID returned is kept for display only and
-- goes with the session.
CREATE TABLE web_sessions (
    id_hash       BYTEA   PRIMARY KEY,
    person_token  BYTEA,
    key_version   BIGINT,
    display_name  TEXT,
    -- A BankID order in progress for this session (JSON), and a one-time notice to show.
    pending       TEXT,
    notice        TEXT,
    created_at    BIGINT  NOT NULL,
    last_seen_at  BIGINT  NOT NULL
);
CREATE INDEX web_sessions_last_seen ON web_sessions (last_seen_at);
