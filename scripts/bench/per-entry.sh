#!/usr/bin/env bash
# What one audited match leaves behind: disk bytes per audit entry on either engine, and on
# PostgreSQL the WAL bytes a match writes (docs/benchmarks.md, "Issue 14", step 16). Use it to
# compare two builds' storage, as scripts/bench/instructions.sh compares their CPU.
#
#   bash scripts/bench/per-entry.sh BIN sqlite|postgres [MATCHES]
#
# Starts BIN on a fresh SQLite data directory or a fresh PostgreSQL database (created on
# BENCH_PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/test, and dropped after),
# places a flag, sends 2000 single-identifier matches to warm up and then MATCHES (default
# 20000), 16 at a time (oha), stops the hub and prints:
#   sqlite:   used bytes per entry of the whole database file (pages in use, after a
#             truncating WAL checkpoint), the entry count and the tlog_nodes row count;
#   postgres: WAL bytes per match (pg_current_wal_insert_lsn around the MATCHES), bytes per
#             entry of audit_log and tlog_nodes with their indexes after VACUUM, and the counts.
set -euo pipefail

BIN="$1"
ENGINE="$2"
N="${3:-20000}"
ADMIN="${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
# shellcheck source=scripts/bench/hub.sh
. "$(dirname "$0")/hub.sh"

WORK="$(mktemp -d -t fraudhub-per-entry.XXXXXX)"
HUB_PID=""
DB=""
cleanup() {
    if [ -n "$HUB_PID" ]; then
        kill -TERM "$HUB_PID" 2>/dev/null || true
        wait "$HUB_PID" 2>/dev/null || true
    fi
    if [ -n "$DB" ]; then psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

env=(FRAUDHUB_DATA_DIR="$WORK" FRAUDHUB_IP_RATE_PER_SECOND=100000000 FRAUDHUB_IP_BURST=100000000 FRAUDHUB_LOG=warn)
case "$ENGINE" in
    sqlite) ;;
    postgres)
        DB="fraudhub_per_entry_$$"
        psql "$ADMIN" -qc "CREATE DATABASE $DB" >/dev/null
        URL="${ADMIN%/*}/$DB"
        env+=(FRAUDHUB_DATABASE_URL="$URL")
        ;;
    *) echo "usage: $0 BIN sqlite|postgres [MATCHES]" >&2; exit 2 ;;
esac

key=$(bench_key)
port=$(free_port)
base="http://127.0.0.1:$port"
(cd "$WORK" && exec env "${env[@]}" "$BIN" serve --listen "127.0.0.1:$port" 2>"$WORK/hub.log") &
HUB_PID=$!
wait_ready "$base" 300
place_flag "$base" "$key"
# Every match must succeed: refusals write no entries and would flatter the figures.
matches() {
    oha -n "$1" -c 16 --no-tui -m POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d "$MATCH_BODY" "$base/v1/matches" | grep "Success rate:.*100.00%" >/dev/null ||
        { echo "error: not every match succeeded" >&2; exit 1; }
}
stop_hub() {
    kill -TERM "$HUB_PID"
    wait "$HUB_PID" || true
    HUB_PID=""
}
per() { python3 -c "print(round($1 / $2, 1))"; }

matches 2000
if [ "$ENGINE" = postgres ]; then
    q() { psql "$URL" -Atc "$1"; }
    before=$(q "SELECT pg_current_wal_insert_lsn()")
    matches "$N"
    after=$(q "SELECT pg_current_wal_insert_lsn()")
    stop_hub
    psql "$URL" -qc "VACUUM audit_log" -c "VACUUM tlog_nodes"
    bytes=$(q "SELECT pg_total_relation_size('audit_log') + pg_total_relation_size('tlog_nodes')")
    entries=$(q "SELECT count(*) FROM audit_log")
    nodes=$(q "SELECT count(*) FROM tlog_nodes")
    wal=$(q "SELECT pg_wal_lsn_diff('$after', '$before')")
    echo "postgres $(basename "$BIN"): WAL bytes per match $(per "$wal" "$N"), bytes per entry $(per "$bytes" "$entries"), $entries entries, $nodes tlog_nodes rows"
else
    matches "$N"
    stop_hub
    f="$WORK/fraudhub.db"
    entries=$(sqlite3 "$f" "SELECT count(*) FROM audit_log")
    nodes=$(sqlite3 "$f" "SELECT count(*) FROM tlog_nodes")
    pages=$(sqlite3 "$f" "PRAGMA wal_checkpoint(TRUNCATE); SELECT (SELECT page_count FROM pragma_page_count) - (SELECT freelist_count FROM pragma_freelist_count);" | tail -n1)
    size=$(sqlite3 "$f" "PRAGMA page_size")
    echo "sqlite $(basename "$BIN"): bytes per entry $(per "$((pages * size))" "$entries"), $entries entries, $nodes tlog_nodes rows"
fi
