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
#                                        WORKERS=$(nproc) ROUNDS=5 ROUTER_BENCH=1 SERVE_BENCH=1
#                                        WORKSPACE=<dir with the Cargo workspace>;
#                                        the part through `gantry serve` has its own, below)
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
ROUNDS="${ROUNDS:-5}"

BENCH=router-vs-nginx
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# --- tools -------------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
[ "${SERVE_BENCH:-1}" = 0 ] || command -v h2load >/dev/null || need_apt+=(nghttp2-client)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
apt_install "${need_apt[@]}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
[ -x "$NGINX" ] || die "nginx not found after install"

# --- build -------------------------------------------------------------------------------
log "building release binaries"
# Two invocations: with --example, cargo builds only examples, not demo-app's binary.
(cd "$WORKSPACE" && cargo build --release --quiet -p demo-app \
    && cargo build --release --quiet -p gantry-router --example proxy)
TARGET_DIR="$(target_dir "$WORKSPACE")"
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

for p in "$UPSTREAM_PORT" "$ROUTER_PORT" "$NGINX_PORT"; do
    port_busy "$p" && die "port $p is already in use (set UPSTREAM_PORT/ROUTER_PORT/NGINX_PORT)"
done

"$DEMO" --port "$UPSTREAM_PORT" --version bench >"$TMP/demo.log" 2>&1 &
PIDS+=($!)
"$PROXY" --listen "127.0.0.1:$ROUTER_PORT" --upstream "127.0.0.1:$UPSTREAM_PORT" --workers "$WORKERS" >"$TMP/proxy.log" 2>&1 &
PIDS+=($!)

nginx_prefix "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<CONF
worker_processes $WORKERS;
daemon off;
master_process on;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
$(nginx_http_paths "$TMP/nginx")
    # nginx closes a keep-alive connection after 1000 requests by default; the router
    # does not, so neither does nginx here (as in the \`gantry serve\` part below).
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
# ROUTER_BENCH=0 skips this first part (the router example), e.g. to rerun only the serve part.
[ "${ROUTER_BENCH:-1}" != 0 ] || ROUNDS=0
for r in $(seq 1 "$ROUNDS"); do
    for k in 0 1 2; do
        t=${targets[$(( (k + r - 1) % 3 ))]}
        run_wrk "$t" "${url[$t]}" "$r"
    done
    ratios+=("$(awk -v a="$(rps "$TMP/router.$r.txt")" -v b="$(rps "$TMP/nginx.$r.txt")" 'BEGIN { printf "%.2f", a / b }')")
done

if [ "$ROUNDS" -gt 0 ]; then
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
fi

# === through `gantry serve` (issue 9) ====================================================
# The same comparison through gantry's own control plane: a project whose service `web`
# runs demo-app behind `gantry serve`'s router, and nginx proxying the same instance.
# - HTTP/1.1 req/s and p99 (wrk -c$CONNECTIONS; target >= 1.0x nginx), SERVE_ROUNDS
#   interleaved rounds whose order alternates, medians;
# - HTTP/2 req/s (h2load, h2c with prior knowledge on both sides: gantry's listener speaks
#   it on the same port, nginx on a `listen ... http2` port; $H2_CONNECTIONS connections x
#   $H2_STREAMS concurrent streams; the upstream stays HTTP/1.1 for both), same rounds;
# - WebSocket echo round trips/s (edge-bench ws, $WS_CONNECTIONS connections);
# - the burst of $BURST keep-alive connections idle ${BURST_IDLE}s then one request each
#   (failures).
# Env: SERVE_PORT=18090 NGINX_SERVE_PORT=18092 NGINX_H2_PORT=18093 SERVE_ROUNDS=5
#      H2_CONNECTIONS=32 H2_STREAMS=10 WS_CONNECTIONS=32 WS_SECONDS=10 BURST=2000
#      BURST_IDLE=10; SERVE_BENCH=0 skips this part.
SERVE_PORT="${SERVE_PORT:-18090}"
NGINX_SERVE_PORT="${NGINX_SERVE_PORT:-18092}"
NGINX_H2_PORT="${NGINX_H2_PORT:-18093}"
SERVE_ROUNDS="${SERVE_ROUNDS:-5}"
H2_CONNECTIONS="${H2_CONNECTIONS:-32}"
H2_STREAMS="${H2_STREAMS:-10}"
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
    command -v h2load >/dev/null || die "h2load not found (Debian nghttp2-client)"
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
web = [s for s in ps["services"] if s.get("name", "web") == "web"][0]
print(web["instances"][0]["addr"].rsplit(":", 1)[1])')"
    [ -n "$INSTANCE_PORT" ] || die "no instance port in gantry ps"
}

serve_stop() { [ -n "${PROJ:-}" ] && (cd "$PROJ" && "$GANTRY" serve --stop >/dev/null 2>&1) || true; }

serve_nginx() { # nginx proxying the same instance: HTTP/1.1 (WebSocket included) and h2c
    nginx_prefix "$TMP/nginx2"
    cat >"$TMP/nginx2/nginx.conf" <<CONF
worker_processes $WORKERS;
daemon off;
pid $TMP/nginx2/nginx.pid;
error_log $TMP/nginx2/logs/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
$(nginx_http_paths "$TMP/nginx2")
    # nginx closes a client connection after 1000 requests by default (HTTP/2: GOAWAY, and
    # h2load does not reconnect, so most of its run would fail); gantry does not.
    keepalive_requests 1000000;
    map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
    upstream demo { server 127.0.0.1:$INSTANCE_PORT; keepalive 64; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$NGINX_SERVE_PORT;
        location / {
$NGINX_PROXY_LIKE_GANTRY            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
        }
    }
    server {
        # h2c with prior knowledge, as h2load speaks it to http:// URLs.
        listen 127.0.0.1:$NGINX_H2_PORT http2;
        http2_max_concurrent_streams 128;
        location / {
$NGINX_PROXY_LIKE_GANTRY            proxy_set_header Connection "";
        }
    }
}
CONF
    "$NGINX" -p "$TMP/nginx2" -c "$TMP/nginx2/nginx.conf" -e "$TMP/nginx2/logs/error.log" &
    PIDS+=($!)
    wait_port "$NGINX_SERVE_PORT"; wait_port "$NGINX_H2_PORT"
}

# h2load's figures: req/s, and requests that failed or were answered 4xx/5xx.
h2_rps() { awk '$1 == "finished" { for (i = 1; i <= NF; i++) if ($(i + 1) == "req/s,") { print $i; exit } }' "$1"; }
h2_failed() { awk '$1 == "requests:" { n += $10 } $1 == "status" { n += $7 + $9 } END { print n + 0 }' "$1"; }

serve_measure() {
    local t r k
    declare -A sport=([gantry]="$SERVE_PORT" [nginx]="$NGINX_SERVE_PORT")
    declare -A h2port=([gantry]="$SERVE_PORT" [nginx]="$NGINX_H2_PORT")
    declare -gA s_rps s_p99 s_h2 s_h2fail s_ws s_burst
    declare -ga s_ratios=() s_h2ratios=()
    local order=(gantry nginx)
    for t in gantry nginx; do  # warm-up (pools, caches)
        timeout 60 wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "http://127.0.0.1:${sport[$t]}/" >/dev/null
        timeout 60 h2load -D 2 -c "$H2_CONNECTIONS" -m "$H2_STREAMS" -t "$THREADS" "http://127.0.0.1:${h2port[$t]}/" >/dev/null
    done
    for r in $(seq 1 "$SERVE_ROUNDS"); do
        for k in 0 1; do
            t=${order[$(( (k + r - 1) % 2 ))]}
            log "serve round $r: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency ($t)"
            timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:${sport[$t]}/" >"$TMP/serve-$t.$r.txt"
            local e; e="$(errors "$TMP/serve-$t.$r.txt")"
            [ -z "$e" ] || printf '    %s: %s\n' "$t" "$e" >&2
            log "serve round $r: h2load -D ${DURATION%s} -c$H2_CONNECTIONS -m$H2_STREAMS ($t)"
            timeout 120 h2load -D "${DURATION%s}" -c "$H2_CONNECTIONS" -m "$H2_STREAMS" -t "$THREADS" \
                "http://127.0.0.1:${h2port[$t]}/" >"$TMP/serve-h2-$t.$r.txt" 2>&1
        done
        s_ratios+=("$(awk -v a="$(rps "$TMP/serve-gantry.$r.txt")" -v b="$(rps "$TMP/serve-nginx.$r.txt")" 'BEGIN { printf "%.2f", a / b }')")
        s_h2ratios+=("$(awk -v a="$(h2_rps "$TMP/serve-h2-gantry.$r.txt")" -v b="$(h2_rps "$TMP/serve-h2-nginx.$r.txt")" 'BEGIN { printf "%.2f", a / b }')")
    done
    for t in gantry nginx; do
        s_rps[$t]=$(for r in $(seq 1 "$SERVE_ROUNDS"); do rps "$TMP/serve-$t.$r.txt"; echo; done | median)
        s_p99[$t]=$(for r in $(seq 1 "$SERVE_ROUNDS"); do p99_ms "$TMP/serve-$t.$r.txt"; echo; done | median)
        s_h2[$t]=$(for r in $(seq 1 "$SERVE_ROUNDS"); do h2_rps "$TMP/serve-h2-$t.$r.txt"; echo; done | median)
        s_h2fail[$t]=$(for r in $(seq 1 "$SERVE_ROUNDS"); do h2_failed "$TMP/serve-h2-$t.$r.txt"; done | awk '{ n += $1 } END { print n + 0 }')
    done
    for t in gantry nginx; do
        log "serve: WebSocket echo, $WS_CONNECTIONS connections, ${WS_SECONDS}s ($t)"
        s_ws[$t]=$(timeout 120 "$EDGE_BENCH" ws "ws://127.0.0.1:${sport[$t]}/ws" "$WS_CONNECTIONS" "$WS_SECONDS" | awk '{ print $2 }')
    done
    for t in gantry nginx; do
        if [ "$(ulimit -n)" -ge $((BURST * 3)) ] || ulimit -n $((BURST * 3)) 2>/dev/null; then
            log "serve: burst of $BURST connections idle ${BURST_IDLE}s ($t)"
            s_burst[$t]=$(timeout 300 "$EDGE_BENCH" burst "127.0.0.1:${sport[$t]}" "$BURST" "$BURST_IDLE" | awk '{ print $2 }')
        else
            s_burst[$t]="skipped (ulimit -n $(ulimit -n))"
        fi
    done
}

serve_report() {
    echo
    echo "through gantry serve: demo-app v1, $(nproc) CPUs, nginx $WORKERS workers, $SERVE_ROUNDS rounds (medians), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%-8s %14s %10s %14s %12s %12s %16s\n' target "h1 req/s c$CONNECTIONS" "h1 p99 ms" "h2 req/s" "h2 failed" "ws msgs/s" "burst failures"
    for t in gantry nginx; do
        printf '%-8s %14s %10s %14s %12s %12s %16s\n' "$t" "${s_rps[$t]}" "${s_p99[$t]}" "${s_h2[$t]}" "${s_h2fail[$t]}" "${s_ws[$t]}" "${s_burst[$t]}"
    done
    echo "gantry serve/nginx HTTP/1.1 throughput per round: ${s_ratios[*]}; HTTP/2: ${s_h2ratios[*]}"
    awk -v r="${s_rps[gantry]}" -v n="${s_rps[nginx]}" -v rp="${s_p99[gantry]}" -v np="${s_p99[nginx]}" \
        -v rh="${s_h2[gantry]}" -v nh="${s_h2[nginx]}" -v rw="${s_ws[gantry]}" -v nw="${s_ws[nginx]}" 'BEGIN {
        printf "gantry serve/nginx (medians): HTTP/1.1 throughput %.2fx (target >= 1.00x: %s), p99 %.2fx, HTTP/2 throughput %.2fx, WebSocket echo %.2fx\n",
            r / n, (r / n >= 1.0 ? "met" : "MISSED"), rp / np, rh / nh, rw / nw }'
}

if [ "${SERVE_BENCH:-1}" != 0 ]; then
    serve_build
    trap 'serve_stop; cleanup' EXIT INT TERM
    serve_start
    serve_nginx
    serve_measure
    serve_report
fi
