#!/usr/bin/env bash
# shellcheck shell=bash
# The floor of a fixed-rate latency measurement on this machine: nginx answering a static
# "ok" on loopback, measured with the same oha command as the hub (scripts/bench.sh). No
# server answers faster than that on the same machine with the same load generator, so a
# p99 target below nginx's p99 cannot be shown here, whatever the hub does
# (docs/benchmarks.md, "Fourteenth session: the machine's floor").
#
#   source scripts/bench/floor.sh
#   floor_start "$WORK/floor"   # sets FLOOR_URL FLOOR_PID FLOOR_VERSION
#   oha ... "$FLOOR_URL"
#   floor_stop
#
# Installs Debian's nginx package if nginx is missing (as root; its service is never used:
# the package's own start may fail where nothing runs services, which leaves it installed),
# and runs `nginx -p WORKDIR -c WORKDIR/nginx.conf` in the foreground of a background job on
# a free port: worker processes as many as cores (nginx's `auto`, its usual setting), an
# access-log line per request into WORKDIR like the hub's default logging, and keep-alive
# connections that are not closed after 1000 requests (nginx's default), since the hub's
# are not either. The functions return non-zero with a message on stderr on failure and
# never exit the caller; call floor_stop from the shell that called floor_start.

FLOOR_URL=""
FLOOR_PID=""
FLOOR_VERSION=""

floor_start() {
    local dir="$1" port
    if ! command -v nginx >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq >/dev/null 2>&1 || true
            apt-get install -y -qq nginx >/dev/null 2>&1 || true
        fi
        command -v nginx >/dev/null || {
            echo "floor: nginx is missing (Debian package nginx)" >&2
            return 1
        }
    fi
    mkdir -p "$dir/tmp"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$dir/nginx.conf" <<EOF
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log $dir/access.log;
    keepalive_requests 100000000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        location / { default_type text/plain; return 200 "ok\n"; }
    }
}
EOF
    nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' 2>"$dir/stderr.log" &
    FLOOR_PID=$!
    FLOOR_URL="http://127.0.0.1:$port/"
    FLOOR_VERSION=$(nginx -v 2>&1 | sed 's|.*nginx/||')
    local _
    for _ in $(seq 1 50); do
        curl -fsS "$FLOOR_URL" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "floor: nginx did not answer on $FLOOR_URL: $(tail -n 3 "$dir/stderr.log" "$dir/error.log" 2>/dev/null)" >&2
    floor_stop
    return 1
}

floor_stop() {
    [ -n "$FLOOR_PID" ] || return 0
    kill -QUIT "$FLOOR_PID" 2>/dev/null || true
    wait "$FLOOR_PID" 2>/dev/null || true
    FLOOR_PID=""
}
