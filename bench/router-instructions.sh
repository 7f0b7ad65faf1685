#!/usr/bin/env bash
# User-space instructions per proxied request, gantry's router against nginx, counted by
# valgrind's callgrind: unlike req/s on a shared, noisy 2-CPU machine, the count barely
# moves between runs, so a change to the request path shows as a number.
#
# Each proxy runs under callgrind in front of the same demo-app upstream and gets
# h2load --h1 requests over 4 keep-alive connections; it is run twice (SMALL and LARGE
# requests) and the difference of the totals divided by the difference of the counts is
# the cost of one request, start-up and shutdown taken out. Kernel time (the larger part
# of either proxy's CPU on loopback) is not counted: see bench/router-vs-nginx.sh for
# throughput.
#
# Usage: bench/router-instructions.sh   (env: SMALL=2000 LARGE=10000 UPSTREAM_PORT=18281
#                                         ROUTER_PORT=18280 NGINX_PORT=18282)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SMALL="${SMALL:-2000}"
LARGE="${LARGE:-10000}"
UPSTREAM_PORT="${UPSTREAM_PORT:-18281}"
ROUTER_PORT="${ROUTER_PORT:-18280}"
NGINX_PORT="${NGINX_PORT:-18282}"

BENCH=router-instructions
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

need_apt=()
command -v valgrind >/dev/null || need_apt+=(valgrind)
command -v h2load >/dev/null || need_apt+=(nghttp2-client)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
apt_install "${need_apt[@]}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

log "building release binaries"
(cd "$ROOT" && cargo build --release --quiet -p demo-app \
    && cargo build --release --quiet -p gantry-router --example proxy)
TARGET_DIR="$(target_dir "$ROOT")"
DEMO="$TARGET_DIR/release/demo-app"
PROXY="$TARGET_DIR/release/examples/proxy"

TMP="$(mktemp -d /tmp/router-instructions.XXXXXX)"
DEMO_PID=""
cleanup() {
    [ -n "$DEMO_PID" ] && kill "$DEMO_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

for p in "$UPSTREAM_PORT" "$ROUTER_PORT" "$NGINX_PORT"; do
    port_busy "$p" && die "port $p is already in use"
done

"$DEMO" --port "$UPSTREAM_PORT" --version bench >"$TMP/demo.log" 2>&1 &
DEMO_PID=$!
wait_port "$UPSTREAM_PORT"

nginx_prefix "$TMP/nginx"
# One process, no master: callgrind follows the process it started. The same upstream
# keep-alive settings as bench/router-vs-nginx.sh's `gantry serve` part.
cat >"$TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
$(nginx_http_paths "$TMP/nginx")
    keepalive_requests 1000000;
    upstream demo { server 127.0.0.1:$UPSTREAM_PORT; keepalive 64; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
$NGINX_PROXY_LIKE_GANTRY            proxy_set_header Connection "";
        }
    }
}
CONF

# Total instructions of one run of a proxy serving $1 requests on port $2; the command
# follows. SIGINT stops the router example, SIGQUIT nginx (both exit cleanly, so
# callgrind writes its totals).
count() {
    local n=$1 port=$2 signal=$3; shift 3
    local out="$TMP/callgrind.$port.$n"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$TMP/valgrind.$port.$n.log" 2>&1 &
    local pid=$!
    wait_port "$port" 30
    h2load --h1 -n 500 -c 4 "http://127.0.0.1:$port/" >/dev/null 2>&1  # warm-up
    h2load --h1 -n "$n" -c 4 "http://127.0.0.1:$port/" >"$TMP/h2load.$port.$n.txt" 2>&1
    grep -q " $n succeeded" "$TMP/h2load.$port.$n.txt" \
        || die "not every request succeeded through port $port: $(grep succeeded "$TMP/h2load.$port.$n.txt")"
    kill "-$signal" "$pid"
    wait "$pid" 2>/dev/null || true
    awk '$1 == "summary:" || $1 == "totals:" { print $2; exit }' "$out"
}

per_request() { # name port signal command...
    local name=$1 port=$2 signal=$3; shift 3
    log "$name: $SMALL then $LARGE requests under callgrind"
    local a b
    a=$(count "$SMALL" "$port" "$signal" "$@")
    b=$(count "$LARGE" "$port" "$signal" "$@")
    echo $(( (b - a) / (LARGE - SMALL) ))
}

router=$(per_request router "$ROUTER_PORT" INT "$PROXY" --listen "127.0.0.1:$ROUTER_PORT" \
    --upstream "127.0.0.1:$UPSTREAM_PORT" --workers 2)
nginx=$(per_request nginx "$NGINX_PORT" QUIT "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
    -e "$TMP/nginx/logs/error.log")

echo
echo "router-instructions: user-space instructions per proxied request (callgrind), $("$NGINX" -v 2>&1 | sed 's/.*: //')"
printf '%-8s %12s\n' target "instr/req"
printf '%-8s %12d\n' router "$router" nginx "$nginx"
awk -v r="$router" -v n="$nginx" 'BEGIN { printf "router/nginx instructions per request: %.2fx\n", r / n }'
