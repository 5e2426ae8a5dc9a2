#!/usr/bin/env bash
# Builds (or reuses) the real Kubernetes control plane the test suite runs against:
# kube-apiserver and kube-scheduler from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3,
# all from the Go module proxy. Prints the directory holding the three binaries on stdout.
#
# The binaries are cached outside the repository, keyed by the versions and the Go toolchain:
#   ${IMDS_LABELER_KUBE_CACHE:-~/.cache/imds-labeler/kube}/<k8s>-etcd-<etcd>-<go>/
# IMDS_LABELER_KUBE_BIN_DIR names a directory of binaries someone already has; it is used as it is.
# The first build on two cores takes 10-25 minutes; later runs return at once.
#
# The versions are those of scripts/kube-versions.txt: the first (current) by default,
# IMDS_LABELER_KUBE_VERSION=<v> for another, `--all` for every one (one directory per line).
set -euo pipefail

versions_file="$(dirname "$0")/kube-versions.txt"
mapfile -t VERSIONS < <(grep -Ev '^[[:space:]]*(#|$)' "$versions_file")
if [ "${1:-}" = --all ]; then
  for v in "${VERSIONS[@]}"; do IMDS_LABELER_KUBE_VERSION=$v bash "$0"; done
  exit 0
fi
KUBE_VERSION=${IMDS_LABELER_KUBE_VERSION:-${VERSIONS[0]}}

say() { echo "kube-binaries: $*" >&2; }
fail() { say "$*"; exit 1; }

if [ -n "${IMDS_LABELER_KUBE_BIN_DIR:-}" ]; then
  for b in kube-apiserver kube-scheduler etcd; do
    [ -x "$IMDS_LABELER_KUBE_BIN_DIR/$b" ] || fail "IMDS_LABELER_KUBE_BIN_DIR=$IMDS_LABELER_KUBE_BIN_DIR has no executable $b"
  done
  echo "$IMDS_LABELER_KUBE_BIN_DIR"
  exit 0
fi

command -v go >/dev/null || fail "Go is not installed: the real control plane is built from Go modules (Go >= 1.26). Install Go, or set IMDS_LABELER_KUBE_BIN_DIR to a directory with kube-apiserver, kube-scheduler and etcd."

export GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
go_version=$(go env GOVERSION)

# The Kubernetes module's own files say which staging modules it replaces and which etcd it pairs with.
kube_dir=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
[ -d "$kube_dir" ] || fail "could not download k8s.io/kubernetes@$KUBE_VERSION from the Go module proxy"
ETCD_VERSION=${IMDS_LABELER_ETCD_VERSION:-v$(awk '/name: "etcd"/{f=1} f&&/version:/{print $2; exit}' "$kube_dir/build/dependencies.yaml")}
[ "$ETCD_VERSION" != v ] || fail "no etcd version in $kube_dir/build/dependencies.yaml"

cache_root=${IMDS_LABELER_KUBE_CACHE:-$HOME/.cache/imds-labeler/kube}
out="$cache_root/$KUBE_VERSION-etcd-$ETCD_VERSION-$go_version"
if [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-scheduler" ] && [ -x "$out/etcd" ]; then
  echo "$out"
  exit 0
fi

say "building kube-apiserver and kube-scheduler $KUBE_VERSION and etcd $ETCD_VERSION with $go_version into $out"
say "this is a one-time cost (10-25 minutes on two cores); later runs reuse the cache"
work=$(mktemp -d)
trap 'rm -rf "$work" "$out.partial"' EXIT
rm -rf "$out.partial" && mkdir -p "$out.partial"

# Staging modules are published as v0.<minor>.<patch> of the same release.
staging_version="v0.${KUBE_VERSION#v1.}"
mkdir -p "$work/kube" "$work/etcd"
{
  echo "module imds-labeler.local/kube-control-plane"
  echo "go ${go_version#go}"
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => \./staging/.*#\1#p' "$kube_dir/go.mod" |
    while read -r m; do echo "replace $m => $m $staging_version"; done
} >"$work/kube/go.mod"
grep -q '^replace k8s.io/apiserver ' "$work/kube/go.mod" || fail "found no staging replacements in $kube_dir/go.mod"

# Version stamps, so kubectl, helm and /version see the release instead of v0.0.0-master.
minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build() { # dir output package [ldflags]
  (cd "$1" && go build -trimpath -ldflags "-s -w ${4:-}" -o "$out.partial/$2" "$3") ||
    fail "go build of $3 failed (see above)"
}
build "$work/kube" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$stamp"
build "$work/kube" kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$stamp"

# etcd's main package is its server module's root, whose go.mod replaces sibling modules by path.
printf 'module imds-labeler.local/etcd\ngo %s\nrequire go.etcd.io/etcd/server/v3 %s\n' "${go_version#go}" "$ETCD_VERSION" >"$work/etcd/go.mod"
build "$work/etcd" etcd go.etcd.io/etcd/server/v3 "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"

rm -rf "$out" && mv "$out.partial" "$out"
say "built into $out"
echo "$out"
