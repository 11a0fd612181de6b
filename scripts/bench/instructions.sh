#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: the same figure for the same
# binary and inputs whatever else the machine is doing, where requests per second on these
# shared two-core machines move by 15-25 % between runs of one binary (docs/benchmarks.md,
# "Issue 14", step 15). Use it to compare two builds; use scripts/bench.sh for throughput
# and latency.
#
#   bash scripts/bench/instructions.sh BIN [REQUESTS]
#
# Starts BIN on a fresh SQLite data directory under callgrind, places a flag, warms up with
# 500 requests of each kind, then counts REQUESTS (default 3000) GET /healthz and then as many
# single-identifier POST /v1/matches, 16 at a time (oha), and prints instructions per request
# for the request threads (tokio workers), the audit writer thread, and all threads. Kernel
# work (syscalls, the disk) is not counted. Under callgrind the hub runs one thread at a time,
# so group commits are smaller than at full speed; compare builds with the same settings.
set -euo pipefail
BIN="$1"
N="${2:-3000}"
# shellcheck source=scripts/bench/hub.sh
. "$(dirname "$0")/hub.sh"
for tool in valgrind callgrind_control oha curl python3; do
    command -v "$tool" >/dev/null || {
        echo "error: $tool is missing (valgrind: Debian package valgrind; oha: cargo install oha)" >&2
        exit 1
    }
done
WORK="$(mktemp -d -t fraudhub-instr.XXXXXX)"
HUB_PID=""
cleanup() {
    if [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; then
        kill -TERM "$HUB_PID" 2>/dev/null || true
        wait "$HUB_PID" 2>/dev/null || true
    fi
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

env=(FRAUDHUB_DATA_DIR="$WORK" FRAUDHUB_IP_RATE_PER_SECOND=100000000 FRAUDHUB_IP_BURST=100000000)
key=$(bench_key)
port=$(free_port)
base="http://127.0.0.1:$port"
(cd "$WORK" && exec env "${env[@]}" valgrind --tool=callgrind --separate-threads=yes \
    --callgrind-out-file="$WORK/cg.%p" "$BIN" serve --listen "127.0.0.1:$port" 2>"$WORK/hub.log") &
HUB_PID=$!
wait_ready "$base" 600
place_flag "$base" "$key"
body="$MATCH_BODY"
healthz() { oha -n "$1" -c 16 --no-tui "$base/healthz"; }
matches() {
    oha -n "$1" -c 16 --no-tui -m POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d "$body" "$base/v1/matches"
}
# Every request must succeed: a count over refusals would measure the wrong thing.
check() { grep -q "Success rate:.*100.00%" || { echo "error: not every request succeeded" >&2; exit 1; }; }

# The subshell execs env, which execs valgrind: the hub's pid is valgrind's.
VG_PID="$HUB_PID"
count() { # NAME REQUEST-FUNCTION: zero the counters, send N requests, dump as part NAME
    "$2" 500 | check
    callgrind_control -z "$VG_PID" >/dev/null
    "$2" "$N" | check
    callgrind_control --dump="$1" "$VG_PID" >/dev/null
}
count healthz healthz
count matches matches

python3 - "$WORK" "$N" <<'PY'
import glob, re, sys
work, n = sys.argv[1], int(sys.argv[2])
def part(name):
    threads = {"request threads": 0, "audit writer": 0, "all threads": 0}
    for f in glob.glob(f"{work}/cg.*"):
        text = open(f, errors="replace").read()
        if not re.search(rf"^desc: Trigger: dump {name}$", text, re.M):
            continue
        m = re.search(r"^summary: (\d+)$", text, re.M)
        ir = int(m.group(1)) if m else 0
        threads["all threads"] += ir
        if "audit::writer::on_thread" in text:
            threads["audit writer"] += ir
        elif "multi_thread::worker::run" in text:
            threads["request threads"] += ir
    return threads
print(f"| request | request threads | audit writer | all threads |  (instructions per request, {n} requests)")
print("|---|---:|---:|---:|")
for name, label in (("healthz", "GET /healthz"), ("matches", "POST /v1/matches, 1 identifier")):
    t = part(name)
    print(f"| {label} | {t['request threads'] / n:,.0f} | {t['audit writer'] / n:,.0f} | {t['all threads'] / n:,.0f} |")
PY
