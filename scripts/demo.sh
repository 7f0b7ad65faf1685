#!/usr/bin/env bash
# The README's demo: builds gantry, then walks a fresh project in a temporary directory
# through init, signed entries by three agents, a seal, verification and a proof.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p gantry
gantry="$PWD/target/release/gantry"

work=$(mktemp -d -t gantry-demo-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
step() { printf '\n\033[1m$ gantry %s\033[0m\n' "$*"; "$gantry" "$@"; }

step init --project demo
step agent list
step ledger append --as planner  --kind plan.drafted   --body '{"release":"v2","risk":"low"}'
step ledger append --as operator --kind deploy.applied --body '{"service":"web","version":"v2"}'
step ledger append --as verifier --kind review.signed  --body '{"verdict":"approve"}'
step ledger seal
step ledger show
step ledger verify
step ledger prove 5 --out proof.json
step ledger verifier-key
step ledger check-proof proof.json --key "$("$gantry" ledger verifier-key)"
step replay

printf '\nTampering with the plan entry (v2 -> v9)...\n'
sed -i 's/"release":"v2"/"release":"v9"/' .gantry/ledger.jsonl
if "$gantry" ledger verify; then
  echo "demo failed: tampering was not detected" >&2
  exit 1
fi
printf '\ndemo done: tampering was detected and named.\n'
