#!/usr/bin/env bash
# Schema-driven testing: schemathesis (pinned) generates requests from /v1/openapi.json and
# runs every one of its checks against a fresh hub, authenticated with a key holding every
# scope. Exits non-zero on any failure. Needs python3 (a venv is made under
# target/schemathesis-venv and reused while it holds the pinned version).
#
# SCHEMATHESIS_MAX_EXAMPLES (default 40) bounds the generated cases per operation and phase;
# raise it for a longer, deeper run.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-40}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
VENV=target/schemathesis-venv

# CPython before 3.11.8 and 3.12.2 can fail at random inside hypothesis's description of a
# filter with "SystemError: AST constructor recursion depth mismatch" (CPython gh-106905): a
# runtime error of the tool, not a finding about the API (it failed one CI run in 2 500 cases,
# and the same binary passed on the rerun). The venv is made with an interpreter that has the
# fix: the first found on PATH, else the newest pyenv has installed, else python3 as it is.
fixed() { "$1" -c 'import sys; v = sys.version_info[:3]; sys.exit(not (v >= (3, 12, 2) or (3, 11, 8) <= v < (3, 12)))' 2>/dev/null; }
PYTHON=""
for candidate in python3.13 python3.12 python3; do
    if fixed "$candidate"; then PYTHON="$candidate" && break; fi
done
if [ -z "$PYTHON" ] && command -v pyenv >/dev/null; then
    for version in $(pyenv versions --bare 2>/dev/null | sort -rV); do
        candidate="$(pyenv root)/versions/$version/bin/python3"
        if [ -x "$candidate" ] && fixed "$candidate"; then PYTHON="$candidate" && break; fi
    done
fi
PYTHON="${PYTHON:-python3}"

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION" ||
    ! fixed "$VENV/bin/python3"; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV ($("$PYTHON" --version 2>&1))"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

# SCHEMATHESIS_HUB_BINARY: an already built hub binary to test instead of building one (not a
# FRAUDHUB_* name: the hub refuses unknown FRAUDHUB_* variables).
if [ -n "${SCHEMATHESIS_HUB_BINARY:-}" ]; then
    FRAUDHUB="$SCHEMATHESIS_HUB_BINARY"
else
    cargo build --quiet --bin fraudhub
    FRAUDHUB="$TARGET_DIR/debug/fraudhub"
fi

WORK="$(mktemp -d)"
HUB_PID=""
cleanup() {
    if [ -n "$HUB_PID" ]; then
        kill "$HUB_PID" 2>/dev/null || true
        wait "$HUB_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# A fresh SQLite hub. The limits are generous so that schemathesis meets the validation
# and the handlers rather than the rate limiters: the per-address limits, the failed-
# authentication limit (the ignored_auth check sends many unauthenticated requests), the
# member quota, and sweep detection (generated personal numbers share birth dates).
# 429 stays documented on every operation either way.
export FRAUDHUB_DATA_DIR="$WORK/data"
export FRAUDHUB_IP_RATE_PER_SECOND=100000
export FRAUDHUB_IP_BURST=100000
export FRAUDHUB_AUTH_FAILURES_PER_MINUTE=100000
export FRAUDHUB_AUTH_FAILURE_BURST=100000
export FRAUDHUB_SWEEP_SAME_BIRTH_DATE_MAX=1000000
export FRAUDHUB_SWEEP_SAME_SERIAL_MAX=1000000
# Long polls (`wait`, up to 30 s) end before the request deadline; a short deadline keeps
# each generated long poll to under 3 s.
export FRAUDHUB_REQUEST_TIMEOUT_MS=3000
export FRAUDHUB_LOG=warn
export FRAUDHUB_LOG_FORMAT=json

"$FRAUDHUB" member add --name schemathesis --rate 100000 --burst 100000 >/dev/null
SCOPES=flags:write,flags:read,matches:read,indicators:write,indicators:read,audit:read,callers:verify,agents:manage,watchlist:write,events:read,webhooks:manage
KEY="$("$FRAUDHUB" key issue --member 1 --scopes "$SCOPES")"

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
"$FRAUDHUB" serve --listen "127.0.0.1:$PORT" >"$WORK/hub.log" 2>&1 &
HUB_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
    if ! kill -0 "$HUB_PID" 2>/dev/null; then
        cat "$WORK/hub.log" >&2
        echo "error: the hub did not start" >&2
        exit 1
    fi
    sleep 0.2
done

echo "=== schemathesis $SCHEMATHESIS_VERSION against $BASE/v1/openapi.json (--max-examples $MAX_EXAMPLES)"
started=$SECONDS
status=0
"$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run "$BASE/v1/openapi.json" \
    --checks all \
    --header "Authorization: Bearer $KEY" \
    --max-examples "$MAX_EXAMPLES" \
    --seed 1 \
    --workers 2 \
    --generation-database none \
    --no-color || status=$?
echo "=== schemathesis finished in $((SECONDS - started)) s, exit status $status"
if [ "$status" != 0 ] && grep -q '"level":"ERROR"' "$WORK/hub.log"; then
    echo "hub errors:" >&2
    grep '"level":"ERROR"' "$WORK/hub.log" >&2 || true
fi
exit "$status"
