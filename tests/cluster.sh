#!/usr/bin/env bash
# The project's test control plane: a real kube-apiserver + embedded etcd on 127.0.0.1.
#
#   tests/cluster.sh build   build the server (only when tests/apiserver changed); with --node,
#                            also the node's binaries (only when tests/node changed) and the
#                            Debian packages the node and its images need (when missing)
#   tests/cluster.sh up      build if needed, start it, wait until ready
#   tests/cluster.sh up --node
#                            a whole one-node cluster that runs Pods: the server with a
#                            controller-manager, scheduler, containerd, kubelet and kube-proxy
#                            (tests/node/node.sh; needs root; one per machine)
#   tests/cluster.sh down    stop it (SIGTERM, clean shutdown); with a node, also undo what the
#                            node changed on the machine (tests/node/leftovers.sh checks)
#   tests/cluster.sh env     print `export KUBECONFIG=...` for a running server
#   tests/cluster.sh status  say whether it runs
#
# State lives in $GITOPS_TEST_DIR (default: target/test-cluster under the repository).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/tests/apiserver"
state="${GITOPS_TEST_DIR:-$root/target/test-cluster}"
bin="$state/bin/kube-apiserver-test"
stamp="$state/bin/source.sha256"
pidfile="$state/pid"
log="$state/apiserver.log"
k8s_version=v1.36.3

source_hash() {
	(cd "$src" && cat go.mod go.sum ./*.go | sha256sum | cut -d' ' -f1)
}

build() {
	mkdir -p "$state/bin"
	local want
	want=$(source_hash)
	if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
		return 0
	fi
	echo "cluster: building the test API server (kube-apiserver $k8s_version + etcd; cold builds take minutes)" >&2
	local started=$SECONDS
	local pkg=k8s.io/component-base/version
	(cd "$src" && go build -trimpath -o "$bin.tmp" \
		-ldflags "-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=36" .)
	mv "$bin.tmp" "$bin"
	echo "$want" >"$stamp"
	echo "cluster: built in $((SECONDS - started))s" >&2
}

running() {
	[[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# shellcheck source=node/node.sh
source "$root/tests/node/node.sh"

up() {
	if [[ "${1:-}" == --node ]]; then
		node_up
	else
		api_up
	fi
}

# Starts the API server; extra arguments go to it (--node-ip from node_up).
api_up() {
	build
	if running; then
		echo "cluster: already running (pid $(cat "$pidfile"))" >&2
		return 0
	fi
	mkdir -p "$state"
	local ready="$state/ready"
	rm -f "$ready"
	local started=$SECONDS
	"$bin" --dir "$state" "$@" >"$ready" 2>"$log" &
	echo $! >"$pidfile"
	for _ in $(seq 1 600); do
		if grep -q '^ready ' "$ready" 2>/dev/null; then
			echo "cluster: $(cat "$ready") in $((SECONDS - started))s (kubeconfig $state/kubeconfig)" >&2
			return 0
		fi
		if ! running; then
			echo "cluster: the API server exited during startup; last lines of $log:" >&2
			tail -n 30 "$log" >&2
			return 1
		fi
		sleep 0.2
	done
	echo "cluster: not ready after 120s; last lines of $log:" >&2
	tail -n 30 "$log" >&2
	down
	return 1
}

down() {
	node_down
	if ! running; then
		rm -f "$pidfile"
		return 0
	fi
	local pid
	pid=$(cat "$pidfile")
	kill -TERM "$pid"
	for _ in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "cluster: no clean exit after 30s, killing" >&2
		kill -KILL "$pid"
	fi
	rm -f "$pidfile"
}

case "${1:-}" in
build) if [[ "${2:-}" == --node ]]; then build && node_packages && node_build; else build; fi ;;
up) up "${2:-}" ;;
down) down ;;
env) echo "export KUBECONFIG=$state/kubeconfig" ;;
status) if running; then echo "running (pid $(cat "$pidfile"))"; else echo "stopped"; exit 1; fi ;;
*)
	echo "usage: tests/cluster.sh build [--node]|up [--node]|down|env|status" >&2
	exit 2
	;;
esac
