-- On PostgreSQL this version replaces the B-tree on `at` with a BRIN index and a record
-- of the first unredacted leaf (migrations/postgres/0014_audit_at_brin.sql). SQLite has no
-- BRIN; its partial index on unredacted entries stays, and retention reads it directly.
-- Nothing changes here; the version keeps both engines' migrations numbered alike.
SELECT 1;
