#!/usr/bin/env bash
# gantry's monitor at scale against the Prometheus blackbox exporter, measured in one run:
# COUNT http targets (one small server, demo-app's `many-targets` example, one port per
# target) probed every second, first by `gantry serve` (release build, `monitor.targets`
# with `interval: 1s`), then by blackbox_exporter scraped by a Prometheus with
# `scrape_interval: 1s`. Each side runs alone for its window, so neither takes CPU from
# the other.
#
# Prints, per side, the CPU used over the window (percent of one core, from
# /proc/PID/stat utime+stime), probes per second and probe rounds per second; for gantry
# also the p99 lateness of its probes against their schedule (from the
# gantry_probe_lateness_seconds histogram on /metrics, read at the window's start and
# end), and the ratio of CPU used. Targets from issue 8: p99 lateness <= 50 ms, CPU <= 20 %
# of one core.
#
# Usage: bench/monitor-scale.sh   (env: DURATION=60 WARMUP=5 COUNT=1000 BASE_PORT=21000
#                                  PROM_PORT=19090 BLACKBOX_PORT=19115
#                                  WORKSPACE=<dir with the Cargo workspace>)
#        DURATION=20 for a quick run; BLACKBOX=0 skips the comparison.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKSPACE="${WORKSPACE:-$ROOT}"
DURATION="${DURATION:-60}"
WARMUP="${WARMUP:-5}"
COUNT="${COUNT:-1000}"
BASE_PORT="${BASE_PORT:-21000}"
PROM_PORT="${PROM_PORT:-19090}"
BLACKBOX_PORT="${BLACKBOX_PORT:-19115}"
BLACKBOX="${BLACKBOX:-1}"

BENCH=monitor-scale
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# --- tools -------------------------------------------------------------------------------
need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
if [ "$BLACKBOX" != 0 ]; then
    command -v prometheus >/dev/null || need_apt+=(prometheus)
    command -v prometheus-blackbox-exporter >/dev/null || need_apt+=(prometheus-blackbox-exporter)
fi
apt_install "${need_apt[@]}"

# --- build -------------------------------------------------------------------------------
log "building release binaries"
(cd "$WORKSPACE" && cargo build --release --quiet -p gantry \
    && cargo build --release --quiet -p demo-app --example many-targets)
TARGET_DIR="$(target_dir "$WORKSPACE")"
GANTRY="$TARGET_DIR/release/gantry"
TARGETS="$TARGET_DIR/release/examples/many-targets"
[ -x "$GANTRY" ] && [ -x "$TARGETS" ] || die "binaries not found under $TARGET_DIR/release"

# --- processes ---------------------------------------------------------------------------
TMP="$(mktemp -d /tmp/monitor-scale.XXXXXX)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

stop() { # pid: TERM, then wait for it
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# The targets' fds, gantry's connections to them and Prometheus' series all count.
ulimit -n 20000 2>/dev/null || [ "$(ulimit -n)" -ge $((COUNT * 3)) ] \
    || die "ulimit -n $(ulimit -n) is too low for $COUNT targets"
for p in "$PROM_PORT" "$BLACKBOX_PORT"; do
    port_busy "$p" && die "port $p is already in use (set PROM_PORT/BLACKBOX_PORT)"
done
"$TARGETS" "$BASE_PORT" "$COUNT" >"$TMP/targets.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do grep -q '^listening' "$TMP/targets.log" && break; sleep 0.05; done
grep -q '^listening' "$TMP/targets.log" || die "many-targets did not start: $(cat "$TMP/targets.log") (set BASE_PORT)"

# CPU seconds (utime + stime) a process has used so far.
cpu_secs() {
    local ticks; ticks=$(getconf CLK_TCK)
    # Fields after the command name (which may hold spaces): utime and stime are 12 and 13.
    sed 's/^.*) //' "/proc/$1/stat" | awk -v t="$ticks" '{ printf "%.3f", ($12 + $13) / t }'
}
pct() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { printf "%.1f", (b - a) / d * 100 }'; }
now() { date +%s.%N; }

# === gantry ==============================================================================
PROJ="$TMP/project"
mkdir -p "$PROJ"
(cd "$PROJ" && "$GANTRY" init --project bench >/dev/null)
{
    echo "project: bench"
    echo "agents:"
    echo "  operator: { id: OperationsBoardAgent }"
    echo "# A benchmark fixture, not a production service."
    echo "policy: { default: warning }"
    echo "monitor:"
    echo "  interval: 1s"
    echo "  targets:"
    for i in $(seq 0 $((COUNT - 1))); do
        printf '    t%04d: { http: "http://127.0.0.1:%d/", timeout: 2s }\n' "$i" $((BASE_PORT + i))
    done
} >"$PROJ/gantry.yaml"
(cd "$PROJ" && "$GANTRY" check >/dev/null) || die "gantry check refused the bench config"
log "gantry serve with $COUNT http targets every 1s"
(cd "$PROJ" && exec "$GANTRY" serve --listen 127.0.0.1:0) >"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
for _ in $(seq 1 600); do
    [ -f "$PROJ/.gantry/serve.json" ] && grep -q "\"pid\": *$SERVE_PID\b" "$PROJ/.gantry/serve.json" && break
    kill -0 "$SERVE_PID" 2>/dev/null || die "gantry serve exited: $(tail -5 "$TMP/serve.log")"
    sleep 0.05
done
URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$PROJ/.gantry/serve.json")
TOKEN=$(tr -d '\n' <"$PROJ/.gantry/admin.token")
metrics() { curl -sf -H "Authorization: Bearer $TOKEN" "$URL/metrics"; }

sleep "$WARMUP"
metrics >"$TMP/m0.txt" || die "GET /metrics failed"
c0=$(cpu_secs "$SERVE_PID"); t0=$(now)
log "measuring gantry for ${DURATION}s"
sleep "$DURATION"
c1=$(cpu_secs "$SERVE_PID"); t1=$(now)
metrics >"$TMP/m1.txt" || die "GET /metrics failed"
stop "$SERVE_PID"
window=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
g_cpu=$(pct "$c0" "$c1" "$window")

# Figures from the two scrapes: deltas of counters and of the lateness histogram.
read -r g_probes g_failed g_rounds g_p99 g_p50 g_late_n < <(python3 - "$TMP/m0.txt" "$TMP/m1.txt" <<'PY'
import re, sys

def read(path):
    series = {}
    for line in open(path):
        if line.startswith("#"):
            continue
        m = re.match(r'^(\w+)(\{[^}]*\})? (\S+)', line)
        if m:
            series[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return series

a, b = read(sys.argv[1]), read(sys.argv[2])
delta = lambda k: b.get(k, 0.0) - a.get(k, 0.0)
probes = sum(delta(k) for k in b if k[0] == "gantry_probes_total")
failed = sum(delta(k) for k in b if k[0] == "gantry_probes_total" and 'result="failed"' in k[1])
rounds = delta(("gantry_check_rounds_total", '{trigger="schedule"}'))
buckets = sorted(
    (float(re.search(r'le="([^"]+)"', k[1]).group(1)), delta(k))
    for k in b if k[0] == "gantry_probe_lateness_seconds_bucket")
count = delta(("gantry_probe_lateness_seconds_count", ""))

def quantile(q):
    # As PromQL's histogram_quantile: linear within the bucket the rank falls in.
    if count <= 0:
        return float("nan")
    rank, lo, below = q * count, 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * (rank - below) / max(n - below, 1e-9)
        lo, below = le, n
    return lo

print(int(probes), int(failed), int(rounds), f"{quantile(0.99) * 1000:.1f}", f"{quantile(0.5) * 1000:.1f}", int(count))
PY
)
g_pps=$(awk -v n="$g_probes" -v d="$window" 'BEGIN { printf "%.1f", n / d }')
g_rps=$(awk -v n="$g_rounds" -v d="$window" 'BEGIN { printf "%.2f", n / d }')

# === blackbox exporter + Prometheus =======================================================
if [ "$BLACKBOX" != 0 ]; then
    BB="$TMP/blackbox"
    mkdir -p "$BB/data"
    cat >"$BB/blackbox.yml" <<YAML
modules:
  http_2xx:
    prober: http
    timeout: 2s
    http:
      preferred_ip_protocol: ip4
YAML
    {
        echo "global: { scrape_interval: 1s, scrape_timeout: 1s }"
        echo "scrape_configs:"
        echo "  - job_name: blackbox"
        echo "    metrics_path: /probe"
        echo "    params: { module: [http_2xx] }"
        echo "    static_configs:"
        echo "      - targets:"
        for i in $(seq 0 $((COUNT - 1))); do
            echo "          - http://127.0.0.1:$((BASE_PORT + i))/"
        done
        echo "    relabel_configs:"
        echo "      - { source_labels: [__address__], target_label: __param_target }"
        echo "      - { source_labels: [__param_target], target_label: instance }"
        echo "      - { target_label: __address__, replacement: '127.0.0.1:$BLACKBOX_PORT' }"
    } >"$BB/prometheus.yml"
    log "blackbox_exporter probing the same $COUNT targets, scraped by Prometheus every 1s"
    prometheus-blackbox-exporter --config.file="$BB/blackbox.yml" \
        --web.listen-address="127.0.0.1:$BLACKBOX_PORT" >"$BB/blackbox.log" 2>&1 &
    BB_PID=$!
    PIDS+=("$BB_PID")
    wait_port "$BLACKBOX_PORT" 10
    prometheus --config.file="$BB/prometheus.yml" --storage.tsdb.path="$BB/data" \
        --web.listen-address="127.0.0.1:$PROM_PORT" >"$BB/prometheus.log" 2>&1 &
    PROM_PID=$!
    PIDS+=("$PROM_PID")
    wait_port "$PROM_PORT" 10
    sleep "$WARMUP"
    b0=$(cpu_secs "$BB_PID"); p0=$(cpu_secs "$PROM_PID"); t0=$(now)
    log "measuring blackbox_exporter + Prometheus for ${DURATION}s"
    sleep "$DURATION"
    b1=$(cpu_secs "$BB_PID"); p1=$(cpu_secs "$PROM_PID"); t1=$(now)
    bwindow=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    b_cpu=$(pct "$b0" "$b1" "$bwindow")
    p_cpu=$(pct "$p0" "$p1" "$bwindow")
    # Probes Prometheus stored over the window (one probe_success sample per probe), and
    # the failed ones; asked at the window's end.
    query() {
        curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" --data-urlencode "time=$t1" \
            | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)'
    }
    range="$(printf '%.0f' "$bwindow")s"
    b_probes=$(query "sum(count_over_time(probe_success{job=\"blackbox\"}[$range]))")
    b_failed=$(query "sum(count_over_time(probe_success{job=\"blackbox\"}[$range]) - sum_over_time(probe_success{job=\"blackbox\"}[$range]))")
    b_pps=$(awk -v n="$b_probes" -v d="$bwindow" 'BEGIN { printf "%.1f", n / d }')
    b_rps=$(awk -v n="$b_probes" -v d="$bwindow" -v c="$COUNT" 'BEGIN { printf "%.2f", n / d / c }')
    stop "$PROM_PID"; stop "$BB_PID"
fi

# --- report ------------------------------------------------------------------------------
echo
echo "monitor-scale: $COUNT http targets every 1s, ${DURATION}s windows, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %10s %10s %10s %8s %16s\n' prober "CPU %core" "probes/s" "rounds/s" failed "lateness p50/p99"
printf '%-22s %10s %10s %10s %8s %16s\n' "gantry serve" "$g_cpu" "$g_pps" "$g_rps" "$g_failed" "$g_p50/$g_p99 ms"
if [ "$BLACKBOX" != 0 ]; then
    printf '%-22s %10s %10s %10s %8s %16s\n' "blackbox_exporter" "$b_cpu" "$b_pps" "$b_rps" "$b_failed" "-"
    printf '%-22s %10s\n' "prometheus (scraping)" "$p_cpu"
fi
echo "gantry: $g_late_n scheduled probes timed; window ${window}s"
awk -v c="$g_cpu" -v l="$g_p99" 'BEGIN {
    printf "gantry: p99 lateness %.1f ms (target <= 50 ms: %s), CPU %.1f%% of one core (target <= 20%%: %s)\n",
        l, (l <= 50 ? "met" : "MISSED"), c, (c <= 20 ? "met" : "MISSED") }'
if [ "$BLACKBOX" != 0 ]; then
    awk -v g="$g_cpu" -v b="$b_cpu" -v p="$p_cpu" 'BEGIN {
        printf "CPU ratio gantry/blackbox_exporter: %.2fx; gantry/(blackbox_exporter + prometheus): %.2fx\n",
            g / b, g / (b + p) }'
fi
