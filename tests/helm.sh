#!/usr/bin/env bash
# The `helm` programs the test suite renders charts with, built from their Go modules at pinned
# versions, cached under $GITOPS_TEST_DIR/helm and rebuilt only when a pin below changes:
# Helm 4 (the default) and Helm 3 (kustomize v5.5's helmCharts accepts nothing newer).
#
#   tests/helm.sh build         build both if the cached binaries do not match the pins
#   tests/helm.sh path [3|4]    build if needed, then print the binary's path (default 4)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="${GITOPS_TEST_DIR:-$root/target/test-cluster}/helm"

pin() {
	case "$1" in
	4) module=helm.sh/helm/v4 version=v4.3.1 bin="$state/bin/helm" ;;
	3) module=helm.sh/helm/v3 version=v3.22.0 bin="$state/v3/helm" ;;
	*)
		echo "helm: no pinned Helm $1" >&2
		exit 2
		;;
	esac
	stamp="$bin.version"
}

build() {
	pin "$1"
	if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$module@$version" ]]; then
		return 0
	fi
	echo "helm: building $module $version from the Go module proxy (cold builds take minutes)" >&2
	local started=$SECONDS
	mkdir -p "$(dirname "$bin")"
	rm -f "$bin" "$stamp"
	GOBIN="$(dirname "$bin")" go install -trimpath \
		-ldflags "-s -w -X $module/internal/version.version=$version" "$module/cmd/helm@$version"
	echo "$module@$version" >"$stamp"
	echo "helm: built in $((SECONDS - started))s" >&2
}

case "${1:-}" in
build) build 4 && build 3 ;;
path) build "${2:-4}" >&2 && echo "$bin" ;;
*)
	echo "usage: tests/helm.sh build | path [3|4]" >&2
	exit 2
	;;
esac
