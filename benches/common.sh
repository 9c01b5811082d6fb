# Shared by the benchmark scripts (benches/diff.sh, benches/apply.sh, benches/reconcile.sh);
# sourced with the script's arguments, not run.
#
# Expects `root` (the repository) to be set. Turns on strict mode, sets `sizes` (the arguments,
# else 100 and 1000 objects) and `namespaces_per_run`. Provides:
#   bench_setup TOOL...  checks the tools, starts the test API server if it is not running
#                        (left running), exports KUBECONFIG, sets `bin` (the binary to time,
#                        KUBECTL_GITOPS_BIN or target/release/kubectl-gitops, built if missing),
#                        `work` (a fresh temporary directory) and `server_pid`
#   require, use_test_server, use_binary   the parts of bench_setup, for scripts that need
#                        only some
#   time_once MAX_CODE COMMAND...   times one run (see below)
#   process_cpu, server_cpu, median, emit_object, applyset_id, create_namespaces, and the
#   kind tables

set -euo pipefail
# Without this, a failing command inside $(...) would not stop the script.
shopt -s inherit_errexit

sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(100 1000)
# The objects of a run are spread over this many namespaces.
namespaces_per_run=10

log() { echo "bench: $*" >&2; }

bench_setup() {
	require "$@" /usr/bin/time
	use_test_server
	use_binary

	work=$(mktemp -d "${TMPDIR:-/tmp}/kubectl-gitops-bench.XXXXXX")
	# Our discovery cache goes to a private directory so the user's own is not touched; the
	# warm-up run fills it, as any second invocation on a real machine would find it filled.
	export KUBECTL_GITOPS_CACHE_DIR="$work/cache"
	# kubectl's discovery cache (~/.kube/cache) is filled once here for the same reason.
	kubectl api-resources >/dev/null
}

# require TOOL...: stops the benchmark unless every tool can be run.
require() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { log "$tool is required"; exit 2; }
	done
}

# use_test_server: the project's test API server (tests/cluster.sh, state in $GITOPS_TEST_DIR),
# started if it is not running and left running. Exports KUBECONFIG, sets server_pid.
use_test_server() {
	local state="${GITOPS_TEST_DIR:-$root/target/test-cluster}"
	if ! "$root/tests/cluster.sh" status >/dev/null 2>&1; then
		log "starting the test API server"
		"$root/tests/cluster.sh" up
	fi
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

# --- Timing --------------------------------------------------------------------------------

# Besides wall time, each run's CPU seconds are recorded: the client's (GNU time, children
# included) and the API server's (from /proc, the server runs on this machine). On a shared
# two-core machine wall time swings with other work; CPU seconds per run hardly do.
ticks=$(getconf CLK_TCK)
# process_cpu PID: CPU seconds (user + system) the process has used so far, from /proc.
process_cpu() { awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
# server_cpu: the same for the API server (it runs on this machine).
server_cpu() { process_cpu "$server_pid"; }

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# time_once MAX_CODE COMMAND...: runs COMMAND once, its output in $work/stdout and
# $work/stderr, and prints "WALL,CLIENT_CPU,SERVER_CPU" in seconds. An exit code above MAX_CODE
# means the figure would be meaningless, so the benchmark stops.
time_once() {
	local max_code=$1
	shift
	local before after code=0 wall user sys
	before=$(server_cpu)
	/usr/bin/time -o "$work/time" -f '%e %U %S' "$@" >"$work/stdout" 2>"$work/stderr" || code=$?
	after=$(server_cpu)
	if ((code > max_code)); then
		log "failed with exit code $code: $*"
		cat "$work/stderr" >&2
		exit 1
	fi
	read -r wall user sys < <(tail -n 1 "$work/time")
	echo "$wall,$(echo "$user + $sys" | bc -l),$(echo "$after - $before" | bc -l)"
}

# --- Objects -------------------------------------------------------------------------------

# Object i of a run is, by i mod 4, a ConfigMap, Deployment, Service or Secret; the scripts put
# it in namespace (i / 4) mod 10, so every namespace gets every kind.

# emit_head API_VERSION KIND NAME NAMESPACE I [LABEL]: the start of an object, up to and
# including its labels.
emit_head() {
	cat <<-EOF
		apiVersion: $1
		kind: $2
		metadata:
		  name: $3
		  namespace: $4
		  labels:
		    app.kubernetes.io/name: web-$5
		    app.kubernetes.io/part-of: bench
		    ${6:-}
	EOF
}

# emit_object KIND_INDEX I NAMESPACE VARIANT [LABEL]: the YAML of one object; VARIANT 1 is the
# changed form (another log level, replica count, target port, password); LABEL ("key: value")
# is added to its labels.
emit_object() {
	local kind=$1 i=$2 ns=$3 variant=$4 extra=${5:-}
	case $kind in
	0)
		local level=info
		[[ $variant == 1 ]] && level=debug
		emit_head v1 ConfigMap "settings-$i" "$ns" "$i" "$extra"
		cat <<-EOF
			data:
			  LOG_LEVEL: $level
			  FEATURE_SEARCH: "on"
			  settings.json: '{"timeout": 30, "retries": 3, "upstream": "http://api-$i:8080"}'
		EOF
		;;
	1)
		local replicas=2
		[[ $variant == 1 ]] && replicas=3
		emit_head apps/v1 Deployment "web-$i" "$ns" "$i" "$extra"
		cat <<-EOF
			spec:
			  replicas: $replicas
			  selector:
			    matchLabels:
			      app.kubernetes.io/name: web-$i
			  template:
			    metadata:
			      labels:
			        app.kubernetes.io/name: web-$i
			    spec:
			      containers:
			      - name: web
			        image: registry.example.com/web:1.$i.0
			        ports:
			        - containerPort: 8080
			          name: http
			        env:
			        - name: MODE
			          value: production
			        resources:
			          requests:
			            cpu: 100m
			            memory: 128Mi
		EOF
		;;
	2)
		local target=8080
		[[ $variant == 1 ]] && target=8081
		emit_head v1 Service "web-$i" "$ns" "$i" "$extra"
		cat <<-EOF
			spec:
			  # Headless: the test server's Service IP range (10.0.0.0/24) is shared with the
			  # tests, and a few hundred ClusterIP Services would exhaust it.
			  clusterIP: None
			  selector:
			    app.kubernetes.io/name: web-$i
			  ports:
			  - name: http
			    port: 80
			    targetPort: $target
		EOF
		;;
	3)
		local password
		password=$(printf 'password-%s-%s' "$i" "$variant" | base64)
		emit_head v1 Secret "credentials-$i" "$ns" "$i" "$extra"
		cat <<-EOF
			type: Opaque
			data:
			  username: $(printf 'web-%s' "$i" | base64)
			  password: $password
		EOF
		;;
	esac
}

# File names and REST paths of each kind.
kind_names=(settings web web credentials)
kind_collections=(configmaps deployments services secrets)
kind_prefixes=(/api/v1 /apis/apps/v1 /api/v1 /api/v1)

# applyset_id NAME [NAMESPACE KIND GROUP]: the id of an ApplySet per the ApplySet standard,
# applyset-<base64url(sha256("NAME.NAMESPACE.KIND.GROUP"))>-v1. The default parent is what
# `kubectl gitops --applyset NAME` uses without -n: a Secret in namespace default (the target namespace).
applyset_id() {
	local name=$1 namespace=${2-default} kind=${3-Secret} group=${4-}
	printf 'applyset-%s-v1' "$(printf '%s.%s.%s.%s' "$name" "$namespace" "$kind" "$group" |
		openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')"
}

# create_namespaces NAME...: one kubectl call for all of them (`kubectl create namespace` takes
# one name).
create_namespaces() {
	printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n---\n' "$@" |
		kubectl create -f - >/dev/null
}
