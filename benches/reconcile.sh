#!/usr/bin/env bash
# The reconciler at size: resident memory (VmRSS, VmHWM from /proc/<pid>/status) and the time
# of a no-op cycle with 1,000 managed objects, plus the drift-revert latency at that size.
# Runs the #[ignore]d test `bench_reconcile_1000_objects` (tests/integration/reconcile.rs)
# against the test API server, release build.
#
#   benches/reconcile.sh                  # 1,000 ConfigMaps, default --qps
#   OBJECTS=5000 QPS=1000 benches/reconcile.sh
#
# With GITOPS_TEST_KUBECONFIG set, that server is used; otherwise tests/cluster.sh starts the
# bundled one (and stops it again).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

profile=${PROFILE:-release}
args=()
if [[ "$profile" == release ]]; then args+=(--release); fi
cargo test "${args[@]}" --test integration --no-run >&2

if [[ -z "${GITOPS_TEST_KUBECONFIG:-}" ]]; then
	tests/cluster.sh up
	trap 'tests/cluster.sh down' EXIT
	eval "$(tests/cluster.sh env)"
	export GITOPS_TEST_KUBECONFIG="$KUBECONFIG"
fi

export GITOPS_BENCH_OBJECTS="${OBJECTS:-1000}"
export GITOPS_BENCH_QPS="${QPS:-}"
echo "bench: $profile build, $GITOPS_BENCH_OBJECTS objects, qps ${QPS:-default}, $(nproc) cores" >&2
cargo test "${args[@]}" --test integration bench_reconcile -- --ignored --nocapture --test-threads 1 2>&1 |
	grep -E '^(reconcile bench|test result)' || {
	echo "bench: failed; rerun with: cargo test ${args[*]} --test integration bench_reconcile -- --ignored --nocapture" >&2
	exit 1
}
