#!/usr/bin/env bash
# The diff benchmark: how long `kubectl-gitops diff` takes against `kubectl diff --server-side`
# and against the "floor" (the same requests sent by the simplest loop, benches/floor), on the
# same objects and the same API server, in one run.
#
#   benches/diff.sh            N=100, then N=1000
#   benches/diff.sh 500 2000   any sizes
#
# Environment:
#   RUNS_OURS (5)       timed runs of kubectl-gitops per figure (the median is reported)
#   RUNS_KUBECTL (3)    at most this many timed runs of kubectl per figure ...
#   KUBECTL_BUDGET (90) ... and no new run once its runs have taken this many seconds, so a
#                       kubectl run that takes minutes is measured once
#   KUBECTL_CONCURRENCY ("16 64") kubectl diff --concurrency values timed besides its default
#   KUBECTL_DEFAULT_UP_TO (1000) kubectl diff with its defaults (one object at a time) is
#                       timed only up to this many objects (at 10,000 one run takes minutes);
#                       every size is compared with kubectl's best --concurrency
#   FLOOR_SWEEP ("8,16,32,64") the floor's worker counts tried by its sweep ...
#   FLOOR_SWEEP_RUNS (3) ... and its runs per protocol and worker count
#   FLOOR_RUNS (5)      timed runs of the floor at its best protocol and concurrency (found
#                       first by a sweep of 3 runs per combination)
#   KUBECTL_GITOPS_BIN  the binary to time (default: target/release/kubectl-gitops)
#   SETUP_MANAGER       field manager of the live half (default kubectl-gitops, as after
#                       `kubectl gitops apply`; another name, e.g. bench-setup, makes the live
#                       objects someone else's, so kubectl-gitops must dry-run every one)
#   KEEP                when set, the generated objects (and what was applied) are kept
#   ONLY_SETUP          when set, generate and apply, check the plan, and time nothing (with
#                       KEEP, to leave the objects for a closer look)
#
# It uses the project's test API server (tests/cluster.sh; started if not running, left running)
# and the release binary (built if missing). Needs go, kubectl 1.32 or newer (diff
# --concurrency), jq, bc, openssl and GNU time. See docs/benchmarks.md for what the figures mean.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Strict mode (set -euo pipefail, inherit_errexit), `sizes` from the arguments, shared helpers.
# shellcheck source=benches/common.sh
source "$root/benches/common.sh" "$@"
runs_ours=${RUNS_OURS:-5}
runs_kubectl=${RUNS_KUBECTL:-3}
kubectl_budget=${KUBECTL_BUDGET:-90}
floor_runs=${FLOOR_RUNS:-5}
setup_manager=${SETUP_MANAGER:-kubectl-gitops}
read -r -a kubectl_concurrency <<<"${KUBECTL_CONCURRENCY:-16 64}"
kubectl_default_up_to=${KUBECTL_DEFAULT_UP_TO:-1000}
floor_sweep=${FLOOR_SWEEP:-8,16,32,64}
floor_sweep_runs=${FLOOR_SWEEP_RUNS:-3}

bench_setup go kubectl jq bc openssl
applied_dirs=()
applied_namespaces=()

# The server is shared (tests run against it), so what a run applied is deleted again at the
# end. Namespaces stay: without a namespace controller a deleted one only hangs in Terminating.
cleanup() {
	if [[ -n "${KEEP:-}" ]]; then
		log "keeping $work and the objects applied from ${applied_dirs[*]:-nowhere} (KEEP is set);" \
			"delete them with: kubectl delete --wait=false -R -f DIR"
		return
	fi
	local ns collection
	# One DELETE per collection (kubectl delete -f sends one per object: minutes at 5,000).
	for ns in "${applied_namespaces[@]}"; do
		for collection in api/v1/namespaces/"$ns"/{configmaps,services,secrets} \
			apis/apps/v1/namespaces/"$ns"/deployments; do
			kubectl delete --raw "/$collection" >/dev/null 2>&1 || true
		done
	done
	rm -rf "$work"
}
trap cleanup EXIT

# The floor: stdlib-only Go, built fresh each time (a second or two).
(cd "$root/benches/floor" && go build -o "$work/floor" .)
kubectl config view --raw --minify --flatten -o json >"$work/kubeconfig.json"

# --- Generating objects --------------------------------------------------------------------

# Object i goes to namespace (i / 4) mod 10 (benches/common.sh has the objects). Objects
# i < N/2 are applied up front ("live"); of those, the ones with i mod 11 == 0 (about 9%: 11 is
# coprime to 4 and 10, so they spread over kinds and namespaces) differ in the files. Hence the
# plan must be: creates = N - N/2, updates = |{i < N/2 : i mod 11 == 0}|, unchanged = the rest.

# generate N DIR TAG: namespaces TAG-0.. created on the server, DIR/objects (what is diffed),
# DIR/live (the state applied up front), DIR/floor + DIR/objects.jsonl (the floor's input);
# prints "creates updates unchanged".
#
# kubectl-gitops labels every object it applies as part of its ApplySet, and its dry-run
# carries that label. The live copies carry it too (for `--applyset TAG`), as if an earlier
# `kubectl gitops apply` had put them there; otherwise every live object would differ by that
# label and nothing would be unchanged. The files in DIR/objects do not carry it (the tool adds
# it), so kubectl diff sees them as a plain repository. The live half is applied with field
# manager kubectl-gitops (SETUP_MANAGER), as `kubectl gitops apply` would have; kubectl's own
# apply leaves the label alone.
generate() {
	local n=$1 dir=$2 tag=$3
	local part_of
	part_of="applyset.kubernetes.io/part-of: $(applyset_id "$tag")"
	local count=$namespaces_per_run
	((n < count)) && count=$n
	local namespaces=()
	for ((j = 0; j < count; j++)); do namespaces+=("$tag-$j"); done
	create_namespaces "${namespaces[@]}"

	mkdir -p "$dir/objects" "$dir/live" "$dir/floor"
	local creates=0 updates=0 unchanged=0
	for ((i = 0; i < n; i++)); do
		local kind=$((i % 4)) ns=${namespaces[$(((i / 4) % count))]}
		local applied=0 changed=0
		((i < n / 2)) && applied=1
		((applied && i % 11 == 0)) && changed=1
		local file="$dir/objects/$ns/${kind_names[$kind]}-$i.yaml"
		mkdir -p "$(dirname "$file")"
		emit_object "$kind" "$i" "$ns" "$changed" >"$file"
		local collection="${kind_prefixes[$kind]}/namespaces/$ns/${kind_collections[$kind]}"
		if ((applied)); then
			local live_file="$dir/live/$ns-${kind_names[$kind]}-$i.yaml"
			emit_object "$kind" "$i" "$ns" 0 "$part_of" >"$live_file"
			printf '{"file":"%s","item":"%s/%s-%s","collection":"%s"}\n' \
				"$live_file" "$collection" "${kind_names[$kind]}" "$i" "$collection" >>"$dir/live.jsonl"
			if ((changed)); then updates=$((updates + 1)); else unchanged=$((unchanged + 1)); fi
		else
			creates=$((creates + 1))
		fi
		# The floor sends what kubectl-gitops sends: the desired object with its ApplySet label.
		local floor_file="$dir/floor/$ns-${kind_names[$kind]}-$i.yaml"
		emit_object "$kind" "$i" "$ns" "$changed" "$part_of" >"$floor_file"
		printf '{"file":"%s","item":"%s/%s-%s","collection":"%s"}\n' \
			"$floor_file" "$collection" "${kind_names[$kind]}" "$i" "$collection" >>"$dir/objects.jsonl"
	done
	echo "$creates $updates $unchanged"
}

# --- Timing --------------------------------------------------------------------------------

# --- One size ------------------------------------------------------------------------------

rows=()

bench_size() {
	local n=$1 dir="$work/n$n"
	mkdir -p "$dir"
	log "N=$n: generating objects"
	# Unique per run: the server never deletes namespaces (it runs no controllers), so reruns
	# must not collide with what earlier runs left behind.
	local tag
	tag="bench-$n-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
	local expected
	expected=$(generate "$n" "$dir" "$tag")
	read -r want_create want_update want_unchanged <<<"$expected"

	log "N=$n: applying the live half ($((n / 2)) objects)"
	applied_dirs+=("$dir/live")
	local j
	for ((j = 0; j < namespaces_per_run && j < n; j++)); do applied_namespaces+=("$tag-$j"); done
	# The same server-side apply PATCH `kubectl apply --server-side --field-manager=...` sends,
	# 32 at a time.
	"$work/floor" -objects "$dir/live.jsonl" -kubeconfig-json "$work/kubeconfig.json" \
		-apply-manager "$setup_manager"

	# Sanity: kubectl-gitops must see exactly the generated creates/updates/unchanged. This
	# also warms the server and our discovery cache before anything is timed.
	local code=0
	"$bin" diff "$dir/objects" --applyset "$tag" --force-conflicts -o json >"$dir/plan.json" 2>"$work/stderr" || code=$?
	if ((code != 1)); then
		log "kubectl-gitops diff exited $code (want 1, drift)"
		cat "$work/stderr" >&2
		exit 1
	fi
	local got
	got=$(jq -r '.summary | "\(.create) \(.update) \(.unchanged) \(.errors)"' "$dir/plan.json")
	if [[ "$got" != "$want_create $want_update $want_unchanged 0" ]]; then
		log "N=$n: kubectl-gitops counts (create update unchanged errors) are '$got'," \
			"want '$want_create $want_update $want_unchanged 0'"
		exit 1
	fi
	log "N=$n: plan agrees: $want_create create, $want_update update, $want_unchanged unchanged"

	# kubectl diff runs `diff -u -N` once over two directories, one entry per differing
	# object: checking that count makes sure both tools do the same work.
	code=0
	kubectl diff --server-side --force-conflicts --concurrency=16 -R -f "$dir/objects" \
		>"$dir/kubectl.diff" 2>"$work/stderr" || code=$?
	local differing
	differing=$(grep -c '^diff -u -N' "$dir/kubectl.diff" || true)
	if ((code != 1 || differing != want_create + want_update)); then
		log "N=$n: kubectl diff exited $code with $differing differing objects," \
			"want 1 and $((want_create + want_update))"
		cat "$work/stderr" >&2
		exit 1
	fi

	if [[ -n "${ONLY_SETUP:-}" ]]; then
		log "N=$n: objects in $dir/objects, run: $bin diff $dir/objects --applyset $tag --force-conflicts"
		return 0
	fi

	local load_before
	load_before=$(cut -d' ' -f1 /proc/loadavg)
	log "N=$n: load average before timing: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
	# The floor's best protocol and concurrency, from a sweep (3 runs per combination).
	log "N=$n: floor sweep"
	"$work/floor" -objects "$dir/objects.jsonl" -kubeconfig-json "$work/kubeconfig.json" \
		-runs "$floor_sweep_runs" -concurrency "$floor_sweep" >"$dir/floor.txt"
	sed 's/^/  /' "$dir/floor.txt" >&2
	local floor_proto floor_conc
	read -r _ _ floor_proto floor_conc < <(tail -n 1 "$dir/floor.txt")

	# Rounds, each timing every tool once, so a load change on the machine (other builds, other
	# tests on the same server) hits all tools alike instead of whichever ran at that moment.
	# kubectl runs in a round only while it is under its run count and time budget.
	local -A times=() spent=([kdefault]=0)
	local c
	for c in "${kubectl_concurrency[@]}"; do spent[k$c]=0; done
	local rounds=$runs_ours
	((floor_runs > rounds)) && rounds=$floor_runs
	local r key t
	for ((r = 1; r <= rounds; r++)); do
		log "N=$n: round $r of $rounds"
		if ((r <= runs_ours)); then
			times[ours]+=" $(time_once 1 "$bin" diff "$dir/objects" --applyset "$tag" --force-conflicts)"
			times[ours64]+=" $(time_once 1 "$bin" diff "$dir/objects" --applyset "$tag" --force-conflicts --concurrency 64)"
		fi
		if ((r <= floor_runs)); then
			t=$(time_once 1 "$work/floor" -objects "$dir/objects.jsonl" \
				-kubeconfig-json "$work/kubeconfig.json" -warmup=false -runs 1 \
				-protocols "$floor_proto" -concurrency "$floor_conc")
			# The floor's wall time is its own clock: its requests only, not its start-up or
			# reading the files.
			times[floor]+=" $(sed -n 's/.*median=\([0-9.]*\)s$/\1/p' "$work/stdout" | head -n 1),${t#*,}"
		fi
		# --force-conflicts, for both tools: the updated objects' fields belong to SETUP_MANAGER;
		# without it, each reports conflicts instead of a diff.
		for key in "${kubectl_concurrency[@]/#/k}" kdefault; do
			((r <= runs_kubectl)) || continue
			(($(echo "${spent[$key]} < $kubectl_budget" | bc -l))) || continue
			if [[ $key == kdefault ]]; then
				((n <= kubectl_default_up_to)) || continue
				t=$(time_once 1 kubectl diff --server-side --force-conflicts -R -f "$dir/objects")
			else
				t=$(time_once 1 kubectl diff --server-side --force-conflicts \
					--concurrency="${key#k}" -R -f "$dir/objects")
			fi
			times[$key]+=" $t"
			spent[$key]=$(echo "${spent[$key]} + ${t%%,*}" | bc -l)
		done
	done
	log "N=$n: runs (wall,client CPU,server CPU seconds):"
	for key in ours ours64 floor "${kubectl_concurrency[@]/#/k}" kdefault; do
		log "  $key:${times[$key]:-}"
	done
	# The machine may be shared; say how busy it was, since every figure depends on it.
	log "N=$n: load average after timing: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
	local load
	load="$load_before-$(cut -d' ' -f1 /proc/loadavg)"

	# field_median KEY FIELD: the median of one field of a tool's runs (1 wall, 2 client CPU,
	# 3 server CPU).
	field_median() { tr ' ' '\n' <<<"${times[$1]}" | grep . | cut -d, -f"$2" | median; }
	# kubectl's best: the lowest median of its --concurrency values.
	local kd fl kbest="" kbest_label="" c_wall
	fl=$(field_median floor 1)
	kd=""
	[[ -n "${times[kdefault]:-}" ]] && kd=$(field_median kdefault 1)
	for c in "${kubectl_concurrency[@]}"; do
		c_wall=$(field_median "k$c" 1)
		if [[ -z "$kbest" ]] || (($(echo "$c_wall < $kbest" | bc -l))); then
			kbest=$c_wall kbest_label=$c
		fi
	done
	ratio() { if [[ -n "$1" ]]; then printf '%.1fx' "$(echo "$1 / $2" | bc -l)"; else echo -; fi; }
	row() { # LABEL KEY
		[[ -n "${times[$2]:-}" ]] || return 0
		local wall
		wall=$(field_median "$2" 1)
		rows+=("$(printf '| %5d | %-56s | %4s | %8.3f | %8s | %9s | %10.2fx | %10.2f | %10.2f | %9s |' \
			"$n" "$1" "$(wc -w <<<"${times[$2]}")" "$wall" "$(ratio "$kd" "$wall")" \
			"$(ratio "$kbest" "$wall")" "$(echo "$wall / $fl" | bc -l)" \
			"$(field_median "$2" 2)" "$(field_median "$2" 3)" "$load")")
	}
	row "kubectl-gitops diff (defaults: --concurrency 32)" ours
	row "kubectl-gitops diff --concurrency 64" ours64
	row "kubectl diff --server-side (defaults: --concurrency 1)" kdefault
	for c in "${kubectl_concurrency[@]}"; do
		local label="kubectl diff --server-side --concurrency=$c"
		[[ $c == "$kbest_label" ]] && label+=" (best)"
		row "$label" "k$c"
	done
	row "floor (Go loop, best: $floor_proto, $floor_conc workers)" floor
}

for n in "${sizes[@]}"; do
	bench_size "$n"
done

if [[ ${#rows[@]} -gt 0 ]]; then
	echo
	# vs kubectl: how many times faster than `kubectl diff` with its defaults (higher is better);
	# vs best: than kubectl diff at its best --concurrency; this/floor: how many times slower
	# than the floor (1.00: as fast as the bare requests). client CPU / server CPU: CPU seconds
	# of the tool's process and of the API server per run. load: the 1-minute load average
	# before and after the size's timed rounds.
	printf '| %5s | %-56s | %4s | %8s | %8s | %9s | %11s | %10s | %10s | %9s |\n' N tool runs \
		"median s" "vs kubectl" "vs best" "this/floor" "client CPU" "server CPU" load
	printf '|%s:|%s|%s:|%s:|%s:|%s:|%s:|%s:|%s:|%s|\n' ------ "$(printf -- '-%.0s' {1..58})" \
		----- --------- ---------- ----------- ------------ ----------- ----------- -----------
	printf '%s\n' "${rows[@]}"
fi
