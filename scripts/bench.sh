#!/usr/bin/env bash
# Benchmark: single-identifier POST /v1/matches next to GET /healthz, measured the same way
# in the same run, on SQLite and on PostgreSQL; latency at fixed offered rates (oha, open
# loop, corrected for coordinated omission); identifiers/s for 1, 10 and 100 identifiers per
# request; and CrowdSec's LAPI decision lookup measured the same way in the same run.
# Prints markdown tables. The audit log and flag table at scale: scripts/bench-scale.sh.
#
#   flock /tmp/cargo-build.lock bash scripts/bench.sh      # on a shared build machine
#   bash scripts/bench.sh                                  # otherwise
#
# Environment:
#   BENCH_DURATION        wrk duration per run (default 15s)
#   BENCH_CONNECTIONS     wrk connections (default 64)
#   BENCH_THREADS         wrk threads (default 1: wrk shares the hub's two cores)
#   BENCH_BACKENDS        "sqlite postgres" (default both)
#   BENCH_PG_ADMIN_URL    PostgreSQL admin URL (default postgres://postgres@127.0.0.1:5432/test);
#                         a fresh database is created there and dropped afterwards.
#   BENCH_BIN             hub binary to benchmark (default: target/release/fraudhub, built first
#                         with cargo build --release); when set, nothing is built.
#   BENCH_BATCHES         extra runs with this many identifiers per match request (default
#                         "10 100"); printed as identifiers/s next to the 1-identifier run
#   BENCH_RATES           fixed offered rates for oha -q RATE --latency-correction (default
#                         "5000 10000"); empty skips them. Each row also gives what the
#                         hub's audit writer did meanwhile (its /metrics, on a free port):
#                         group commits/s, entries per commit, mean commit ms, busy share,
#                         and group commits that took over 25 ms (a stalled disk sync)
#   BENCH_FLOOR           1 (default) also measures, at each of BENCH_RATES, nginx answering a
#                         static page (scripts/bench/floor.sh installs and starts it): the
#                         floor of the fixed-rate latency on this machine with this load
#                         generator; 0 skips it. Each backend's /healthz is measured at the
#                         same rates either way (the hub without the audit path)
#   BENCH_CROWDSEC        1 (default) also measures CrowdSec's LAPI decision lookup
#                         (scripts/bench/crowdsec.sh installs and starts it); 0 skips it
#   BENCH_INSTRUCTIONS    1 (default) also counts instructions per request with callgrind
#                         (scripts/bench/instructions.sh, SQLite): a figure that does not move
#                         with the machine's noise, for comparing builds; 0 skips it
#   BENCH_HUB_LOG         value of FRAUDHUB_LOG for the hub; default unset, i.e. the hub's
#                         default logging (info: one access-log line per request)
#   BENCH_KEEP            1 keeps the work directory (hub logs, SQLite database, wrk and oha
#                         output) and prints its path; a failed run always keeps it
#
# After each SQLite run the database gets PRAGMA integrity_check; anything but "ok" fails
# the run (a benchmark is also the heaviest concurrent write load the hub sees here).
#
# This script does not take the build lock itself: it calls cargo directly.
# Its own settings avoid the FRAUDHUB_ prefix on purpose: the hub reads every FRAUDHUB_*
# variable as configuration.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${BENCH_DURATION:-15s}"
CONNS="${BENCH_CONNECTIONS:-64}"
THREADS="${BENCH_THREADS:-1}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
PG_ADMIN_URL="${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
LUA="scripts/bench/match.lua"
BIN="${BENCH_BIN:-}"
PN="19900101-0017" # a test personal number

log() { echo "bench: $*" >&2; }

install_if_missing() { # command package
    command -v "$1" >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing $2"
        apt-get update -qq >/dev/null && apt-get install -y -qq "$2" >/dev/null
    else
        echo "error: $1 is missing (install the $2 package)" >&2
        exit 1
    fi
}

install_if_missing wrk wrk
install_if_missing curl curl
install_if_missing python3 python3
RATES="${BENCH_RATES-5000 10000}"
if [ -n "$RATES" ] && ! command -v oha >/dev/null; then
    log "installing oha (cargo install oha)"
    cargo install --quiet --locked oha
fi
case " $BACKENDS " in *" sqlite "*) install_if_missing sqlite3 sqlite3 ;; esac
case " $BACKENDS " in *" postgres "*) install_if_missing psql postgresql-client ;; esac

if [ -z "$BIN" ]; then
    log "building the release binary"
    cargo build --release --quiet
    BIN="${CARGO_TARGET_DIR:-target}/release/fraudhub"
fi

WORK="$(mktemp -d -t fraudhub-bench.XXXXXX)"

# The hub's default logging unless BENCH_HUB_LOG says otherwise.
HUB_LOG="${BENCH_HUB_LOG-}"
if [ -n "$HUB_LOG" ]; then
    LOG_NOTE="FRAUDHUB_LOG=$HUB_LOG"
else
    LOG_NOTE="FRAUDHUB_LOG unset (default info logging, one line per request)"
fi
HUB_PID=""
PG_DB=""
cleanup() {
    local rc=$?
    if [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; then
        kill -TERM "$HUB_PID" 2>/dev/null || true
        wait "$HUB_PID" 2>/dev/null || true
    fi
    if [ -n "$PG_DB" ]; then
        psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [ -n "${CROWDSEC_PID:-}" ]; then crowdsec_stop || true; fi
    if [ -n "${FLOOR_PID:-}" ]; then floor_stop || true; fi
    if [ "$rc" -ne 0 ] || [ "${BENCH_KEEP:-0}" = 1 ]; then
        log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Total CPU ticks (utime+stime) of a list of pids; missing pids count as 0.
cpu_ticks() {
    local total=0 pid t
    for pid in "$@"; do
        t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo "$total"
}
pg_pids() { pgrep -x postgres 2>/dev/null | tr '\n' ' ' || true; }
# "busy idle" jiffies, whole machine
machine_ticks() { awk '/^cpu /{busy=$2+$3+$4+$7+$8; idle=$5+$6; print busy, idle}' /proc/stat; }

# Converts a wrk latency ("812.00us", "1.23ms", "1.01s") to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n = n * 60000; else if (v ~ /s$/) n = n * 1000
        printf "%.3f", n
    }'
}

# run_wrk NAME ARGS... : runs wrk, keeps its output in $WORK/NAME.txt, sets RPS P50 P99 TOTAL NON2XX ERRORS
run_wrk() {
    local name="$1"
    shift
    local out="$WORK/$name.txt"
    local hub_before pg_before m_before m_after hub_after pg_after pgp
    pgp="$(pg_pids)"
    hub_before=$(cpu_ticks "$HUB_PID")
    # shellcheck disable=SC2086
    pg_before=$(cpu_ticks $pgp)
    m_before=$(machine_ticks)
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" >"$out" 2>&1
    m_after=$(machine_ticks)
    hub_after=$(cpu_ticks "$HUB_PID")
    pgp="$pgp $(pg_pids)"
    # shellcheck disable=SC2086
    pg_after=$(cpu_ticks $(echo $pgp | tr ' ' '\n' | sort -u))
    RPS=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    P50=$(to_ms "$(awk '/^ +50%/ {print $2}' "$out")")
    P99=$(to_ms "$(awk '/^ +99%/ {print $2}' "$out")")
    TOTAL=$(awk '/requests in/ {print $1}' "$out")
    NON2XX=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
    NON2XX="${NON2XX:-0}"
    ERRORS=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")
    ERRORS="${ERRORS:-0}"
    # CPU use, in cores (100% = one core), over the wrk run
    local secs busy idle busy0 idle0 hz
    hz=$(getconf CLK_TCK)
    secs=$(awk '/requests in/ {sub(/s,?$/, "", $4); print $4 + 0}' "$out")
    read -r busy0 idle0 <<<"$m_before"
    read -r busy idle <<<"$m_after"
    HUB_CPU=$(awk -v a="$hub_before" -v b="$hub_after" -v s="$secs" -v hz="$hz" 'BEGIN {printf "%.0f", (b - a) / hz / s * 100}')
    PG_CPU=$(awk -v a="$pg_before" -v b="$pg_after" -v s="$secs" -v hz="$hz" 'BEGIN {printf "%.0f", (b - a) / hz / s * 100}')
    MACHINE_BUSY=$(awk -v b0="$busy0" -v i0="$idle0" -v b="$busy" -v i="$idle" 'BEGIN {printf "%.0f", (b - b0) / ((b - b0) + (i - i0)) * 100}')
    # CPU time of the hub and PostgreSQL per answered request, in µs: what a request costs
    # whether or not the run was CPU-bound, and less moved by the machine's noise than
    # requests/s (docs/benchmarks.md, step 12).
    CPU_US=$(awk -v h="$((hub_after - hub_before))" -v p="$((pg_after - pg_before))" -v hz="$hz" -v n="$TOTAL" 'BEGIN {if (n > 0) printf "%.0f", (h + p) / hz / n * 1000000; else print "–"}')
    log "$name: $RPS req/s, p50 ${P50} ms, p99 ${P99} ms, $TOTAL requests, $NON2XX non-2xx, $ERRORS socket errors; CPU hub ${HUB_CPU}% postgres ${PG_CPU}% machine busy ${MACHINE_BUSY}%, ${CPU_US} µs CPU per request"
}

audit_matches() { # count of match audit entries
    case "$BACKEND" in
    sqlite) sqlite3 "$DATA_DIR/fraudhub.db" "PRAGMA busy_timeout=5000; SELECT COUNT(*) FROM audit_log WHERE action = 'match';" | tail -n1 ;;
    postgres) psql "$DB_URL" -Atc "SELECT COUNT(*) FROM audit_log WHERE action = 'match'" ;;
    esac
}

ROWS=()
CHECKS=()
BATCH_ROWS=()
RATE_ROWS=()
WRK_WRITER_ROWS=()

match_body() { echo "{\"purpose\":\"account_opening\",\"identifiers\":[{\"kind\":\"se_personal_number\",\"value\":\"$PN\"}]}"; }

# run_oha NAME RATE ARGS... : oha for DURATION at a fixed offered RATE per second, open loop,
# latency measured from when each request was due (--latency-correction), so a stall
# counts against every request it delayed. Sets O_RPS O_P50 O_P99 O_P999 O_MAX O_NON200.
run_oha() {
    local name="$1" rate="$2"
    shift 2
    local out="$WORK/$name.json"
    oha -z "$DURATION" -c "$CONNS" -q "$rate" --latency-correction --no-tui --output-format json "$@" >"$out"
    read -r O_RPS O_P50 O_P99 O_P999 O_MAX O_NON200 O_SECS < <(python3 - "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s, p = d["summary"], d["latencyPercentiles"]
codes = d.get("statusCodeDistribution", {})
# Requests still in flight when the duration ends are cut off by oha ("aborted due to
# deadline"); they are not failures of the server.
errors = {e: n for e, n in d.get("errorDistribution", {}).items() if "deadline" not in e}
non200 = sum(n for c, n in codes.items() if c != "200") + sum(errors.values())
ms = lambda v: "%.2f" % (v * 1000)
print("%.0f" % s["requestsPerSec"], ms(p["p50"]), ms(p["p99"]), ms(p["p99.9"]), ms(s["slowest"]), non200, s["total"])
PY
    )
    log "$name: offered $rate/s, answered $O_RPS/s, p50 $O_P50 ms, p99 $O_P99 ms, p99.9 $O_P999 ms, max $O_MAX ms, $O_NON200 not 200"
}

# The audit writer's totals from the hub's /metrics: group commits, seconds spent in them,
# entries committed, and commits that took more than 25 ms (a disk sync held that long
# holds every request behind it; one such commit can set a run's p99).
writer_totals() {
    local metrics
    metrics=$(curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics") || {
        echo "error: the hub's /metrics on port $METRICS_PORT did not answer" >&2
        return 1
    }
    echo "$metrics" | awk '
        /^fraudhub_audit_commit_duration_seconds_count / {c = $2}
        /^fraudhub_audit_commit_duration_seconds_sum / {s = $2}
        /^fraudhub_audit_batch_size_sum / {e = $2}
        /^fraudhub_audit_commit_duration_seconds_bucket\{le="0.025"\} / {q = $2}
        END {print c + 0, s + 0, e + 0, c - q}'
}

# What the writer did between two writer_totals over SECS seconds, as table cells: group
# commits per second, entries per commit, mean commit ms, the share of the time the
# writer was committing (near 100 %, requests queue behind it), and commits over 25 ms.
writer_cells() {
    awk -v a="$1" -v b="$2" -v secs="$3" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        c = y[1] - x[1]; t = y[2] - x[2]; e = y[3] - x[3]; slow = y[4] - x[4]
        if (c <= 0 || secs <= 0) { print "– | – | – | – | –"; exit }
        printf "%.0f | %.1f | %.2f | %.0f%% | %d", c / secs, e / c, t / c * 1000, t / secs * 100, slow
    }'
}

bench_backend() {
    BACKEND="$1"
    DATA_DIR="$WORK/$BACKEND"
    mkdir -p "$DATA_DIR"
    # The load generator is one client address: lift the per-client limit (its default of
    # 1000/s is a flood guard, not what is being measured).
    METRICS_PORT=$(free_port)
    local env=(FRAUDHUB_DATA_DIR="$DATA_DIR" FRAUDHUB_IP_RATE_PER_SECOND=100000000 FRAUDHUB_IP_BURST=100000000
        FRAUDHUB_METRICS_LISTEN="127.0.0.1:$METRICS_PORT")
    if [ -n "$HUB_LOG" ]; then env+=(FRAUDHUB_LOG="$HUB_LOG"); fi
    case "$BACKEND" in
    sqlite)
        DB_URL=""
        ;;
    postgres)
        pg_isready -q -d "$PG_ADMIN_URL" || {
            echo "error: PostgreSQL is unreachable at $PG_ADMIN_URL" >&2
            exit 1
        }
        PG_DB="fh_bench_$(date +%s)_$$"
        psql "$PG_ADMIN_URL" -qc "CREATE DATABASE \"$PG_DB\"" >/dev/null
        DB_URL="${PG_ADMIN_URL%/*}/$PG_DB"
        env+=(FRAUDHUB_DATABASE_URL="$DB_URL")
        ;;
    *)
        echo "error: unknown backend $BACKEND" >&2
        exit 1
        ;;
    esac

    local member key port base
    member=$(env "${env[@]}" "$BIN" member add --name bench --rate 1000000 --burst 1000000 | awk '/^member/ {print $2}')
    key=$(env "${env[@]}" "$BIN" key issue --member "$member" --scopes flags:write,matches:read 2>/dev/null)
    port=$(free_port)
    base="http://127.0.0.1:$port"
    env "${env[@]}" "$BIN" serve --listen "127.0.0.1:$port" 2>"$WORK/$BACKEND-hub.log" &
    HUB_PID=$!
    for _ in $(seq 1 100); do
        curl -fsS "$base/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fsS "$base/readyz" >/dev/null

    local status
    status=$(curl -s -o "$WORK/flag.json" -w '%{http_code}' -X POST "$base/v1/flags" \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d "{\"identifier\":{\"kind\":\"se_personal_number\",\"value\":\"$PN\"},\"kind\":\"identity_theft\",\"consent_reference\":\"bench-1\"}")
    [ "$status" = 201 ] || {
        echo "error: placing the flag answered $status: $(cat "$WORK/flag.json")" >&2
        exit 1
    }
    # One match by hand: the answer must say flagged.
    curl -fsS -X POST "$base/v1/matches" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d "{\"purpose\":\"account_opening\",\"identifiers\":[{\"kind\":\"se_personal_number\",\"value\":\"$PN\"}]}" |
        grep -q '"flagged":true' || {
        echo "error: the bench match did not come back flagged" >&2
        exit 1
    }

    log "$BACKEND: GET /healthz"
    run_wrk "$BACKEND-healthz" "$base/healthz"
    local h_rps="$RPS" h_p50="$P50" h_p99="$P99"
    local h_cpu="$CPU_US"
    ROWS+=("| $BACKEND | GET /healthz | $h_rps | $h_p50 | $h_p99 | $NON2XX | $ERRORS | $HUB_CPU% | $PG_CPU% | $MACHINE_BUSY% | $CPU_US | | |")

    local batch
    for batch in ${BENCH_BATCHES-10 100}; do
        sleep 1
        log "$BACKEND: POST /v1/matches ($batch identifiers)"
        BENCH_KEY="$key" BENCH_BATCH="$batch" run_wrk "$BACKEND-batch-$batch" -s scripts/bench/match_batch.lua "$base/v1/matches"
        BATCH_ROWS+=("| $BACKEND | $batch | $RPS | $(awk -v r="$RPS" -v b="$batch" 'BEGIN {printf "%.0f", r * b}') | $P50 | $P99 | $NON2XX | $HUB_CPU% | $PG_CPU% |")
    done

    local rate
    for rate in $RATES; do
        sleep 1
        log "$BACKEND: POST /v1/matches at a fixed $rate/s"
        local w0 w1
        w0=$(writer_totals)
        run_oha "$BACKEND-rate-$rate" "$rate" -m POST -H "Authorization: Bearer $key" \
            -H 'Content-Type: application/json' -d "$(match_body)" "$base/v1/matches"
        w1=$(writer_totals)
        RATE_ROWS+=("| $BACKEND | POST /v1/matches | $rate | $O_RPS | $O_P50 | $O_P99 | $O_P999 | $O_MAX | $O_NON200 | $(writer_cells "$w0" "$w1" "$O_SECS") |")
        # The same hub without the audit path: what of the tail is not the match's.
        sleep 1
        run_oha "$BACKEND-healthz-rate-$rate" "$rate" "$base/healthz"
        RATE_ROWS+=("| $BACKEND | GET /healthz (no audit) | $rate | $O_RPS | $O_P50 | $O_P99 | $O_P999 | $O_MAX | $O_NON200 | | | | | |")
    done

    sleep 1
    local before after ok diff
    before=$(audit_matches)
    log "$BACKEND: POST /v1/matches (1 identifier)"
    local w_start w_end
    w_start=$(writer_totals)
    BENCH_KEY="$key" run_wrk "$BACKEND-matches" -s "$LUA" "$base/v1/matches"
    w_end=$(writer_totals)
    WRK_WRITER_ROWS+=("| $BACKEND | $(writer_cells "$w_start" "$w_end" "${DURATION%s}") |")
    # Let requests that were in flight when wrk stopped finish, then stop the hub cleanly
    # (SIGTERM drains and flushes the audit writer) before counting.
    sleep 1
    kill -TERM "$HUB_PID"
    wait "$HUB_PID" || {
        echo "error: the hub did not exit cleanly" >&2
        exit 1
    }
    HUB_PID=""
    if [ "$BACKEND" = sqlite ]; then
        local integrity
        integrity=$(sqlite3 "$DATA_DIR/fraudhub.db" "PRAGMA integrity_check;" | head -n 5)
        log "sqlite: PRAGMA integrity_check: $integrity"
        [ "$integrity" = ok ] || {
            echo "error: the SQLite database failed its integrity check" >&2
            exit 1
        }
    fi
    after=$(audit_matches)
    ok=$((TOTAL - NON2XX))
    diff=$((after - before - ok))
    local ratio
    ratio=$(awk -v m="$RPS" -v h="$h_rps" 'BEGIN {printf "%.1f%%", m / h * 100}')
    local cpu_ratio
    cpu_ratio=$(awk -v m="$CPU_US" -v h="$h_cpu" 'BEGIN {if (m > 0) printf "%.1f%%", h / m * 100; else print "–"}')
    ROWS+=("| $BACKEND | POST /v1/matches | $RPS | $P50 | $P99 | $NON2XX | $ERRORS | $HUB_CPU% | $PG_CPU% | $MACHINE_BUSY% | $CPU_US | $ratio | $cpu_ratio |")
    BATCH_ROWS+=("| $BACKEND | 1 | $RPS | $(awk -v r="$RPS" 'BEGIN {printf "%.0f", r}') | $P50 | $P99 | $NON2XX | $HUB_CPU% | $PG_CPU% |")
    local verdict
    if [ "$diff" -eq 0 ]; then
        verdict="equal"
    elif [ "$diff" -gt 0 ] && [ "$diff" -le "$CONNS" ]; then
        verdict="$diff more entries than answers wrk counted: requests still in flight when wrk stopped (at most one per connection)"
    else
        verdict="MISMATCH ($diff)"
    fi
    CHECKS+=("| $BACKEND | $ok | $((after - before)) | $verdict |")

    if [ -n "$PG_DB" ]; then
        psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
        PG_DB=""
    fi
    case "$verdict" in MISMATCH*)
        echo "error: audit entries do not match successful requests on $BACKEND" >&2
        exit 1
        ;;
    esac
}

for b in $BACKENDS; do bench_backend "$b"; done

# CrowdSec's LAPI answering a bouncer's decision lookup for one banned address: the nearest
# open-source service that answers "is this identifier known bad?" over HTTP. No audit, no
# durability per lookup; measured with the same wrk and oha settings, in the same run.
if [ "${BENCH_CROWDSEC:-1}" = 1 ]; then
    # shellcheck source=scripts/bench/crowdsec.sh
    source scripts/bench/crowdsec.sh
    if crowdsec_start "$WORK/crowdsec"; then
        HUB_PID="$CROWDSEC_PID" # run_wrk samples the CPU of $HUB_PID
        BACKEND=crowdsec
        log "crowdsec $CROWDSEC_VERSION: GET /v1/decisions?ip=…"
        run_wrk crowdsec-decisions -H "X-Api-Key: $CROWDSEC_KEY" -H "User-Agent: $CROWDSEC_USER_AGENT" "$CROWDSEC_URL"
        ROWS+=("| CrowdSec $CROWDSEC_VERSION LAPI | GET /v1/decisions?ip= (no audit) | $RPS | $P50 | $P99 | $NON2XX | $ERRORS | $HUB_CPU% | | $MACHINE_BUSY% | $CPU_US | | |")
        for rate in $RATES; do
            sleep 1
            run_oha "crowdsec-rate-$rate" "$rate" -H "X-Api-Key: $CROWDSEC_KEY" -H "User-Agent: $CROWDSEC_USER_AGENT" "$CROWDSEC_URL"
            RATE_ROWS+=("| CrowdSec LAPI | GET /v1/decisions?ip= | $rate | $O_RPS | $O_P50 | $O_P99 | $O_P999 | $O_MAX | $O_NON200 | | | | | |")
        done
        HUB_PID=""
        crowdsec_stop || true
        CROWDSEC_PID=""
    else
        log "CrowdSec's LAPI did not start; its rows are missing"
    fi
fi

# The machine's floor for the fixed-rate runs: a static page from nginx, the same oha command.
if [ "${BENCH_FLOOR:-1}" = 1 ] && [ -n "$RATES" ]; then
    # shellcheck source=scripts/bench/floor.sh
    source scripts/bench/floor.sh
    if floor_start "$WORK/floor"; then
        for rate in $RATES; do
            sleep 1
            log "nginx $FLOOR_VERSION (floor): GET / at a fixed $rate/s"
            run_oha "floor-rate-$rate" "$rate" "$FLOOR_URL"
            RATE_ROWS+=("| nginx $FLOOR_VERSION (the floor) | GET / (static) | $rate | $O_RPS | $O_P50 | $O_P99 | $O_P999 | $O_MAX | $O_NON200 | | | | | |")
        done
        floor_stop || true
    else
        log "nginx did not start; the floor rows are missing"
    fi
fi

echo
echo "$BIN ($("$BIN" --version 2>/dev/null || echo unknown version)); wrk -t$THREADS -c$CONNS -d$DURATION --latency; hub and wrk on the same $(nproc)-core machine; $LOG_NOTE; latencies in ms"
echo
echo "| backend | endpoint | requests/s | p50 ms | p99 ms | non-2xx | socket errors | server CPU | postgres CPU | machine busy | server+postgres CPU µs/request | matches/healthz | healthz/match CPU per request |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "The audit writer during the single-identifier wrk run (the hub's /metrics): group commits, and the share of the run spent committing."
echo
echo "| backend | writer commits/s | entries per commit | mean commit ms | writer busy | commits over 25 ms |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${WRK_WRITER_ROWS[@]}"
echo
echo "| backend | successful match requests (wrk) | match audit entries | check |"
echo "|---|---:|---:|---|"
printf '%s\n' "${CHECKS[@]}"
if [ "${#RATE_ROWS[@]}" -gt 0 ]; then
    echo
    echo "oha -z $DURATION -c $CONNS -q RATE --latency-correction (open loop; latencies in ms from each request's due time)"
    echo
    echo "(writer: the hub's audit group commits during the run, from its /metrics)"
    echo
    echo "| server | endpoint | offered/s | answered/s | p50 | p99 | p99.9 | max | not 200 | writer commits/s | entries per commit | mean commit ms | writer busy | commits over 25 ms |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${RATE_ROWS[@]}"
fi
if [ "${#BATCH_ROWS[@]}" -gt 0 ]; then
    echo
    echo "| backend | identifiers per request | requests/s | identifiers/s | p50 ms | p99 ms | non-2xx | hub CPU | postgres CPU |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${BATCH_ROWS[@]}"
fi
if [ "${BENCH_INSTRUCTIONS:-1}" = 1 ]; then
    install_if_missing valgrind valgrind
    echo
    echo "Instructions per request (callgrind, SQLite; scripts/bench/instructions.sh):"
    echo
    bash scripts/bench/instructions.sh "$BIN" 2>"$WORK/instructions.err" | grep '^|' ||
        log "the instruction count failed: $(tail -n 3 "$WORK/instructions.err")"
fi
