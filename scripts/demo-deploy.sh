#!/usr/bin/env bash
# The deployment part of the demo, in a temporary project:
#   serve → deploy v1 → canary to v2 (promoted) → canary to a bad v3 (rolled back by
#   analysis) → manual rollback to v1, with steady load on the service throughout; prints
#   the load's figures and the timeline, and ends with `ledger verify`.
# PROFILE=release builds optimised binaries (default: debug). scripts/demo.sh runs this
# flow as part of the whole story.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/demo-lib.sh
demo_build "${PROFILE:-debug}"
demo_dir
trap demo_cleanup EXIT INT TERM

say "gantry init"
g init --project demo >/dev/null
demo_config
deploy_flow
deploy_timeline
say "ledger verify"
g ledger verify
