#!/usr/bin/env bash
# Pipes N lines (default 1,000,000) into `gantry ledger append --stdin` in a fresh project,
# whole release process, and prints entries/s and its peak RSS (getrusage of the only
# child) against the claim that memory stays under 64 MiB whatever N is; then verifies the
# result. Usage: bench/append-stdin.sh [N]
set -euo pipefail
N=${1:-1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet -p gantry --manifest-path "$root/Cargo.toml"
gantry="${CARGO_TARGET_DIR:-$root/target}/release/gantry"

work=$(mktemp -d -t gantry-append-stdin-XXXXXX)
trap 'rm -rf "$work"' EXIT
"$gantry" -C "$work" init --project bench >/dev/null

python3 - "$N" "$gantry" "$work" <<'PY'
import resource, subprocess, sys, time
n, gantry, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
child = subprocess.Popen(
    [gantry, "-C", work, "ledger", "append", "--as", "operator", "--stdin"],
    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
start = time.monotonic()
line = b'{"kind":"load.tick","body":{"i":%d,"pipeline":"release","stage":"deploy","status":"started"}}\n'
for i in range(n):
    child.stdin.write(line % i)
child.stdin.close()
code = child.wait()
took = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
load = open("/proc/loadavg").read().split()[:3]
print(f"append --stdin: {n} lines in {took:.1f} s = {n / took:.0f} entries/s, "
      f"peak RSS {peak:.1f} MiB (claim: < 64 MiB, {'met' if peak < 64 else 'NOT met'}); "
      f"exit {code}; load {' '.join(load)}")
sys.exit(code or (peak >= 64))
PY
start=$(date +%s.%N)
"$gantry" -C "$work" ledger verify | cut -c1-120
python3 -c "import sys; print(f'verify took {float(sys.argv[2]) - float(sys.argv[1]):.1f} s')" "$start" "$(date +%s.%N)"
