#!/usr/bin/env bash
# The test command, for people and CI alike: installs the peers the tests run against that
# are not Rust crates, then runs the whole suite. Extra arguments go to `cargo test`.
#
# - .venv/ (Python): rfc8785 + cryptography for the independent ledger verifier written
#   from FORMAT.md (crates/gantry/tests/cli/independent_verifier.rs).
# - .venv/ (Python): check-jsonschema, which validates `gantry plan` against
#   schemas/plan.schema.json (crates/gantry/tests/policy/plan.rs).
# - prometheus (Debian; also gives promtool): scraped by the monitoring tests
#   (crates/gantry/tests/monitor/serve.rs); installed with apt-get when missing and root.
# - .venv/ (Python): openapi-spec-validator + schemathesis for the API's OpenAPI document
#   (crates/gantry/tests/agents_api/openapi.rs).
# - .venv/ (Python): mcp, the official MCP Python SDK that drives `gantry mcp` and `/mcp`
#   through the operations runbook (crates/gantry/tests/agents_api/mcp.rs).
# Tests whose peer is missing fail when CI is set and skip with a printed reason elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

python_packages=(rfc8785 cryptography check-jsonschema openapi-spec-validator schemathesis mcp)
if ! .venv/bin/python3 -c 'import rfc8785, cryptography, check_jsonschema, openapi_spec_validator, schemathesis, mcp' 2>/dev/null; then
  echo "test.sh: installing ${python_packages[*]} into .venv" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "${python_packages[@]}"
fi

if ! command -v prometheus >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test.sh: installing prometheus (apt-get)" >&2
  apt-get install -y --no-install-recommends prometheus >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends prometheus >/dev/null; }
fi
# - zsh, fish (Debian): parse the completion scripts `gantry completions` prints
#   (crates/gantry/tests/cli_ux/completions.rs; bash and util-linux `script` are there already).
for tool in zsh fish; do
  if ! command -v "$tool" >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing $tool (apt-get)" >&2
    apt-get install -y --no-install-recommends "$tool" >/dev/null ||
      { apt-get update >/dev/null && apt-get install -y --no-install-recommends "$tool" >/dev/null; }
  fi
done

cargo test --workspace "$@"
