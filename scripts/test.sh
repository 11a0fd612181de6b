#!/usr/bin/env bash
# The test command: the whole behavioural suite on SQLite, then again on PostgreSQL.
# PostgreSQL comes from FRAUDHUB_TEST_PG_ADMIN_URL (default: the local server); every test
# creates its own database there. Fails if PostgreSQL is unreachable. Installs Debian's
# chromium and chromium-driver (for the browser tests) when they are missing, and axe-core
# (npm) for the accessibility checks. Ends with scripts/schemathesis.sh (needs python3).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_ADMIN_URL="${FRAUDHUB_TEST_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"

ensure_postgres() {
    if pg_isready -q -d "$PG_ADMIN_URL" 2>/dev/null; then return 0; fi
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        echo "starting the local PostgreSQL cluster"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    fi
    for _ in $(seq 1 30); do
        pg_isready -q -d "$PG_ADMIN_URL" 2>/dev/null && return 0
        sleep 1
    done
    echo "error: PostgreSQL is unreachable at $PG_ADMIN_URL" >&2
    exit 1
}

drop_stale_test_databases() {
    psql "$PG_ADMIN_URL" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'fh\_t\_%'" |
        while read -r db; do
            # A database still in use belongs to a run going on beside this one: keep it.
            psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 ||
                echo "kept $db: in use"
        done
}

ensure_browser() {
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return 0; fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing chromium and chromium-driver for the browser test"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
    else
        echo "error: the browser test needs the chromium and chromium-driver packages" >&2
        exit 1
    fi
}

# axe-core checks every consumer page for accessibility in the browser test; pinned.
AXE_VERSION=4.14.1
ensure_axe() {
    local js=target/axe/node_modules/axe-core/axe.min.js
    if [ -f "$js" ] && grep -q "axe v$AXE_VERSION" "$js"; then return 0; fi
    echo "installing axe-core $AXE_VERSION for the browser test"
    mkdir -p target/axe
    npm install --no-save --no-audit --no-fund --prefix target/axe "axe-core@$AXE_VERSION"
}

ensure_postgres
ensure_browser
ensure_axe
drop_stale_test_databases
# The device page test in headless Chromium must run, not skip.
export FRAUDHUB_TEST_REQUIRE_BROWSER=1

echo "=== test suite on SQLite"
env -u FRAUDHUB_TEST_DATABASE_URL cargo test --all-targets

echo "=== behavioural suite on PostgreSQL"
FRAUDHUB_TEST_DATABASE_URL="$PG_ADMIN_URL" cargo test --tests

drop_stale_test_databases

echo "=== schema-driven tests (schemathesis) against a fresh hub"
bash scripts/schemathesis.sh

echo "=== all tests passed on SQLite and PostgreSQL, and schemathesis found nothing"
