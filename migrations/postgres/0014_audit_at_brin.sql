-- Retention finds the entries to redact without a B-tree entry per audit entry.
--
-- `audit_log_at` (a B-tree on `at` over unredacted entries) cost every append an index
-- insert and its WAL record, only so that retention could find what is older than the
-- cutoff. Entries are appended in leaf order and `at` follows it closely, so a BRIN index
-- (the least and greatest `at` of each block range) answers "older than the cutoff"
-- almost as narrowly and costs an append nothing until a range is summarised. BRIN is
-- exact, not a heuristic: a range is skipped only when every entry in it is at or after
-- the cutoff, so an entry whose `at` is older than its neighbours' (another instance's
-- clock, a commit delayed behind a stalled writer) is still found.
--
-- What BRIN cannot tell is which old ranges retention has already redacted, so
-- `audit_redaction` keeps the first leaf that is still unredacted: every entry below it
-- is redacted, and each pass looks at leaves from there on only (docs/operations.md,
-- "Retention"). Its first value is read with the old index, before it is dropped.
CREATE TABLE audit_redaction (
    id               BIGINT PRIMARY KEY CHECK (id = 1),
    first_unredacted BIGINT NOT NULL
);
INSERT INTO audit_redaction (id, first_unredacted)
SELECT 1, COALESCE(
    (SELECT leaf_index FROM audit_log WHERE redacted = 0 ORDER BY leaf_index LIMIT 1),
    (SELECT size FROM tlog_state WHERE id = 1));

DROP INDEX audit_log_at;
CREATE INDEX audit_log_at ON audit_log USING brin (at) WITH (autosummarize = on);
