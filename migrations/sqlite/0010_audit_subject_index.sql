-- "Who checked me" asks for one person's newest entries: by subject token, newest leaf
-- first. Keyed by (subject_token, leaf_index), the index answers that order itself and the
-- query stops after its page; keyed by (subject_token, at) it did not match the ORDER BY,
-- and PostgreSQL, before it had statistics on a freshly loaded log, combined it with a
-- scan of the whole primary key for `leaf_index < $1` (EXPLAIN in docs/benchmarks.md,
-- "Issue 14"). Entries without a subject (operator actions)
-- and redacted ones are left out of it.
DROP INDEX audit_log_subject;
CREATE INDEX audit_log_subject ON audit_log (subject_token, leaf_index) WHERE subject_token IS NOT NULL;
