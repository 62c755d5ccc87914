#!/usr/bin/env bash
# Builds kustomize from the Go module proxy (see go.mod) into a cache outside the clone,
# keyed by the hash of go.sum. Builds only when missing. Used by the GitRepo rendering
# tests (packages/hub/src/gitrepos, test/e2e/gitrepo.test.ts); the hub image builds the
# same module. Prints the bin directory on stdout; progress goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${OUTPOST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/outpost}
# Bump RECIPE when the build flags below change, so old caches are not reused.
RECIPE=1
key=$( (cat "$here/go.sum" "$here/go.mod"; echo "recipe $RECIPE") | sha256sum | cut -c1-16)
bin="$cache_root/kustomize/$key/bin"
if [[ -x "$bin/kustomize" ]]; then
  echo "$bin"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then export PATH="/usr/local/go/bin:$PATH"; else
    echo "test/kustomize: Go is required to build kustomize" >&2; exit 1; fi
fi
cd "$here"
version=$(go list -mod=readonly -m -f '{{.Version}}' sigs.k8s.io/kustomize/kustomize/v5)
# As kustomize's release build does: stamp the version `kustomize version` prints.
stamp="-X sigs.k8s.io/kustomize/api/provenance.version=$version"
stamp+=" -X sigs.k8s.io/kustomize/api/provenance.gitCommit=unknown"
tmp="$cache_root/kustomize/$key/bin.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "test/kustomize: building kustomize $version (cold build takes a minute or two)" >&2
start=$(date +%s)
CGO_ENABLED=0 go build -mod=readonly -pgo=off -trimpath -ldflags "-s -w $stamp" \
  -o "$tmp/kustomize" sigs.k8s.io/kustomize/kustomize/v5
rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT
echo "test/kustomize: built in $(( $(date +%s) - start ))s into $bin" >&2
echo "$bin"
