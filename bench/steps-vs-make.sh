#!/usr/bin/env bash
# Step-runner overhead: a gantry pipeline of N sequential trivial steps (`true`) against a
# Makefile of N chained targets (and a justfile, if `just` is installed), measured in the
# same run on the same machine. gantry still logs every step to its own file and records
# every transition as a signed, fsynced ledger entry.
#
#   bench/steps-vs-make.sh            # N=200, best of 3
#   N=500 REPS=5 bench/steps-vs-make.sh
set -euo pipefail

N=${N:-200}
REPS=${REPS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

command -v make >/dev/null || { echo "installing make"; apt-get install -y make >/dev/null; }
cargo build --release -q -p gantry --manifest-path "$ROOT/Cargo.toml"
GANTRY=${GANTRY:-$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/gantry}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
"$GANTRY" init --project bench >/dev/null

{
  echo "project: bench"
  echo "agents: { operator: { id: OperationsBoardAgent } }"
  echo "pipelines:"
  echo "  steps:"
  echo "    stages:"
  echo "      - name: s"
  echo "        steps:"
  for i in $(seq 1 "$N"); do echo "          - { name: t$i, run: 'true' }"; done
} > gantry.yaml

{
  echo ".PHONY: all $(seq -f 't%g' 1 "$N" | tr '\n' ' ')"
  echo "all: t$N"
  echo "t1:"
  printf '\t@true\n'
  for i in $(seq 2 "$N"); do echo "t$i: t$((i - 1))"; printf '\t@true\n'; done
} > Makefile

HAVE_JUST=0
if command -v just >/dev/null; then
  HAVE_JUST=1
  {
    echo "t1:"
    echo "    @true"
    for i in $(seq 2 "$N"); do echo "t$i: t$((i - 1))"; echo "    @true"; done
  } > justfile
fi

# Best wall time in seconds of REPS runs of "$@".
best() {
  local best=""
  for _ in $(seq 1 "$REPS"); do
    local s e t
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
  done
  echo "$best"
}

T_GANTRY=$(best "$GANTRY" run steps --jobs 1)
T_MAKE=$(best make -s all)
entries=$(wc -l < .gantry/ledger.jsonl)
logs=$(find .gantry/runs -name '*.log' | wc -l)
"$GANTRY" ledger verify >/dev/null

per() { echo "scale=3; $1 * 1000 / $N" | bc -l; }
printf '%-8s %8s s total %8s ms/step\n' gantry "$T_GANTRY" "$(per "$T_GANTRY")"
printf '%-8s %8s s total %8s ms/step\n' make "$T_MAKE" "$(per "$T_MAKE")"
if [ "$HAVE_JUST" = 1 ]; then
  T_JUST=$(best just "t$N")
  printf '%-8s %8s s total %8s ms/step\n' just "$T_JUST" "$(per "$T_JUST")"
  printf 'ratio gantry/just per step: %s\n' "$(echo "scale=2; $T_GANTRY / $T_JUST" | bc -l)"
fi
printf 'ratio gantry/make per step: %s (target <= 1.5)\n' "$(echo "scale=2; $T_GANTRY / $T_MAKE" | bc -l)"
echo "gantry wrote $logs step logs and $entries ledger entries over $REPS runs; ledger verifies"
