-- Retention finds the entries to redact without a B-tree entry per audit entry.
--
-- `audit_log_at` (a B-tree on `at` over unredacted entries) cost every append an index
-- insert and its WAL record, only so that retention could find what is older than the
-- cutoff. Entries are appended in leaf order and `at` follows it closely, so a BRIN index
-- (the least and greatest leaf and `at` of each block range) answers "from this leaf on,
-- older than the cutoff" almost as narrowly, and costs an append nothing until a range is
-- summarised. BRIN is exact, not a heuristic: a range is skipped only when every entry in
-- it lies before the leaf or is at or after the cutoff, so an entry whose `at` is older
-- than its neighbours' (another instance's clock, a commit delayed behind a stalled
-- writer) is still found.
--
-- BRIN cannot tell which old ranges retention has already redacted, so `audit_redaction`
-- keeps the first leaf that is still unredacted: every entry below it is redacted, and a
-- pass reads from there on only (docs/operations.md, "Retention"). Its first value is read
-- with the old index, before it is dropped. The planner does not know that `at` follows
-- the leaf and would scan the primary key from that leaf to the log's end; the pass tells
-- it to use this index (src/store/audit.rs).
CREATE TABLE audit_redaction (
    id               BIGINT PRIMARY KEY CHECK (id = 1),
    first_unredacted BIGINT NOT NULL
);
INSERT INTO audit_redaction (id, first_unredacted)
SELECT 1, COALESCE(
    (SELECT leaf_index FROM audit_log WHERE redacted = 0 ORDER BY leaf_index LIMIT 1),
    (SELECT size FROM tlog_state WHERE id = 1));

DROP INDEX audit_log_at;
CREATE INDEX audit_log_at ON audit_log USING brin (leaf_index, at) WITH (autosummarize = on);
