#!/usr/bin/env bash
# The end-to-end suite on a one-node cluster that runs Pods (tests/node_e2e): starts
# `tests/cluster.sh up --node`, runs the suite with cargo-nextest, stops the cluster and checks
# that it left nothing on the machine (tests/node/leftovers.sh). Needs root (containerd, the
# kubelet, iptables) and one node cluster per machine.
#
#   tests/node.sh                  # the whole node suite
#   tests/node.sh -E 'test(prune)' # extra arguments go to `cargo nextest run`
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# One node cluster per machine: a second run waits for the first instead of failing.
if [[ -z "${GITOPS_NODE_SUITE_LOCKED:-}" ]]; then
	mkdir -p /run/lock
	exec env GITOPS_NODE_SUITE_LOCKED=1 flock --wait 1800 /run/lock/kubectl-gitops-test-node "$0" "$@"
fi

GITOPS_TEST_HELM=$(tests/helm.sh path 4)
export GITOPS_TEST_HELM

nextest=(cargo nextest run --config-file tests/nextest.toml --features node-tests --test node)
# Build the Rust side before the cluster starts.
"${nextest[@]}" --no-run

stop() {
	local status=$?
	tests/cluster.sh down || status=1
	if ! tests/node/leftovers.sh; then
		echo "node: the node cluster left the machine changed (above)" >&2
		status=1
	fi
	exit "$status"
}
# The image of the release binary the in-cluster tests run (the release build is the slow part).
tests/image.sh build gitops >/dev/null

tests/cluster.sh up --node
trap stop EXIT
tests/image.sh import gitops >/dev/null
eval "$(tests/cluster.sh env)"
export GITOPS_TEST_KUBECONFIG="$KUBECONFIG"

"${nextest[@]}" --no-fail-fast "$@"
