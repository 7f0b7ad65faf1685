#!/usr/bin/env bash
# The deployment part of the demo, in a temporary project:
#   serve → deploy v1 → canary to v2 (promoted) → canary to a bad v3 (rolled back by
#   analysis) → manual rollback to v1, with steady load on the service throughout; prints
#   each deployment's timeline and the load's figures, and ends with `ledger verify`.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-debug}
flag=$([ "$profile" = release ] && echo --release || true)
cargo build -q $flag -p gantry -p demo-app -p gantry-test-support --examples
bin="$PWD/target/$profile"
gantry="$bin/gantry"
dir=$(mktemp -d -t gantry-demo-deploy.XXXXXX)
cleanup() {
    touch "$dir/stop-load" 2>/dev/null || true
    if [ -f "$dir/.gantry/serve.pid" ]; then kill "$(cat "$dir/.gantry/serve.pid")" 2>/dev/null || true; fi
    sleep 1
    rm -rf "$dir"
}
trap cleanup EXIT
g() { "$gantry" -C "$dir" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "gantry init"
g init --project demo >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)
cat > "$dir/gantry.yaml" <<YAML
project: demo
agents:
  planner: { id: PlanAgent }
  operator: { id: OperationsBoardAgent }
  verifier: { id: ReviewAgent }
services:
  web:
    listen: 127.0.0.1:$port
    releases:
      v1: { run: "$bin/demo-app --port {port} --version v1" }
      v2: { run: "$bin/demo-app --port {port} --version v2" }
      v3: { run: "$bin/demo-app --port {port} --version v3 --error-rate 0.5" }
    health:
      readiness: { http: /health, period: 200ms, timeout: 500ms, failure_threshold: 2 }
      liveness: { http: /health, period: 1s, failure_threshold: 3 }
    strategy:
      canary:
        steps: [ { weight: 10, pause: 2s }, { weight: 50 } ]
        progress_deadline: 10s
    analysis: { error_rate: "< 2%", latency_p99: "< 300ms", min_requests: 20, window: 1s }
YAML
g check

say "gantry serve --detach"
g serve --detach

say "deploy v1"
g deploy web --version v1 --wait
BAD_VERSIONS=v3 "$bin/examples/load" "127.0.0.1:$port" 200 4 "$dir/stop-load" > "$dir/load.json" &

say "canary v1 → v2 (waits at 50% for promote)"
g deploy web --version v2
until [[ "$(g ps --json)" == *'"waiting_for_promote": true'* ]]; do sleep 0.2; done
g ps
say "gantry promote web"
g promote web
until [[ "$(g ps --json)" == *'"stable": "v2"'* ]]; do sleep 0.2; done
g ps

say "canary v2 → v3 (a bad release: 50% errors)"
g deploy web --version v3 --wait || echo "(deploy exited $? — rolled back automatically, as it should)"

say "manual rollback: dry run, then for real"
g rollback web --to v1 --dry-run
g rollback web --to v1
touch "$dir/stop-load"; wait
say "load during all of it (5xx of the bad v3 are deliberate)"
cat "$dir/load.json"
g ps

say "ledger: deployment timeline"
g ledger show --kind deployment.
g ledger show --kind rollback.
say "ledger verify"
g ledger verify
