#!/usr/bin/env bash
# The whole test suite: builds the pinned helm (tests/helm.sh) and the test API server (a real
# kube-apiserver + etcd on 127.0.0.1), runs every test against it with cargo-nextest, and stops it.
#
#   tests/run.sh                 # everything
#   tests/run.sh -E 'test(diff)' # extra arguments go to `cargo nextest run`
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if ! cargo nextest --version >/dev/null 2>&1; then
	echo "run: installing cargo-nextest (once per machine)" >&2
	cargo install cargo-nextest --locked
fi

# The pinned helm programs the chart tests render with (built once, then cached).
GITOPS_TEST_HELM=$(tests/helm.sh path 4)
GITOPS_TEST_HELM3=$(tests/helm.sh path 3)
export GITOPS_TEST_HELM GITOPS_TEST_HELM3
# The OCI registry the chart-dependency tests pull from (built once, then cached).
GITOPS_TEST_REGISTRY=$(tests/registry.sh path)
export GITOPS_TEST_REGISTRY

# Build the Rust side before the server starts, so the server is not idle for minutes.
cargo nextest run --config-file tests/nextest.toml --no-run --workspace

tests/cluster.sh up
trap 'tests/cluster.sh down' EXIT
eval "$(tests/cluster.sh env)"
export GITOPS_TEST_KUBECONFIG="$KUBECONFIG"
export GITOPS_TEST_APISERVER_BIN="${GITOPS_TEST_DIR:-$root/target/test-cluster}/bin/kube-apiserver-test"

cargo nextest run --config-file tests/nextest.toml --workspace --no-fail-fast "$@"
