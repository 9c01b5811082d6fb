# Shared by the benchmark scripts (benches/diff.sh, benches/reconcile.sh); sourced, not run.
# The sourcing script sets $root (the repository) and `set -euo pipefail` first.

log() { echo "bench: $*" >&2; }

# require TOOL...: stops the benchmark unless every tool can be run.
require() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { log "$tool is required"; exit 2; }
	done
}

# use_test_server: the project's test API server (tests/cluster.sh, state in $GITOPS_TEST_DIR),
# started if it is not running and left running. Sets KUBECONFIG and server_pid.
use_test_server() {
	if ! "$root/tests/cluster.sh" status >/dev/null 2>&1; then
		log "starting the test API server"
		"$root/tests/cluster.sh" up
	fi
	local state="${GITOPS_TEST_DIR:-$root/target/test-cluster}"
	export KUBECONFIG="$state/kubeconfig"
	server_pid=$(cat "$state/pid")
}

# use_binary: the kubectl-gitops under test ($KUBECTL_GITOPS_BIN, else the release build, built
# if missing). Sets bin.
use_binary() {
	bin="${KUBECTL_GITOPS_BIN:-$root/target/release/kubectl-gitops}"
	if [[ ! -x "$bin" ]]; then
		log "building the release binary"
		(cd "$root" && cargo build --release)
	fi
}

ticks=$(getconf CLK_TCK)

# process_cpu PID: CPU seconds (user + system) the process has used so far, from /proc.
process_cpu() { awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }

# server_cpu: the same for the API server (it runs on this machine).
server_cpu() { process_cpu "$server_pid"; }

# median: the median of the numbers on stdin, one a line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# time_once COMMAND...: runs COMMAND once, its output in $work/stdout, and prints
# "WALL,CLIENT_CPU,SERVER_CPU" in seconds (client CPU from GNU time, children included). Exit
# codes 0 and 1 are success (1 is "drift" for the diff tools; callers of commands that fail
# with 1 check the output); anything else means the figure would be meaningless, so the
# benchmark stops.
time_once() {
	local before after code=0 wall user sys
	before=$(server_cpu)
	/usr/bin/time -o "$work/time" -f '%e %U %S' "$@" >"$work/stdout" 2>"$work/stderr" || code=$?
	after=$(server_cpu)
	if ((code > 1)); then
		log "failed with exit code $code: $*"
		cat "$work/stderr" >&2
		exit 1
	fi
	read -r wall user sys < <(tail -n 1 "$work/time")
	echo "$wall,$(echo "$user + $sys" | bc -l),$(echo "$after - $before" | bc -l)"
}

# applyset_id NAME [NAMESPACE]: the ApplySet id kubectl-gitops labels its objects with for
# `--applyset NAME` (parent Secret in NAMESPACE, default `default`), per the ApplySet standard:
# applyset-<base64url(sha256("NAME.NAMESPACE.Secret."))>-v1.
applyset_id() {
	printf 'applyset-%s-v1' "$(printf '%s.%s.Secret.' "$1" "${2:-default}" |
		openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')"
}
