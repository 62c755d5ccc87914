#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from the Go module proxy (see go.mod) into a
# cache outside the clone, keyed by the hash of go.sum. Builds only when missing.
# Prints the bin directory on stdout; progress goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${OUTPOST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/outpost}
# Bump RECIPE when the build flags below change, so old caches are not reused.
RECIPE=1
key=$( (cat "$here/go.sum" "$here/go.mod"; echo "recipe $RECIPE") | sha256sum | cut -c1-16)
bin="$cache_root/kube/$key/bin"
if [[ -x "$bin/kube-apiserver" && -x "$bin/kubectl" && -x "$bin/etcd" ]]; then
  echo "$bin"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then export PATH="/usr/local/go/bin:$PATH"; else
    echo "test/kube: Go is required to build the test cluster binaries" >&2; exit 1; fi
fi
k8s_version=$(awk '$1=="k8s.io/kubernetes" {print $2; exit}' "$here/go.mod")
major=$(echo "${k8s_version#v}" | cut -d. -f1)
minor=$(echo "${k8s_version#v}" | cut -d. -f2)
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
tmp="$cache_root/kube/$key/bin.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "test/kube: building kube-apiserver, kubectl and etcd $k8s_version (cold build takes several minutes)" >&2
start=$(date +%s)
cd "$here"
CGO_ENABLED=0 go build -mod=readonly -pgo=off -trimpath -ldflags "-s -w$stamp" -o "$tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
CGO_ENABLED=0 go build -mod=readonly -pgo=off -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT
echo "test/kube: built in $(( $(date +%s) - start ))s into $bin" >&2
echo "$bin"
