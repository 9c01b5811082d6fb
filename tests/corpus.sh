#!/usr/bin/env bash
# Real-world manifests, end to end:  tests/corpus.sh DIR...
#
# For each DIR (a plain tree or a kustomization), and for each kustomization inside it:
#   1. render differential: the objects kubectl-gitops renders equal the objects kubectl reads
#      (`kubectl create --dry-run=client -o json -f` for plain files, `kubectl kustomize` for
#      kustomizations), compared as JSON after the normalisation every plan applies;
# then, for DIR itself, on the test API server, in a fresh namespace and ApplySet:
#   2. `diff` exits 1, or 2 when its only errors are for kinds whose CRD is not in the tree
#      (then the files holding just those objects are left out of steps 3-4, saying so);
#   3. `apply --yes` succeeds;
#   4. `diff` again exits 0.
# A tree holding a Helm chart (Chart.yaml) skips step 1 (kubectl cannot read templates; the
# suite's helm tests compare charts with `helm template`) and renders with the pinned helm of
# tests/helm.sh.
#
# Wall times per directory go to stdout as `time DIR render=…s diff=…s apply=…s`: render is
# kubectl-gitops rendering DIR (no cluster), diff the first plan against the server (render
# included), apply the apply of that plan.
# Uses the running test server if there is one (tests/cluster.sh), else starts and stops it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$#" -gt 0 ] || { echo "usage: tests/corpus.sh DIR..." >&2; exit 2; }
for tool in jq kubectl git; do
	command -v "$tool" >/dev/null || { echo "corpus: $tool is required" >&2; exit 2; }
done

# Directories as given (for messages) and where they are (the script works from the root).
labels=()
for dir in "$@"; do labels+=("${dir%/}"); done
dirs=()
for dir in "$@"; do dirs+=("$(cd "$dir" 2>/dev/null && pwd || echo "$dir")"); done

cd "$root"
# KUBECTL_GITOPS_BIN: a binary built already, used instead of building one.
bin=${KUBECTL_GITOPS_BIN:-}
if [ -z "$bin" ]; then
	cargo build --quiet --bin kubectl-gitops
	bin="${CARGO_TARGET_DIR:-$root/target}/debug/kubectl-gitops"
fi

work=$(mktemp -d)
# Charts render with the pinned helm the suite uses (built once, then cached).
GITOPS_HELM=${GITOPS_HELM:-$("$root/tests/helm.sh" path 4)}
export GITOPS_HELM
started_server=
cleanup() {
	rm -rf "$work"
	if [ -n "$started_server" ]; then tests/cluster.sh down; fi
}
trap cleanup EXIT
if ! tests/cluster.sh status >/dev/null 2>&1; then
	started_server=1
	tests/cluster.sh up
fi
eval "$(tests/cluster.sh env)"
export NO_COLOR=1
# kubectl fills in the context's namespace where an object has none; a namespace nobody uses
# lets the comparison take it out again (kubectl-gitops leaves the namespace to plan time).
unset_ns=kubectl-gitops-corpus-unset
cp "$KUBECONFIG" "$work/kubeconfig"
KUBECONFIG="$work/kubeconfig" kubectl config set-context --current --namespace="$unset_ns" >/dev/null

failures=0
ours_s=
fail() {
	echo "corpus: FAIL $*" >&2
	failures=$((failures + 1))
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# The normalisation a plan applies to every object (src/ssa/normalize.rs), plus kubectl's
# own additions (an empty `annotations` map), objects sorted by identity.
normalise='
  [ .[] | if .kind == "List" then .items[] else . end
    | if .metadata.namespace == $unset then del(.metadata.namespace) else . end
    | del(.status)
    | del(.metadata.managedFields, .metadata.resourceVersion, .metadata.uid,
          .metadata.generation, .metadata.creationTimestamp, .metadata.selfLink)
    | del(.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"])
    | if (.metadata.annotations // {}) == {} then del(.metadata.annotations) else . end ]
  | sort_by(.apiVersion, .kind, .metadata.namespace // "", .metadata.name // "")'

# kubectl's reading of files or a stream: `kubectl create --dry-run=client`, which needs the
# server to know each kind; where the tree's own CRDs are not installed yet it cannot map
# their custom resources, and `kubectl annotate --local` (the same reader, no server) is used.
kubectl_reads() { # ARGS for -f ... ; prints a JSON array
	local out
	if out=$(KUBECONFIG="$work/kubeconfig" kubectl create --dry-run=client --validate=false -o json "$@" 2>"$work/kubectl.err"); then
		:
	elif grep -q "no matches for kind\|resource mapping not found" "$work/kubectl.err"; then
		out=$(KUBECONFIG="$work/kubeconfig" kubectl annotate --local -o json "$@" kubectl-gitops-corpus- 2>"$work/kubectl.err") ||
			{ cat "$work/kubectl.err" >&2; return 1; }
	else
		cat "$work/kubectl.err" >&2
		return 1
	fi
	printf '%s\n' "$out" | jq -s --arg unset "$unset_ns" "$normalise"
}

# Our render of PATH (inside repository copy REPO): every object as a create against an empty
# base, with Secret values shown, so it can be compared byte for byte.
our_render() { # REPO PATH ; prints a JSON array
	local code=0
	(cd "$1" && "$bin" diff "$2" --base corpus-empty --offline --show-secrets -o json) >"$work/offline.json" || code=$?
	# 1: there are objects to create, as there should be; 0: an empty render.
	[ "$code" -le 1 ] || return 1
	jq "[.changes[].after]" "$work/offline.json" | jq --arg unset "$unset_ns" "$normalise"
}

# The plain files of a tree (outside kustomization and chart directories), for `-f`.
plain_files() { # DIR
	local dir=$1 owners
	owners=$(find "$dir" \( -name kustomization.yaml -o -name kustomization.yml -o -name Kustomization -o -name Chart.yaml \) -printf '%h\n' | sort -u)
	find "$dir" -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort | while read -r file; do
		local owned=
		while read -r owner; do
			[ -n "$owner" ] && case "$file" in "$owner"/*) owned=1 ;; esac
		done <<<"$owners"
		[ -z "$owned" ] && printf -- '-f\n%s\n' "$file"
	done
}

# The outermost kustomization directories of a tree.
outer_kustomizations() { # DIR
	find "$1" \( -name kustomization.yaml -o -name kustomization.yml -o -name Kustomization \) -printf '%h\n' |
		sort -u | awk 'NR == 1 || index($0, last "/") != 1 { print; last = $0 }'
}

is_component() { # DIR
	grep -qs '^kind: *Component' "$1"/kustomization.yaml "$1"/kustomization.yml "$1"/Kustomization
}

# What kubectl makes of PATH: its plain files read by kubectl, its kustomizations built by
# `kubectl kustomize` and read the same way.
kubectl_render() { # DIR ; prints a JSON array
	local dir=$1 parts=() args k
	mapfile -t args < <(plain_files "$dir")
	[ "${#args[@]}" -gt 0 ] && { kubectl_reads "${args[@]}" >"$work/part.plain.json" || return 1; parts+=("$work/part.plain.json"); }
	local i=0
	while read -r k; do
		[ -n "$k" ] || continue
		i=$((i + 1))
		kubectl kustomize "$k" >"$work/built.$i.yaml" || return 1
		kubectl_reads -f "$work/built.$i.yaml" >"$work/part.$i.json" || return 1
		parts+=("$work/part.$i.json")
	done < <(outer_kustomizations "$dir")
	if [ "${#parts[@]}" -eq 0 ]; then echo '[]'; else jq -s --arg unset "$unset_ns" "add | $normalise" "${parts[@]}"; fi
}

# Render differential for one PATH of the copy.
differential() { # REPO REL_PATH LABEL
	local repo=$1 rel=$2 label=$3 started
	started=$(now)
	if ! our_render "$repo" "$rel" >"$work/ours.json" 2>"$work/ours.err"; then
		fail "$label: kubectl-gitops could not render it: $(cat "$work/ours.err")"
		return 1
	fi
	ours_s=$(since "$started")
	if ! kubectl_render "$repo/$rel" >"$work/theirs.json" 2>"$work/theirs.err"; then
		fail "$label: kubectl could not read it: $(cat "$work/theirs.err")"
		return 1
	fi
	# Key order is the writer's business (kubectl sorts keys, a render keeps the file's order).
	jq -S . "$work/ours.json" >"$work/ours.sorted.json"
	jq -S . "$work/theirs.json" >"$work/theirs.sorted.json"
	if ! cmp -s "$work/ours.sorted.json" "$work/theirs.sorted.json"; then
		fail "$label: render differs from kubectl's ($(jq length "$work/ours.json") vs $(jq length "$work/theirs.json") objects; < kubectl, > kubectl-gitops):"
		diff "$work/theirs.sorted.json" "$work/ours.sorted.json" | head -40 >&2 || true
		return 1
	fi
	echo "corpus: $label: render matches kubectl ($(jq length "$work/ours.json") objects)"
}

run_dir() { # DIR LABEL
	local src=$1 label=$2 slug repo ns set started render_s diff_s apply_s
	local chart=
	[ -z "$(find "$src" -name Chart.yaml -print -quit)" ] || chart=yes
	slug=$(basename "$(dirname "$src")")-$(basename "$src")
	slug=$(echo "$slug" | tr -c 'a-z0-9\n' '-' | cut -c1-30)
	# A copy in a scratch git repository: the base revision is empty, the head holds DIR.
	repo="$work/$slug"
	mkdir -p "$repo"
	cp -R "$src" "$repo/tree"
	git -C "$repo" init -q -b main
	git -C "$repo" -c user.name=corpus -c user.email=corpus@example.com commit -q --allow-empty -m empty
	git -C "$repo" tag corpus-empty
	git -C "$repo" add -A
	git -C "$repo" -c user.name=corpus -c user.email=corpus@example.com commit -q -m corpus

	if [ -n "$chart" ]; then
		echo "corpus: $label: a Helm chart: render differential left to the helm tests (kubectl cannot read templates)"
		render_s=-
		echo '[]' >"$work/ours.json"
	else
		differential "$repo" tree "$label" || return 0
		render_s=$ours_s
	fi
	while read -r k; do
		[ -n "$k" ] && [ "$k" != "$repo/tree" ] || continue
		is_component "$k" && continue
		differential "$repo" "${k#"$repo"/}" "$label/${k#"$repo"/tree/}" || true
	done < <(find "$repo/tree" -mindepth 2 \( -name kustomization.yaml -o -name kustomization.yml -o -name Kustomization \) -printf '%h\n' | sort -u)

	ns="corpus-$slug-$RANDOM$RANDOM"
	ns=$(echo "$ns" | cut -c1-60 | sed 's/-*$//')
	set="$ns"
	kubectl create namespace "$ns" >/dev/null
	# --adopt: objects with a namespace of their own (kube-prometheus' `monitoring`) may be left
	# by an earlier run on the same server, in that run's set; this run takes them over.
	local absent plan_args=(tree -n "$ns" --applyset "$set" --applyset-namespace "$ns" --adopt)

	started=$(now)
	local code=0
	(cd "$repo" && "$bin" diff "${plan_args[@]}" -o json) >"$work/diff.json" 2>"$work/diff.err" || code=$?
	diff_s=$(since "$started")
	check_errors "$label" "first diff" || return 0
	absent=$(jq -r '[.errors[].reason.kind] | unique | join(" ")' "$work/diff.json")
	if [ -n "$absent" ]; then
		[ "$code" = 2 ] || { fail "$label: first diff exited $code, expected 2 (kinds without CRD: $absent)"; return 0; }
		# apply refuses a plan with errors. When the unplannable objects have files of their
		# own, the rest is applied without those files; otherwise nothing can be.
		local error_files shared
		error_files=$(jq -r '[.errors[].origin.file] | unique | .[]' "$work/diff.json")
		shared=$(jq -r '([.errors[].origin.file] | unique) as $e | ([.changes[].origin.file] | unique) as $c
		  | $e - ($e - $c) | .[]' "$work/diff.json")
		if [ -n "$shared" ]; then
			echo "corpus: $label: not applied: objects of kinds without CRD ($absent) share files with others ($shared)"
			echo "time $label render=${render_s}s diff=${diff_s}s apply=-"
			return 0
		fi
		echo "corpus: $label: kinds without CRD in the tree or on the server ($absent): applying without $(echo "$error_files" | tr '\n' ' ')"
		(cd "$repo" && git rm -q $error_files && git -c user.name=corpus -c user.email=corpus@example.com commit -q -m "without kinds lacking a CRD")
		code=0
		(cd "$repo" && "$bin" diff "${plan_args[@]}" -o json) >"$work/diff.json" 2>"$work/diff.err" || code=$?
	fi
	[ "$code" = 1 ] || { fail "$label: first diff exited $code, expected 1: $(cat "$work/diff.err")"; return 0; }

	started=$(now)
	if ! (cd "$repo" && "$bin" apply "${plan_args[@]}" --yes) >"$work/apply.out" 2>&1; then
		fail "$label: apply failed:"; tail -20 "$work/apply.out" >&2
		return 0
	fi
	apply_s=$(since "$started")

	code=0
	(cd "$repo" && "$bin" diff "${plan_args[@]}" -o json) >"$work/diff.json" 2>"$work/diff.err" || code=$?
	[ "$code" = 0 ] || {
		fail "$label: diff after apply exited $code, expected 0:"
		jq -r '.changes[] | select(.action != "unchanged") | "\(.action) \(.object.kind)/\(.object.name)\n\(.diff)"' "$work/diff.json" | head -40 >&2
		cat "$work/diff.err" >&2
		return 0
	}
	echo "corpus: $label: diff exit 1, apply, diff exit 0 ($(jq '.summary.unchanged' "$work/diff.json") unchanged)"
	echo "time $label render=${render_s}s diff=${diff_s}s apply=${apply_s}s"
}

# The plan's errors must all be for kinds the server does not serve and no CRD in the tree
# defines (a CRD in the tree makes its kinds plannable).
check_errors() { # LABEL WHEN
	local label=$1 when=$2 unexpected
	if ! jq -e .summary "$work/diff.json" >/dev/null 2>&1; then
		fail "$label: $when did not produce a plan: $(cat "$work/diff.err")"
		return 1
	fi
	unexpected=$(jq -r --slurpfile ours "$work/ours.json" '
	  ([$ours[0][] | select(.kind == "CustomResourceDefinition") | .spec.names.kind]) as $defined
	  | .errors[]
	  | select(.reason.type != "kindNotFound" or (.reason.kind as $k | $defined | index($k)))
	  | "\(.object.kind)/\(.object.name): \(.message)"' "$work/diff.json")
	[ -z "$unexpected" ] || { fail "$label: $when: errors beyond kinds without CRD:"; echo "$unexpected" | head -20 >&2; return 1; }
}

for i in "${!dirs[@]}"; do
	[ -d "${dirs[$i]}" ] || { fail "${labels[$i]}: not a directory"; continue; }
	run_dir "${dirs[$i]}" "${labels[$i]}"
done
if [ "$failures" -gt 0 ]; then
	echo "corpus: $failures failure(s)" >&2
	exit 1
fi
echo "corpus: all directories passed"
