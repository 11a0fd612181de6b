#!/usr/bin/env bash
# Bulk-loads synthetic audit entries into a hub database by SQL (scripts/bench-scale.sh with
# BENCH_SCALE_LOAD=sql), for log sizes the hub's own append path would take hours to reach:
#
#   bash scripts/bench/load-log.sh sqlite FILE GROW_TO
#   bash scripts/bench/load-log.sh postgres URL GROW_TO
#
# The entries have examples/scale_bench.rs's columns, sizes and subject tokens (a quarter as
# many people as entries, scattered over the subject index), and the tree gets every node
# a log of that size has (leaf hashes in the entries' rows, as the hub writes them). Leaf hashes, nodes and the frontier are random bytes of the right
# shape: the tables, indexes and pages are a real log's, the hashes do not verify (`fraudhub
# audit verify` fails on such a log; it is for benchmarks only). The hub appends to it
# normally afterwards.
#
# The audit log's secondary indexes are dropped during the load and built again after it,
# each in one sort, as a bulk load into a B-tree is done; they end as the migrations leave
# them.
set -euo pipefail
ENGINE="$1" DB="$2" TO="$3"
CHUNK=5000000

q() {
    case "$ENGINE" in
    sqlite) sqlite3 -bail -cmd ".timeout 60000" "$DB" "$1" ;;
    postgres) psql "$DB" -qAtX -v ON_ERROR_STOP=1 -c "$1" ;;
    esac
}

FROM=$(q "SELECT size FROM tlog_state WHERE id = 1")
[ "$TO" -gt "$FROM" ] || exit 0
PEOPLE=$((TO / 4 > 0 ? TO / 4 : 1))
BASE_MS=$(($(date +%s) * 1000))
# Entry i is about person i * SPREAD mod PEOPLE: a prime multiplier scatters consecutive
# entries over the whole subject index, as random people would, and gives each person about
# four entries. (Not random(): SQLite evaluates it again at each use of `p`.)
SPREAD=2654435761

# The same expressions on both engines; `i` is the leaf index, `p` the person.
case "$ENGINE" in
sqlite)
    series() { echo "(SELECT value AS i, value * $SPREAD % $PEOPLE AS p FROM generate_series($1, $2)) AS s"; }
    nodes() { echo "SELECT $1, value, randomblob(32) FROM generate_series($2, $3)"; }
    SUBJECT="CAST(printf('%016x%016x', p, p) AS BLOB)"
    KEY_ID="printf('k%015x', i % 97)"
    REQUEST_ID="printf('%08x-0000-4000-8000-%012x', i >> 48, i & 281474976710655)"
    REFERENCE="randomblob(16)"
    LEAF="randomblob(32)"
    SORT_MEMORY="PRAGMA cache_size = -1000000;"
    ;;
postgres)
    series() { echo "(SELECT i, i * $SPREAD % $PEOPLE AS p FROM generate_series($1::bigint, $2) AS g(i)) AS s"; }
    nodes() { echo "SELECT $1, i, decode(lpad(to_hex(i), 64, '0'), 'hex') FROM generate_series($2::bigint, $3) AS g(i)"; }
    SUBJECT="convert_to(lpad(to_hex(p), 16, '0') || lpad(to_hex(p), 16, '0'), 'UTF8')"
    KEY_ID="'k' || lpad(to_hex(i % 97), 15, '0')"
    REQUEST_ID="lpad(to_hex(i >> 48), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i & 281474976710655), 12, '0')"
    REFERENCE="decode(lpad(to_hex(i), 32, '0'), 'hex')"
    LEAF="decode(lpad(to_hex(i), 64, '0'), 'hex')"
    SORT_MEMORY="SET maintenance_work_mem = '1GB';"
    ;;
*)
    echo "usage: $0 sqlite|postgres DB GROW_TO" >&2
    exit 2
    ;;
esac

echo "load-log: $FROM -> $TO entries" >&2
# As migration 0015 leaves the subject index: in segments of 2^17 leaves, covering on both
# engines, in each one's form. The hub builds the segments' filters (housekeeping, or
# scale_bench before it times "who checked me").
# The index on `at` as migration 0014 leaves it: a B-tree on SQLite, BRIN on PostgreSQL.
case "$ENGINE" in
sqlite)
    SUBJECT_COLUMNS="((leaf_index >> 17), subject_token, leaf_index, at, member_id, actor, action, purpose, outcome)"
    AT_INDEX="audit_log_at ON audit_log (at) WHERE redacted = 0"
    ;;
postgres)
    SUBJECT_COLUMNS="((leaf_index >> 17), subject_token, leaf_index) INCLUDE (at, member_id, actor, action, purpose, outcome)"
    AT_INDEX="audit_log_at ON audit_log USING brin (leaf_index, at) WITH (autosummarize = on)"
    ;;
esac
INDEXES=(
    "audit_log_subject ON audit_log $SUBJECT_COLUMNS WHERE subject_token IS NOT NULL"
    "audit_log_member ON audit_log (member_id, leaf_index)"
    "$AT_INDEX"
)
for index in "${INDEXES[@]}"; do
    q "DROP INDEX IF EXISTS ${index%% *}"
done
if [ "$ENGINE" = postgres ]; then
    # Autovacuum would compete with the load; the load ends with the VACUUM it would do.
    q "ALTER TABLE audit_log SET (autovacuum_enabled = false)"
    q "ALTER TABLE tlog_nodes SET (autovacuum_enabled = false)"
fi
for ((a = FROM; a < TO; a += CHUNK)); do
    b=$((a + CHUNK < TO ? a + CHUNK : TO))
    # Node (level, idx) exists once the tree holds its whole span: idx < size >> level.
    # Level 0, the leaf hashes, goes into the entries' rows (migration 0012); levels 1 to 3
    # are not stored (migration 0013: proofs rebuild them from the leaves).
    # PostgreSQL loads the two tables at once, on two connections.
    (
        for ((level = 4; (b >> level) > (a >> level); level++)); do
            q "INSERT INTO tlog_nodes (level, idx, hash) $(nodes "$level" $((a >> level)) $(((b >> level) - 1)))"
        done
    ) &
    nodes_pid=$!
    if [ "$ENGINE" = sqlite ]; then
        wait "$nodes_pid"
        nodes_pid=""
    fi
    q "INSERT INTO audit_log (leaf_index, at, member_id, key_id, action, purpose, subject_token,
         key_version, outcome, request_id, entry_version, actor, subject_view, correlation_id,
         subject_token_version, leaf_hash)
       SELECT i, $BASE_MS + i / 16, 1 + i % 7, $KEY_ID, 'match', 'account_opening', $SUBJECT, 1,
         CASE WHEN i % 50 = 0 THEN 'flagged' ELSE 'clear' END, $REQUEST_ID, 3, NULL, $REFERENCE,
         NULL, 1, $LEAF
       FROM $(series "$a" $((b - 1)))"
    [ -z "$nodes_pid" ] || wait "$nodes_pid"
    echo "load-log: $b entries" >&2
done
for index in "${INDEXES[@]}"; do
    echo "load-log: building ${index%% *}" >&2
    q "$SORT_MEMORY CREATE INDEX $index"
done
FRONTIER=$(python3 -c '
import os, sys
n = int(sys.argv[1])
print(n.to_bytes(8, "big").hex() + "".join(os.urandom(32).hex() for _ in range(bin(n).count("1"))))' "$TO")
case "$ENGINE" in
sqlite) q "UPDATE tlog_state SET size = $TO, frontier = X'$FRONTIER' WHERE id = 1" ;;
postgres)
    q "UPDATE tlog_state SET size = $TO, frontier = '\\x$FRONTIER'::bytea WHERE id = 1"
    # What autovacuum would have done to a log that grew over months.
    q "ALTER TABLE audit_log RESET (autovacuum_enabled)"
    q "ALTER TABLE tlog_nodes RESET (autovacuum_enabled)"
    q "VACUUM (ANALYZE) audit_log"
    q "VACUUM (ANALYZE) tlog_nodes"
    ;;
esac
echo "load-log: done, $(q "SELECT size FROM tlog_state WHERE id = 1") entries" >&2
