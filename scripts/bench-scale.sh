#!/usr/bin/env bash
# Benchmark: the hub at scale (issue 14 items 3 and 4), on SQLite and on PostgreSQL.
#
#   bash scripts/bench-scale.sh          # run alone: nothing else on the machine
#
# For each backend, in one fresh database:
#   1. audited matches over HTTP on the empty log (wrk, one random valid personal number per
#      request, so each entry lands at a random place in the subject index);
#   2. for each size in BENCH_SCALE_SIZES: the log grown to that size by
#      examples/scale_bench.rs (the hub's own append path, not HTTP; it prints the append
#      rate over the last tenth and the "who checked me" query's latency for 1000 random
#      people), the database's disk size per entry, then the same HTTP matches again;
#   3. BENCH_FLAGS flags loaded by SQL (random 32-byte tokens, as keyed tokens are), then the
#      same HTTP matches with the hub's memory sampled: VmRSS and RssAnon every 0.2 s, VmHWM
#      at the end.
# Prints markdown tables.
#
# Environment:
#   BENCH_SCALE_SIZES     log sizes (default "1000000 10000000")
#   BENCH_FLAGS           flags to load (default 20000000; 0 skips step 3)
#   BENCH_BACKENDS        "sqlite postgres" (default both)
#   BENCH_DURATION        wrk duration per HTTP run (default 10s)
#   BENCH_PG_ADMIN_URL    as in scripts/bench.sh
#   BENCH_SCALE_LOAD      how the log reaches each size: "grow" (default) appends through the
#                         hub's own path (examples/scale_bench.rs) and reports the append rate
#                         over the last tenth; "sql" bulk-loads synthetic entries with
#                         scripts/bench/load-log.sh (random hashes: for sizes such as 100 M,
#                         which "grow" takes hours to reach) and then measures the append
#                         rate by appending BENCH_APPEND_PROBE entries (default 200000)
#                         through the hub's path, on the empty log too
#   BENCH_LOCK            a lock file (say /tmp/cargo-build.lock) held with flock during each
#                         measurement but not during loads, so that builds taking the same lock
#                         wait for measurements and run during loads
#   BENCH_BIN             hub binary (default: built with cargo build --release, together
#                         with the scale_bench example)
#   BENCH_DIR             where the SQLite database goes (default: a temporary directory
#                         under /var/tmp: 10 M entries take several GB)
#   BENCH_PG_PREWARM      set (to 1) to read the subject index into PostgreSQL's buffer pool
#                         (pg_prewarm) before each append probe, as a server that has been
#                         running would hold it; needs a shared_buffers larger than the index
#   BENCH_PG_SETTINGS     server settings for the whole run, such as
#                         "shared_buffers=6GB max_wal_size=4GB": set with ALTER SYSTEM on the
#                         local cluster, which is restarted (pg_ctlcluster) before the run and
#                         reset and restarted again when the script exits, however it exits
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES="${BENCH_SCALE_SIZES:-1000000 10000000}"
FLAGS="${BENCH_FLAGS:-20000000}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
DURATION="${BENCH_DURATION:-10s}"
LOAD="${BENCH_SCALE_LOAD:-grow}"
PROBE="${BENCH_APPEND_PROBE:-200000}"
case "$LOAD" in grow | sql) ;; *)
    echo "error: BENCH_SCALE_LOAD must be grow or sql" >&2
    exit 2
    ;;
esac
PG_ADMIN_URL="${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="${BENCH_BIN:-}"
if [ -z "$BIN" ]; then
    cargo build --release --quiet --bin fraudhub --example scale_bench
    BIN="$TARGET/release/fraudhub"
fi
GROW="$(dirname "$BIN")/examples/scale_bench"
[ -x "$GROW" ] || GROW="$TARGET/release/examples/scale_bench"
[ -x "$GROW" ] || {
    echo "error: $GROW is missing (cargo build --release --example scale_bench)" >&2
    exit 1
}

log() { echo "bench-scale: $*" >&2; }
for c in wrk curl sqlite3 psql python3; do
    command -v "$c" >/dev/null || {
        echo "error: $c is missing (scripts/bench.sh installs wrk, sqlite3 and postgresql-client)" >&2
        exit 1
    }
done

WORK="$(mktemp -d "${BENCH_DIR:-/var/tmp}/fraudhub-scale.XXXXXX")"
HUB_PID=""
PG_DB=""
PG_SET=()
read -ra PG_SET <<<"${BENCH_PG_SETTINGS:-}"
# The local cluster, restarted so that settings such as shared_buffers take effect.
restart_pg() {
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main restart
    for _ in $(seq 1 100); do
        psql "$PG_ADMIN_URL" -qAtc "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "error: PostgreSQL did not come back after a restart" >&2
    return 1
}
cleanup() {
    if [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; then
        kill -TERM "$HUB_PID" 2>/dev/null || true
        wait "$HUB_PID" 2>/dev/null || true
    fi
    if [ -n "$PG_DB" ]; then
        psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    if [ "${#PG_SET[@]}" -gt 0 ]; then
        for setting in "${PG_SET[@]}"; do
            psql "$PG_ADMIN_URL" -qc "ALTER SYSTEM RESET ${setting%%=*}" >/dev/null || true
        done
        restart_pg || true
    fi
}
trap cleanup EXIT

if [ "${#PG_SET[@]}" -gt 0 ]; then
    for setting in "${PG_SET[@]}"; do
        case "$setting" in *=*) ;; *)
            echo "error: BENCH_PG_SETTINGS takes name=value pairs, not $setting" >&2
            exit 2
            ;;
        esac
        psql "$PG_ADMIN_URL" -qc "ALTER SYSTEM SET ${setting%%=*} = '${setting#*=}'" >/dev/null
    done
    restart_pg
    log "PostgreSQL restarted with $(psql "$PG_ADMIN_URL" -Atc "SELECT string_agg(name || '=' || current_setting(name), ' ') FROM pg_settings WHERE name IN ($(printf "'%s'," "${PG_SET[@]%%=*}" | sed 's/,$//'))")"
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
to_ms() {
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n = n * 1000; printf "%.2f", n }'
}

# Disk bytes the log takes: the whole SQLite file (and its WAL), or the log's tables and
# their indexes on PostgreSQL.
disk_bytes() {
    case "$BACKEND" in
    sqlite) du -cb "$DATA_DIR"/fraudhub.db* | awk 'END {print $1}' ;;
    postgres) psql "$DB_URL" -Atc "SELECT pg_total_relation_size('audit_log') + pg_total_relation_size('tlog_nodes')" ;;
    esac
}

sql() {
    case "$BACKEND" in
    sqlite) sqlite3 -cmd ".timeout 5000" "$DATA_DIR/fraudhub.db" "$1" ;;
    postgres) psql "$DB_URL" -qAtc "$1" ;;
    esac
}

start_hub() {
    PORT=$(free_port)
    env "${ENV[@]}" "$BIN" serve --listen "127.0.0.1:$PORT" 2>>"$WORK/$BACKEND-hub.log" &
    HUB_PID=$!
    for _ in $(seq 1 300); do
        curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "error: the hub did not become ready" >&2
    exit 1
}

stop_hub() {
    kill -TERM "$HUB_PID"
    wait "$HUB_PID" || {
        echo "error: the hub did not exit cleanly" >&2
        exit 1
    }
    HUB_PID=""
}

# HTTP matches against the running hub; sets RPS P50 P99 NON2XX
matches() {
    local out="$WORK/$BACKEND-$1.txt"
    BENCH_KEY="$KEY" wrk -t1 -c64 -d"$DURATION" --latency -s scripts/bench/match_random.lua "http://127.0.0.1:$PORT/v1/matches" >"$out"
    RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
    P50=$(to_ms "$(awk '/^ +50%/ {print $2}' "$out")")
    P99=$(to_ms "$(awk '/^ +99%/ {print $2}' "$out")")
    NON2XX=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
    NON2XX="${NON2XX:-0}"
    log "$BACKEND $1: $RPS matches/s, p50 $P50 ms, p99 $P99 ms, $NON2XX non-2xx"
    # A refused or broken load (wrk's script not found, a limit left on) answers fast and
    # would read as a high match rate.
    if [ "$NON2XX" != 0 ] || ! grep -q '^Requests/sec:' "$out"; then
        cat "$out" >&2
        echo "error: $BACKEND $1: $NON2XX answers were not 2xx" >&2
        exit 1
    fi
}

# The append rate through the hub's path on a log of `$1` entries: BENCH_APPEND_PROBE more
# entries, then the "who checked me" timings; sets scale_bench's key=value pairs.
probe() {
    local line
    if [ "$BACKEND" = postgres ] && [ -n "${BENCH_PG_PREWARM:-}" ]; then
        log "$BACKEND: subject index $(sql "SELECT pg_size_pretty(pg_relation_size('audit_log_subject'))"), $(sql "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pg_prewarm; SELECT pg_prewarm('audit_log_subject')") pages read into shared buffers"
    fi
    measuring
    line=$("$GROW" --database-url "$DB_URL" --grow-to $(($1 + PROBE)))
    measured
    log "$BACKEND: $line"
    # shellcheck disable=SC2046
    eval $(echo "$line" | tr ' ' '\n' | grep '=')
}

# Measurements run under BENCH_LOCK, when it is set.
measuring() {
    [ -z "${BENCH_LOCK:-}" ] && return 0
    exec 9>"$BENCH_LOCK"
    flock 9
}
measured() {
    [ -z "${BENCH_LOCK:-}" ] && return 0
    flock -u 9
}

LOG_ROWS=()
FLAG_ROWS=()

bench_backend() {
    BACKEND="$1"
    DATA_DIR="$WORK/$BACKEND"
    mkdir -p "$DATA_DIR"
    chmod 700 "$DATA_DIR"
    # Random personal numbers from one member: lift the per-address limit, the daily
    # distinct-subject budget and the sweep detector, which would rightly refuse this load.
    ENV=(FRAUDHUB_DATA_DIR="$DATA_DIR" FRAUDHUB_IP_RATE_PER_SECOND=100000000 FRAUDHUB_IP_BURST=100000000
        FRAUDHUB_DEFAULT_DAILY_SUBJECT_BUDGET=1000000000 FRAUDHUB_SWEEP_SAME_SERIAL_MAX=1000000000
        FRAUDHUB_SWEEP_SAME_BIRTH_DATE_MAX=1000000000)
    case "$BACKEND" in
    sqlite) DB_URL="sqlite://$DATA_DIR/fraudhub.db?mode=rwc" ;;
    postgres)
        PG_DB="fh_scale_$(date +%s)_$$"
        psql "$PG_ADMIN_URL" -qc "CREATE DATABASE \"$PG_DB\"" >/dev/null
        DB_URL="${PG_ADMIN_URL%/*}/$PG_DB"
        ENV+=(FRAUDHUB_DATABASE_URL="$DB_URL")
        ;;
    esac
    local member
    member=$(env "${ENV[@]}" "$BIN" member add --name scale --rate 100000000 --burst 100000000 | awk '/^member/ {print $2}')
    KEY=$(env "${ENV[@]}" "$BIN" key issue --member "$member" --scopes matches:read 2>/dev/null)

    measuring
    start_hub
    matches "empty"
    local empty_rps="$RPS"
    stop_hub
    measured
    local base
    base=$(sql "SELECT COUNT(*) FROM audit_log")
    local size line bytes rate
    if [ "$LOAD" = sql ]; then
        probe "$base"
        LOG_ROWS+=("| $BACKEND | $base (empty + the run's own) | $append_overall_per_s | $who_p50_ms | $who_p99_ms | $who_max_ms | $RPS | $P50 | $P99 | – |")
    else
        LOG_ROWS+=("| $BACKEND | $base (empty + the run's own) | – | – | – | – | $RPS | $P50 | $P99 | – |")
    fi

    for size in $SIZES; do
        if [ "$LOAD" = sql ]; then
            log "$BACKEND: loading the log to $size entries by SQL"
            case "$BACKEND" in
            sqlite) bash scripts/bench/load-log.sh sqlite "$DATA_DIR/fraudhub.db" "$size" ;;
            postgres)
                bash scripts/bench/load-log.sh postgres "$DB_URL" "$size"
                # The load leaves gigabytes of dirty buffers; writing them out is the
                # load's cost, not the probe's (the empty log's probe has none to write).
                sql "CHECKPOINT"
                ;;
            esac
            probe "$size"
            rate="$append_overall_per_s"
        else
            log "$BACKEND: growing the log to $size entries"
            measuring
            line=$("$GROW" --database-url "$DB_URL" --grow-to "$size")
            measured
            log "$BACKEND: $line"
            # shellcheck disable=SC2046
            local $(echo "$line" | tr ' ' '\n' | grep '=')
            rate="$append_last_tenth_per_s"
        fi
        bytes=$(disk_bytes)
        measuring
        start_hub
        matches "at-$size"
        stop_hub
        measured
        LOG_ROWS+=("| $BACKEND | $size | $rate | $who_p50_ms | $who_p99_ms | $who_max_ms | $RPS ($(awk -v a="$RPS" -v b="$empty_rps" 'BEGIN {printf "%+.0f%%", (a / b - 1) * 100}')) | $P50 | $P99 | $(awk -v b="$bytes" -v n="$size" 'BEGIN {printf "%.0f", b / n}') |")
    done

    if [ "$FLAGS" -gt 0 ]; then
        local before_rps now expires
        measuring
        start_hub
        matches "before-flags"
        before_rps="$RPS"
        stop_hub
        measured
        log "$BACKEND: loading $FLAGS flags"
        now=$(($(date +%s) * 1000))
        expires=$((now + 365 * 86400000))
        case "$BACKEND" in
        sqlite)
            sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $FLAGS)
                 INSERT INTO flags (id, member_id, subject_token, key_version, kind, created_at, expires_at)
                 SELECT 'scale-' || i, NULL, randomblob(32), 1, 'consumer', $now, $expires FROM n;" ;;
        postgres)
            sql "INSERT INTO flags (id, member_id, subject_token, key_version, kind, created_at, expires_at)
                 SELECT 'scale-' || i, NULL, decode(md5(i::text) || md5((-i)::text), 'hex'), 1, 'consumer', $now, $expires
                 FROM generate_series(1, $FLAGS) AS i; ANALYZE flags;" ;;
        esac
        log "$BACKEND: $(sql "SELECT COUNT(*) FROM flags") flags"
        measuring
        start_hub
        local rss_log="$WORK/$BACKEND-rss.txt"
        (while kill -0 "$HUB_PID" 2>/dev/null; do
            awk '/^(VmRSS|RssAnon):/ {printf "%s %s ", $1, $2} END {print ""}' "/proc/$HUB_PID/status" 2>/dev/null
            sleep 0.2
        done) >"$rss_log" &
        local sampler=$!
        matches "with-flags"
        local hwm
        hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$HUB_PID/status")
        stop_hub
        wait "$sampler" 2>/dev/null || true
        measured
        local peak_rss peak_anon
        peak_rss=$(awk '{for (i = 1; i < NF; i++) if ($i == "VmRSS:" && $(i + 1) > m) m = $(i + 1)} END {printf "%.0f", m / 1024}' "$rss_log")
        peak_anon=$(awk '{for (i = 1; i < NF; i++) if ($i == "RssAnon:" && $(i + 1) > m) m = $(i + 1)} END {printf "%.0f", m / 1024}' "$rss_log")
        FLAG_ROWS+=("| $BACKEND | $FLAGS | $before_rps | $RPS ($(awk -v a="$RPS" -v b="$before_rps" 'BEGIN {printf "%+.0f%%", (a / b - 1) * 100}')) | $P99 | $peak_rss MB | $peak_anon MB | $((hwm / 1024)) MB |")
    fi

    if [ -n "$PG_DB" ]; then
        psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
        PG_DB=""
    fi
    rm -rf "$DATA_DIR"
}

for b in $BACKENDS; do bench_backend "$b"; done

echo
echo "$BIN ($("$BIN" --version 2>/dev/null || echo unknown version)); wrk -t1 -c64 -d$DURATION, one random personal number per match; hub default logging; $(nproc) cores shared by hub, wrk and PostgreSQL${BENCH_PG_SETTINGS:+; PostgreSQL with $BENCH_PG_SETTINGS}"
echo
if [ "$LOAD" = sql ]; then
    APPEND_HEAD="append entries/s ($PROBE appended)"
else
    APPEND_HEAD="append entries/s (last tenth)"
fi
echo "| backend | log size (entries) | $APPEND_HEAD | who checked me p50 ms | p99 ms | max ms | HTTP matches/s (vs empty) | match p50 ms | match p99 ms | disk bytes/entry |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${LOG_ROWS[@]}"
if [ "${#FLAG_ROWS[@]}" -gt 0 ]; then
    echo
    echo "| backend | flags loaded | matches/s before | matches/s with them | match p99 ms | peak VmRSS | peak RssAnon | VmHWM |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${FLAG_ROWS[@]}"
fi
