#!/usr/bin/env bash
# From zero to a first diff and apply on a machine without a cluster of its own: builds
# kubectl-gitops, starts the project's bundled local control plane (a real kube-apiserver + etcd
# on 127.0.0.1, the one the tests use), puts part of the sample repository in it as another
# tool would, shows the drift and the field conflict that tool's ownership makes, and takes the
# fields over with an apply.
#
#   examples/quickstart.sh                         # builds with cargo --release
#   examples/quickstart.sh path/to/binary          # uses an already built kubectl-gitops
#   examples/quickstart.sh --kubeconfig FILE [--context NAME] [path/to/binary]
#                                                  # an existing cluster instead of the local one
#
# Everything it makes is in the namespace quickstart (the sample's objects and the ApplySet's
# parent Secret): `kubectl delete namespace quickstart` removes all of it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

kubeconfig=
context=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--kubeconfig) kubeconfig=$2 && shift 2 ;;
	--context) context=(--context "$2") && shift 2 ;;
	*) break ;;
	esac
done

if [[ $# -gt 0 ]]; then
	bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
	cargo build --release
	bin="$root/target/release/kubectl-gitops"
fi

if [[ -n $kubeconfig ]]; then
	export KUBECONFIG=$kubeconfig
	echo "quickstart: using the cluster of $KUBECONFIG ${context[*]}"
else
	tests/cluster.sh up
	eval "$(tests/cluster.sh env)"
	echo "quickstart: local control plane running; kubeconfig $KUBECONFIG"
fi

# Something already in the cluster, slightly different from git, so there is drift to see.
# Forced, so a second run puts that tool's value back after the first run's apply took it.
kubectl "${context[@]}" apply --server-side --force-conflicts --field-manager=quickstart -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: quickstart
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-settings
  namespace: quickstart
data:
  LOG_LEVEL: debug
YAML

# Runs `kubectl gitops ARGS...` and fails the quickstart unless it exits with EXPECTED
# (exit codes follow kubectl diff: 0 in sync, 1 drift, 2 error or conflict).
step() {
	local expected=$1
	shift
	echo
	echo "\$ kubectl gitops $*"
	local code=0
	"$bin" "$@" "${context[@]}" || code=$?
	if [ "$code" -ne "$expected" ]; then
		echo "quickstart: expected exit $expected from kubectl gitops $*, got $code" >&2
		exit 1
	fi
}

plain=examples/quickstart/plain
# The set is named, and kept in the namespace it manages, so the output is the same in every
# clone and nothing is left in the context's namespace.
set_flags=(-n quickstart --applyset quickstart)
# LOG_LEVEL belongs to the field manager that made the ConfigMap ("quickstart"): a plain apply
# would refuse to take it, and diff says so (exit 2), with the change forcing would make.
step 2 diff "$plain" "${set_flags[@]}"
echo
echo "quickstart: the conflict is real: kubectl gitops apply $plain would refuse it."
echo "Taking the fields for git is a decision: --force-conflicts shows and applies it."
step 1 diff "$plain" "${set_flags[@]}" --force-conflicts
step 0 apply "$plain" "${set_flags[@]}" --force-conflicts --yes
# The fields are git's now: in sync, no force needed.
step 0 diff "$plain" "${set_flags[@]}"
# Nothing of this one is in the cluster yet: creates only (a diff writes nothing).
step 1 diff examples/quickstart/kustomize-app/overlays/prod -n quickstart --applyset quickstart-prod

cat <<MSG

quickstart: exit codes follow kubectl diff (0 in sync, 1 drift, 2 error or conflict).
It made the namespace quickstart: the sample's objects and the ApplySet parent Secret
quickstart are in it, nothing elsewhere; kubectl delete namespace quickstart removes them.
The local control plane (if it started one) keeps running; stop it with: tests/cluster.sh down
Against your own cluster: $bin diff PATH --context NAME (or put the binary on PATH as
kubectl-gitops and run: kubectl gitops diff PATH).
MSG
