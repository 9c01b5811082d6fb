#!/usr/bin/env bash
# The reconciler benchmark: what `kubectl-gitops reconcile` costs with N managed ConfigMaps
# (and one Deployment). Per size it records the first cycle (N + 1 creates), the duration and
# CPU time of no-op cycles, resident memory (VmRSS, VmHWM) as cycles go by, and how long a
# `kubectl edit`-style change to a managed field, and a `kubectl scale` of the Deployment
# (a write through its /scale subresource), live before the reconciler puts them back. For contrast, the same objects
# go through the floor (benches/floor: the N server-side dry-runs a no-op cycle cannot avoid)
# and `kubectl apply --server-side` (a full re-apply, what a plain apply loop sends).
#
#   benches/reconcile.sh            N=1000, then N=100
#   benches/reconcile.sh 500 2000   any sizes
#
# Environment:
#   CYCLES (10)         no-op cycles measured per size
#   INTERVAL (5)        the reconciler's --interval, in whole seconds (at least 3)
#   EDITS (5)           drift edits per size, each to another object, and as many scales
#   QPS                 the reconciler's --qps (default: its own default)
#   VERBOSE             when set, the reconciler runs with -v (debug logs, kept with KEEP)
#   FLOOR_RUNS (3)      timed runs of the floor (HTTP/1.1, 32 workers, as the reconciler)
#   PEER_RUNS (3)       at most this many timed no-op runs of `kubectl apply --server-side`
#                       (0: kubectl is not run) ...
#   PEER_BUDGET (60)    ... and no new run once they have taken this many seconds (kubectl
#                       takes minutes at N=1000)
#   KUBECTL_GITOPS_BIN  the binary to measure (default: target/release/kubectl-gitops)
#   KEEP                when set, the temporary directory (logs, repository, watch stream) and
#                       the objects on the server are kept
#
# It uses the project's test API server (tests/cluster.sh, state in $GITOPS_TEST_DIR; started
# if not running, left running) and the release binary (built if missing). Needs go, git,
# kubectl, jq, bc, openssl and GNU time. See docs/benchmarks.md for what the figures mean.
set -euo pipefail
# Without this, a failing command inside $(...) would not stop the script.
shopt -s inherit_errexit

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=benches/common.sh
source "$root/benches/common.sh"
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(1000 100)
cycles=${CYCLES:-10}
interval=${INTERVAL:-5}
edits=${EDITS:-5}
floor_runs=${FLOOR_RUNS:-3}
peer_runs=${PEER_RUNS:-3}
peer_budget=${PEER_BUDGET:-60}
per_file=100
((interval >= 3)) || { log "INTERVAL must be at least 3 (seconds)"; exit 2; }

# --- Prerequisites -------------------------------------------------------------------------

require go git kubectl jq bc openssl /usr/bin/time
use_test_server
use_binary

work=$(mktemp -d "${TMPDIR:-/tmp}/kubectl-gitops-bench.XXXXXX")
namespaces=()
pids=()

# The server is shared, so what a run created is deleted again. Every namespace is the run's
# own, so everything in it goes; the namespaces stay (without a namespace controller a deleted
# one only hangs in Terminating).
cleanup() {
	local pid ns collection
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	if [[ -n "${KEEP:-}" ]]; then
		log "keeping $work and the objects in namespaces ${namespaces[*]:-none} (KEEP is set)"
		return
	fi
	# One delete-collection request per kind and namespace.
	for ns in "${namespaces[@]}"; do
		for collection in "/api/v1/namespaces/$ns/"{configmaps,secrets,events} \
			"/apis/coordination.k8s.io/v1/namespaces/$ns/leases" \
			"/apis/apps/v1/namespaces/$ns/deployments"; do
			kubectl delete --raw "$collection" >/dev/null || true
		done
	done
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$root/benches/floor" && go build -o "$work/floor" .)
kubectl config view --raw --minify --flatten -o json >"$work/kubeconfig.json"

# --- Generating objects --------------------------------------------------------------------

# emit_cm I NAMESPACE [LABEL]: ConfigMap I; LABEL ("key: value") is added to its labels. The
# drift edits change `mode`.
emit_cm() {
	local name
	printf -v name 'cm-%05d' "$1"
	printf '%s\n' "apiVersion: v1" "kind: ConfigMap" "metadata:" "  name: $name" \
		"  namespace: $2" "  labels:" "    app.kubernetes.io/name: web-$1" \
		"    app.kubernetes.io/part-of: bench" ${3:+"    $3"} "data:" "  mode: base" \
		"  LOG_LEVEL: info" \
		"  settings.json: '{\"timeout\": 30, \"retries\": 3, \"upstream\": \"http://api-$1:8080\"}'"
}

# generate N DIR TAG: DIR/repo, a git repository whose deploy/ holds the N ConfigMaps of
# namespace TAG, $per_file documents a file, and the Deployment `web` (2 replicas); DIR/peer, the same objects in namespace TAG-peer
# for kubectl; DIR/floor + DIR/objects.jsonl, the floor's input (one file an object, with the
# ApplySet label the reconciler adds, since it sends that in its dry-runs).
generate() {
	local n=$1 dir=$2 tag=$3 i file name part_of
	part_of="applyset.kubernetes.io/part-of: $(applyset_id "$tag" "$tag")"
	mkdir -p "$dir/repo/deploy" "$dir/peer" "$dir/floor"
	for ((i = 0; i < n; i++)); do
		printf -v file 'batch-%03d.yaml' $((i / per_file))
		printf -v name 'cm-%05d' "$i"
		((i % per_file == 0)) || echo --- | tee -a "$dir/repo/deploy/$file" >>"$dir/peer/$file"
		emit_cm "$i" "$tag" >>"$dir/repo/deploy/$file"
		emit_cm "$i" "$tag-peer" >>"$dir/peer/$file"
		emit_cm "$i" "$tag" "$part_of" >"$dir/floor/$i.yaml"
		printf '{"file":"%s","item":"/api/v1/namespaces/%s/configmaps/%s","collection":"/api/v1/namespaces/%s/configmaps"}\n' \
			"$dir/floor/$i.yaml" "$tag" "$name" "$tag" >>"$dir/objects.jsonl"
	done
	printf '%s\n' "apiVersion: apps/v1" "kind: Deployment" "metadata:" "  name: web" \
		"  namespace: $tag" "spec:" "  replicas: 2" "  selector:" "    matchLabels: {app: web}" \
		"  template:" "    metadata:" "      labels: {app: web}" "    spec:" "      containers:" \
		"      - name: web" "        image: nginx:1.27" >"$dir/repo/deploy/web.yaml"
	git -C "$dir/repo" init -q -b main
	git -C "$dir/repo" add deploy
	git -C "$dir/repo" -c user.name=bench -c user.email=bench@localhost commit -q -m "$n ConfigMaps"
}

# --- Watching the reconciler ---------------------------------------------------------------

now() { echo "$EPOCHREALTIME"; }
calc() { echo "$*" | bc -l; }
# Two decimals, and a leading zero that bc leaves out.
fmt() { printf '%.2f' "$(calc "$@")"; }
min() { printf '%s\n' "$@" | sort -g | head -n 1; }
max() { printf '%s\n' "$@" | sort -g | tail -n 1; }

# cycle_count LOG: cycles finished so far (succeeded or failed).
cycle_count() {
	grep -c -e '"message":"cycle succeeded"' -e '"message":"cycle failed' "$1" || true
}

# wait_cycles LOG PID COUNT: waits until COUNT cycles have finished; stops the benchmark if one
# failed or the reconciler exited. Polls every 0.1 s (grep is cheap next to a cycle).
wait_cycles() {
	local log_file=$1 pid=$2 count=$3 deadline=$((SECONDS + 600))
	while (($(cycle_count "$log_file") < count)); do
		if ! kill -0 "$pid" 2>/dev/null || ((SECONDS > deadline)) ||
			grep -q '"message":"cycle failed' "$log_file"; then
			log "the reconciler failed, exited or stalled before cycle $count; its log ends:"
			tail -n 20 "$log_file" >&2
			exit 1
		fi
		sleep 0.1
	done
	if grep -q '"message":"cycle failed' "$log_file"; then
		log "a cycle failed:"
		grep '"message":"cycle failed' "$log_file" >&2
		exit 1
	fi
}

# cycle_line LOG K: the Kth "cycle succeeded" line, as JSON.
cycle_line() { grep '"message":"cycle succeeded"' "$1" | sed -n "$2p"; }

# memory PID FIELD: VmRSS or VmHWM in MiB.
memory() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# epoch RFC3339: seconds since the epoch, with fraction.
epoch() { date -d "$1" +%s.%N; }

# net_server_cpu WALL,CLIENT,SERVER: the API server's CPU seconds of a run (time_once) without
# its idle rate over the run's wall time, as for the reconciler's cycles.
net_server_cpu() { fmt "$(cut -d, -f3 <<<"$1") - $idle_srv_rate * $(cut -d, -f1 <<<"$1")"; echo; }

# peer_apply: `kubectl apply --server-side` of the peer copy in $dir, timed (see time_once);
# every one of the $n objects must be applied.
peer_apply() {
	local t applied
	t=$(time_once 0 kubectl apply --server-side -R -f "$dir/peer")
	applied=$(grep -c 'serverside-applied' "$work/stdout" || true)
	((applied == n)) || { log "kubectl applied $applied of $n"; cat "$work/stderr" >&2; exit 1; }
	echo "$t"
}

# --- One size ------------------------------------------------------------------------------

summary=()
contrast=()

bench_size() {
	local n=$1 dir="$work/n$n" tag
	# Unique per run: the server never deletes namespaces, reruns must not collide.
	tag="rbench-$n-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
	mkdir -p "$dir"
	log "N=$n: generating $n ConfigMaps ($per_file a file) in a git repository"
	generate "$n" "$dir" "$tag"
	namespaces+=("$tag" "$tag-peer")
	printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n---\n' "$tag" "$tag-peer" |
		kubectl create -f - >/dev/null

	local rlog="$dir/reconcile.log"
	local args=(reconcile --repo "file://$dir/repo" --path deploy --interval "${interval}s"
		--applyset "$tag" --applyset-namespace "$tag" -n "$tag" --cache-dir "$dir/cache"
		--log-format json)
	[[ -n "${QPS:-}" ]] && args+=(--qps "$QPS")
	[[ -n "${VERBOSE:-}" ]] && args+=(-v)
	log "N=$n: load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
	log "N=$n: starting: $bin ${args[*]}"
	local started
	started=$(now)
	"$bin" "${args[@]}" >/dev/null 2>"$rlog" &
	local pid=$!
	pids+=("$pid")

	# --- The first cycle: N creates.
	wait_cycles "$rlog" "$pid" 1
	local line first_ms first_wall
	line=$(cycle_line "$rlog" 1)
	first_ms=$(jq -r .duration_ms <<<"$line")
	first_wall=$(fmt "$(epoch "$(jq -r .timestamp <<<"$line")") - $started")
	if [[ $(jq -r .created <<<"$line") != "$((n + 1))" ]]; then
		log "the first cycle did not create $((n + 1)) objects: $line"
		exit 1
	fi
	local status
	status=$(kubectl get configmap "$tag-status" -n "$tag" -o json |
		jq -r '"\(.data.lastResult) \(.data.objectsManaged)"')
	if [[ $status != "Succeeded $((n + 1))" ]]; then
		log "the status ConfigMap says '$status', want 'Succeeded $((n + 1))'"
		exit 1
	fi
	log "N=$n: first cycle: $first_ms ms ($first_wall s from the start of the process); status: $status"

	# --- No-op cycles. A cycle starts INTERVAL seconds after the previous one ended, so the
	# INTERVAL-1 seconds after each end are idle: CPU used then is the idle rate (watches,
	# Lease renewals), and the window from there to the next end holds one cycle.
	local durations=() rss=() cpu_cycle=() srv_cycle=() idle_cpu=() idle_srv=()
	local c ta tb tc ca cb cc sa sb sc ms
	ta=$(now) ca=$(process_cpu "$pid") sa=$(server_cpu)
	for ((c = 2; c <= cycles + 1; c++)); do
		sleep $((interval - 1))
		tb=$(now) cb=$(process_cpu "$pid") sb=$(server_cpu)
		wait_cycles "$rlog" "$pid" "$c"
		tc=$(now) cc=$(process_cpu "$pid") sc=$(server_cpu)
		rss+=("$(memory "$pid" VmRSS)")
		line=$(cycle_line "$rlog" "$c")
		if [[ $(jq -r '"\(.trigger) \(.created + .updated + .pruned)"' <<<"$line") != "interval 0" ]]; then
			log "cycle $c was not a no-op interval cycle: $line"
			exit 1
		fi
		ms=$(jq -r .duration_ms <<<"$line")
		durations+=("$ms")
		idle_cpu+=("$(calc "($cb - $ca) / ($tb - $ta)")")
		idle_srv+=("$(calc "($sb - $sa) / ($tb - $ta)")")
		# Per-window figures; the idle share is taken out at the end with the median idle rate.
		cpu_cycle+=("$(calc "$cc - $cb"),$(calc "$tc - $tb - $ms / 1000")")
		srv_cycle+=("$(calc "$sc - $sb")")
		log "N=$n: no-op cycle $((c - 1)): ${ms} ms, reconciler CPU $(fmt "$cc - $cb") s," \
			"API server CPU $(fmt "$sc - $sb") s in the window, VmRSS ${rss[-1]} MiB"
		ta=$tc ca=$cc sa=$sc
	done
	local hwm_noop idle_rate idle_srv_rate
	hwm_noop=$(memory "$pid" VmHWM)
	idle_rate=$(printf '%s\n' "${idle_cpu[@]}" | median)
	idle_srv_rate=$(printf '%s\n' "${idle_srv[@]}" | median)
	local cycle_cpus=() cycle_srvs=() i idle_s
	for ((i = 0; i < ${#cpu_cycle[@]}; i++)); do
		idle_s=${cpu_cycle[i]#*,}
		cycle_cpus+=("$(calc "${cpu_cycle[i]%,*} - $idle_rate * $idle_s")")
		cycle_srvs+=("$(calc "${srv_cycle[i]} - $idle_srv_rate * ($idle_s + ${durations[i]} / 1000)")")
	done
	log "N=$n: idle rates: reconciler $(fmt "$idle_rate * 1000") ms CPU/s," \
		"API server $(fmt "$idle_srv_rate * 1000") ms CPU/s (its background, and any other client)"

	# --- Drift: edits by another field manager, seen with their reverts on one watch stream.
	# Each line: arrival time (jq's clock), event type, name, the `mode` field. kubectl prints
	# the initial state as ADDED events of whole lists (in chunks of 500) or of single objects.
	local stream="$dir/watch.tsv"
	: >"$stream"
	kubectl get configmaps -n "$tag" -w --output-watch-events -o json > >(
		jq --unbuffered -r '.type as $type
			| (if .object.kind | endswith("List") then .object.items[] else .object end)
			| select(.metadata.name | startswith("cm-"))
			| [now, $type, .metadata.name, .data.mode] | @tsv' >"$stream"
	) 2>"$dir/watch.err" &
	local watch_pid=$!
	pids+=("$watch_pid")
	local deadline=$((SECONDS + 120))
	# Edits start once the initial state has gone through, so that no backlog delays their lines.
	while (($(grep -c $'\tADDED\t' "$stream" || true) < n)); do
		((SECONDS < deadline)) || { log "the watch did not list $n objects"; exit 1; }
		sleep 0.2
	done
	local latencies=() edited_at=() name value t_edit t_back e
	for ((e = 1; e <= edits; e++)); do
		printf -v name 'cm-%05d' $(((2 * e - 1) * n / (2 * edits)))
		value="edited-$e"
		kubectl patch configmap "$name" -n "$tag" --field-manager=kubectl-edit --type merge \
			-p "{\"data\":{\"mode\":\"$value\"}}" >/dev/null
		deadline=$((SECONDS + 120))
		while :; do
			t_back=
			read -r t_edit t_back < <(awk -F'\t' -v name="$name" -v value="$value" '
				$3 == name && $2 == "MODIFIED" && $4 == value { edit = $1 }
				edit && $3 == name && $2 == "MODIFIED" && $4 == "base" { print edit, $1; exit }
			' "$stream") || true
			[[ -n "${t_back:-}" ]] && break
			((SECONDS < deadline)) || { log "the edit of $name was not reverted in 120 s"; exit 1; }
			sleep 0.1
		done
		latencies+=("$(calc "$t_back - $t_edit")")
		edited_at+=("$t_edit")
		log "N=$n: edit $e ($name): reverted after $(printf '%.3f' "${latencies[-1]}") s"
		sleep 2
	done
	kill "$watch_pid"

	# --- Drift through /scale: `kubectl scale` of the Deployment git runs with 2 replicas, seen
	# with its revert on a watch stream of Deployments.
	local dstream="$dir/watch-deployments.tsv" scales=() replicas
	: >"$dstream"
	kubectl get deployments -n "$tag" -w --output-watch-events -o json > >(
		jq --unbuffered -r '.type as $type
			| (if .object.kind | endswith("List") then .object.items[] else .object end)
			| [now, $type, .metadata.name, .spec.replicas] | @tsv' >"$dstream"
	) 2>"$dir/watch-deployments.err" &
	watch_pid=$!
	pids+=("$watch_pid")
	deadline=$((SECONDS + 120))
	while ! grep -q $'\tADDED\tweb\t' "$dstream"; do
		((SECONDS < deadline)) || { log "the watch did not list the Deployment"; exit 1; }
		sleep 0.2
	done
	for ((e = 1; e <= edits; e++)); do
		replicas=$((6 + e))
		kubectl scale deployment web -n "$tag" --replicas="$replicas" >/dev/null
		deadline=$((SECONDS + 120))
		while :; do
			t_back=
			read -r t_edit t_back < <(awk -F'\t' -v value="$replicas" '
				$3 == "web" && $2 == "MODIFIED" && $4 == value { edit = $1 }
				edit && $3 == "web" && $2 == "MODIFIED" && $4 == 2 { print edit, $1; exit }
			' "$dstream") || true
			[[ -n "${t_back:-}" ]] && break
			((SECONDS < deadline)) || { log "the scale to $replicas was not reverted in 120 s"; exit 1; }
			sleep 0.1
		done
		scales+=("$(calc "$t_back - $t_edit")")
		log "N=$n: scale $e (to $replicas): reverted after $(printf '%.3f' "${scales[-1]}") s"
		sleep 2
	done
	kill "$watch_pid"
	# What each edit waited for, from the log: the cycle that put it back (the first one with an
	# update ending after the edit) and whether a full (interval) cycle was running at the edit.
	# Cycles as "START END TRIGGER UPDATED DURATION_MS".
	local cycles_seen
	cycles_seen=$(grep '"message":"cycle succeeded"' "$rlog" |
		jq -r '"\(.timestamp) \(.duration_ms) \(.trigger) \(.updated)"' |
		while read -r ts ms trigger updated; do
			echo "$(calc "$(epoch "$ts") - $ms / 1000") $(epoch "$ts") $trigger $updated $ms"
		done)
	for ((e = 0; e < edits; e++)); do
		log "N=$n: edit $((e + 1)): $(printf '%.3f' "${latencies[e]}") s; $(awk -v t="${edited_at[e]}" '
			$1 <= t && t <= $2 && $3 == "interval" { busy = sprintf("%.2f s before the end of a full cycle", $2 - t) }
			$2 >= t && $4 > 0 && !by { by = sprintf("put back by a %s cycle of %d ms starting %.2f s after the edit", $3, $5, $1 - t) }
			END { print (busy ? "made " busy : "made with no full cycle running") "; " by }
		' <<<"$cycles_seen")"
	done

	local rss_end hwm_end total
	rss_end=$(memory "$pid" VmRSS) hwm_end=$(memory "$pid" VmHWM) total=$(cycle_count "$rlog")
	log "N=$n: cycles in all: $total"
	log "N=$n: memory: VmRSS after each no-op cycle ${rss[*]} MiB; VmHWM $hwm_noop MiB;" \
		"after the drift edits VmRSS $rss_end MiB, VmHWM $hwm_end MiB"
	kill -TERM "$pid"
	wait "$pid" || true

	# --- Contrast: the floor of a no-op cycle, and kubectl's full re-apply.
	log "N=$n: floor (the $n dry-runs and one LIST, HTTP/1.1, 32 workers)"
	local floor_wall=() floor_srv=() t
	"$work/floor" -objects "$dir/objects.jsonl" -kubeconfig-json "$work/kubeconfig.json" \
		-runs 1 -protocols h1 -concurrency 32 >/dev/null
	for ((i = 1; i <= floor_runs; i++)); do
		t=$(time_once 0 "$work/floor" -objects "$dir/objects.jsonl" -kubeconfig-json "$work/kubeconfig.json" \
			-warmup=false -runs 1 -protocols h1 -concurrency 32)
		floor_wall+=("$(sed -n 's/.*median=\([0-9.]*\)s$/\1/p' "$work/stdout" | head -n 1)")
		floor_srv+=("$(net_server_cpu "$t")")
	done
	log "N=$n: floor runs (s): ${floor_wall[*]}; API server CPU, idle rate taken out (s): ${floor_srv[*]}"

	local peer_create peer=() spent=0
	if ((peer_runs > 0)); then
		log "N=$n: kubectl apply --server-side of the same objects in $tag-peer"
		peer_create=$(peer_apply)
		for ((i = 1; i <= peer_runs; i++)); do
			(($(calc "$spent < $peer_budget"))) || break
			peer+=("$(peer_apply)")
			spent=$(calc "$spent + ${peer[-1]%%,*}")
		done
		log "N=$n: kubectl creates (wall,client CPU,server CPU s): $peer_create;" \
			"no-op re-applies: ${peer[*]}"
	fi
	log "N=$n: load average after: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

	# --- Rows (tab-separated cells).
	local noop cpu srv
	noop=$(printf '%s\n' "${durations[@]}" | median)
	cpu=$(printf '%s\n' "${cycle_cpus[@]}" | median)
	srv=$(printf '%s\n' "${cycle_srvs[@]}" | median)
	local edit_cell scale_cell
	edit_cell=$(printf '%.3f / %.3f / %.3f' "$(min "${latencies[@]}")" \
		"$(printf '%s\n' "${latencies[@]}" | median)" "$(max "${latencies[@]}")")
	scale_cell=$(printf '%.3f / %.3f / %.3f' "$(min "${scales[@]}")" \
		"$(printf '%s\n' "${scales[@]}" | median)" "$(max "${scales[@]}")")
	summary+=("$(printf '%d\t%.2f\t%.2f (%.2f to %.2f)\t%.2f\t%.2f\t%s\t%.1f\t%s\t%s' \
		"$n" "$(calc "$first_ms / 1000")" "$(calc "$noop / 1000")" \
		"$(calc "$(min "${durations[@]}") / 1000")" "$(calc "$(max "${durations[@]}") / 1000")" \
		"$cpu" "$srv" "${rss[*]}" "$hwm_end" "$edit_cell" "$scale_cell")")

	local floor_med floor_srv_med peer_wall
	floor_med=$(printf '%s\n' "${floor_wall[@]}" | median)
	floor_srv_med=$(printf '%s\n' "${floor_srv[@]}" | median)
	contrast+=(
		"$(printf '%d\tkubectl-gitops reconcile, one cycle\t%.2f\t%.2f\t%.2fx\t%.2f\t%.2f' "$n" \
			"$(calc "$first_ms / 1000")" "$(calc "$noop / 1000")" \
			"$(calc "$noop / 1000 / $floor_med")" "$cpu" "$srv")"
		"$(printf '%d\tfloor (%d dry-runs, HTTP/1.1, 32 workers)\t-\t%.2f\t1.00x\t-\t%.2f' \
			"$n" "$n" "$floor_med" "$floor_srv_med")"
	)
	((peer_runs > 0)) || return 0
	peer_wall=$(printf '%s\n' "${peer[@]}" | cut -d, -f1 | median)
	contrast+=("$(printf '%d\tkubectl apply --server-side (%d no-op runs)\t%.2f\t%.2f\t%.2fx\t%.2f\t%.2f' \
		"$n" "${#peer[@]}" "${peer_create%%,*}" "$peer_wall" "$(calc "$peer_wall / $floor_med")" \
		"$(printf '%s\n' "${peer[@]}" | cut -d, -f2 | median)" \
		"$(for t in "${peer[@]}"; do net_server_cpu "$t"; done | median)")")
}

# md_table ALIGN: the tab-separated lines on stdin, the first the header, as a Markdown table
# with every column as wide as its widest cell; ALIGN has a letter a column, l(eft) or r(ight).
md_table() {
	awk -F'\t' -v align="$1" '
		{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
		NF > cols { cols = NF }
		END {
			for (r = 1; r <= NR; r++) {
				line = "|"
				for (i = 1; i <= cols; i++) {
					left = substr(align, i, 1) == "l"
					line = line sprintf(" %" (left ? "-" : "") w[i] "s |", cell[r, i])
				}
				print line
				if (r > 1) continue
				line = "|"
				for (i = 1; i <= cols; i++) {
					rule = ""
					for (k = 0; k <= w[i]; k++) rule = rule "-"
					line = line rule (substr(align, i, 1) == "l" ? "-" : ":") "|"
				}
				print line
			}
		}'
}

for n in "${sizes[@]}"; do
	bench_size "$n"
done

echo
echo "Reconciler, --interval ${interval}s, qps ${QPS:-default}: first cycle (creates) and no-op cycles" \
	"(s, from its log), CPU s of a no-op cycle (the reconciler's and the API server's, idle rates" \
	"taken out), memory (MiB), drift revert (s, from one watch stream; $edits edits)."
{
	printf '%s\t' N "first" "no-op (median, range)" "CPU" "API server CPU" \
		"VmRSS after each no-op cycle" "VmHWM at the end"
	printf 'edit reverted: min / median / max\t'
	printf 'scale reverted: min / median / max\n'
	printf '%s\n' "${summary[@]}"
} | md_table rrlrrlrll
echo
echo "A no-op cycle against the floor and kubectl: wall s (creates; median no-op run), its ratio to" \
	"the floor, CPU s per no-op run (the client's; the API server's, its idle rate taken out)."
{
	printf '%s\t' N tool creates no-op "/floor" "client CPU"
	printf 'API server CPU\n'
	printf '%s\n' "${contrast[@]}"
} | md_table rlrrrrr
