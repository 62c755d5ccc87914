#!/usr/bin/env bash
# Builds helm from the Go module proxy (see go.mod) into a cache outside the clone, keyed
# by the hash of go.sum. Builds only when missing. Used by the chart tests in test/deploy.
# Prints the bin directory on stdout; progress goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${OUTPOST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/outpost}
# Bump RECIPE when the build flags below change, so old caches are not reused.
RECIPE=1
key=$( (cat "$here/go.sum" "$here/go.mod"; echo "recipe $RECIPE") | sha256sum | cut -c1-16)
bin="$cache_root/helm/$key/bin"
if [[ -x "$bin/helm" ]]; then
  echo "$bin"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then export PATH="/usr/local/go/bin:$PATH"; else
    echo "test/helm: Go is required to build helm" >&2; exit 1; fi
fi
cd "$here"
helm_version=$(go list -mod=readonly -m -f '{{.Version}}' helm.sh/helm/v3)
# As helm's Makefile does: stamp the version, and the Kubernetes version `helm lint` and
# `helm template` assume (client-go v0.N.x is Kubernetes 1.N).
client_go=$(go list -mod=readonly -m -f '{{.Version}}' k8s.io/client-go)
k8s_minor=$(echo "${client_go#v}" | cut -d. -f2)
stamp="-X helm.sh/helm/v3/internal/version.version=$helm_version"
stamp+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  stamp+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done
tmp="$cache_root/helm/$key/bin.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "test/helm: building helm $helm_version (cold build takes a few minutes)" >&2
start=$(date +%s)
CGO_ENABLED=0 go build -mod=readonly -pgo=off -trimpath -ldflags "-s -w $stamp" -o "$tmp/helm" \
  helm.sh/helm/v3/cmd/helm
rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT
echo "test/helm: built in $(( $(date +%s) - start ))s into $bin" >&2
echo "$bin"
