#!/usr/bin/env bash
# The README's demo, on a fresh machine: builds gantry and demo-app (release), then walks a
# temporary project through
#   init → entries signed by three agents → serve → deploy v1 → canary v2 (promoted) →
#   bad v3 (rolled back automatically) → manual rollback → the `release` pipeline (its
#   deploy: and smoke: steps drive the control plane, agents sign its checkpoints) →
#   seal → verify → an offline inclusion proof → tampering, named by `ledger verify`.
# Exits non-zero if any step does not do what it should; stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/demo-lib.sh
demo_build release
demo_dir
trap demo_cleanup EXIT INT TERM
started=$SECONDS

show init --project demo
show agent list
show ledger append --as planner  --kind plan.drafted   --body '{"release":"v2","risk":"low"}'
show ledger append --as operator --kind deploy.approved --body '{"service":"web","version":"v2"}'
show ledger append --as verifier --kind review.signed  --body '{"verdict":"approve"}'
plan_seq=$(g --json ledger show --kind plan.drafted | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["seq"])')

demo_config
deploy_flow

say "the release pipeline: plan (planner signs) → deploy v2 + smoke (operator signs) → health (verifier signs)"
# The pipeline's rolling update is judged by analysis, which waits for traffic rather than
# promote on no evidence: keep a load on the service while it runs.
"$bin/examples/load" "127.0.0.1:$port" 200 4 "$dir/stop-load-pipeline" > "$dir/load-pipeline.json" &
load_pid=$!
timeout 90 "$gantry" -C "$dir" run release
touch "$dir/stop-load-pipeline"
wait "$load_pid"
load_pid=
if ! grep -q '"failures":0[,}]' "$dir/load-pipeline.json"; then
  echo "demo failed: requests failed during the pipeline's deploy" >&2
  cat "$dir/load-pipeline.json" >&2
  exit 1
fi
show runs
run=$(g --json ledger show --kind pipeline.state.started | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["body"]["run"])')
show logs "$run" "deploy web v2"
show logs "$run" smoke

deploy_timeline
show ledger seal
show ledger verify
show ledger prove "$plan_seq" --out "$dir/proof.json"
show ledger check-proof "$dir/proof.json" --key "$(g ledger verifier-key)"
show replay

printf '\nTampering with the plan entry (seq %s: v2 -> v9)...\n' "$plan_seq"
sed -i 's/"release":"v2","risk":"low"/"release":"v9","risk":"low"/' "$dir/.gantry/ledger.jsonl"
if g ledger verify; then
  echo "demo failed: tampering was not detected" >&2
  exit 1
fi
printf '\ndemo done in %ss (after the build): deployments, a pipeline and tampering, all in the ledger.\n' "$((SECONDS - started))"
