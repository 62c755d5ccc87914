#!/usr/bin/env bash
# Builds promtool from the Go module proxy (see go.mod) into a cache outside the clone, keyed
# by the hash of go.sum, go.mod and the recipe. Builds only when missing. Used by the tests
# of deploy/monitoring (test/monitoring). Prints the bin directory on stdout; progress goes
# to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${OUTPOST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/outpost}
# Bump RECIPE when the build flags below change, so old caches are not reused.
RECIPE=1
key=$( (cat "$here/go.sum" "$here/go.mod"; echo "recipe $RECIPE") | sha256sum | cut -c1-16)
bin="$cache_root/promtool/$key/bin"
if [[ -x "$bin/promtool" ]]; then
  echo "$bin"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then export PATH="/usr/local/go/bin:$PATH"; else
    echo "test/prometheus: Go is required to build promtool" >&2; exit 1; fi
fi
cd "$here"
module_version=$(go list -mod=readonly -m -f '{{.Version}}' github.com/prometheus/prometheus)
# Prometheus 3.x is published as module v0.3xx.y: v0.316.0 is 3.16.0 (Prometheus's own
# VERSION file), which `promtool --version` then says.
IFS=. read -r _ minor patch <<<"${module_version#v}"
prometheus_version="$((minor / 100)).$((minor % 100)).$patch"
stamp="-X github.com/prometheus/common/version.Version=$prometheus_version"
stamp+=" -X github.com/prometheus/common/version.Revision=$module_version"
tmp="$cache_root/promtool/$key/bin.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "test/prometheus: building promtool $prometheus_version (module $module_version; cold build takes a few minutes)" >&2
start=$(date +%s)
# remove_all_sd leaves out the service discoveries promtool registers through its plugins
# package (the cloud providers' SDKs, most of the download); it imports the file and
# Kubernetes ones itself, so `promtool check config` of such configs still works.
CGO_ENABLED=0 go build -mod=readonly -pgo=off -trimpath -tags remove_all_sd \
  -ldflags "-s -w $stamp" -o "$tmp/promtool" github.com/prometheus/prometheus/cmd/promtool
rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT
echo "test/prometheus: built in $(( $(date +%s) - start ))s into $bin" >&2
echo "$bin"
