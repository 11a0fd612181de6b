#!/usr/bin/env bash
# shellcheck shell=bash
# Starts CrowdSec's Local API (LAPI) alone, offline, for a side-by-side benchmark of its
# decision lookup (GET /v1/decisions?ip=...). Used by scripts/bench.sh:
#
#   source scripts/bench/crowdsec.sh
#   crowdsec_start "$WORK/crowdsec"   # sets CROWDSEC_URL CROWDSEC_KEY CROWDSEC_PID CROWDSEC_VERSION
#   wrk ... -H "X-Api-Key: $CROWDSEC_KEY" -H "User-Agent: $CROWDSEC_USER_AGENT" "$CROWDSEC_URL"
#   crowdsec_stop
#
# Run directly (bash scripts/bench/crowdsec.sh [WORKDIR]) it starts the LAPI, does one lookup
# and stops it again.
#
# What it does:
#   - installs Debian's crowdsec package (bookworm: 1.4.6) if crowdsec/cscli are missing, as
#     root, without letting its post-install step register online or start the service;
#   - writes a private config into WORKDIR (default: mktemp -d): LAPI only on 127.0.0.1:<free
#     port>, no online API (CAPI), no console, no prometheus, its own SQLite database and logs
#     in WORKDIR; the files of the package are only read, the system service is never used;
#   - starts `crowdsec -c WORKDIR/config.yaml -no-cs` (no agent, no acquisition, no hub);
#   - registers a machine (cscli needs one to add decisions through the LAPI) and a bouncer
#     (its API key is what a bouncer sends in X-Api-Key), adds one ban decision for
#     $CROWDSEC_IP and checks that the lookup returns it.
#
# The functions return non-zero with a message on stderr on failure; they never exit the
# caller and are safe under set -euo pipefail. They must run in the shell that will call
# crowdsec_stop (not in a subshell), since crowdsec_stop waits for the background process.
#
# Send a User-Agent of the form name/version, like real bouncers do: wrk sends none, and for
# every request whose User-Agent is not "a/b" the LAPI logs a warning ("bad user agent ''",
# one line per request even at log level warning) and compares/updates the bouncer's
# type/version. crowdsec_start does its check lookup with $CROWDSEC_USER_AGENT, so the bouncer
# row already holds it and a benchmark with the same User-Agent causes no database writes.
#
# Environment:
#   BENCH_CROWDSEC_LOG_LEVEL   log level of the LAPI (default warning: no per-request log
#                              lines, like the hub's FRAUDHUB_LOG=warn in scripts/bench.sh)

CROWDSEC_IP="192.0.2.7" # TEST-NET-1, the IP that carries the decision
CROWDSEC_URL=""
CROWDSEC_KEY=""
CROWDSEC_PID=""
CROWDSEC_VERSION=""
CROWDSEC_WORK=""
CROWDSEC_USER_AGENT="crowdsec-bench/1.0"

_crowdsec_log() { echo "bench: crowdsec: $*" >&2; }

# shellcheck disable=SC2016 # ${Status} is dpkg-query's, not the shell's
_crowdsec_pkg_status() { dpkg-query -W -f='${Status}' crowdsec 2>/dev/null || true; }

_crowdsec_free_port() {
    if command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null; then
        return 0
    fi
    local p i
    for i in $(seq 1 50); do
        p=$((20000 + (RANDOM * 32768 + RANDOM + i) % 40000))
        if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# Installs the crowdsec package if crowdsec/cscli are missing, and repairs a half-configured
# install left by an earlier attempt.
#
# Why this is not a plain `apt-get install -y crowdsec`: the package's postinst (1.4.6-6~deb12u1)
# registers a machine on the local database (fine offline), then runs `cscli --error capi
# register` whenever /etc/crowdsec/online_api_credentials.yaml is empty. Offline that is a FATAL
# DNS error for api.crowdsec.net, the postinst exits 1, and dpkg keeps crowdsec
# "half-configured", which makes every later `apt-get install` retry the postinst and fail.
# The postinst skips the CAPI registration when that file is non-empty ("the user has created a
# file in advance to disable CAPI registration"), so we create it with a comment before the
# package is configured (and again before retrying a half-configured one). As a last resort, the
# registration line in the installed postinst is made non-fatal. The system service is kept
# from starting by a policy-rc.d that refuses every start (101), removed afterwards if we
# created it.
crowdsec_install() {
    local status
    status="$(_crowdsec_pkg_status)"
    if command -v crowdsec >/dev/null 2>&1 && command -v cscli >/dev/null 2>&1 &&
        { [ -z "$status" ] || [ "$status" = "install ok installed" ]; }; then
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        _crowdsec_log "error: crowdsec is missing or half-configured; install the crowdsec package as root"
        return 1
    fi

    local capi=/etc/crowdsec/online_api_credentials.yaml
    local postinst=/var/lib/dpkg/info/crowdsec.postinst
    local policy=/usr/sbin/policy-rc.d
    local made_policy="" rc=0 out

    # An empty CAPI credentials file makes the postinst register online (see above).
    mkdir -p /etc/crowdsec || return 1
    if [ ! -s "$capi" ]; then
        printf '%s\n' "# Written by scripts/bench/crowdsec.sh before the package was configured: a" \
            "# non-empty file keeps the crowdsec postinst from registering to the online API (CAPI)," \
            "# which fails offline. Replace with real credentials (cscli capi register) to use CAPI." \
            >"$capi" || return 1
    fi
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# scripts/bench/crowdsec.sh: no service starts while installing crowdsec\nexit 101\n' >"$policy" &&
            chmod 755 "$policy" && made_policy=1
    fi

    out="$(mktemp -t crowdsec-install.XXXXXX)" || return 1
    case "$status" in
    "" | *not-installed* | *config-files*)
        if ! apt-cache show crowdsec >/dev/null 2>&1; then
            _crowdsec_log "crowdsec not in the apt cache: apt-get update"
            apt-get update -qq >>"$out" 2>&1 || true
        fi
        _crowdsec_log "installing the crowdsec package"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends crowdsec >>"$out" 2>&1 || rc=$?
        ;;
    esac
    status="$(_crowdsec_pkg_status)"
    if [ "$status" != "install ok installed" ] && [ -f "$postinst" ]; then
        _crowdsec_log "crowdsec is '$status': configuring it again"
        DEBIAN_FRONTEND=noninteractive dpkg --configure crowdsec >>"$out" 2>&1 || true
        status="$(_crowdsec_pkg_status)"
        if [ "$status" != "install ok installed" ]; then
            # Last resort: the CAPI registration must not be fatal (offline it cannot succeed).
            # Anchored on the end of the line, so a second run does not patch it twice.
            _crowdsec_log "making the CAPI registration in $postinst non-fatal"
            sed -i 's/^\([[:space:]]*cscli --error capi register\)[[:space:]]*$/\1 || echo "W: CAPI registration failed (offline?), skipped" >\&2/' "$postinst" || true
            DEBIAN_FRONTEND=noninteractive dpkg --configure crowdsec >>"$out" 2>&1 || true
            status="$(_crowdsec_pkg_status)"
        fi
    fi
    if [ -n "$made_policy" ]; then rm -f "$policy"; fi

    if [ "$status" != "install ok installed" ] || ! command -v cscli >/dev/null 2>&1; then
        _crowdsec_log "error: installing crowdsec failed (apt-get rc $rc, status '$status'):"
        tail -n 20 "$out" | sed 's/^/bench: crowdsec:   /' >&2 || true
        rm -f "$out"
        return 1
    fi
    rm -f "$out"
    if [ -n "$(dpkg --audit 2>/dev/null)" ]; then
        _crowdsec_log "warning: dpkg --audit still reports problems:"
        dpkg --audit 2>&1 | sed 's/^/bench: crowdsec:   /' >&2 || true
    fi
    # shellcheck disable=SC2016
    _crowdsec_log "installed $(dpkg-query -W -f='${Package} ${Version}' crowdsec)"
}

# crowdsec_start [WORKDIR]
crowdsec_start() {
    local work="${1:-}"
    local level="${BENCH_CROWDSEC_LOG_LEVEL:-warning}"
    local port cfg code i out

    if [ -n "$CROWDSEC_PID" ] && kill -0 "$CROWDSEC_PID" 2>/dev/null; then
        _crowdsec_log "error: already running (pid $CROWDSEC_PID)"
        return 1
    fi
    crowdsec_install || return 1
    command -v curl >/dev/null 2>&1 || {
        _crowdsec_log "error: curl is missing"
        return 1
    }
    if [ -z "$work" ]; then
        work="$(mktemp -d -t crowdsec-bench.XXXXXX)" || return 1
    fi
    mkdir -p "$work/data" "$work/log" "$work/notifications" || return 1
    work="$(cd "$work" && pwd)" || return 1
    # A fresh database each time, so that runs are reproducible.
    rm -f "$work/data/crowdsec.db" "$work/data/crowdsec.db-wal" "$work/data/crowdsec.db-shm" \
        "$work/local_api_credentials.yaml" "$work/log/"*.log
    port="$(_crowdsec_free_port)" || {
        _crowdsec_log "error: no free port found"
        return 1
    }
    cfg="$work/config.yaml"

    # A private copy of /etc/crowdsec/config.yaml: LAPI only, no online_client (CAPI), no
    # console, no prometheus, state and logs in $work. hub_dir/plugin_dir are the package's,
    # read only (the LAPI does not use the hub; plugins only run for profile notifications).
    cat >"$cfg" <<EOF || return 1
# Written by scripts/bench/crowdsec.sh: LAPI only, offline (no online_client), for benchmarks.
common:
  daemonize: false
  log_media: file
  log_level: $level
  log_dir: $work/log/
  working_dir: $work/
config_paths:
  config_dir: $work/
  data_dir: $work/data/
  simulation_path: $work/simulation.yaml
  hub_dir: /var/lib/crowdsec/hub/
  index_path: /var/lib/crowdsec/hub/.index.json
  notification_dir: $work/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
crowdsec_service:
  acquisition_path: $work/acquis.yaml
  parser_routines: 1
cscli:
  output: human
  color: "no"
db_config:
  log_level: $level
  type: sqlite
  db_path: $work/data/crowdsec.db
  use_wal: true
  flush:
    max_items: 5000
    max_age: 7d
plugin_config:
  user: nobody
  group: nogroup
api:
  client:
    insecure_skip_verify: false
    credentials_path: $work/local_api_credentials.yaml
  server:
    log_level: $level
    listen_uri: 127.0.0.1:$port
    profiles_path: $work/profiles.yaml
    console_path: $work/console.yaml
    trusted_ips:
      - 127.0.0.1
      - ::1
prometheus:
  enabled: false
  level: full
  listen_addr: 127.0.0.1
  listen_port: 0
EOF
    # The package's default profile (ban IP alerts for 4h); decisions added with cscli carry
    # their own duration, so this only matters for alerts without decisions.
    cat >"$work/profiles.yaml" <<'EOF' || return 1
name: default_ip_remediation
filters:
 - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
 - type: ban
   duration: 4h
on_success: break
EOF
    printf 'simulation: off\n' >"$work/simulation.yaml" || return 1
    printf '# no acquisition: crowdsec runs with -no-cs\n' >"$work/acquis.yaml" || return 1
    cat >"$work/console.yaml" <<'EOF' || return 1
share_manual_decisions: false
share_custom: false
share_tainted: false
EOF

    # "2026/11/26 13:40:03 version: v1.4.6-6~deb12u1+b1-debian" -> 1.4.6-6~deb12u1+b1-debian
    CROWDSEC_VERSION="$(crowdsec -version 2>&1 | sed -n 's/.*version: v\{0,1\}\([^ ]*\).*/\1/p' | head -n 1)" || true
    CROWDSEC_VERSION="${CROWDSEC_VERSION:-unknown}"

    # cscli talks to the database directly for machines and bouncers; the machine is what
    # `cscli decisions add` logs in with (credentials in $work/local_api_credentials.yaml).
    if ! out="$(cscli -c "$cfg" --error machines add bench --auto --force \
        -f "$work/local_api_credentials.yaml" -u "http://127.0.0.1:$port/" 2>&1)"; then
        _crowdsec_log "error: cscli machines add failed: $out"
        return 1
    fi
    if ! CROWDSEC_KEY="$(cscli -c "$cfg" --error bouncers add bench -o raw 2>"$work/log/cscli.err")" ||
        [ -z "$CROWDSEC_KEY" ]; then
        _crowdsec_log "error: cscli bouncers add failed: $(cat "$work/log/cscli.err")"
        CROWDSEC_KEY=""
        return 1
    fi
    CROWDSEC_KEY="$(printf '%s' "$CROWDSEC_KEY" | tr -d '[:space:]')"

    _crowdsec_log "starting crowdsec $CROWDSEC_VERSION (LAPI only) on 127.0.0.1:$port, work dir $work"
    crowdsec -c "$cfg" -no-cs >"$work/log/crowdsec.out" 2>&1 &
    CROWDSEC_PID=$!
    CROWDSEC_WORK="$work"

    # Ready when an unauthenticated lookup is refused (403) rather than not connecting (000).
    code=000
    for i in $(seq 1 100); do
        if ! kill -0 "$CROWDSEC_PID" 2>/dev/null; then
            _crowdsec_log "error: crowdsec exited during start-up; its output and log:"
            tail -n 20 "$work/log/crowdsec.out" "$work/log/crowdsec.log" 2>/dev/null | sed 's/^/bench: crowdsec:   /' >&2 || true
            CROWDSEC_PID=""
            return 1
        fi
        code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/decisions" 2>/dev/null)" || true
        case "$code" in 403 | 200) break ;; esac
        sleep 0.2
    done
    if [ "$code" != 403 ] && [ "$code" != 200 ]; then
        _crowdsec_log "error: the LAPI did not answer within 20 s (last HTTP status $code)"
        crowdsec_stop
        return 1
    fi
    _crowdsec_log "LAPI up after ~$((i * 200)) ms"

    if ! out="$(cscli -c "$cfg" --error decisions add --ip "$CROWDSEC_IP" --duration 24h --reason bench 2>&1)"; then
        _crowdsec_log "error: cscli decisions add failed: $out"
        crowdsec_stop
        return 1
    fi

    CROWDSEC_URL="http://127.0.0.1:$port/v1/decisions?ip=$CROWDSEC_IP"
    out="$(curl -s -A "$CROWDSEC_USER_AGENT" -H "X-Api-Key: $CROWDSEC_KEY" "$CROWDSEC_URL")" || out=""
    case "$out" in
    "["*"\"value\":\"$CROWDSEC_IP\""*"]")
        _crowdsec_log "lookup OK: $out"
        ;;
    *)
        _crowdsec_log "error: the lookup did not return the decision for $CROWDSEC_IP: '$out'"
        crowdsec_stop
        return 1
        ;;
    esac
}

crowdsec_stop() {
    local pid="$CROWDSEC_PID"
    CROWDSEC_PID=""
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            _crowdsec_log "crowdsec (pid $pid) ignored SIGTERM for 5 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
    _crowdsec_log "stopped (pid $pid)"
}

# Direct run: start, one lookup, stop.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    trap crowdsec_stop EXIT
    crowdsec_start "${1:-}"
    echo "CROWDSEC_VERSION=$CROWDSEC_VERSION"
    echo "CROWDSEC_URL=$CROWDSEC_URL"
    echo "CROWDSEC_KEY=$CROWDSEC_KEY"
    echo "CROWDSEC_PID=$CROWDSEC_PID"
    curl -s -w '\nHTTP %{http_code}\n' -A "$CROWDSEC_USER_AGENT" -H "X-Api-Key: $CROWDSEC_KEY" "$CROWDSEC_URL"
fi
