#!/usr/bin/env bash
# The `krew` the node suite installs kubectl-gitops with (tests/node_e2e/krew.rs), built from
# its Go module at a pinned version like helm (tests/helm.sh), cached under
# $GITOPS_TEST_DIR/krew and rebuilt only when the pin below changes. The binary is named
# kubectl-krew, as kubectl finds plugins, so `kubectl krew ...` runs it.
#
#   tests/krew.sh build    build it if the cached binary does not match the pin
#   tests/krew.sh path     build if needed, then print the binary's path
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="${GITOPS_TEST_DIR:-$root/target/test-cluster}/krew"
module=sigs.k8s.io/krew
version=v0.4.3
bin="$state/bin/kubectl-krew"
stamp="$bin.version"

build() {
	if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$module@$version" ]]; then
		return 0
	fi
	echo "krew: building $module $version from the Go module proxy (cold builds take minutes)" >&2
	local started=$SECONDS
	mkdir -p "$state/bin"
	rm -f "$bin" "$stamp" "$state/bin/krew"
	GOBIN="$state/bin" go install -trimpath -ldflags "-s -w" "$module/cmd/krew@$version"
	mv "$state/bin/krew" "$bin"
	echo "$module@$version" >"$stamp"
	echo "krew: built in $((SECONDS - started))s" >&2
}

case "${1:-}" in
build) build ;;
path) build >&2 && echo "$bin" ;;
*)
	echo "usage: tests/krew.sh build | path" >&2
	exit 2
	;;
esac
