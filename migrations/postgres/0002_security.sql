-- Security review (issue 9).
--
-- Audit entries, format version 2: members are shown a per-member subject value
-- (subject_view) instead of the hub-wide token, and the leaf commits to that value; the
-- server's own request id is in the leaf, a client's X-Request-Id is kept only as an
-- uncommitted correlation field; actor says whether a member or an operator acted.
-- Version-1 rows keep entry_version = 1 and verify as before.
ALTER TABLE audit_log ADD COLUMN entry_version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN actor TEXT;
ALTER TABLE audit_log ADD COLUMN subject_view BYTEA;
ALTER TABLE audit_log ADD COLUMN correlation_id TEXT;

-- Enumeration defences: a per-member budget of distinct subjects per day (NULL: the
-- configured default) and a record of detected sweeps, shown by `fraudhub member list`.
ALTER TABLE members ADD COLUMN daily_subject_budget BIGINT;
ALTER TABLE members ADD COLUMN sweep_events BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN last_sweep_at BIGINT;
