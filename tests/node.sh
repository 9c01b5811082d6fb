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
tests/cluster.sh up --node
trap stop EXIT
eval "$(tests/cluster.sh env)"
export GITOPS_TEST_KUBECONFIG="$KUBECONFIG"

"${nextest[@]}" --no-fail-fast "$@"
