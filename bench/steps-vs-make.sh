#!/usr/bin/env bash
# Step-runner overhead: a gantry pipeline of N sequential trivial steps (`true`) against a
# Makefile of N chained targets (and a justfile, if `just` is installed), measured in the
# same run on the same machine. gantry still logs every step to its own file and records
# every transition as a signed ledger entry (durable at the stage's end).
#
# Rounds are interleaved (gantry, make, gantry, make, ...) so that load from whatever else
# runs on the machine falls on both alike; each gantry round starts from a fresh project so
# the ledger does not grow between rounds. Prints the median and the spread (min..max) of
# each, the median of the per-round ratios, and the load average before and after.
#
#   bench/steps-vs-make.sh              # N=200, 9 rounds
#   N=500 ROUNDS=15 bench/steps-vs-make.sh
set -euo pipefail

N=${N:-200}
ROUNDS=${ROUNDS:-9}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

command -v make >/dev/null || { echo "installing make"; apt-get install -y make >/dev/null; }
cargo build --release -q -p gantry --manifest-path "$ROOT/Cargo.toml"
GANTRY=${GANTRY:-$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/gantry}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

mkdir template
# init creates the ledger and keys; its example config is then replaced by the bench's.
(cd template && "$GANTRY" init --project bench >/dev/null)
{
  echo "project: bench"
  echo "agents: { operator: { id: OperationsBoardAgent } }"
  echo "pipelines:"
  echo "  steps:"
  echo "    stages:"
  echo "      - name: s"
  echo "        steps:"
  for i in $(seq 1 "$N"); do echo "          - { name: t$i, run: 'true' }"; done
} > template/gantry.yaml

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

# Wall time of "$@" in microseconds (output discarded; a failure stops the bench).
timed() {
  local s e
  s=$(date +%s%N)
  "$@" >/dev/null 2>&1
  e=$(date +%s%N)
  echo $(((e - s) / 1000))
}

# "median min max" of the numbers on stdin.
stats() {
  sort -n | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%s %s %s\n", m, v[1], v[NR] }'
}

echo "load before: $(uptime | sed 's/.*load average: //')"
: > gantry.us
: > make.us
: > just.us
: > ratio.txt
for r in $(seq 1 "$ROUNDS"); do
  # A new directory per round, removed only at the end: ext4 makes each new file (a step's
  # log) look past recently deleted inodes, so deleting a round just before the next would
  # slow gantry down by the bench's own doing.
  cp -r template "round-$r"
  g=$(cd "round-$r" && timed "$GANTRY" run steps --jobs 1)
  m=$(timed make -s all)
  echo "$g" >> gantry.us
  echo "$m" >> make.us
  echo "$g $m" | awk '{ printf "%.3f\n", $1 / $2 }' >> ratio.txt
  if [ "$HAVE_JUST" = 1 ]; then timed just "t$N" >> just.us; fi
  printf 'round %2d: gantry %6.3f ms/step  make %6.3f ms/step\n' "$r" \
    "$(echo "$g / 1000 / $N" | bc -l)" "$(echo "$m / 1000 / $N" | bc -l)"
done
echo "load after:  $(uptime | sed 's/.*load average: //')"

last=round-$ROUNDS
# The last gantry round's evidence: one log per step, entries for every transition.
entries=$(wc -l < $last/.gantry/ledger.jsonl)
started=$(grep -c '"kind":"step.state.started"' $last/.gantry/ledger.jsonl)
finished=$(grep -c '"kind":"step.state.succeeded"' $last/.gantry/ledger.jsonl)
logs=$(find $last/.gantry/runs -name '*.log' | wc -l)
(cd "$last" && "$GANTRY" ledger verify >/dev/null)

report() { # name file
  read -r med lo hi < <(stats < "$2")
  printf '%-7s median %6.3f ms/step  (spread %.3f..%.3f over %s rounds)\n' "$1" \
    "$(echo "$med / 1000 / $N" | bc -l)" "$(echo "$lo / 1000 / $N" | bc -l)" \
    "$(echo "$hi / 1000 / $N" | bc -l)" "$ROUNDS"
}
report gantry gantry.us
report make make.us
[ "$HAVE_JUST" = 1 ] && report just just.us
read -r gmed _ _ < <(stats < gantry.us)
read -r mmed _ _ < <(stats < make.us)
read -r rmed rlo rhi < <(stats < ratio.txt)
printf 'ratio gantry/make per step: %.2f (medians); per round median %.2f, spread %.2f..%.2f (target <= 1.5)\n' \
  "$(echo "$gmed / $mmed" | bc -l)" "$rmed" "$rlo" "$rhi"
echo "last gantry round: $logs step logs, $started steps started, $finished succeeded, $entries ledger entries; ledger verifies"
