#!/usr/bin/env bash
# The apply benchmark: how long `kubectl-gitops apply` takes against `kubectl apply
# --server-side` on the same objects and the same API server, in one run. Three phases per run,
# each run on fresh namespaces: the first apply (all creates), a re-apply of the same files
# (nothing changes), and an apply with 10% of the objects changed. kubectl runs three ways:
# with its defaults; with --validate=false (no client-side OpenAPI work, see
# docs/benchmarks.md); and with --validate=false --applyset --prune, kubectl's equivalent of
# our ApplySet pruning.
#
#   benches/apply.sh            N=100, then N=1000
#   benches/apply.sh 500 2000   any sizes
#
# Environment:
#   ROUNDS (5)           timed rounds; each runs every tool once through all phases (the order
#                        of the tools rotates), and the median over the rounds is reported
#   RUNS_KUBECTL (3)     at most this many timed runs of kubectl with its defaults ...
#   KUBECTL_BUDGET (240) ... and no new one once they have taken this many seconds (all
#                        phases), since with its defaults kubectl takes minutes at N=1000
#   KUBECTL_GITOPS_BIN   the binary to time (default: target/release/kubectl-gitops)
#   KEEP                 when set, the generated files are kept, and so is what a run had
#                        applied when the benchmark stopped half-way
#
# Before the timed rounds, a warm-up round (not timed) counts each command's requests from the
# API server's own metrics (apiserver_request_total) and records kubectl-gitops's stage timings
# (-v).
#
# It uses the project's test API server (tests/cluster.sh; started if not running, left running)
# and the release binary (built if missing). Needs kubectl 1.27 or newer (--applyset, behind
# KUBECTL_APPLYSET=true), jq, bc, openssl and GNU time. See docs/benchmarks.md for what the
# figures mean.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Strict mode (set -euo pipefail, inherit_errexit), `sizes` from the arguments, shared helpers.
# shellcheck source=benches/common.sh
source "$root/benches/common.sh" "$@"
rounds=${ROUNDS:-5}
runs_kubectl=${RUNS_KUBECTL:-3}
kubectl_budget=${KUBECTL_BUDGET:-240}
tools=(ours kubectl kubectl-novalidate kubectl-applyset)
phases=(create noop change)

bench_setup kubectl jq bc openssl

# kubectl's ApplySet parent. A Secret parent would confine kubectl to the Secret's namespace
# ("namespace is required to use namespace-scoped ApplySet", then every object elsewhere is
# refused), so kubectl gets a cluster-scoped parent: a custom resource whose CRD carries the
# label `applyset.kubernetes.io/is-parent-type`, the ApplySet standard's way to span
# namespaces. kubectl does not create such parents itself; each run creates its own, untimed.
parent_group=bench.kubectl-gitops.dev
parent_resource=applysetparents.$parent_group
kubectl_tooling="kubectl/$(kubectl version --client -o json | jq -r .clientVersion.gitVersion)"

# For the cleanup: the directory and ApplySet name of the run under way, and whether this script
# installed the parent CRD.
current_dir=
current_tag=
created_crd=

# The server is shared, so what a run applied is deleted again when the run ends (and here, if
# the benchmark stops half-way). Namespaces stay: without a namespace controller a deleted one
# only hangs in Terminating.
delete_run() {
	[[ -n "$current_dir" ]] || return 0
	kubectl delete --wait=false --ignore-not-found -R -f "$current_dir" >/dev/null || true
	kubectl delete --wait=false --ignore-not-found -n default secret "$current_tag" >/dev/null || true
	kubectl delete --wait=false --ignore-not-found "$parent_resource" "$current_tag" \
		>/dev/null 2>&1 || true
	current_dir=
}

cleanup() {
	if [[ -n "${KEEP:-}" ]]; then
		log "keeping $work and the objects applied from ${current_dir:-nowhere} (KEEP is set)"
		return
	fi
	delete_run
	if [[ -n "$created_crd" ]]; then
		kubectl delete --wait=false --ignore-not-found crd "$parent_resource" >/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

if ! kubectl get crd "$parent_resource" >/dev/null 2>&1; then
	created_crd=1
fi
kubectl apply --server-side --field-manager=bench-setup -f - >/dev/null <<EOF
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: $parent_resource
  labels:
    applyset.kubernetes.io/is-parent-type: "true"
spec:
  group: $parent_group
  scope: Cluster
  names:
    kind: ApplySetParent
    plural: applysetparents
    singular: applysetparent
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
EOF
kubectl wait --for=condition=Established --timeout=60s crd "$parent_resource" >/dev/null
# The new kind in kubectl's discovery cache.
kubectl api-resources >/dev/null

# create_parent TAG: the parent kubectl's --applyset expects to find: its id label, tooling
# annotation and an empty list of kinds, owned by the field manager kubectl updates parents with
# (without that, kubectl's first update of it conflicts and is retried with force).
create_parent() {
	kubectl apply --server-side --field-manager=kubectl-applyset -f - >/dev/null <<-EOF
		apiVersion: $parent_group/v1
		kind: ApplySetParent
		metadata:
		  name: $1
		  labels:
		    applyset.kubernetes.io/id: $(applyset_id "$1" "" ApplySetParent "$parent_group")
		  annotations:
		    applyset.kubernetes.io/tooling: $kubectl_tooling
		    applyset.kubernetes.io/contains-group-kinds: ""
	EOF
}

# --- Generating objects --------------------------------------------------------------------

# Object i is kind i mod 4 (benches/common.sh has them) in namespace (i / 4) mod 10 of its run.
# The change phase changes the objects with (i + i / 10) mod 10 == 0: one in ten, spread over
# kinds and namespaces (i mod 10 alone would pick only even or only odd i, so two kinds).
changed() { (((($1 + $1 / 10) % 10) == 0)); }

# generate N DIR: DIR/base (every object) and DIR/changed (the changed objects only, same file
# names), with the namespace prefix left as @NS@; prints how many objects change.
generate() {
	local n=$1 dir=$2 count=$namespaces_per_run changes=0 i
	((n < count)) && count=$n
	for ((i = 0; i < n; i++)); do
		local kind=$((i % 4)) j=$(((i / 4) % count))
		local file="ns-$j/${kind_names[$kind]}-$i.yaml"
		mkdir -p "$dir/base/ns-$j" "$dir/changed/ns-$j"
		emit_object "$kind" "$i" "@NS@-$j" 0 >"$dir/base/$file"
		if changed "$i"; then
			emit_object "$kind" "$i" "@NS@-$j" 1 >"$dir/changed/$file"
			changes=$((changes + 1))
		fi
	done
	echo "$changes"
}

# instantiate FROM TO TAG: copies FROM's files over TO's, namespaces named TAG-<j>.
instantiate() {
	mkdir -p "$2"
	cp -r "$1/." "$2/"
	find "$2" -name '*.yaml' -exec sed -i "s/@NS@/$3/" {} +
}

# --- Requests and stages (warm-up round) ---------------------------------------------------

# request_counts: the API server's request counters, summed by verb (with " dry-run" for
# dry-runs, " discovery" for discovery and OpenAPI paths), one "KEY COUNT" per line. Leases
# (the server's own heartbeat) and health and metrics paths are left out.
request_counts() {
	kubectl get --raw /metrics | awk '
		/^apiserver_request_total\{/ {
			split("", l)
			inner = substr($0, index($0, "{") + 1)
			inner = substr(inner, 1, index(inner, "}") - 1)
			n = split(inner, pairs, /",/)
			for (k = 1; k <= n; k++) {
				eq = index(pairs[k], "=")
				v = substr(pairs[k], eq + 2)
				sub(/"$/, "", v)
				l[substr(pairs[k], 1, eq - 1)] = v
			}
			if (l["resource"] == "leases") next
			if (l["resource"] == "" && l["subresource"] ~ /^\/(metrics|readyz|livez|healthz)/) next
			key = l["verb"]
			if (l["dry_run"] != "") key = key " dry-run"
			if (l["resource"] == "") key = key " discovery"
			count[key] += $NF
		}
		END { for (k in count) print k "\t" count[k] }' | LC_ALL=C sort
}

# counted COMMAND...: runs COMMAND (output in $work/stdout, $work/stderr), then logs the
# requests it made.
counted() {
	request_counts >"$work/requests.before"
	"$@" >"$work/stdout" 2>"$work/stderr" || {
		log "failed: $*"
		cat "$work/stderr" >&2
		exit 1
	}
	request_counts >"$work/requests.after"
	LC_ALL=C join -t $'\t' -a 2 -e 0 -o 0,1.2,2.2 "$work/requests.before" "$work/requests.after" |
		awk -F'\t' '$3 - $2 > 0 { printf "%s%s %d", sep, $1, $3 - $2; sep = ", "; total += $3 - $2 }
			END { printf "; total %d\n", total }'
}

# --- Runs ----------------------------------------------------------------------------------

# throttled WHAT: logs the waits for client-side throttling that client-go reported in
# $work/stderr (without -v, kubectl reports only waits of a second or more).
throttled() {
	{ grep -o 'Waited for [0-9.]*m\?s due to client-side throttling' "$work/stderr" || true; } |
		awk -v what="$1" '{ t = $3; f = (t ~ /ms$/) ? 0.001 : 1; sub(/m?s$/, "", t); t *= f
				if (t > max) max = t; n++ }
			END { if (n) printf "bench:   %s: client-side throttling reported %d times, longest wait %.2f s\n", what, n, max }' >&2
}

# check TOOL PHASE N CHANGES: that the run just made did the expected work, judging by its
# output ($work/stdout).
check() {
	local tool=$1 phase=$2 n=$3 changes=$4 want got
	if [[ $tool == ours ]]; then
		case $phase in
		create) want="$n created, 0 updated, 0 pruned, 0 failed." ;;
		noop) want="No changes:" ;;
		change) want="0 created, $changes updated, 0 pruned, 0 failed." ;;
		esac
		grep -qF "$want" "$work/stdout" && return 0
		log "kubectl-gitops, $phase: the output does not say '$want':"
	else
		# kubectl applies every object in every phase, and prunes nothing here.
		got=$(grep -c ' serverside-applied$' "$work/stdout" || true)
		((got == n)) && ! grep -q 'pruned' "$work/stdout" && return 0
		log "$tool, $phase: $got objects serverside-applied, want $n, none pruned:"
	fi
	tail -n 5 "$work/stdout" >&2
	exit 1
}

# run_tool TOOL N DIR ROUND: one run of TOOL through every phase on fresh namespaces, timed
# (the timings go to times[TOOL.PHASE]) or, in round 0, with its requests counted.
run_tool() {
	local tool=$1 n=$2 dir=$3 round=$4 changes
	changes=$(cat "$dir/changes")
	local tag count=$namespaces_per_run j
	# Unique per run: the server never deletes namespaces (it runs no controllers), so runs
	# must not collide with what earlier ones left behind.
	tag="bench-apply-$n-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
	((n < count)) && count=$n
	local namespaces=()
	for ((j = 0; j < count; j++)); do namespaces+=("$tag-$j"); done
	create_namespaces "${namespaces[@]}"
	current_dir="$work/run" current_tag=$tag
	rm -rf "$current_dir"
	instantiate "$dir/base" "$current_dir" "$tag"

	local command=()
	case $tool in
	ours) command=("$bin" apply "$current_dir" --yes --applyset "$tag") ;;
	kubectl) command=(kubectl apply --server-side -R -f "$current_dir") ;;
	kubectl-novalidate) command=(kubectl apply --server-side --validate=false -R -f "$current_dir") ;;
	kubectl-applyset)
		create_parent "$tag"
		command=(env KUBECTL_APPLYSET=true kubectl apply --server-side --validate=false
			--applyset="$parent_resource/$tag" --prune -R -f "$current_dir")
		;;
	esac

	local phase
	for phase in "${phases[@]}"; do
		[[ $phase == change ]] && instantiate "$dir/changed" "$current_dir" "$tag"
		if ((round == 0)); then
			if [[ $tool == ours ]]; then
				log "  $tool $phase requests: $(counted "${command[@]}" -v)"
				log "    stages: $(grep '^\[' "$work/stderr" | tr '\n' ' ')"
			else
				log "  $tool $phase requests: $(counted "${command[@]}")"
			fi
		else
			times[$tool.$phase]+=" $(time_once 0 "${command[@]}")"
		fi
		check "$tool" "$phase" "$n" "$changes"
		throttled "$tool $phase"
	done
	delete_run
}

# --- One size ------------------------------------------------------------------------------

rows=()
declare -A times

bench_size() {
	local n=$1 dir="$work/n$n"
	log "N=$n: generating objects"
	mkdir -p "$dir"
	generate "$n" "$dir" >"$dir/changes"
	log "N=$n: $(cat "$dir/changes") of $n objects change in the change phase"

	times=()
	log "N=$n: warm-up round (not timed; requests by verb, from the server's metrics)"
	local tool
	for tool in "${tools[@]}"; do
		run_tool "$tool" "$n" "$dir" 0
	done

	log "N=$n: load average before timing: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
	# Rounds, each running every tool once, so a load change on the machine hits all tools
	# alike; the order of the tools rotates from round to round.
	local r k started spent=0
	for ((r = 1; r <= rounds; r++)); do
		log "N=$n: round $r of $rounds"
		for ((k = 0; k < ${#tools[@]}; k++)); do
			tool=${tools[$(((k + r - 1) % ${#tools[@]}))]}
			if [[ $tool == kubectl ]]; then
				((r <= runs_kubectl && spent < kubectl_budget)) || continue
				started=$SECONDS
			fi
			run_tool "$tool" "$n" "$dir" "$r"
			if [[ $tool == kubectl ]]; then spent=$((spent + SECONDS - started)); fi
		done
	done
	log "N=$n: load average after timing: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
	log "N=$n: runs (wall,client CPU,server CPU seconds):"
	local phase key
	for phase in "${phases[@]}"; do
		for tool in "${tools[@]}"; do
			log "  $tool $phase:${times[$tool.$phase]}"
		done
	done

	# field_median KEY FIELD: the median of one field of the runs (1 wall, 2 client CPU,
	# 3 server CPU).
	field_median() { tr ' ' '\n' <<<"${times[$1]}" | grep . | cut -d, -f"$2" | median; }
	local label ours wall ratio
	for phase in "${phases[@]}"; do
		ours=$(field_median "ours.$phase" 1)
		for tool in "${tools[@]}"; do
			key=$tool.$phase
			case $tool in
			ours) label="kubectl-gitops apply --yes" ;;
			kubectl) label="kubectl apply --server-side" ;;
			kubectl-novalidate) label="kubectl apply --server-side --validate=false" ;;
			kubectl-applyset) label="kubectl apply --server-side --validate=false --applyset --prune" ;;
			esac
			wall=$(field_median "$key" 1)
			ratio=-
			[[ $tool == ours ]] || ratio=$(printf '%.2f' "$(echo "$ours / $wall" | bc -l)")
			rows+=("$(printf '| %5d | %-6s | %-63s | %4s | %8.3f | %9s | %12.2f | %12.2f |' \
				"$n" "$phase" "$label" "$(wc -w <<<"${times[$key]}")" "$wall" "$ratio" \
				"$(field_median "$key" 2)" "$(field_median "$key" 3)")")
		done
	done
}

for n in "${sizes[@]}"; do
	bench_size "$n"
done

if [[ ${#rows[@]} -gt 0 ]]; then
	echo
	# ours/this: kubectl-gitops's median wall time over this tool's (below 1: kubectl-gitops is
	# faster). client CPU / server CPU: CPU seconds of the tool's process and of the API server.
	printf '| %5s | %-6s | %-63s | %4s | %8s | %9s | %12s | %12s |\n' N phase tool runs \
		"median s" "ours/this" "client CPU s" "server CPU s"
	printf '|%s:|%s|%s|%s:|%s:|%s:|%s:|%s:|\n' ------ -------- "$(printf -- '-%.0s' {1..65})" \
		----- --------- ---------- ------------- -------------
	printf '%s\n' "${rows[@]}"
fi
