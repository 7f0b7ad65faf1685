#!/usr/bin/env bash
# (1) From the end of the first failing analysis window (the `deployment.state.failed`
#     decision) to 100% of new requests on the stable version (the route swap, recorded as
#     `traffic.shifted`): target ≤ 1 s. (2) From `gantry rollback` to done (a stable
#     instance started, ready, traffic switched, the old one drained): wall clock.
# Both over RUNS (default 3) runs, under 200 req/s of load.
CANARY_PAUSE=10s
source "$(dirname "$0")/deploy-common.sh"
runs=${RUNS:-3}
BAD_VERSIONS=v3 "$bin/examples/load" "127.0.0.1:$port" 200 4 "$dir/stop-load" > "$dir/load.json" &
for i in $(seq "$runs"); do
    g deploy web --version v3 --wait >/dev/null 2>&1 || true
done
g deploy web --version v2 --strategy blue-green --wait >/dev/null
manual=()
for i in $(seq "$runs"); do
    t0=$(date +%s%N)
    g rollback web --to v1 >/dev/null
    t1=$(date +%s%N)
    manual+=($(( (t1 - t0) / 1000000 )))
    g deploy web --version v2 --strategy blue-green --wait >/dev/null
done
touch "$dir/stop-load"; wait
python3 - "$dir/.gantry/ledger.jsonl" "$dir/load.json" "${manual[@]}" <<'PY'
import json, sys
from datetime import datetime
def ts(e): return datetime.strptime(e["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
entries = [json.loads(l) for l in open(sys.argv[1])]
auto = []
for i, e in enumerate(entries):
    if e["kind"] == "deployment.state.failed":
        dep = e["body"]["id"]; stable = e["body"]["from"]
        for f in entries[i + 1:]:
            if f["kind"] == "traffic.shifted" and f["body"].get("deployment") == dep and f["body"]["weights"] == {stable: 100}:
                auto.append((ts(f) - ts(e)) * 1000); break
manual = [int(x) for x in sys.argv[3:]]
load = json.load(open(sys.argv[2]))
print("automatic rollback, failing window → 100% stable (ms):", ", ".join(f"{x:.1f}" for x in auto),
      f"| max {max(auto):.1f} ms (target ≤ 1000 ms, ratio {max(auto)/1000:.3f})" if auto else "| none measured")
print("manual `gantry rollback` to done (ms):", ", ".join(map(str, manual)), f"| max {max(manual)} ms")
print(f"load: {load['requests']} requests, {load['failures']} failures (excluding the bad v3's own 5xx)")
PY
