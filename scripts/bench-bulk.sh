#!/usr/bin/env bash
# Benchmark: one POST /v1/matches/bulk of BULK_LINES (default 1,000,000) identifiers, on
# SQLite and on PostgreSQL: wall time, identifiers/s and the hub's peak RSS (VmHWM).
#
#   BENCH_BIN=target/release/fraudhub bash scripts/bench-bulk.sh
#
# Environment: BULK_LINES, BENCH_BACKENDS ("sqlite postgres"), BENCH_PG_ADMIN_URL, BENCH_BIN
# (default: build target/release/fraudhub first).
# The member gets a quota, burst and daily subject budget above the run's size, and the sweep
# thresholds are raised: a quarter million random personal numbers put ~250 on each serial,
# which the default detector (200 per serial in 10 minutes) rightly calls a sweep.
set -euo pipefail
cd "$(dirname "$0")/.."

LINES="${BULK_LINES:-1000000}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
PG_ADMIN_URL="${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
BIN="${BENCH_BIN:-}"
log() { echo "bench-bulk: $*" >&2; }

if [ -z "$BIN" ]; then
    cargo build --release --quiet
    BIN="${CARGO_TARGET_DIR:-target}/release/fraudhub"
fi
WORK="$(mktemp -d -t fraudhub-bulk.XXXXXX)"
HUB_PID=""
PG_DB=""
cleanup() {
    if [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; then
        kill -TERM "$HUB_PID" 2>/dev/null || true
        wait "$HUB_PID" 2>/dev/null || true
    fi
    if [ -n "$PG_DB" ]; then
        psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

log "generating $LINES lines"
python3 scripts/bench/bulk_lines.py "$LINES" >"$WORK/in.ndjson"
log "input: $(du -h "$WORK/in.ndjson" | cut -f1)"

echo "| backend | lines | wall time | identifiers/s | hub peak RSS (VmHWM) | peak anonymous RSS | matched | errors |"
echo "|---|---|---|---|---|---|---|---|"
for BACKEND in $BACKENDS; do
    DATA_DIR="$WORK/$BACKEND"
    mkdir -p "$DATA_DIR"
    env=(FRAUDHUB_DATA_DIR="$DATA_DIR" FRAUDHUB_LOG=warn FRAUDHUB_SWEEP_SAME_SERIAL_MAX=100000000
        FRAUDHUB_SWEEP_SAME_BIRTH_DATE_MAX=100000000)
    if [ "$BACKEND" = postgres ]; then
        PG_DB="fh_bulk_$(date +%s)_$$"
        psql "$PG_ADMIN_URL" -qc "CREATE DATABASE \"$PG_DB\"" >/dev/null
        env+=(FRAUDHUB_DATABASE_URL="${PG_ADMIN_URL%/*}/$PG_DB")
    fi
    member=$(env "${env[@]}" "$BIN" member add --name bulk --rate 10000000 --burst 10000000 | awk '/^member/ {print $2}')
    env "${env[@]}" "$BIN" member quota "$member" --daily-subjects 100000000 >/dev/null
    key=$(env "${env[@]}" "$BIN" key issue --member "$member" --scopes matches:read 2>/dev/null)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    env "${env[@]}" "$BIN" serve --listen "127.0.0.1:$port" 2>"$WORK/$BACKEND-hub.log" &
    HUB_PID=$!
    for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    # VmHWM counts the SQLite file pages the hub maps (mmap_size) as resident too; the
    # anonymous part (heap, buffers) is what bulk matching itself holds, sampled here.
    echo 0 >"$WORK/anon"
    (
        max=0
        while kill -0 "$HUB_PID" 2>/dev/null; do
            a=$(awk '/RssAnon/ {print $2}' "/proc/$HUB_PID/status" 2>/dev/null || echo 0)
            [ "${a:-0}" -gt "$max" ] && max=$a && echo "$max" >"$WORK/anon"
            sleep 0.2
        done
    ) &
    SAMPLER=$!
    start=$(date +%s.%N)
    curl -fsS -X POST "http://127.0.0.1:$port/v1/matches/bulk?purpose=account_opening" \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/x-ndjson' \
        --data-binary @"$WORK/in.ndjson" -o "$WORK/out.ndjson"
    end=$(date +%s.%N)
    rss=$(awk '/VmHWM/ {printf "%.0f MB", $2/1024}' "/proc/$HUB_PID/status")
    anon=$(awk '{printf "%.0f MB", $1/1024}' "$WORK/anon")
    summary=$(tail -n1 "$WORK/out.ndjson")
    matched=$(echo "$summary" | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["matched"])')
    errors=$(echo "$summary" | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["errors"])')
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')
    rate=$(awk -v n="$LINES" -v a="$start" -v b="$end" 'BEGIN {printf "%.0f", n / (b - a)}')
    echo "| $BACKEND | $LINES | ${wall} s | $rate | $rss | $anon | $matched | $errors |"
    kill -TERM "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; HUB_PID=""
    wait "$SAMPLER" 2>/dev/null || true
done
