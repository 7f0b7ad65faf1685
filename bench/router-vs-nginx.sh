#!/usr/bin/env bash
# gantry's router against nginx, proxying the same demo-app upstream, measured in one run:
# wrk against the upstream directly, through the router, and through nginx.
# Two passes per target: throughput (wrk -t2 -c32, saturating: its p99 is mostly queueing)
# and latency (one connection, no queueing: the p99 a proxy adds per request).
# Prints req/s and p99 for each, the router/nginx throughput ratio and the p99 each proxy
# adds over direct in the latency pass (targets from issue 4: >= 0.8x nginx throughput,
# added p99 <= 1 ms).
#
# Fairness: nginx and the router get the same number of workers (nginx worker_processes,
# the router's RouterConfig::workers threads); nothing is pinned, so wrk, demo-app and the
# proxy under test share every core alike. The three targets are measured in ROUNDS
# interleaved rounds whose order rotates, so a burst of load from elsewhere on the machine
# hits both proxies alike; each figure is the median over the rounds, and the per-round
# router/nginx ratios are printed as the spread.
#
# Usage: bench/router-vs-nginx.sh      (env: DURATION=10s THREADS=2 CONNECTIONS=32
#                                        LAT_DURATION=5s UPSTREAM_PORT=18081 ROUTER_PORT=18080 NGINX_PORT=18082
#                                        WORKERS=$(nproc) ROUNDS=3
#                                        WORKSPACE=<dir with the Cargo workspace>)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKSPACE="${WORKSPACE:-$ROOT}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
LAT_DURATION="${LAT_DURATION:-5s}"
UPSTREAM_PORT="${UPSTREAM_PORT:-18081}"
ROUTER_PORT="${ROUTER_PORT:-18080}"
NGINX_PORT="${NGINX_PORT:-18082}"
WORKERS="${WORKERS:-$(nproc)}"
ROUNDS="${ROUNDS:-3}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'router-vs-nginx: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing ${need_apt[*]} from Debian"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null
    if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null; then
        # nginx-light is gone from newer Debian releases; plain nginx is the same server.
        need_apt=("${need_apt[@]/nginx-light/nginx}")
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
    fi
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
[ -x "$NGINX" ] || die "nginx not found after install"

# --- build -------------------------------------------------------------------------------
log "building release binaries"
# Two invocations: with --example, cargo builds only examples, not demo-app's binary.
(cd "$WORKSPACE" && cargo build --release --quiet -p demo-app \
    && cargo build --release --quiet -p gantry-router --example proxy)
TARGET_DIR="${CARGO_TARGET_DIR:-$(cd "$WORKSPACE" && cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}"
DEMO="$TARGET_DIR/release/demo-app"
PROXY="$TARGET_DIR/release/examples/proxy"
[ -x "$DEMO" ] && [ -x "$PROXY" ] || die "binaries not found under $TARGET_DIR/release"

# --- processes ---------------------------------------------------------------------------
TMP="$(mktemp -d /tmp/router-vs-nginx.XXXXXX)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
    for _ in $(seq 1 100); do port_busy "$1" && return 0; sleep 0.05; done
    die "nothing listening on 127.0.0.1:$1 after 5s (see $TMP)"
}
for p in "$UPSTREAM_PORT" "$ROUTER_PORT" "$NGINX_PORT"; do
    port_busy "$p" && die "port $p is already in use (set UPSTREAM_PORT/ROUTER_PORT/NGINX_PORT)"
done

"$DEMO" --port "$UPSTREAM_PORT" --version bench >"$TMP/demo.log" 2>&1 &
PIDS+=($!)
"$PROXY" --listen "127.0.0.1:$ROUTER_PORT" --upstream "127.0.0.1:$UPSTREAM_PORT" --workers "$WORKERS" >"$TMP/proxy.log" 2>&1 &
PIDS+=($!)

mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
chmod -R a+rwx "$TMP/nginx"
chmod a+rx "$TMP"
cat >"$TMP/nginx/nginx.conf" <<CONF
worker_processes $WORKERS;
daemon off;
master_process on;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    upstream demo { server 127.0.0.1:$UPSTREAM_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://demo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
CONF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" &
PIDS+=($!)

wait_port "$UPSTREAM_PORT"; wait_port "$ROUTER_PORT"; wait_port "$NGINX_PORT"

# --- measure -----------------------------------------------------------------------------
# p99 from wrk's --latency block, in milliseconds.
p99_ms() {
    awk '$1 == "99%" {
        v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v);
        if (unit == "us") v /= 1000; else if (unit == "s") v *= 1000; else if (unit == "m") v *= 60000;
        printf "%.3f", v }' "$1"
}
rps() { awk '$1 == "Requests/sec:" { print $2 }' "$1"; }
errors() { awk '/Non-2xx|Socket errors/ { print }' "$1"; }

run_wrk() { # name url round
    local name=$1 url=$2 r=$3
    timeout 60 wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$url" >/dev/null  # warm-up (pools, caches)
    log "round $r: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency  ($name)"
    timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$TMP/$name.$r.txt"
    local e; e="$(errors "$TMP/$name.$r.txt")"
    [ -z "$e" ] || printf '    %s: %s\n' "$name" "$e" >&2
    log "round $r: wrk -t1 -c1 -d$LAT_DURATION --latency  ($name, latency pass)"
    timeout 60 wrk -t1 -c1 -d"$LAT_DURATION" --latency "$url" >"$TMP/$name-lat.$r.txt"
}

median() { # of the numbers on stdin, one per line (blank lines ignored)
    sort -g | awk 'NF { v[++n] = $1 }
        END { if (n % 2) print v[(n + 1) / 2]; else printf "%.3f\n", (v[n / 2] + v[n / 2 + 1]) / 2 }'
}
# The median over the rounds of figure $1 (rps or p99_ms) of file stem $2.
med() { local f=$1 stem=$2 r; for r in $(seq 1 "$ROUNDS"); do "$f" "$TMP/$stem.$r.txt"; echo; done | median; }

targets=(direct router nginx)
declare -A url=([direct]="http://127.0.0.1:$UPSTREAM_PORT/" [router]="http://127.0.0.1:$ROUTER_PORT/" [nginx]="http://127.0.0.1:$NGINX_PORT/")
ratios=()
for r in $(seq 1 "$ROUNDS"); do
    for k in 0 1 2; do
        t=${targets[$(( (k + r - 1) % 3 ))]}
        run_wrk "$t" "${url[$t]}" "$r"
    done
    ratios+=("$(awk -v a="$(rps "$TMP/router.$r.txt")" -v b="$(rps "$TMP/nginx.$r.txt")" 'BEGIN { printf "%.2f", a / b }')")
done

d_rps=$(med rps direct); r_rps=$(med rps router); n_rps=$(med rps nginx)
d_p99=$(med p99_ms direct); r_p99=$(med p99_ms router); n_p99=$(med p99_ms nginx)
d_l99=$(med p99_ms direct-lat); r_l99=$(med p99_ms router-lat); n_l99=$(med p99_ms nginx-lat)

echo
echo "router-vs-nginx: upstream demo-app, $(nproc) CPUs, $WORKERS workers each, $ROUNDS rounds (medians), load average $(cut -d' ' -f1-3 /proc/loadavg), $("$NGINX" -v 2>&1 | sed 's/.*: //')"
printf '%-8s %14s %14s %16s\n' target "req/s (c$CONNECTIONS)" "p99 ms (c$CONNECTIONS)" "p99 ms (c1)"
printf '%-8s %14s %14s %16s\n' direct "$d_rps" "$d_p99" "$d_l99"
printf '%-8s %14s %14s %16s\n' router "$r_rps" "$r_p99" "$r_l99"
printf '%-8s %14s %14s %16s\n' nginx "$n_rps" "$n_p99" "$n_l99"
echo "router/nginx throughput per round: ${ratios[*]}"
awk -v r="$r_rps" -v n="$n_rps" -v rl="$r_l99" -v nl="$n_l99" -v dl="$d_l99" 'BEGIN {
    ratio = r / n; radd = rl - dl; nadd = nl - dl;
    printf "router/nginx throughput (medians): %.2fx (target >= 0.80x: %s)\n", ratio, (ratio >= 0.8 ? "met" : "MISSED");
    printf "added p99 over direct (1 connection): router %+.3f ms (target <= 1 ms: %s), nginx %+.3f ms\n", radd, (radd <= 1.0 ? "met" : "MISSED"), nadd;
}'

# === through `gantry serve` (issue 9) ====================================================
# The same comparison through gantry's own control plane: a project whose service `web`
# runs demo-app behind `gantry serve`'s router, and nginx proxying the same instance.
# HTTP/1.1 req/s and p99 (wrk, c$CONNECTIONS; target >= 1.0x nginx), WebSocket echo
# round trips/s (edge-bench ws, $WS_CONNECTIONS connections), and the burst of
# $BURST keep-alive connections idle ${BURST_IDLE}s then one request each (failures).
# Env: SERVE_PORT=18090 NGINX_SERVE_PORT=18092 WS_CONNECTIONS=32 WS_SECONDS=10 BURST=2000
#      BURST_IDLE=10; SERVE_BENCH=0 skips this part.
SERVE_PORT="${SERVE_PORT:-18090}"
NGINX_SERVE_PORT="${NGINX_SERVE_PORT:-18092}"
WS_CONNECTIONS="${WS_CONNECTIONS:-32}"
WS_SECONDS="${WS_SECONDS:-10}"
BURST="${BURST:-2000}"
BURST_IDLE="${BURST_IDLE:-10}"

serve_build() {
    log "building release gantry and edge-bench"
    (cd "$WORKSPACE" && cargo build --release --quiet -p gantry \
        && cargo build --release --quiet -p demo-app --example edge-bench)
    GANTRY="$TARGET_DIR/release/gantry"
    EDGE_BENCH="$TARGET_DIR/release/examples/edge-bench"
    [ -x "$GANTRY" ] && [ -x "$EDGE_BENCH" ] || die "gantry or edge-bench not found under $TARGET_DIR/release"
}

serve_start() { # a project serving demo-app v1 on $SERVE_PORT; sets INSTANCE_PORT
    PROJ="$TMP/project"
    mkdir -p "$PROJ"
    (cd "$PROJ" && "$GANTRY" init >/dev/null)
    cat >"$PROJ/gantry.yaml" <<YAML
project: bench
agents:
  planner: { id: PlanAgent }
  operator: { id: OperationsBoardAgent }
  verifier: { id: ReviewAgent }
services:
  web:
    listen: 127.0.0.1:$SERVE_PORT
    router: { max_connections: 8192, backend_connections: 256 }
    releases:
      v1: { run: "$DEMO --port {port} --version v1" }
    health:
      readiness: { http: /health, period: 1s }
# A benchmark fixture, not a production service.
policy: { default: warning }
YAML
    (cd "$PROJ" && "$GANTRY" check >/dev/null && "$GANTRY" serve --detach >/dev/null \
        && "$GANTRY" deploy web --version v1 --wait >/dev/null)
    INSTANCE_PORT="$(cd "$PROJ" && "$GANTRY" ps --json | python3 -c '
import json, sys
ps = json.load(sys.stdin)
web = [s for s in ps["services"] if s["name"] == "web"][0] if "name" in ps["services"][0] else ps["services"][0]
print(web["instances"][0]["addr"].rsplit(":", 1)[1])')"
    [ -n "$INSTANCE_PORT" ] || die "no instance port in gantry ps"
}

serve_stop() { [ -n "${PROJ:-}" ] && (cd "$PROJ" && "$GANTRY" serve --stop >/dev/null 2>&1) || true; }

serve_nginx() { # nginx on $NGINX_SERVE_PORT proxying the same instance, WebSocket included
    mkdir -p "$TMP/nginx2/logs" "$TMP/nginx2/tmp"
    chmod -R a+rwx "$TMP/nginx2"
    cat >"$TMP/nginx2/nginx.conf" <<CONF
worker_processes $WORKERS;
daemon off;
pid $TMP/nginx2/nginx.pid;
error_log $TMP/nginx2/logs/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx2/tmp/body;
    proxy_temp_path $TMP/nginx2/tmp/proxy;
    fastcgi_temp_path $TMP/nginx2/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx2/tmp/uwsgi;
    scgi_temp_path $TMP/nginx2/tmp/scgi;
    map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
    upstream demo { server 127.0.0.1:$INSTANCE_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$NGINX_SERVE_PORT;
        location / {
            proxy_pass http://demo;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
CONF
    "$NGINX" -p "$TMP/nginx2" -c "$TMP/nginx2/nginx.conf" -e "$TMP/nginx2/logs/error.log" &
    PIDS+=($!)
    wait_port "$NGINX_SERVE_PORT"
}

serve_measure() {
    local t port
    declare -A sport=([gantry]="$SERVE_PORT" [nginx]="$NGINX_SERVE_PORT")
    declare -gA s_rps s_p99 s_ws s_burst
    for t in gantry nginx; do
        port=${sport[$t]}
        timeout 60 wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/" >/dev/null
        log "serve: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency ($t)"
        timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$port/" >"$TMP/serve-$t.txt"
        s_rps[$t]=$(rps "$TMP/serve-$t.txt"); s_p99[$t]=$(p99_ms "$TMP/serve-$t.txt")
        log "serve: WebSocket echo, $WS_CONNECTIONS connections, ${WS_SECONDS}s ($t)"
        s_ws[$t]=$(timeout 120 "$EDGE_BENCH" ws "ws://127.0.0.1:$port/ws" "$WS_CONNECTIONS" "$WS_SECONDS" | awk '{ print $2 }')
        if [ "$(ulimit -n)" -ge $((BURST * 3)) ] || ulimit -n $((BURST * 3)) 2>/dev/null; then
            log "serve: burst of $BURST connections idle ${BURST_IDLE}s ($t)"
            s_burst[$t]=$(timeout 300 "$EDGE_BENCH" burst "127.0.0.1:$port" "$BURST" "$BURST_IDLE" | awk '{ print $2 }')
        else
            s_burst[$t]="skipped (ulimit -n $(ulimit -n))"
        fi
    done
}

serve_report() {
    echo
    echo "through gantry serve: demo-app v1, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%-8s %14s %14s %14s %16s\n' target "req/s (c$CONNECTIONS)" "p99 ms" "ws msgs/s" "burst failures"
    for t in gantry nginx; do
        printf '%-8s %14s %14s %14s %16s\n' "$t" "${s_rps[$t]}" "${s_p99[$t]}" "${s_ws[$t]}" "${s_burst[$t]}"
    done
    awk -v r="${s_rps[gantry]}" -v n="${s_rps[nginx]}" -v rp="${s_p99[gantry]}" -v np="${s_p99[nginx]}" \
        -v rw="${s_ws[gantry]}" -v nw="${s_ws[nginx]}" 'BEGIN {
        printf "gantry serve/nginx: throughput %.2fx (target >= 1.00x: %s), p99 %.2fx, WebSocket echo %.2fx\n",
            r / n, (r / n >= 1.0 ? "met" : "MISSED"), rp / np, rw / nw }'
}

if [ "${SERVE_BENCH:-1}" != 0 ]; then
    serve_build
    trap 'serve_stop; cleanup' EXIT INT TERM
    serve_start
    serve_nginx
    serve_measure
    serve_report
fi
