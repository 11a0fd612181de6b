-- From this version the hub stores no tree nodes of levels 1 to 3: a proof rebuilds each
-- from its 2 to 8 leaves (src/tlog/stored.rs, docs/audit.md "Node ids and what is
-- stored"), so an append writes one node row per eight entries instead of one per entry.
-- Nothing changes in the schema. The migration is here so that a hub older than this one
-- refuses to start on a database this one has written (its migrator finds a version it
-- does not know), instead of serving proofs that miss the nodes it expects to read.
-- Rows of levels 1 to 3 written before are left in place and no longer read.
SELECT 1;
