#!/usr/bin/env bash
# From zero to a first diff on a machine without a cluster of its own: builds kubectl-gitops,
# starts the project's bundled local control plane (a real kube-apiserver + etcd on 127.0.0.1,
# the one the tests use), puts part of the sample repository in it, and shows the drift.
#
# Point kubectl-gitops at a real cluster instead with --kubeconfig/--context, like kubectl.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

cargo build --release
bin="$root/target/release/kubectl-gitops"

tests/cluster.sh up
eval "$(tests/cluster.sh env)"
echo "quickstart: local control plane running; kubeconfig $KUBECONFIG"

# Something already in the cluster, slightly different from git, so there is drift to see.
kubectl apply --server-side --field-manager=quickstart -f - >/dev/null <<'YAML'
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

worst=0
for path in examples/quickstart/plain examples/quickstart/kustomize-app/overlays/prod; do
	echo
	echo "\$ kubectl gitops diff $path"
	code=0
	"$bin" diff "$path" || code=$?
	if [ "$code" -gt "$worst" ]; then worst=$code; fi
done

cat <<MSG

quickstart: exit codes follow kubectl diff (0 in sync, 1 drift, 2 error).
The local control plane keeps running; stop it with: tests/cluster.sh down
Against your own cluster: $bin diff PATH --context NAME (or put the binary on PATH as
kubectl-gitops and run: kubectl gitops diff PATH).
MSG
# Drift (1) is the expected outcome here; only errors fail the quickstart.
[ "$worst" -le 1 ]
