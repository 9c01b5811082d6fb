#!/usr/bin/env bash
# The `helm` the test suite renders charts with: built from its Go module at a pinned version,
# cached under $GITOPS_TEST_DIR/helm and rebuilt only when the pin below changes.
#
#   tests/helm.sh build   build if the cached binary does not match the pin
#   tests/helm.sh path    build if needed, then print the binary's path
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="${GITOPS_TEST_DIR:-$root/target/test-cluster}/helm"
module=helm.sh/helm/v4
version=v4.3.1
bin="$state/bin/helm"
stamp="$state/bin/version"

build() {
	if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$module@$version" ]]; then
		return 0
	fi
	echo "helm: building $module $version from the Go module proxy (cold builds take minutes)" >&2
	local started=$SECONDS
	mkdir -p "$state/bin"
	rm -f "$bin" "$stamp"
	GOBIN="$state/bin" go install -trimpath \
		-ldflags "-s -w -X $module/internal/version.version=$version" "$module/cmd/helm@$version"
	echo "$module@$version" >"$stamp"
	echo "helm: built in $((SECONDS - started))s" >&2
}

case "${1:-}" in
build) build ;;
path) build && echo "$bin" ;;
*)
	echo "usage: tests/helm.sh build|path" >&2
	exit 2
	;;
esac
