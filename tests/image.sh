#!/usr/bin/env bash
# The container images of the node cluster, built without Docker or a registry: umoci writes an
# OCI image layout, tar makes it an archive, and containerd imports it.
#
#   tests/image.sh build NAME...    write target/test-cluster/images/NAME.tar, print its reference
#   tests/image.sh import NAME...   import it into the running node's containerd (building it
#                                   first when it was never built), print its reference
#
# Images:
#   pause      registry.k8s.io/pause:3.10, the Pod sandbox (tests/node/pause, built by
#              `tests/cluster.sh up --node`)
#   workload   kubectl-gitops.test/workload:1, busybox's httpd serving "kubectl-gitops workload"
#              on port 8080 (busybox-static from the distribution)
#   gitops     kubectl-gitops.test/kubectl-gitops:VERSION, the image examples/in-cluster/Dockerfile
#              builds: a slim Debian bookworm (its required packages) with git and
#              ca-certificates, kubectl v1.36.3 (tests/node/kubectl), helm v3.22.0
#              (tests/helm.sh) and the release binary (target/release/kubectl-gitops, built
#              here: cargo build --release), run as 65532. The Debian files are this machine's installed
#              packages (it runs bookworm): no download, no Docker.
#
# GITOPS_IMAGE_BINARY=PATH puts that kubectl-gitops binary in the gitops image instead of the
# release build, stripped as the release profile strips it: tests/node.sh passes the one its test
# build just linked (target/debug/kubectl-gitops), which spares the suite a fat-LTO build of
# half an hour on two cores. Only the binary differs; the image's files are the same.
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
	gitops) echo "kubectl-gitops.test/kubectl-gitops:$(crate_version)" ;;
	*)
		echo "image: unknown image $1 (pause, workload, gitops)" >&2
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
	gitops)
		debian_rootfs "$rootfs"
		gitops_binaries "$rootfs"
		echo --config.entrypoint=kubectl-gitops --config.cmd=reconcile --config.cmd=--help \
			--config.user=65532:65532 --config.exposedports=9090/tcp \
			--config.volume=/var/cache/kubectl-gitops \
			--config.env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			--config.env=HOME=/tmp --config.env=XDG_CACHE_HOME=/var/cache \
			--config.env=KUBECTL_GITOPS_CACHE_DIR=/var/cache/kubectl-gitops
		;;
	esac
}

crate_version() {
	sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n1
}

# The Debian part of the Dockerfile's runtime stage, from the installed packages: every
# package of priority "required" (what debian:bookworm-slim holds), git and ca-certificates,
# with their dependencies, less what the slim image leaves out (documentation, manuals,
# translations).
debian_rootfs() {
	local rootfs=$1 packages
	# shellcheck disable=SC2046 # package names are single words
	packages=$(apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts \
		--no-breaks --no-replaces --no-enhances \
		$(dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" {print $1}') git ca-certificates |
		grep -v '^ ' | grep -v '<' | sort -u)
	# Alternatives ("a | b") are listed both: keep the ones installed, which dpkg vouches
	# satisfy every dependency.
	packages=$(for p in $packages; do if dpkg -s "$p" >/dev/null 2>&1; then echo "$p"; fi; done)
	mkdir -p "$rootfs/usr/bin" "$rootfs/usr/sbin" "$rootfs/usr/lib" "$rootfs/usr/lib64"
	local d
	for d in bin sbin lib lib64; do
		[[ -L "/$d" ]] && ln -sfn "usr/$d" "$rootfs/$d"
	done
	# shellcheck disable=SC2086
	dpkg -L $packages | sort -u |
		grep -vE '^/usr/share/(doc|man|info|locale|groff|lintian|linda)/' |
		sed -E 's#^/(bin|sbin|lib|lib64)/#/usr/\1/#' | sort -u |
		while read -r path; do
			if [[ "$path" != / ]] && [[ -e "$path" || -L "$path" ]]; then echo "${path#/}"; fi
		done >"$rootfs.list"
	tar -C / --no-recursion -cf - -T "$rootfs.list" | tar -C "$rootfs" -xf -
	rm -f "$rootfs.list"
	# What package scripts generate rather than ship.
	cp /usr/share/base-passwd/passwd.master "$rootfs/etc/passwd"
	cp /usr/share/base-passwd/group.master "$rootfs/etc/group"
	mkdir -p "$rootfs/etc/ssl/certs"
	cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
}

# kubectl and helm at the Dockerfile's versions, and the release binary.
gitops_binaries() {
	local rootfs=$1 kubectl="$state/bin/kubectl" helm
	if [[ ! -x "$kubectl" || "$root/tests/node/go.sum" -nt "$kubectl" || "$root/tests/node/kubectl/main.go" -nt "$kubectl" ]]; then
		echo "image: building kubectl v1.36.3 (tests/node/kubectl)" >&2
		local pkg=k8s.io/component-base/version cpkg=k8s.io/client-go/pkg/version
		(cd "$root/tests/node" && go build -trimpath -o "$kubectl.tmp" -ldflags "-s -w \
			-X $pkg.gitVersion=v1.36.3 -X $pkg.gitMajor=1 -X $pkg.gitMinor=36 \
			-X $cpkg.gitVersion=v1.36.3 -X $cpkg.gitMajor=1 -X $cpkg.gitMinor=36" ./kubectl)
		mv "$kubectl.tmp" "$kubectl"
	fi
	helm=$("$root/tests/helm.sh" path 3)
	install -D -m 0755 "$kubectl" "$rootfs/usr/local/bin/kubectl"
	install -D -m 0755 "$helm" "$rootfs/usr/local/bin/helm"
	local binary=${GITOPS_IMAGE_BINARY:-}
	if [[ -n "$binary" ]]; then
		[[ -x "$binary" ]] || {
			echo "image: GITOPS_IMAGE_BINARY=$binary is not an executable file" >&2
			return 1
		}
		echo "image: kubectl-gitops from $binary (not the release build)" >&2
		install -d -m 0755 "$rootfs/usr/local/bin"
		strip -o "$rootfs/usr/local/bin/kubectl-gitops" "$binary"
		chmod 0755 "$rootfs/usr/local/bin/kubectl-gitops"
	else
		# Cargo decides whether the release binary is current (the first build takes minutes).
		binary="$root/target/release/kubectl-gitops"
		(cd "$root" && cargo build --release --locked --bin kubectl-gitops >&2)
		install -D -m 0755 "$binary" "$rootfs/usr/local/bin/kubectl-gitops"
	fi
	install -d -m 0755 -o 65532 -g 65532 "$rootfs/var/cache/kubectl-gitops"
	install -d -m 1777 "$rootfs/tmp"
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
	ref=$(reference "$name")
	[[ -f "$images/$name.tar" ]] || build "$name" >/dev/null
	local sock="$state/node/containerd/containerd.sock"
	[[ -S "$sock" ]] || {
		echo "image: the node's containerd is not running ($sock); start it with tests/cluster.sh up --node" >&2
		return 1
	}
	local out attempt
	for attempt in 1 2 3; do
		out=$(ctr --address "$sock" --namespace k8s.io images import --base-name "${ref%:*}" "$images/$name.tar" 2>&1) &&
			ctr --address "$sock" --namespace k8s.io images ls -q | grep -qx "$ref" && break
		[[ $attempt == 3 ]] && {
			echo "image: $ref is not in containerd after importing $images/$name.tar: $out" >&2
			ctr --address "$sock" --namespace k8s.io images ls -q >&2
			return 1
		}
		sleep 1
	done
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
	echo "usage: tests/image.sh build|import NAME... (pause, workload, gitops)" >&2
	exit 2
	;;
esac
