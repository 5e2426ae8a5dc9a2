#!/usr/bin/env bash
# The whole test suite: tools, lint, types, then every test (unit, e2e, fidelity, chart, prometheus).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-tools.sh
echo "== lint";      eslint --max-warnings 0 .
echo "== typecheck"; tsc --noEmit
echo "== tests";     vitest run "$@"
