#!/usr/bin/env bash
# Steady load (RATE req/s, default 1000) through gantry's router across a canary deploy
# with promotion, a bad canary rolled back automatically, and a manual rollback, until at
# least REQUESTS (default 50000) were sent. Prints requests, failures (target 0; the bad
# v3's own 5xx are deliberate and not counted) and latency p50/p99.
source "$(dirname "$0")/deploy-common.sh"
rate=${RATE:-1000}
want=${REQUESTS:-50000}
start=$(date +%s.%N)
BAD_VERSIONS=v3 "$bin/examples/load" "127.0.0.1:$port" "$rate" 8 "$dir/stop-load" > "$dir/load.json" &
sleep 1
g deploy web --version v2 >/dev/null
until [[ "$(g ps --json)" == *'"waiting_for_promote": true'* ]]; do sleep 0.1; done
g promote web >/dev/null
until [[ "$(g ps --json)" == *'"stable": "v2"'* ]]; do sleep 0.1; done
echo "canary v1 → v2 promoted"
g deploy web --version v3 --wait >/dev/null 2>&1 && { echo "v3 was not rolled back"; exit 1; }
echo "canary v2 → v3 rolled back automatically"
g rollback web --to v1 >/dev/null
echo "manual rollback v2 → v1 done"
# Keep the steady load going until the request target is reached.
elapsed=$(python3 -c "import time; print(time.time() - $start)")
rest=$(python3 -c "print(max(0.0, $want / $rate - $elapsed + 1.5))")
sleep "$rest"
touch "$dir/stop-load"; wait
python3 - "$dir/load.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"requests {r['requests']}  failures {r['failures']} (target 0)  no answer {r['no_answer']}")
print(f"latency p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms")
print("answers by status and version:", r["answers"])
PY
