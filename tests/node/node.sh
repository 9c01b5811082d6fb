# The node half of the test cluster, sourced by tests/cluster.sh (`up --node`, `down`): a
# controller-manager, a scheduler, containerd with runc and CNI, a kubelet and kube-proxy
# around the test API server, so Pods really run.
#
# Everything it starts lives under $node_dir (configuration, containerd's root and state, the
# kubelet's root, logs). What cannot live there (sysctls the kubelet and the bridge set, cgroups,
# the bridge device, iptables chains, a few fixed paths the kubelet and containerd write) is
# recorded before start in $node_dir/before/ and put back by node_down; tests/node/leftovers.sh
# lists whatever is still different. One node cluster per machine: cgroups and iptables are
# machine-wide, so a lock file names the running one.
#
# Expects from tests/cluster.sh: $root, $state, $k8s_version, and the function `running`.

# The records below are compared with sort and comm: one collation for all of them.
export LC_ALL=C

node_dir="$state/node"
node_bin="$state/bin/kube-node-test"
node_stamp="$state/bin/node-source.sha256"
node_src="$root/tests/node"
node_lock=/run/kubectl-gitops-test-node
node_bridge=kgtest0
node_pod_cidr=10.244.0.0/24
node_service_cidr=10.0.0.0/24
# nftables: `nft` removes the tables iptables creates on first use, which iptables cannot.
node_packages=(containerd runc containernetworking-plugins iptables nftables conntrack umoci busybox-static)

# Fixed paths outside the test directory that the kubelet, containerd, CNI and iptables create
# whatever their configuration says; removed on down when they did not exist before.
node_fixed_paths=(
	/var/lib/kubelet /var/log/containers /var/log/pods /run/containerd /run/netns
	/var/lib/cni /opt/containerd /etc/cni /run/xtables.lock /var/lib/containerd /etc/kubernetes
)
# Sysctls the kubelet, kube-proxy and the bridge plugin may set; restored on down.
node_sysctls=(
	vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes
	net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv4.conf.default.forwarding
	net.ipv4.conf.all.route_localnet net.ipv6.conf.all.forwarding
	net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
	net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_be_liberal
	net.netfilter.nf_conntrack_tcp_timeout_established
	net.netfilter.nf_conntrack_tcp_timeout_close_wait
)

node_source_hash() {
	(cd "$node_src" && cat go.mod go.sum ./*.go pause/*.go | sha256sum | cut -d' ' -f1)
}

# The controller-manager, scheduler, kubelet and kube-proxy in one binary (tests/node/main.go),
# and the pause program the Pod sandboxes run.
node_build() {
	mkdir -p "$state/bin"
	local want
	want=$(node_source_hash)
	if [[ -x "$node_bin" && -x "$state/bin/pause" && -f "$node_stamp" && "$(cat "$node_stamp")" == "$want" ]]; then
		return 0
	fi
	echo "cluster: building the node (controller-manager, scheduler, kubelet, kube-proxy $k8s_version; cold builds take many minutes)" >&2
	local started=$SECONDS
	local pkg=k8s.io/component-base/version
	(cd "$node_src" && go build -trimpath -o "$node_bin.tmp" \
		-ldflags "-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=36" . &&
		CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$state/bin/pause" ./pause)
	mv "$node_bin.tmp" "$node_bin"
	echo "$want" >"$node_stamp"
	echo "cluster: node built in $((SECONDS - started))s" >&2
}

# containerd, runc, the CNI plugins and the image tools come from the distribution, installed
# only when missing (they stay installed: they change nothing until started).
node_packages() {
	local missing=()
	for p in "${node_packages[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	echo "cluster: installing ${missing[*]} (Debian packages)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
}

node_ip() {
	local ip
	ip=$(ip -4 route get 192.0.2.255 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n1)
	[[ -n "$ip" ]] || ip=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -n1)
	[[ -n "$ip" ]] || { echo "cluster: no non-loopback IPv4 address for the node" >&2; return 1; }
	echo "$ip"
}

node_name() {
	hostname | tr '[:upper:]' '[:lower:]'
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("",0)); print(s.getsockname()[1])'
}

# Whether any part of the node still runs (a part that crashed leaves its pid file behind).
node_running() {
	local pidfile
	for pidfile in "$node_dir"/pids/*; do
		[[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && return 0
	done
	return 1
}

# The state of the machine the node will change, to put back and to compare against.
node_record_machine() {
	local before="$node_dir/before"
	rm -rf "$before" && mkdir -p "$before"
	for p in "${node_fixed_paths[@]}"; do
		[[ -e "$p" ]] && echo "$p"
	done >"$before/paths"
	sysctl -a 2>/dev/null | sort >"$before/sysctl"
	ls /run/netns 2>/dev/null >"$before/netns" || true
	ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort >"$before/links"
	node_chains | sort >"$before/chains"
	nft list tables 2>/dev/null | sort >"$before/tables" || true
	find /sys/fs/cgroup -maxdepth 2 -name kubepods -type d 2>/dev/null | sort >"$before/cgroups"
	touch "$before/stamp"
}

# "family table chain" for every chain the kubelet, kube-proxy and CNI name theirs like.
node_chains() {
	local fam table
	for fam in iptables ip6tables; do
		command -v "$fam" >/dev/null || continue
		for table in filter nat mangle; do
			"$fam" -w -t "$table" -S 2>/dev/null | awk -v f="$fam" -v t="$table" \
				'$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ {print f, t, $2}'
		done
	done
}

node_write_config() {
	local ip=$1 name=$2 kubelet_port=$3 proxy_health=$4 proxy_metrics=$5
	local c="$node_dir/containerd"
	mkdir -p "$c" "$node_dir/cni/net.d" "$node_dir/cni/ipam" "$node_dir/kubelet" "$node_dir/pod-logs" \
		"$node_dir/static-pods" "$node_dir/volume-plugins" "$node_dir/logs"
	# restrict_oom_score_adj: root here may not lower oom_score_adj (no CAP_SYS_RESOURCE), and
	# without it every sandbox fails in runc. The opt plugin's path would be /opt/containerd.
	cat >"$c/config.toml" <<-EOF
		version = 2
		root = "$c/root"
		state = "$c/state"
		disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
		[grpc]
		  address = "$c/containerd.sock"
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$c/opt"
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "registry.k8s.io/pause:3.10"
		  restrict_oom_score_adj = true
		  enable_selinux = false
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        SystemdCgroup = false
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$node_dir/cni/net.d"
	EOF
	cat >"$node_dir/cni/net.d/10-kubectl-gitops.conflist" <<-EOF
		{
		  "cniVersion": "1.0.0",
		  "name": "kubectl-gitops-test",
		  "plugins": [
		    {
		      "type": "bridge",
		      "bridge": "$node_bridge",
		      "isGateway": true,
		      "ipMasq": true,
		      "hairpinMode": true,
		      "ipam": {
		        "type": "host-local",
		        "dataDir": "$node_dir/cni/ipam",
		        "ranges": [[{"subnet": "$node_pod_cidr"}]],
		        "routes": [{"dst": "0.0.0.0/0"}]
		      }
		    }
		  ]
		}
	EOF
	# Loose eviction thresholds and no image garbage collection: the images were imported, not
	# pulled, and nothing can pull them back.
	cat >"$node_dir/kubelet/config.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		address: $ip
		port: $kubelet_port
		readOnlyPort: 0
		healthzPort: 0
		cgroupDriver: cgroupfs
		failCgroupV1: false
		failSwapOn: false
		containerRuntimeEndpoint: unix://$c/containerd.sock
		podLogsDir: $node_dir/pod-logs
		staticPodPath: $node_dir/static-pods
		volumePluginDir: $node_dir/volume-plugins
		authentication:
		  anonymous:
		    enabled: true
		  webhook:
		    enabled: false
		authorization:
		  mode: AlwaysAllow
		evictionHard:
		  memory.available: "1Mi"
		  nodefs.available: "1%"
		  nodefs.inodesFree: "1%"
		  imagefs.available: "1%"
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		serializeImagePulls: false
		registerNode: true
		resolvConf: /etc/resolv.conf
		nodeStatusReportFrequency: 10s
		syncFrequency: 10s
		fileCheckFrequency: 10s
	EOF
	# iptables mode, leaving conntrack sysctls alone (maxPerCore 0, timeouts 0) and no
	# localhost NodePorts (they would need route_localnet).
	cat >"$node_dir/proxy.yaml" <<-EOF
		apiVersion: kubeproxy.config.k8s.io/v1alpha1
		kind: KubeProxyConfiguration
		mode: iptables
		clientConnection:
		  kubeconfig: $state/kubeconfig
		hostnameOverride: $name
		bindAddress: $ip
		clusterCIDR: $node_pod_cidr
		healthzBindAddress: 127.0.0.1:$proxy_health
		metricsBindAddress: 127.0.0.1:$proxy_metrics
		iptables:
		  localhostNodePorts: false
		conntrack:
		  maxPerCore: 0
		  min: 0
		  tcpEstablishedTimeout: 0s
		  tcpCloseWaitTimeout: 0s
	EOF
}

node_start() {
	local name=$1
	shift
	mkdir -p "$node_dir/pids" "$node_dir/logs"
	"$@" >"$node_dir/logs/$name.log" 2>&1 &
	echo $! >"$node_dir/pids/$name"
}

node_ctr() {
	ctr --address "$node_dir/containerd/containerd.sock" --namespace k8s.io "$@"
}

node_kubectl() {
	kubectl --kubeconfig "$state/kubeconfig" "$@"
}

node_fail() {
	echo "cluster: $1; last lines of $node_dir/logs/$2.log:" >&2
	tail -n 30 "$node_dir/logs/$2.log" >&2
	down
	return 1
}

node_up() {
	node_packages
	node_build
	if [[ -f "$node_lock" ]] && [[ "$(cat "$node_lock")" != "$node_dir" ]]; then
		local other
		other=$(cat "$node_lock")
		if [[ -f "$other/pids/containerd" ]] && kill -0 "$(cat "$other/pids/containerd")" 2>/dev/null; then
			echo "cluster: a node cluster already runs on this machine ($other); one at a time" >&2
		else
			echo "cluster: the node cluster of $other did not stop cleanly; stop it with" \
				"GITOPS_TEST_DIR=${other%/node} tests/cluster.sh down from its repository" >&2
		fi
		return 1
	fi
	if node_running; then
		echo "cluster: the node already runs ($node_dir)" >&2
		return 0
	fi
	if running; then
		echo "cluster: an API-server-only cluster runs here (pid $(cat "$pidfile")); tests/cluster.sh down first" >&2
		return 1
	fi
	local started=$SECONDS ip name
	ip=$(node_ip)
	name=$(node_name)
	# A run that was never stopped is stopped first, against its own record of the machine.
	[[ -d "$node_dir/before" ]] && node_down
	# A fresh node each time; --one-file-system so a mount left behind is never followed.
	if [[ -d "$node_dir" ]]; then
		node_unmount_under "$node_dir"
		rm -rf --one-file-system "$node_dir"
	fi
	mkdir -p "$node_dir"
	echo "$node_dir" >"$node_lock"
	node_record_machine

	api_up --node-ip "$ip" || { node_down; return 1; }
	node_write_config "$ip" "$name" "$(free_port)" "$(free_port)" "$(free_port)"

	node_start containerd containerd --config "$node_dir/containerd/config.toml"
	for _ in $(seq 1 100); do
		node_ctr version >/dev/null 2>&1 && break
		sleep 0.2
	done
	node_ctr version >/dev/null 2>&1 || node_fail "containerd did not start" containerd || return 1
	{ "$root/tests/image.sh" build pause workload && "$root/tests/image.sh" import pause workload; } >&2 ||
		{ down; return 1; }

	local kc="$state/kubeconfig"
	node_start controller-manager "$node_bin" controller-manager --kubeconfig="$kc" \
		--leader-elect=false --secure-port=0 --root-ca-file="$state/ca.crt" \
		--service-account-private-key-file="$state/sa.key" --v=0
	node_start scheduler "$node_bin" scheduler --kubeconfig="$kc" --leader-elect=false --secure-port=0 --v=0
	node_start proxy "$node_bin" proxy --config="$node_dir/proxy.yaml" --v=0
	node_start kubelet "$node_bin" kubelet --config="$node_dir/kubelet/config.yaml" --kubeconfig="$kc" \
		--root-dir="$node_dir/kubelet/root" --node-ip="$ip" --hostname-override="$name" --v=0

	# Ready: the Node says so, and the default ServiceAccount exists (Pods are refused
	# before it does).
	for _ in $(seq 1 300); do
		local part
		for part in containerd controller-manager scheduler proxy kubelet; do
			kill -0 "$(cat "$node_dir/pids/$part")" 2>/dev/null || { node_fail "$part exited during startup" "$part"; return 1; }
		done
		if [[ "$(node_kubectl get node "$name" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]] &&
			node_kubectl -n default get serviceaccount default >/dev/null 2>&1; then
			echo "cluster: node $name Ready in $((SECONDS - started))s (kubeconfig $state/kubeconfig)" >&2
			return 0
		fi
		sleep 1
	done
	node_fail "node $name not Ready after 300s" kubelet
}

node_stop() {
	local name=$1 pidfile="$node_dir/pids/$1" pid
	[[ -f "$pidfile" ]] || return 0
	pid=$(cat "$pidfile")
	# Only a process of ours: after a crash the number may belong to someone else by now.
	if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$state/"; then
		kill -TERM "$pid"
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	fi
	rm -f "$pidfile"
}

# Unmounts everything mounted under $1, deepest first.
node_unmount_under() {
	local m
	awk -v d="$1/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
}

node_down() {
	[[ -d "$node_dir/before" ]] || return 0
	# Nothing recreates Pods once the controllers stop; the kubelet then tears each down as on
	# any node (containers, network namespace, veth, CNI's iptables rules).
	node_stop controller-manager
	node_stop scheduler
	if [[ -f "$node_dir/pids/kubelet" ]] && running; then
		node_kubectl delete pods --all --all-namespaces --grace-period=1 --wait=false >/dev/null 2>&1 || true
		for _ in $(seq 1 60); do
			[[ -z "$(node_kubectl get pods --all-namespaces -o name 2>/dev/null)" ]] && break
			sleep 1
		done
	fi
	node_stop kubelet
	node_stop proxy

	# Whatever the kubelet left: stop sandboxes through containerd, then containerd, then any
	# shim still serving our containerd (found by its socket, never by name alone).
	if [[ -f "$node_dir/pids/containerd" ]]; then
		local t
		for t in $(node_ctr tasks ls -q 2>/dev/null); do
			node_ctr tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
		done
		sleep 1
		for t in $(node_ctr tasks ls -q 2>/dev/null); do node_ctr tasks delete -f "$t" >/dev/null 2>&1 || true; done
		for t in $(node_ctr containers ls -q 2>/dev/null); do node_ctr containers delete "$t" >/dev/null 2>&1 || true; done
	fi
	node_stop containerd
	local pid
	for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $node_dir/containerd/containerd.sock" || true); do
		kill -KILL "$pid" 2>/dev/null || true
	done

	# Containers whose shim is gone (the node was killed rather than stopped) still hold their
	# cgroups and network namespaces: every process in the kubepods cgroups is a container of
	# this node, the only one on the machine.
	local cg
	for cg in $(find /sys/fs/cgroup -maxdepth 2 -name kubepods -type d 2>/dev/null); do
		grep -qx "$cg" "$node_dir/before/cgroups" && continue
		find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
	done
	sleep 1
	node_restore_machine
	# Kept for tests/node/leftovers.sh; never restored twice.
	rm -rf "$node_dir/restored" && mv "$node_dir/before" "$node_dir/restored"
	rm -f "$node_lock"
}

node_restore_machine() {
	local before="$node_dir/before"
	[[ -d "$before" ]] || return 0
	node_unmount_under "$node_dir"
	# Network namespaces CNI made (a mount each) and the bridge.
	local ns
	for ns in $(ls /run/netns 2>/dev/null); do
		grep -qx "$ns" "$before/netns" && continue
		umount "/run/netns/$ns" 2>/dev/null || true
		rm -f "/run/netns/$ns"
	done
	ip link show "$node_bridge" >/dev/null 2>&1 && ip link delete "$node_bridge"
	# kube-proxy's own cleanup, then any KUBE-/CNI- chain that was not there before.
	[[ -x "$node_bin" ]] && "$node_bin" proxy --cleanup >/dev/null 2>&1 || true
	local fam table chain
	node_chains | sort | comm -23 - "$before/chains" | while read -r fam table chain; do
		"$fam" -w -t "$table" -S | awk -v c="$chain" '$1 == "-A" && $0 ~ ("-j " c "( |$)") {print}' |
			while read -r rule; do
				# iptables -S quotes comments the way the shell reads them back.
				eval "$fam -w -t $table -D ${rule#-A }" 2>/dev/null || true
			done
		"$fam" -w -t "$table" -F "$chain" 2>/dev/null || true
	done
	node_chains | sort | comm -23 - "$before/chains" | while read -r fam table chain; do
		"$fam" -w -t "$table" -X "$chain" 2>/dev/null || true
	done
	# Tables iptables created on first use, once nothing is left in them but empty base chains.
	local family name
	nft list tables 2>/dev/null | sort | comm -23 - "$before/tables" | while read -r _ family name; do
		nft list table "$family" "$name" 2>/dev/null |
			grep -vqE '^\s*(table .*\{|chain [A-Z]+ \{|type .* policy accept;|\}|)$' ||
			nft delete table "$family" "$name" 2>/dev/null || true
	done
	# The kubepods cgroup trees, deepest first (a cgroup directory goes with rmdir only).
	local cg
	for cg in $(find /sys/fs/cgroup -maxdepth 2 -name kubepods -type d 2>/dev/null); do
		grep -qx "$cg" "$before/cgroups" && continue
		find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	# Sysctls back to their values before the node started.
	local key old
	for key in "${node_sysctls[@]}"; do
		old=$(awk -v k="$key" -F' = ' '$1 == k {print $2}' "$before/sysctl")
		[[ -n "$old" ]] || continue
		[[ "$(sysctl -n "$key" 2>/dev/null)" == "$old" ]] || sysctl -q -w "$key=$old" >/dev/null 2>&1 || true
	done
	# Paths outside the test directory that appeared.
	local p
	for p in "${node_fixed_paths[@]}"; do
		grep -qx "$p" "$before/paths" && continue
		[[ -e "$p" ]] || continue
		node_unmount_under "$p"
		rm -rf --one-file-system "$p"
	done
}
