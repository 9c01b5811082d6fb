#!/usr/bin/env bash
# Rendering cost of a chart whose dependency comes from a chart repository, beside helm's own:
# a chart repository on loopback (`helm package`, `helm repo index`, `python3 -m http.server`),
# an umbrella chart depending on the podinfo chart of the shared corpus (or a generated chart
# without it), locked by `helm dependency update`.
#
#   benches/helm_dependencies.sh [RUNS]     (default 5 runs per figure; the median is shown)
#
# Environment: GITOPS_TEST_CORPUS (the corpus holding podinfo), KUBECTL_GITOPS_BIN (default target/debug/kubectl-gitops, built if missing),
# GITOPS_HELM (default the pinned Helm 4 of tests/helm.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-5}
bin=${KUBECTL_GITOPS_BIN:-$root/target/debug/kubectl-gitops}
[[ -x "$bin" ]] || (cd "$root" && cargo build --bin kubectl-gitops)
helm=${GITOPS_HELM:-$("$root/tests/helm.sh" path 4)}
work=$(mktemp -d)
server=
cleanup() {
	[[ -n "$server" ]] && kill "$server" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
private() { HELM_CONFIG_HOME="$work/home/config" HELM_CACHE_HOME="$work/home/cache" HELM_DATA_HOME="$work/home/data" "$helm" "$@"; }

# The repository, served on a free loopback port.
mkdir -p "$work/served"
corpus="${GITOPS_TEST_CORPUS:-$root/../shared/corpus}/podinfo/charts/podinfo"
if [[ -f "$corpus/Chart.yaml" ]]; then
	dep=podinfo
	cp -r "$corpus" "$work/dep"
else
	dep=db
	mkdir -p "$work/dep/templates"
	printf 'apiVersion: v2\nname: db\nversion: 0.1.0\n' >"$work/dep/Chart.yaml"
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-db\n' >"$work/dep/templates/cm.yaml"
fi
private package "$work/dep" -d "$work/served" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
private repo index "$work/served" --url "$url"
(cd "$work/served" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
server=$!
for _ in $(seq 50); do curl -fs "$url/index.yaml" >/dev/null 2>&1 && break; sleep 0.1; done
version=$(sed -n 's/^version: *//p' "$work/dep/Chart.yaml" | head -1)

# The repository under test: an umbrella chart with its Chart.lock, no charts/.
tree="$work/tree"
mkdir -p "$tree/web/templates"
printf 'apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: %s\n  version: "%s"\n  repository: %s\n' \
	"$dep" "$version" "$url" >"$tree/web/Chart.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-web\n' >"$tree/web/templates/cm.yaml"
private dependency update "$tree/web" >/dev/null
rm -rf "$tree/web/charts"
git -C "$tree" init -q -b main && git -C "$tree" add -A &&
	git -C "$tree" -c user.name=b -c user.email=b@example.com commit -qm init

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { # prints seconds of one run of "$@"
	local start end
	start=$(date +%s.%N)
	"$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
	end=$(date +%s.%N)
	echo "$end - $start" | bc
}
helm_cold() {
	rm -rf "$work/h" && cp -r "$tree/web" "$work/h" && rm -rf "$work/hh"
	HELM_CONFIG_HOME="$work/hh/config" HELM_CACHE_HOME="$work/hh/cache" HELM_DATA_HOME="$work/hh/data" \
		"$helm" repo add r "$url" >/dev/null
	HELM_CONFIG_HOME="$work/hh/config" HELM_CACHE_HOME="$work/hh/cache" HELM_DATA_HOME="$work/hh/data" \
		"$helm" dependency build "$work/h" >/dev/null
	"$helm" template web "$work/h" >/dev/null
}
ours() { (cd "$tree" && GITOPS_HELM="$helm" GITOPS_HELM_CACHE="$work/cache" "$bin" diff . --base HEAD --offline); }
ours_cold() { rm -rf "$work/cache" && ours; }

figure() { # label, command...
	local label=$1
	shift
	local times=()
	for _ in $(seq "$runs"); do times+=("$(timeit "$@")"); done
	printf '| %s | %.3f s |\n' "$label" "$(printf '%s\n' "${times[@]}" | median)"
}
helm_cold # leaves $work/h built for the cached helm figure
echo "dependency: $dep $version; helm: $("$helm" version --template '{{.Version}}'); $runs runs each, median"
echo
echo "| What | Time |"
echo "|---|---|"
figure "\`helm repo add\` + \`helm dependency build\` + \`helm template\` (helm, cold)" helm_cold
figure "\`helm template\` with charts/ already built (helm, cached)" "$helm" template web "$work/h"
figure "kubectl-gitops \`diff --base HEAD --offline\`, empty cache (one fetch, then a cached render)" ours_cold
ours >/dev/null 2>&1
figure "kubectl-gitops \`diff --base HEAD --offline\`, lock cached (two renders, no network)" ours
kill "$server"
server=
figure "the same with the repository stopped" ours
