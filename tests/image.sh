#!/usr/bin/env bash
# The container images of the node cluster, built without Docker or a registry: umoci writes an
# OCI image layout, tar makes it an archive, and containerd imports it.
#
#   tests/image.sh build NAME...    write target/test-cluster/images/NAME.tar, print its reference
#   tests/image.sh import NAME...   build, then import into the running node's containerd
#
# Images:
#   pause      registry.k8s.io/pause:3.10, the Pod sandbox (tests/node/pause, built by
#              `tests/cluster.sh up --node`)
#   workload   kubectl-gitops.test/workload:1, busybox's httpd serving "kubectl-gitops workload"
#              on port 8080 (busybox-static from the distribution)
#
# Pods use them with `imagePullPolicy: IfNotPresent` (or Never): nothing is ever pulled.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="${GITOPS_TEST_DIR:-$root/target/test-cluster}"
images="$state/images"

reference() {
	case "$1" in
	pause) echo registry.k8s.io/pause:3.10 ;;
	workload) echo kubectl-gitops.test/workload:1 ;;
	*)
		echo "image: unknown image $1 (pause, workload)" >&2
		return 2
		;;
	esac
}

# Fills the root file system of image $1 into directory $2 and prints umoci config flags.
contents() {
	local name=$1 rootfs=$2
	case "$name" in
	pause)
		[[ -x "$state/bin/pause" ]] || {
			echo "image: $state/bin/pause is not built (tests/cluster.sh up --node builds it)" >&2
			return 1
		}
		install -D -m 0755 "$state/bin/pause" "$rootfs/pause"
		echo --config.entrypoint=/pause --config.user=65535:65535
		;;
	workload)
		local busybox=/bin/busybox
		[[ -x "$busybox" ]] && file_is_static "$busybox" || {
			echo "image: no static busybox at $busybox (apt-get install busybox-static)" >&2
			return 1
		}
		install -D -m 0755 "$busybox" "$rootfs/bin/busybox"
		ln -s busybox "$rootfs/bin/sh"
		mkdir -p "$rootfs/www" "$rootfs/tmp"
		echo "kubectl-gitops workload" >"$rootfs/www/index.html"
		echo --config.entrypoint=/bin/busybox --config.cmd=httpd --config.cmd=-f \
			--config.cmd=-p --config.cmd=8080 --config.cmd=-h --config.cmd=/www \
			--config.exposedports=8080/tcp --config.user=65534:65534
		;;
	esac
}

file_is_static() {
	! ldd "$1" >/dev/null 2>&1
}

build() {
	local name=$1 ref tag work flags
	ref=$(reference "$name")
	tag=${ref##*:}
	mkdir -p "$images"
	work=$(mktemp -d "$images/.$name.XXXXXX")
	# shellcheck disable=SC2064 # expand now: the trap outlives the local
	trap "rm -rf '$work'" RETURN
	mkdir -p "$work/rootfs"
	flags=$(contents "$name" "$work/rootfs")
	umoci init --layout "$work/oci"
	umoci new --image "$work/oci:$tag"
	umoci insert --image "$work/oci:$tag" "$work/rootfs" /
	# shellcheck disable=SC2086 # one flag per word, none with spaces
	umoci config --image "$work/oci:$tag" --os linux --architecture amd64 $flags
	umoci gc --layout "$work/oci"
	tar -C "$work/oci" -cf "$images/$name.tar.tmp" .
	mv "$images/$name.tar.tmp" "$images/$name.tar"
	echo "$ref"
}

import() {
	local name=$1 ref
	ref=$(build "$name" | tail -n1)
	local sock="$state/node/containerd/containerd.sock"
	[[ -S "$sock" ]] || {
		echo "image: the node's containerd is not running ($sock); start it with tests/cluster.sh up --node" >&2
		return 1
	}
	ctr --address "$sock" --namespace k8s.io images import --base-name "${ref%:*}" "$images/$name.tar" >/dev/null
	ctr --address "$sock" --namespace k8s.io images ls -q | grep -qx "$ref" || {
		echo "image: $ref is not in containerd after importing $images/$name.tar" >&2
		return 1
	}
	echo "$ref"
}

command=${1:-}
shift || true
case "$command" in
build | import)
	[[ $# -gt 0 ]] || { echo "usage: tests/image.sh $command NAME..." >&2; exit 2; }
	for name in "$@"; do "$command" "$name"; done
	;;
*)
	echo "usage: tests/image.sh build|import NAME... (pause, workload)" >&2
	exit 2
	;;
esac
