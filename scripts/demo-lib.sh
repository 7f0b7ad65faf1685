# Shared by scripts/demo.sh (the whole story) and scripts/demo-deploy.sh (the deployment
# part alone); sourced, not run. Every process it starts is stopped by demo_cleanup, which
# the callers install as their EXIT trap.

# demo_build PROFILE: builds gantry, demo-app and the load generator; sets $bin and $gantry.
demo_build() {
    local profile=$1 flag=
    [ "$profile" = release ] && flag=--release
    cargo build -q $flag -p gantry -p demo-app -p gantry-test-support --bins --examples
    bin="${CARGO_TARGET_DIR:-$PWD/target}/$profile"
    gantry="$bin/gantry"
}

# demo_dir: a fresh temporary project directory in $dir.
demo_dir() {
    dir=$(mktemp -d -t gantry-demo.XXXXXX)
    load_pid=
}

demo_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "${dir:-}" ] || exit "$rc"
    touch "$dir/stop-load" 2>/dev/null || true
    if [ -n "${load_pid:-}" ]; then
        kill "$load_pid" 2>/dev/null || true
        wait "$load_pid" 2>/dev/null || true
    fi
    # SIGTERM: the control plane stops its own instances; wait for it (bounded) so nothing
    # outlives the demo, then make sure.
    if [ -f "$dir/.gantry/serve.pid" ]; then
        local pid i
        pid=$(cat "$dir/.gantry/serve.pid")
        kill "$pid" 2>/dev/null || true
        for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
    exit "$rc"
}

g() { "$gantry" -C "$dir" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# show ARGS: prints the command, then runs it.
show() { printf '\n\033[1m$ gantry %s\033[0m\n' "$*"; g "$@"; }

# wait_until SECONDS WHAT COMMAND...: polls COMMAND until it succeeds; fails after SECONDS.
wait_until() {
    local secs=$1 what=$2 end
    shift 2
    end=$((SECONDS + secs))
    until "$@"; do
        if [ "$SECONDS" -ge "$end" ]; then
            echo "demo failed: no $what within ${secs}s; the control plane says:" >&2
            g ps >&2 || true
            return 1
        fi
        sleep 0.2
    done
}
ps_says() { [[ "$(g ps --json)" == *"$1"* ]]; }

# demo_config: gantry.yaml with service `web` (releases v1, v2 and a bad v3 answering 50%
# errors) on a free port, a short canary, and a `release` pipeline whose steps use the
# built-in deploy and smoke actions.
demo_config() {
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
    analysis: { error_rate: "< 2%", latency_p99: "< 500ms", min_requests: 20, window: 1s }
# The demo runs on one machine with no alerting, limits, runbook or scans: the policy gate
# reports what production would need as warnings (\`gantry check\` prints them).
policy: { default: warning }
pipelines:
  release:
    budget: { time: 2m }
    stages:
      - name: plan
        steps:
          - name: plan
            run: mkdir -p dist && echo "release web v2 by rolling update" > dist/plan.txt
            artefacts: [dist/plan.txt]
        checkpoint: { role: planner, requires: [dist/plan.txt] }
      - name: deploy
        steps:
          - { name: deploy web v2, deploy: web, version: v2, strategy: rolling, env: staging }
          - { name: smoke, smoke: "GET / == 200", retries: 2 }
        checkpoint: { role: operator }
      - name: verify
        steps:
          - { name: health, smoke: "GET /health == 200" }
        checkpoint: { role: verifier }
      - name: rollback-if-needed
        if: failure()
        steps:
          - { name: roll back, run: "$gantry rollback web" }
YAML
    g check
}

# deploy_flow: serve → v1 → canary v2 (promoted) → bad v3 (rolled back by analysis) →
# manual rollback, under steady load from a second process; prints the load's figures.
deploy_flow() {
    say "gantry serve --detach"
    g serve --detach

    say "deploy v1"
    timeout 60 "$gantry" -C "$dir" deploy web --version v1 --wait
    BAD_VERSIONS=v3 "$bin/examples/load" "127.0.0.1:$port" 200 4 "$dir/stop-load" > "$dir/load.json" &
    load_pid=$!

    say "canary v1 → v2 (waits at 50% for promote)"
    g deploy web --version v2
    wait_until 20 "pause for promote" ps_says '"waiting_for_promote": true'
    g ps
    say "gantry promote web"
    g promote web
    wait_until 20 "v2 as stable" ps_says '"stable": "v2"'
    g ps

    say "canary v2 → v3 (a bad release: 50% errors)"
    if timeout 60 "$gantry" -C "$dir" deploy web --version v3 --wait; then
        echo "demo failed: the bad v3 was not rolled back" >&2
        return 1
    fi
    echo "(deploy exited non-zero: v3 was rolled back automatically, as it should be)"
    ps_says '"stable": "v2"'

    say "manual rollback: dry run, then for real"
    g rollback web --to v1 --dry-run
    timeout 60 "$gantry" -C "$dir" rollback web --to v1
    touch "$dir/stop-load"
    wait "$load_pid"
    load_pid=
    say "load during all of it (the 5xx of the bad v3 are deliberate)"
    cat "$dir/load.json"
    if ! grep -q '"failures":0[,}]' "$dir/load.json"; then
        echo "demo failed: requests failed during the deployments" >&2
        return 1
    fi
    g ps
}

# deploy_timeline: the deployments as the ledger recorded them.
deploy_timeline() {
    say "timeline (from the ledger)"
    g ledger show --kind deployment.
    g ledger show --kind rollback.
}
