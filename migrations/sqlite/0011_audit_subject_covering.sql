-- "Who checked me" answered from the index alone. At 100 M entries the log is larger than
-- memory and a person's entries lie on random pages of it: fetching each row from the
-- table made the query's p99 about 17 ms on a cold cache (docs/benchmarks.md, "Who checked
-- me at 100 M"). The index now carries every column the query reads, so a person's
-- entries are read from one or two adjacent index pages. It costs index size (about
-- twice) and, on a large log, the time to build it once when this migration runs.
DROP INDEX audit_log_subject;
CREATE INDEX audit_log_subject ON audit_log
    (subject_token, leaf_index, at, member_id, actor, action, purpose, outcome)
    WHERE subject_token IS NOT NULL;
