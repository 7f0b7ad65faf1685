# Shared by bench/zero-downtime.sh and bench/rollback-latency.sh: a release build, a
# temporary project whose service `web` has a good v1/v2 and a bad v3 (50% errors), and
# `gantry serve` in the background. Source it; it sets $dir, $port, $bin and g().
set -euo pipefail
cd "$(dirname "$0")/.."
# The binaries (gantry, demo-app) and the load generator (an example): `--examples` alone
# would build only the examples.
cargo build -q --release -p gantry -p demo-app --bins
cargo build -q --release -p gantry-test-support --examples
bin="$PWD/target/release"
dir=$(mktemp -d -t gantry-bench.XXXXXX)
cleanup() {
    touch "$dir/stop-load" 2>/dev/null || true
    if [ -f "$dir/.gantry/serve.pid" ]; then kill "$(cat "$dir/.gantry/serve.pid")" 2>/dev/null || true; fi
    sleep 1
    rm -rf "$dir"
}
trap cleanup EXIT
g() { "$bin/gantry" -C "$dir" "$@"; }
g init --project bench >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/gantry.yaml" <<YAML
project: bench
agents:
  operator: { id: OperationsBoardAgent }
services:
  web:
    listen: 127.0.0.1:$port
    releases:
      v1: { run: "$bin/demo-app --port {port} --version v1" }
      v2: { run: "$bin/demo-app --port {port} --version v2" }
      v3: { run: "$bin/demo-app --port {port} --version v3 --error-rate 0.5" }
    health:
      readiness: { http: /health, period: 200ms, timeout: 500ms, failure_threshold: 2 }
    strategy:
      canary:
        steps: [ { weight: 10, pause: ${CANARY_PAUSE:-3s} }, { weight: 50 } ]
        progress_deadline: 10s
    analysis: { error_rate: "< 2%", latency_p99: "< 300ms", min_requests: 20, window: 1s }
YAML
g serve --detach >/dev/null
g deploy web --version v1 --wait >/dev/null
