-- Caller verification (docs/agents.md): BankID phone authentication of a caller, started by
-- a member's contact centre through the API or by one of its agents in the agent console.
-- The claimed personal number and the calling phone number are kept only as tokens; the
-- name BankID returns is kept for the member that asked until the verification is purged.
CREATE TABLE caller_verifications (
    id               TEXT    PRIMARY KEY,
    member_id        BIGINT  NOT NULL REFERENCES members (id),
    subject_token    BLOB    NOT NULL,
    key_version      BIGINT  NOT NULL,
    phone_token      BLOB,
    call_initiator   TEXT    NOT NULL CHECK (call_initiator IN ('user', 'rp')),
    agent_reference  TEXT,
    agent_id         TEXT,
    order_ref        TEXT,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'complete', 'failed')),
    hint             TEXT,
    failure          TEXT,
    name             TEXT,
    given_name       TEXT,
    surname          TEXT,
    warnings         TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    ended_at         BIGINT
);
CREATE INDEX caller_verifications_member ON caller_verifications (member_id, created_at);
CREATE INDEX caller_verifications_ended ON caller_verifications (ended_at) WHERE ended_at IS NOT NULL;

-- A member's customer-service agents, who log in to the agent console with their own
-- BankID. The agent's personal number is kept only as a token.
CREATE TABLE agents (
    id             TEXT    PRIMARY KEY,
    member_id      BIGINT  NOT NULL REFERENCES members (id),
    subject_token  BLOB    NOT NULL,
    key_version    BIGINT  NOT NULL,
    display_name   TEXT    NOT NULL,
    expires_at     BIGINT,
    disabled_at    BIGINT,
    created_at     BIGINT  NOT NULL,
    UNIQUE (member_id, subject_token)
);
CREATE INDEX agents_subject ON agents (subject_token);

-- An agent's console session names the agent.
ALTER TABLE web_sessions ADD COLUMN agent_id TEXT;
