#!/usr/bin/env bash
# The end-to-end suite on a one-node cluster that runs Pods (tests/node_e2e): starts
# `tests/cluster.sh up --node`, runs the suite with cargo-nextest, stops the cluster and checks
# that it left nothing on the machine (tests/node/leftovers.sh). Needs root (containerd, the
# kubelet, iptables) and one node cluster per machine.
#
#   tests/node.sh                  # the whole node suite
#   tests/node.sh -E 'test(prune)' # extra arguments go to `cargo nextest run`
#
# The in-cluster tests run the gitops image with the kubectl-gitops binary the test build links
# (target/debug/kubectl-gitops, the one every other test runs); GITOPS_NODE_RELEASE_IMAGE=1
# builds the image of the release binary instead, as users get it (a fat-LTO build: half an hour
# cold on two cores).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# One node cluster per machine: a second run waits for the first instead of failing. The lock
# is held by this shell itself (no flock process in between), so a time limit's signal reaches
# the shell that stops the cluster.
mkdir -p /run/lock
exec 9>/run/lock/kubectl-gitops-test-node
flock --wait 1800 9

GITOPS_TEST_HELM=$(tests/helm.sh path 4)
# The pinned krew the krew archive is installed with (tests/node_e2e/krew.rs).
GITOPS_TEST_KREW=$(tests/krew.sh path)
export GITOPS_TEST_HELM GITOPS_TEST_KREW

nextest=(cargo nextest run --config-file tests/nextest.toml --features node-tests --test node)
step() {
	local what=$1 started=$SECONDS
	shift
	"$@"
	echo "node: $what in $((SECONDS - started))s" >&2
}
# The Debian packages the node and the images need (installed when missing) and the node's Go
# build, then the Rust side, all before the cluster starts.
step "packages and node binary ready" tests/cluster.sh build --node
step "test build ready" "${nextest[@]}" --no-run

stop() {
	local status=$?
	tests/cluster.sh down || status=1
	if ! tests/node/leftovers.sh; then
		echo "node: the node cluster left the machine changed (above)" >&2
		status=1
	fi
	exit "$status"
}
# The image the in-cluster tests run: the test build's binary, or the release build's.
if [[ "${GITOPS_NODE_RELEASE_IMAGE:-0}" != 1 ]]; then
	export GITOPS_IMAGE_BINARY="${CARGO_TARGET_DIR:-$root/target}/debug/kubectl-gitops"
fi
step "gitops image built" tests/image.sh build gitops >/dev/null

# Stopped whatever happens from here: a failing test, an interrupt, or a time limit's SIGTERM
# (turned into an exit so the EXIT trap runs).
trap stop EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
step "node cluster up" tests/cluster.sh up --node
tests/image.sh import gitops >/dev/null
eval "$(tests/cluster.sh env)"
export GITOPS_TEST_KUBECONFIG="$KUBECONFIG"

"${nextest[@]}" --no-fail-fast "$@"
