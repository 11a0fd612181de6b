-- Police-reported fraud indicators (docs/indicators.md). Like flags, an indicator holds a
-- keyed token of its identifier, never the identifier; the token's kind is kept so a
-- publisher's listing can say what was reported.
CREATE TABLE indicators (
    id                      TEXT    PRIMARY KEY,
    member_id               BIGINT  NOT NULL REFERENCES members (id),
    identifier_kind         TEXT    NOT NULL,
    subject_token           BLOB    NOT NULL,
    key_version             BIGINT  NOT NULL,
    category                TEXT    NOT NULL,
    police_report_reference TEXT    NOT NULL,
    confidence              TEXT    NOT NULL,
    disclose_member         BIGINT  NOT NULL,
    note                    TEXT,
    created_at              BIGINT  NOT NULL,
    valid_until             BIGINT  NOT NULL,
    revoked_at              BIGINT,
    sightings               BIGINT  NOT NULL DEFAULT 0,
    false_positive_reports  BIGINT  NOT NULL DEFAULT 0,
    disputed_at             BIGINT,
    dispute_upheld_at       BIGINT
);
CREATE INDEX indicators_subject ON indicators (subject_token, valid_until);
CREATE INDEX indicators_member ON indicators (member_id, id);

-- One sighting and one false-positive report per member per indicator.
CREATE TABLE indicator_reports (
    indicator_id TEXT    NOT NULL REFERENCES indicators (id),
    member_id    BIGINT  NOT NULL REFERENCES members (id),
    kind         TEXT    NOT NULL CHECK (kind IN ('sighting', 'false_positive')),
    reference    TEXT,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (indicator_id, member_id, kind)
);

-- Retries of any create call are keyed per member; the record points at what was made.
ALTER TABLE idempotency_keys RENAME COLUMN flag_id TO resource_id;
