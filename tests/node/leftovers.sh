#!/usr/bin/env bash
# Lists what the node cluster left on the machine: processes, mounts, network namespaces and
# devices, iptables chains, cgroups, sysctls and paths outside the test directory that differ
# from the record `tests/cluster.sh up --node` took before it started anything. Prints nothing
# and exits 0 when the machine is as it was; otherwise one line per leftover, and exits 1.
#
#   tests/node/leftovers.sh        (after `tests/cluster.sh down`)
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
state="${GITOPS_TEST_DIR:-$root/target/test-cluster}"
k8s_version=
running() { false; }
# shellcheck source=node.sh
source "$root/tests/node/node.sh"

record="$node_dir/restored"
[[ -d "$record" ]] || record="$node_dir/before"
[[ -d "$record" ]] || {
	echo "leftovers: no record of the machine in $node_dir (run tests/cluster.sh up --node first)" >&2
	exit 2
}

found=0
leftover() {
	echo "leftover: $*"
	found=1
}

for pid in $(pgrep -f "$node_dir" || true); do
	[[ "$pid" == "$$" ]] && continue
	leftover "process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-160)"
done
while read -r mount; do
	leftover "mount $mount"
done < <(awk -v d="$node_dir/" 'index($5, d) == 1 || $5 ~ /^\/run\/netns\// || $5 ~ /^\/var\/lib\/kubelet\// || $5 ~ /^\/run\/containerd\// {print $5}' /proc/self/mountinfo)
while read -r ns; do
	leftover "network namespace /run/netns/$ns"
done < <(ls /run/netns 2>/dev/null | sort | comm -23 - <(sort "$record/netns"))
while read -r link; do
	leftover "network device $link"
done < <(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | comm -23 - "$record/links")
while read -r chain; do
	leftover "iptables chain $chain"
done < <(node_chains | sort | comm -23 - "$record/chains")
while read -r rule; do
	leftover "iptables rule $rule"
done < <(for fam in iptables ip6tables; do
	command -v "$fam" >/dev/null || continue
	for table in filter nat mangle; do
		"$fam" -w -t "$table" -S 2>/dev/null | grep -E -- "-j (KUBE-|CNI-)|$node_pod_cidr" | sed "s/^/$fam -t $table /" || true
	done
done | while read -r line; do
	chain=$(awk '{for (i = 1; i <= NF; i++) if ($i == "-j") print $(i + 1)}' <<<"$line")
	grep -q " $chain\$" "$record/chains" 2>/dev/null || echo "$line"
done)
while read -r table; do
	leftover "nftables $table"
done < <(nft list tables 2>/dev/null | sort | comm -23 - "$record/tables")
while read -r cg; do
	leftover "cgroup $cg"
done < <(find /sys/fs/cgroup -maxdepth 2 -name kubepods -type d 2>/dev/null | sort | comm -23 - "$record/cgroups")
# Sysctls that differ (counters and random values that move on their own are not ours; a key
# printed on several lines is not a setting).
settings() {
	awk -F' = ' 'NF == 2 {n[$1]++; v[$1] = $2} END {for (k in n) if (n[k] == 1) print k "|" v[k]}' "$@" | sort -t '|' -k1,1
}
while read -r line; do
	leftover "sysctl $line"
done < <(join -t '|' <(settings "$record/sysctl") <(sysctl -a 2>/dev/null | settings) |
	awk -F'|' '$2 != $3 && $1 !~ /^(fs\.(dentry-state|file-nr|inode-nr|inode-state|quota\.)|kernel\.(ns_last_pid|random\.)|net\.netfilter\.nf_conntrack_count)/ {print $1 " was " $2 ", now " $3}')
for p in "${node_fixed_paths[@]}"; do
	[[ -e "$p" ]] && ! grep -qx "$p" "$record/paths" && leftover "path $p"
done
[[ -f "$node_lock" ]] && leftover "lock $node_lock"
exit "$found"
