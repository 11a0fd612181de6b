-- Each entry's leaf hash in its own row. It was a level-0 row of tlog_nodes: a second row,
-- and a primary-key entry, per audit entry; now the nodes table holds levels 1 and up
-- only (docs/audit.md, "Storage"). Rows written before this migration keep a NULL here and
-- their level-0 node rows, which every read falls back to; nothing is moved.
ALTER TABLE audit_log ADD COLUMN leaf_hash BYTEA;
