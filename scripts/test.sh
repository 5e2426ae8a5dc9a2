#!/usr/bin/env bash
# The whole test suite: tools, lint, types, then every test (unit, e2e, fidelity, chart, prometheus,
# and the real-cluster tier against kube-apiserver, etcd and kube-scheduler).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-tools.sh
# The real control plane, each release of scripts/kube-versions.txt: built from Go modules on first
# use (10-25 min a release on two cores), cached after.
# Without Go this fails, and so does the suite: the real-cluster tier is never skipped.
echo "== kube binaries:"; bash scripts/kube-binaries.sh --all | sed "s/^/   /"
echo "== lint";      eslint --max-warnings 0 .
echo "== typecheck"; tsc --noEmit
echo "== tests";     vitest run "$@"
