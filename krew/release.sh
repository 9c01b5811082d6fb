#!/usr/bin/env bash
# Packs kubectl-gitops for krew: one archive per platform, their sha256 sums, and the krew
# manifest rendered from krew/gitops.yaml.
#
# Usage:
#   krew/release.sh --homepage https://github.com/OWNER/kubectl-gitops     # host platform only
#   krew/release.sh --homepage URL \
#       --bin linux/arm64=target/aarch64-unknown-linux-gnu/release/kubectl-gitops \
#       --bin darwin/amd64=path/to/kubectl-gitops --bin darwin/arm64=path/to/kubectl-gitops \
#       --bin windows/amd64=target/x86_64-pc-windows-gnu/release/kubectl-gitops.exe
#   krew/release.sh --list-archives [--version 1.2.3]
#
# Options:
#   --homepage URL       the project's page (or $KUBECTL_GITOPS_HOMEPAGE); required to render
#   --release-url URL    where the archives will be downloadable (default:
#                        HOMEPAGE/releases/download/vVERSION, GitHub's layout)
#   --version VERSION    without a leading v (default: the package version in Cargo.toml)
#   --bin OS/ARCH=FILE   a pre-built binary for one platform; repeatable. Also read from
#                        $KUBECTL_GITOPS_BIN_<OS>_<ARCH>, e.g. KUBECTL_GITOPS_BIN_DARWIN_ARM64
#   --no-build           do not build the host platform with cargo
#   --require-all        fail unless all five platforms have a binary
#   --out DIR            where the archives and manifest go (default: dist)
#   --list-archives      print "OS/ARCH ARCHIVE" for every platform, then exit
#
# Platforms: linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64. The host platform
# is built with `cargo build --release --locked` unless --bin or --no-build says otherwise;
# every other platform needs --bin (cross-compiling is up to you: `rustup target add` plus a
# linker, `cross`, or a build on that platform). A host binary is run once to check that it
# reports VERSION.
#
# Output, in DIR:
#   kubectl-gitops_<version>_<os>_<arch>.tar.gz   (.zip for windows), holding the binary
#                                                 (kubectl-gitops, or kubectl-gitops.exe) and
#                                                 LICENSE at the top level
#   sha256sums.txt                                one line per archive
#   gitops.yaml                                   the krew manifest, listing the platforms
#                                                 that have an archive
# Publish the archives at RELEASE_URL, then submit gitops.yaml to krew-index (or host it:
# `kubectl krew install --manifest=gitops.yaml` installs from it directly).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
platforms=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64)

die() {
	echo "release: $*" >&2
	exit 2
}

# The one naming rule for archives; krew/gitops.yaml and the distribution tests follow it.
archive_name() { # VERSION OS/ARCH
	local os=${2%/*} arch=${2#*/} ext=tar.gz
	[[ $os == windows ]] && ext=zip
	echo "kubectl-gitops_${1}_${os}_${arch}.${ext}"
}

# LINUX_AMD64 for linux/amd64: the suffix of the env variables and sha256 placeholders.
platform_key() {
	echo "$1" | tr '/a-z' '_A-Z'
}

is_platform() {
	local p
	for p in "${platforms[@]}"; do [[ $p == "$1" ]] && return 0; done
	return 1
}

host_platform() {
	local os arch
	case "$(uname -s)" in
	Linux) os=linux ;;
	Darwin) os=darwin ;;
	MINGW* | MSYS* | CYGWIN*) os=windows ;;
	*) os=unknown ;;
	esac
	case "$(uname -m)" in
	x86_64 | amd64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) arch=unknown ;;
	esac
	echo "$os/$arch"
}

sha256() {
	if command -v sha256sum >/dev/null; then
		sha256sum "$1" | cut -d' ' -f1
	else
		shasum -a 256 "$1" | cut -d' ' -f1
	fi
}

version=""
homepage=${KUBECTL_GITOPS_HOMEPAGE:-}
release_url=""
out="$root/dist"
build=1
require_all=0
list=0
# The binary for each platform lives in bin_<KEY> (bash 3 on macOS has no associative arrays).
bin_for() { local name; name="bin_$(platform_key "$1")"; echo "${!name:-}"; }
set_bin() { printf -v "bin_$(platform_key "$1")" '%s' "$2"; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--homepage) homepage=${2:?--homepage needs a URL}; shift 2 ;;
	--release-url) release_url=${2:?--release-url needs a URL}; shift 2 ;;
	--version) version=${2:?--version needs a value}; shift 2 ;;
	--bin)
		spec=${2:?--bin needs OS/ARCH=FILE}
		[[ $spec == */*=* ]] || die "--bin $spec: expected OS/ARCH=FILE, e.g. darwin/arm64=path/to/kubectl-gitops"
		is_platform "${spec%%=*}" || die "--bin $spec: platform must be one of ${platforms[*]}"
		set_bin "${spec%%=*}" "${spec#*=}"
		shift 2
		;;
	--no-build) build=0; shift ;;
	--require-all) require_all=1; shift ;;
	--out) out=${2:?--out needs a directory}; shift 2 ;;
	--list-archives) list=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

if [[ -z $version ]]; then
	version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n1)
	[[ -n $version ]] || die "could not read the package version from Cargo.toml; pass --version"
fi
version=${version#v}

if ((list)); then
	for p in "${platforms[@]}"; do
		echo "$p $(archive_name "$version" "$p")"
	done
	exit 0
fi

[[ -n $homepage ]] || die "--homepage URL (or KUBECTL_GITOPS_HOMEPAGE) is required to render the manifest"
homepage=${homepage%/}
release_url=${release_url:-$homepage/releases/download/v$version}
release_url=${release_url%/}

for p in "${platforms[@]}"; do
	env_name="KUBECTL_GITOPS_BIN_$(platform_key "$p")"
	if [[ -z $(bin_for "$p") && -n ${!env_name:-} ]]; then
		set_bin "$p" "${!env_name}"
	fi
done

host=$(host_platform)
if ((build)) && [[ -z $(bin_for "$host") ]]; then
	is_platform "$host" || die "host platform $host is not one krew/gitops.yaml lists; pass --no-build and --bin"
	echo "release: building $host with cargo build --release --locked" >&2
	(cd "$root" && cargo build --release --locked --bin kubectl-gitops)
	exe=kubectl-gitops
	[[ $host == windows/* ]] && exe=kubectl-gitops.exe
	set_bin "$host" "${CARGO_TARGET_DIR:-$root/target}/release/$exe"
fi

mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
: >"$out/sha256sums.txt"
substitutions="VERSION=$version HOMEPAGE=$homepage RELEASE_URL=$release_url"
missing=()

for p in "${platforms[@]}"; do
	bin=$(bin_for "$p")
	if [[ -z $bin ]]; then
		missing+=("$p")
		continue
	fi
	[[ -f $bin ]] || die "$p: $bin does not exist"
	if [[ $p == "$host" ]]; then
		reported=$("$bin" version) || die "$p: running $bin version failed"
		[[ $reported == "kubectl-gitops $version "* ]] ||
			die "$p: $bin reports \"$reported\", not version $version (stale build, or pass --version)"
	fi
	exe=kubectl-gitops
	[[ $p == windows/* ]] && exe=kubectl-gitops.exe
	dir="$stage/${p/\//_}"
	mkdir -p "$dir"
	cp "$bin" "$dir/$exe"
	chmod 755 "$dir/$exe"
	cp "$root/LICENSE" "$dir/LICENSE"
	chmod 644 "$dir/LICENSE"

	archive=$(archive_name "$version" "$p")
	rm -f "$out/$archive"
	if [[ $archive == *.zip ]]; then
		command -v zip >/dev/null || die "zip is needed for the windows archive"
		(cd "$dir" && zip -q -X "$stage/$archive" "$exe" LICENSE)
		mv "$stage/$archive" "$out/$archive"
	else
		tar_flags=()
		tar --version 2>/dev/null | grep -q 'GNU tar' && tar_flags=(--owner=0 --group=0 --numeric-owner)
		tar ${tar_flags[@]+"${tar_flags[@]}"} -C "$dir" -czf "$out/$archive" "$exe" LICENSE
	fi
	sum=$(sha256 "$out/$archive")
	echo "$sum  $archive" >>"$out/sha256sums.txt"
	substitutions+=" SHA256_$(platform_key "$p")=$sum"
	echo "release: $out/$archive" >&2
done

if ((${#missing[@]} == ${#platforms[@]})); then
	die "no binaries: pass --bin OS/ARCH=FILE, or let the script build the host platform"
fi
if ((${#missing[@]})); then
	((require_all)) && die "no binary for ${missing[*]} (--require-all)"
	echo "release: warning: no binary for ${missing[*]}; gitops.yaml leaves them out, so krew" \
		"users there cannot install it. Pass --bin for them before publishing." >&2
fi

# Render: drop the template's own header comment, drop platform entries that have no archive
# (an entry runs from "    - selector:" to the next one), fill in the placeholders.
awk -v subs="$substitutions" '
	function replace_all(s, from, to,    i, out) {
		out = ""
		while ((i = index(s, from)) > 0) {
			out = out substr(s, 1, i - 1) to
			s = substr(s, i + length(from))
		}
		return out s
	}
	# An entry is kept when its sha256 placeholder has a value.
	function flush_entry() {
		if (entry != "" && (entry_key in value)) printf "%s", entry
		entry = ""
		entry_key = ""
	}
	BEGIN {
		n = split(subs, pairs, " ")
		for (i = 1; i <= n; i++) {
			eq = index(pairs[i], "=")
			value[substr(pairs[i], 1, eq - 1)] = substr(pairs[i], eq + 1)
		}
		print "# Generated by krew/release.sh from krew/gitops.yaml."
	}
	!started && /^#/ { next }
	{ started = 1 }
	{
		if (match($0, /[{][{]SHA256_[A-Z0-9_]+[}][}]/)) entry_key = substr($0, RSTART + 2, RLENGTH - 4)
		for (k in value) $0 = replace_all($0, "{{" k "}}", value[k])
	}
	/^    - selector:/ { flush_entry(); in_platforms = 1; entry = $0 "\n"; next }
	in_platforms && /^    / { entry = entry $0 "\n"; next }
	{ flush_entry(); in_platforms = 0; print }
	END { flush_entry() }
' "$root/krew/gitops.yaml" >"$out/gitops.yaml"

if grep -n '{{' "$out/gitops.yaml" >&2; then
	die "$out/gitops.yaml still has placeholders (above); krew/gitops.yaml and this script disagree"
fi
echo "release: $out/gitops.yaml (version v$version, $((${#platforms[@]} - ${#missing[@]})) platforms)" >&2
