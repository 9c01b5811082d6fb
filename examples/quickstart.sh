#!/usr/bin/env bash
# From zero to a first diff and apply on a machine without a cluster of its own: builds
# kubectl-gitops, starts the project's bundled local control plane (a real kube-apiserver + etcd
# on 127.0.0.1, the one the tests use), puts part of the sample repository in it as another
# tool would, shows the drift and the field conflict that tool's ownership makes, and takes the
# fields over with an apply.
#
#   examples/quickstart.sh                  # builds with cargo --release
#   examples/quickstart.sh path/to/binary   # uses an already built kubectl-gitops
#
# Point kubectl-gitops at a real cluster instead with --kubeconfig/--context, like kubectl.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [[ $# -gt 0 ]]; then
	bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
	cargo build --release
	bin="$root/target/release/kubectl-gitops"
fi

tests/cluster.sh up
eval "$(tests/cluster.sh env)"
echo "quickstart: local control plane running; kubeconfig $KUBECONFIG"

# Something already in the cluster, slightly different from git, so there is drift to see.
# Forced, so a second run puts that tool's value back after the first run's apply took it.
kubectl apply --server-side --force-conflicts --field-manager=quickstart -f - >/dev/null <<'YAML'
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
	"$bin" "$@" || code=$?
	if [ "$code" -ne "$expected" ]; then
		echo "quickstart: expected exit $expected from kubectl gitops $*, got $code" >&2
		exit 1
	fi
}

plain=examples/quickstart/plain
# LOG_LEVEL belongs to the field manager that made the ConfigMap ("quickstart"): a plain apply
# would refuse to take it, and diff says so (exit 2), with the change forcing would make.
step 2 diff "$plain"
echo
echo "quickstart: the conflict is real: kubectl gitops apply $plain would refuse it."
echo "Taking the fields for git is a decision: --force-conflicts shows and applies it."
step 1 diff "$plain" --force-conflicts
step 0 apply "$plain" --force-conflicts --yes
# The fields are git's now: in sync, no force needed.
step 0 diff "$plain"
# Nothing of this one is in the cluster yet: creates only.
step 1 diff examples/quickstart/kustomize-app/overlays/prod

cat <<MSG

quickstart: exit codes follow kubectl diff (0 in sync, 1 drift, 2 error or conflict).
The local control plane keeps running; stop it with: tests/cluster.sh down
Against your own cluster: $bin diff PATH --context NAME (or put the binary on PATH as
kubectl-gitops and run: kubectl gitops diff PATH).
MSG
