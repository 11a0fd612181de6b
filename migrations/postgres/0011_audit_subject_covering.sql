-- "Who checked me" answered from the index alone (an index-only scan). At 100 M entries
-- the log is larger than memory and a person's entries lie on random pages of it:
-- fetching each row (and its leaf hash) made the query's p99 9 to 119 ms in three runs
-- (17 ms on SQLite with a cold cache; docs/benchmarks.md, "Who checked me at 100 M").
-- The index now carries every column the query reads; the key stays (subject_token,
-- leaf_index). Rows appended since the last vacuum are still checked in the table (the
-- visibility map), which autovacuum's insert threshold keeps to the newest part of the log.
DROP INDEX audit_log_subject;
CREATE INDEX audit_log_subject ON audit_log (subject_token, leaf_index)
    INCLUDE (at, member_id, actor, action, purpose, outcome)
    WHERE subject_token IS NOT NULL;
