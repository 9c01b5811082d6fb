#!/usr/bin/env bash
# The OCI registry the chart-dependency tests pull charts from: the distribution project's
# `registry` (the reference OCI distribution server), built from its Go module at a pinned
# version, cached under $GITOPS_TEST_DIR/registry and rebuilt only when the pin changes.
#
#   tests/registry.sh build   build if the cached binary does not match the pin
#   tests/registry.sh path    build if needed, then print the binary's path
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="${GITOPS_TEST_DIR:-$root/target/test-cluster}/registry"
module=github.com/distribution/distribution/v3
version=v3.1.2
bin="$state/bin/registry"
stamp="$bin.version"

build() {
	if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$module@$version" ]]; then
		return 0
	fi
	echo "registry: building $module $version from the Go module proxy (cold builds take minutes)" >&2
	local started=$SECONDS
	mkdir -p "$(dirname "$bin")"
	rm -f "$bin" "$stamp"
	GOBIN="$(dirname "$bin")" go install -trimpath -ldflags "-s -w" "$module/cmd/registry@$version"
	echo "$module@$version" >"$stamp"
	echo "registry: built in $((SECONDS - started))s" >&2
}

case "${1:-}" in
build) build ;;
path) build >&2 && echo "$bin" ;;
*)
	echo "usage: tests/registry.sh build | path" >&2
	exit 2
	;;
esac
