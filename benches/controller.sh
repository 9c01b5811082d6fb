#!/usr/bin/env bash
# The controller benchmark: N GitSyncs of 5 ConfigMaps each, all from one repository and path,
# each applying to a namespace of its own (so N ApplySets), reconciled by one
# `kubectl-gitops controller`. Per size it records the time from creating the GitSync objects
# to all of them Ready, the controller's resident memory (VmRSS, VmHWM) then, and over one
# further interval of no-op reconciles: git fetches (the target is one per repository per
# interval), reconciles, and CPU seconds per no-op reconcile.
#
#   benches/controller.sh            N=100, then N=1000
#   benches/controller.sh 500        any sizes
#
# Environment:
#   INTERVAL (60)         the syncs' spec.interval, in seconds
#   CONCURRENT_SYNCS (8)  the controller's --concurrent-syncs
#   QPS                   the controller's --qps (default: none, the window follows the server)
#   COMMITS (0)           after the no-op interval, push this many commits, each at a random
#                         point of the interval, and record the time from each push to the
#                         first and to the last sync applying it (target: all within INTERVAL)
#   KUBECTL_GITOPS_BIN    the binary to measure (default: target/release/kubectl-gitops)
#   KEEP                  when set, the temporary directory and the objects are kept
#
# Uses the project's test API server (tests/cluster.sh; started if not running, left running)
# and the release binary (built if missing). Needs git, kubectl, jq, curl. Figures:
# docs/benchmarks.md.
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=benches/common.sh
source "$root/benches/common.sh"
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(100 1000)
interval=${INTERVAL:-60}
concurrent=${CONCURRENT_SYNCS:-8}
commits=${COMMITS:-0}
qps_flags=()
[[ -z ${QPS:-} ]] || qps_flags=(--qps "$QPS")

require git kubectl jq curl
use_test_server
use_binary
work=$(mktemp -d "${TMPDIR:-/tmp}/kubectl-gitops-bench.XXXXXX")
run_id="ctl$$"
controller_pid=""

cleanup() {
	[[ -n "$controller_pid" ]] && kill "$controller_pid" 2>/dev/null && wait "$controller_pid" 2>/dev/null
	if [[ -z "${KEEP:-}" ]]; then
		# Every object of the run carries the run's label; the namespaces stay (the test server
		# has no namespace controller to empty a deleted one).
		kubectl delete gitsyncs -A -l "bench-run=$run_id" --wait=false >/dev/null 2>&1 || true
		kubectl delete configmaps,secrets -A -l "bench-run=$run_id" --wait=false >/dev/null 2>&1 || true
		rm -rf "$work"
	else
		log "kept $work"
	fi
}
trap cleanup EXIT

# One repository: deploy/ holds 5 ConfigMaps, labelled with the run so cleanup finds them.
git init -q --bare -b main "$work/srv/platform.git"
git init -q -b main "$work/checkout"
mkdir -p "$work/checkout/deploy"
for i in 1 2 3 4 5; do
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%s\n  labels:\n    bench-run: %s\ndata:\n  v: "%s"\n' \
		"$i" "$run_id" "$i" >"$work/checkout/deploy/cm-$i.yaml"
done
git -C "$work/checkout" add -A
git -C "$work/checkout" -c user.name=bench -c user.email=bench@example.com commit -qm init
git -C "$work/checkout" push -q "$work/srv/platform.git" main
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
git daemon --export-all --reuseaddr --listen=127.0.0.1 --port="$port" --base-path="$work/srv" \
	"$work/srv" >/dev/null 2>&1 &
daemon_pid=$!
trap 'kill $daemon_pid 2>/dev/null; cleanup' EXIT
repo="git://127.0.0.1:$port/platform.git"

"$bin" install --controller --crd-only | kubectl apply -f - >/dev/null
kubectl wait --for=condition=Established crd/gitsyncs.gitops.kubectl-gitops.io >/dev/null

for n in "${sizes[@]}"; do
	ns="bench-$run_id-$n"
	log "N=$n: $n target namespaces, a ServiceAccount and its rights"
	{
		printf 'apiVersion: v1\nkind: List\nitems:\n'
		printf -- '- {apiVersion: v1, kind: Namespace, metadata: {name: %s}}\n' "$ns"
		for ((i = 0; i < n; i++)); do
			printf -- '- {apiVersion: v1, kind: Namespace, metadata: {name: %s-t%d}}\n' "$ns" "$i"
		done
	} >"$work/namespaces-$n.yaml"
	kubectl apply -f "$work/namespaces-$n.yaml" >/dev/null
	kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: deployer, namespace: $ns}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: $ns-deployer}
rules:
- apiGroups: [""]
  resources: ["configmaps", "secrets"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: $ns-deployer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: $ns-deployer}
subjects: [{kind: ServiceAccount, name: deployer, namespace: $ns}]
EOF
	{
		printf 'apiVersion: v1\nkind: List\nitems:\n'
		for ((i = 0; i < n; i++)); do
			printf -- '- apiVersion: gitops.kubectl-gitops.io/v1alpha1\n  kind: GitSync\n'
			printf -- '  metadata: {name: s%d, namespace: %s, labels: {bench-run: %s}}\n' "$i" "$ns" "$run_id"
			printf -- '  spec: {repository: {url: "%s"}, path: deploy, targetNamespace: %s-t%d, interval: %ss, serviceAccountName: deployer}\n' \
				"$repo" "$ns" "$i" "$interval"
		done
	} >"$work/syncs-$n.yaml"

	listen_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	# The git daemon listens on loopback, which a tenant's source may reach only when allowed.
	"$bin" controller --watch-namespace "$ns" --no-leader-election --cache-dir "$work/cache-$n" \
		--allow-fetch-to 127.0.0.1 \
		--listen "127.0.0.1:$listen_port" --concurrent-syncs "$concurrent" "${qps_flags[@]}" 2>"$work/controller-$n.log" &
	controller_pid=$!
	until curl -sf "127.0.0.1:$listen_port/readyz" >/dev/null; do sleep 0.2; done

	log "N=$n: creating $n GitSyncs"
	start=$(date +%s.%N)
	kubectl apply -f "$work/syncs-$n.yaml" >/dev/null
	while :; do
		ready=$(kubectl get gitsyncs -n "$ns" -o json |
			jq '[.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length')
		((ready >= n)) && break
		sleep 1
	done
	ready_s=$(echo "$(date +%s.%N) - $start" | bc)
	rss=$(awk '/VmRSS/ { print $2 }' "/proc/$controller_pid/status")
	hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$controller_pid/status")
	metrics() { curl -s "127.0.0.1:$listen_port/metrics"; }
	value() { metrics | awk -v m="$1" '$1 == m { print $2 }'; }
	fetches0=$(value gitops_controller_git_fetches_total)
	reconciles0=$(value gitops_controller_reconciles_total)
	cpu0=$(process_cpu "$controller_pid")
	log "N=$n: all Ready after ${ready_s}s; one more interval of no-op reconciles"
	sleep "$((interval + 5))"
	fetches1=$(value gitops_controller_git_fetches_total)
	reconciles1=$(value gitops_controller_reconciles_total)
	cpu1=$(process_cpu "$controller_pid")
	rss_after=$(awk '/VmRSS/ { print $2 }' "/proc/$controller_pid/status")
	noops=$((reconciles1 - reconciles0))
	per=$(echo "scale=2; ($cpu1 - $cpu0) * 1000 / ($noops + ($noops == 0))" | bc)
	printf 'N=%d syncs x 5 objects: all Ready %.1f s; RSS %d MiB (peak %d MiB, %d MiB after the no-op interval); over one %ss interval: %d fetch(es), %d no-op reconciles, %s ms CPU each (controller)\n' \
		"$n" "$ready_s" "$((rss / 1024))" "$((hwm / 1024))" "$((rss_after / 1024))" "$interval" \
		"$((fetches1 - fetches0))" "$noops" "$per"
	for ((c = 1; c <= commits; c++)); do
		# A random point of the syncs' cycles, so a push lands anywhere between two fetches.
		sleep "$((RANDOM % interval))"
		printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-1\n  labels:\n    bench-run: %s\ndata:\n  v: "commit-%s-%s"\n' \
			"$run_id" "$n" "$c" >"$work/checkout/deploy/cm-1.yaml"
		git -C "$work/checkout" -c user.name=bench -c user.email=bench@example.com commit -qam "commit $c"
		git -C "$work/checkout" push -q "$work/srv/platform.git" main
		pushed=$(date +%s.%N)
		sha=$(git -C "$work/checkout" rev-parse HEAD)
		first=""
		while :; do
			applied=$(kubectl get gitsyncs -n "$ns" -o json |
				jq --arg sha "$sha" '[.items[] | select((.status.lastAppliedRevision // "") | endswith($sha))] | length')
			now=$(date +%s.%N)
			[[ -z "$first" && "$applied" -ge 1 ]] && first=$(echo "$now - $pushed" | bc)
			((applied >= n)) && break
			sleep 0.5
		done
		all=$(echo "$now - $pushed" | bc)
		printf 'N=%d commit %d: first sync applied it %.1f s after the push, all %d %.1f s after (interval %ss)\n' \
			"$n" "$c" "$first" "$n" "$all" "$interval"
	done
	kill "$controller_pid"
	wait "$controller_pid" 2>/dev/null || true
	controller_pid=""
done
