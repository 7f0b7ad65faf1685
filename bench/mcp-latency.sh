#!/usr/bin/env bash
# MCP tool-call latency: N (default 1000) `status` and N `ps` calls over one stdio session
# (`gantry mcp`) and over streamable HTTP (`/mcp` under `gantry serve`), with the official
# MCP Python SDK as the client (.venv, from scripts/test.sh); p50/p99 per call, and the
# same for `gantry --json ps` as one process per call, with the ratio. Target: p99 ≤ 5 ms
# per MCP call. PROFILE=debug measures the debug build (no release build needed).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-1000}
profile=${PROFILE:-release}
if [ "$profile" = release ]; then
    cargo build -q --release -p gantry -p demo-app
else
    cargo build -q -p gantry -p demo-app
fi
bin="$PWD/target/$profile"
py=.venv/bin/python3
$py -c 'import mcp' || { echo "mcp-latency: .venv has no MCP SDK; run scripts/test.sh first" >&2; exit 1; }
dir=$(mktemp -d -t gantry-mcp-bench.XXXXXX)
cleanup() {
    "$bin/gantry" -C "$dir" serve --stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
g() { "$bin/gantry" -C "$dir" "$@"; }
g init --project bench >/dev/null
port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/gantry.yaml" <<YAML
project: bench
agents:
  operator: { id: OperationsBoardAgent }
services:
  web:
    listen: 127.0.0.1:$port
    releases:
      v1: { run: "$bin/demo-app --port {port} --version v1" }
    health:
      readiness: { http: /health, period: 200ms, timeout: 500ms, failure_threshold: 2 }
policy: { default: warning }
YAML
g serve --detach >/dev/null
g deploy web --version v1 --wait >/dev/null
token=$(g --json token create --role operator --name bench | $py -c 'import json,sys; print(json.load(sys.stdin)["token"])')
url=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$dir/.gantry/serve.json")
$py bench/mcp_latency.py stdio "$n" "$token" "$bin/gantry" "$dir" > "$dir/stdio.json"
$py bench/mcp_latency.py http "$n" "$token" "$url/mcp" > "$dir/http.json"
cli_n=$(( n < 200 ? n : 200 ))
: > "$dir/cli.txt"
for _ in $(seq "$cli_n"); do
    t0=$(date +%s%N)
    GANTRY_TOKEN=$token g --json ps >/dev/null
    t1=$(date +%s%N)
    echo $(( t1 - t0 )) >> "$dir/cli.txt"
done
$py - "$dir" "$n" "$cli_n" "$profile" <<'PY'
import json, sys
d, n, cli_n, profile = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def q(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]
cli = [int(l) / 1e6 for l in open(f"{d}/cli.txt")]
cli50, cli99 = q(cli, .5), q(cli, .99)
print(f"MCP tool calls ({profile} build, {n} per tool; `gantry --json ps` {cli_n} processes)")
print(f"{'':22}{'p50 ms':>9}{'p99 ms':>9}   ratio to `gantry --json ps` (p50 / p99)")
for transport in ("stdio", "http"):
    res = json.load(open(f"{d}/{transport}.json"))
    for tool, ms in res.items():
        p50, p99 = q(ms, .5), q(ms, .99)
        ok = "ok" if p99 <= 5 else "OVER the 5 ms target"
        print(f"{transport + ' ' + tool:22}{p50:9.2f}{p99:9.2f}   {p50/cli50:.3f} / {p99/cli99:.3f}   p99 {ok}")
print(f"{'gantry --json ps':22}{cli50:9.2f}{cli99:9.2f}   1 / 1")
PY
