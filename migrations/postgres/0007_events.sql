-- Watchlists and events (docs/events.md). A member watches identifiers (as tokens, with its
-- own reference); every change on a watched token writes an event for each watcher in the
-- same transaction as the change (the outbox), numbered per member; webhooks push them.
CREATE TABLE watchlist (
    member_id      BIGINT  NOT NULL REFERENCES members (id),
    subject_token  BYTEA    NOT NULL,
    key_version    BIGINT  NOT NULL,
    kind           TEXT    NOT NULL,
    reference      TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    PRIMARY KEY (member_id, subject_token)
);
CREATE INDEX watchlist_subject ON watchlist (subject_token);
CREATE INDEX watchlist_reference ON watchlist (member_id, reference);

CREATE TABLE events (
    member_id    BIGINT  NOT NULL REFERENCES members (id),
    seq          BIGINT  NOT NULL,
    id           TEXT    NOT NULL UNIQUE,
    type         TEXT    NOT NULL,
    occurred_at  BIGINT  NOT NULL,
    reference    TEXT,
    summary      TEXT    NOT NULL,
    PRIMARY KEY (member_id, seq)
);

CREATE TABLE webhooks (
    id               TEXT    PRIMARY KEY,
    member_id        BIGINT  NOT NULL REFERENCES members (id),
    url              TEXT    NOT NULL,
    event_types      TEXT    NOT NULL,
    secret           TEXT    NOT NULL,
    previous_secret  TEXT,
    previous_until   BIGINT,
    status           TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    cursor           BIGINT  NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    failing_since    BIGINT,
    next_attempt_at  BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL,
    disabled_at      BIGINT
);
CREATE INDEX webhooks_member ON webhooks (member_id);

CREATE TABLE webhook_deliveries (
    webhook_id   TEXT    NOT NULL,
    event_seq    BIGINT  NOT NULL,
    event_id     TEXT    NOT NULL,
    attempt      BIGINT  NOT NULL,
    at           BIGINT  NOT NULL,
    status_code  BIGINT,
    error        TEXT,
    ok           BIGINT  NOT NULL
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, at);

-- Whether a flag's expiry has been announced to its watchers.
ALTER TABLE flags ADD COLUMN expiry_announced BIGINT NOT NULL DEFAULT 0;
CREATE INDEX flags_expiry_unannounced ON flags (expires_at) WHERE expiry_announced = 0 AND lifted_at IS NULL;
