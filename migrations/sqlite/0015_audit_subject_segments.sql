-- The subject index in segments of 2^17 leaves (docs/audit.md, "Who checked me at scale").
-- Keyed by subject token alone, each appended entry landed on a random page of an index as
-- large as the log: at 1 M entries SQLite appended half as fast as on an empty log, at
-- 100 M 87 % slower (docs/benchmarks.md, issue 14 item 3). Keyed by the entry's segment
-- first, an append only touches the newest segment's part of the index, which stays as
-- small as an empty log's whatever the log's size. "Who checked me" then probes one
-- segment at a time, newest first, skipping every sealed segment whose filter (a Bloom
-- filter of the tokens in it, built once the segment is full) says the person is not in
-- it. `src/audit/segments.rs` holds the segment size; the expression here must match it.
DROP INDEX audit_log_subject;
CREATE INDEX audit_log_subject ON audit_log
    ((leaf_index >> 17), subject_token, leaf_index, at, member_id, actor, action, purpose, outcome)
    WHERE subject_token IS NOT NULL;
-- One filter per sealed segment, with the generation of the subject tokens it was built
-- from: key rotation re-keys tokens, moves the generation on and drops the filters of the
-- segments it touched, so a filter built from tokens a rotation then changed is never
-- stored or kept.
CREATE TABLE audit_subject_filters (
    segment INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL,
    bits BLOB NOT NULL
);
CREATE TABLE audit_subject_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO audit_subject_state (id, generation) VALUES (1, 0);
