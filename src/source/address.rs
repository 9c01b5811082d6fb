//! Where the controller's fetches may go. A tenant's spec names a git remote and a tenant's
//! tree names chart repositories and OCI registries; without a check, any of them could point
//! the controller at an address only it can reach: its own loopback, the cloud metadata
//! service (169.254.169.254), a Service inside the cluster.
//!
//! Every host is resolved first and checked address by address, so a public name resolving to
//! a private address is refused as the address itself would be. Chart sources are refused at
//! loopback, unspecified, link-local, private (RFC 1918, fc00::/7, 100.64.0.0/10) and
//! cluster-internal names (`*.svc`, `*.cluster.local`); git remotes at loopback, unspecified
//! and link-local only, since a git server inside the cluster is common and its URL is the
//! spec's, not the tree's. The operator's allow-list (addresses, networks, host names) lifts
//! either rule.
//!
//! `kubectl gitops controller` confines its process once ([`confine`]); the command-line
//! commands never do, so a chart repository on the user's own machine keeps working there.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;
use std::sync::OnceLock;

use ipnet::IpNet;

/// What is fetched: each has its own rule (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// A git remote of a GitSync.
    Git,
    /// A chart repository or an OCI registry named by a tree.
    Chart,
}

/// The operator's allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    networks: Vec<IpNet>,
    /// Lower-case host names allowed whatever they resolve to.
    hosts: Vec<String>,
}

/// A fetch refused, saying why (never with anything the server answered).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The flag that lifts a refusal, named in every message.
const FLAG: &str = "--allow-fetch-to";

/// An `--allow-fetch-to` value that names nothing a fetch could be allowed to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{FLAG} {entry:?} is neither an address, a network (CIDR) nor a host name")]
pub struct NotAnAddress {
    pub entry: String,
}

impl Policy {
    /// An allow-list from `--allow-fetch-to` values: an address (`127.0.0.1`), a network
    /// (`10.0.0.0/8`) or a host name (`charts.internal`).
    pub fn parse(entries: &[String]) -> Result<Self, NotAnAddress> {
        let mut policy = Policy::default();
        for entry in entries {
            let entry = entry.trim();
            if let Ok(net) = IpNet::from_str(entry) {
                policy.networks.push(net);
            } else if let Ok(ip) = IpAddr::from_str(entry.trim_matches(['[', ']'])) {
                policy.networks.push(IpNet::from(ip));
            } else if !entry.is_empty()
                && !entry.contains('/')
                && entry
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                policy.hosts.push(entry.to_ascii_lowercase());
            } else {
                return Err(NotAnAddress {
                    entry: entry.to_string(),
                });
            }
        }
        Ok(policy)
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|n| n.contains(&ip))
    }

    fn allows_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// What kind of internal address `ip` is, when `fetch` may not reach it.
    pub fn refuses(&self, fetch: Fetch, ip: IpAddr) -> Option<&'static str> {
        let kind = internal(ip)?;
        let git_may = matches!(kind, "private" | "cluster-internal");
        if (fetch == Fetch::Git && git_may) || self.allows_ip(ip) {
            return None;
        }
        Some(kind)
    }

    /// The addresses of `host` (a name or an address literal), when every one of them may be
    /// reached; the caller connects to these, never resolving again (a name answering a public
    /// address to the check and a private one to the connection gains nothing).
    pub fn check_host(
        &self,
        fetch: Fetch,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, Refused> {
        let bare = host.trim_matches(['[', ']']).trim_end_matches('.');
        let allowed_name = self.allows_host(bare);
        if !allowed_name
            && let Some(kind) = internal_name(bare)
            && !(fetch == Fetch::Git && kind == "cluster-internal")
        {
            return Err(refused(host, &format!("a {kind} name")));
        }
        let addresses: Vec<SocketAddr> = match IpAddr::from_str(bare) {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => (bare, port)
                .to_socket_addrs()
                .map_err(|e| Refused(format!("resolving {bare}: {e}")))?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(Refused(format!("resolving {bare}: no address")));
        }
        if !allowed_name {
            for address in &addresses {
                if let Some(kind) = self.refuses(fetch, address.ip()) {
                    let what = if IpAddr::from_str(bare).is_ok() {
                        format!("a {kind} address")
                    } else {
                        format!("resolves to {}, a {kind} address", address.ip())
                    };
                    return Err(refused(host, &what));
                }
            }
        }
        Ok(addresses)
    }

    /// Checks the host of `url` (`https://`, `http://`, `oci://`, `git://`, `ssh://`); a URL
    /// without a host passes (local paths are the caller's to judge).
    pub fn check_url(&self, fetch: Fetch, url: &str) -> Result<(), Refused> {
        let Some((host, port)) = host_and_port(url) else {
            return Ok(());
        };
        self.check_host(fetch, &host, port).map(|_| ())
    }
}

fn refused(host: &str, what: &str) -> Refused {
    Refused(format!(
        "refusing to fetch from {host}: it is {what}, which a tenant's source may not reach \
         unless the controller's {FLAG} names it"
    ))
}

/// The host and port of a URL with an authority; the scheme's default port when none is given.
pub fn host_and_port(url: &str) -> Option<(String, u16)> {
    let parsed = url::Url::parse(url).ok()?;
    let host = match parsed.host()? {
        url::Host::Domain(name) => name.to_string(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    };
    let port = parsed.port().unwrap_or(match parsed.scheme() {
        "http" => 80,
        "git" => 9418,
        "ssh" => 22,
        _ => 443,
    });
    Some((host, port))
}

/// The kind of internal address `ip` is; None for a public one.
fn internal(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let within = |net: &str| IpNet::from_str(net).is_ok_and(|n| n.contains(&ip));
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() || within("0.0.0.0/8") {
        // Connecting to 0.0.0.0 reaches this machine.
        Some("unspecified")
    } else if within("169.254.0.0/16") || within("fe80::/10") {
        Some("link-local")
    } else if [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    ]
    .into_iter()
    .any(within)
    {
        Some("private")
    } else if ip.is_multicast() || within("255.255.255.255/32") {
        Some("broadcast")
    } else {
        None
    }
}

/// The kind of internal host name `host` is: names only this machine or the cluster's DNS
/// answers.
fn internal_name(host: &str) -> Option<&'static str> {
    let host = host.to_ascii_lowercase();
    let under = |suffix: &str| host == suffix || host.ends_with(&format!(".{suffix}"));
    if under("localhost") {
        Some("loopback")
    } else if under("svc") || under("cluster.local") || !host.contains('.') {
        // A single label is completed by the Pod's search domains: `web` is web.NS.svc.
        Some("cluster-internal")
    } else {
        None
    }
}

/// The process's confinement, once `kubectl gitops controller` set it.
static CONFINED: OnceLock<Policy> = OnceLock::new();

/// Confines every chart fetch of this process from now on (the controller calls this once, at
/// start). A second call keeps the first policy.
pub fn confine(policy: Policy) {
    let _ = CONFINED.set(policy);
}

/// The policy this process is confined to, if any.
pub fn confined() -> Option<&'static Policy> {
    CONFINED.get()
}

/// Checks a chart repository or registry URL against the process's confinement (a no-op
/// outside the controller).
pub fn check_chart_source(url: &str) -> Result<(), Refused> {
    match confined() {
        Some(policy) => policy.check_url(Fetch::Chart, url),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_to_charts_and_only_local_ones_to_git() {
        let policy = Policy::default();
        for (address, kind) in [
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("10.96.0.1", "private"),
            ("172.20.1.1", "private"),
            ("192.168.1.1", "private"),
            ("fd00::1", "private"),
            ("100.64.0.1", "private"),
        ] {
            assert_eq!(
                policy.refuses(Fetch::Chart, ip(address)),
                Some(kind),
                "{address}"
            );
            let git = policy.refuses(Fetch::Git, ip(address));
            assert_eq!(git.is_some(), kind != "private", "{address}");
        }
        for public in ["203.0.113.7", "2001:db8::1", "8.8.8.8"] {
            assert_eq!(policy.refuses(Fetch::Chart, ip(public)), None, "{public}");
        }
    }

    #[test]
    fn the_allow_list_names_addresses_networks_and_hosts() {
        let policy = Policy::parse(&[
            "127.0.0.1".into(),
            "10.0.0.0/8".into(),
            "[::1]".into(),
            "charts.svc".into(),
        ])
        .unwrap();
        assert_eq!(policy.refuses(Fetch::Chart, ip("127.0.0.1")), None);
        assert_eq!(
            policy.refuses(Fetch::Chart, ip("127.0.0.2")),
            Some("loopback")
        );
        assert_eq!(policy.refuses(Fetch::Chart, ip("10.1.2.3")), None);
        assert_eq!(policy.refuses(Fetch::Chart, ip("::1")), None);
        assert!(
            policy
                .check_host(Fetch::Chart, "CHARTS.svc", 80)
                .is_err_and(|e| e.0.contains("resolving"))
        );
        assert!(
            Policy::parse(&["a/b/c".into()])
                .unwrap_err()
                .to_string()
                .contains("--allow-fetch-to")
        );
    }

    #[test]
    fn urls_are_checked_by_their_host_after_resolution() {
        let policy = Policy::default();
        for url in [
            "http://127.0.0.1:8879/charts",
            "oci://[::1]:5000/charts",
            "https://localhost/charts",
            "http://169.254.169.254/latest/meta-data/",
            "https://web.team-b.svc.cluster.local/charts",
            "http://web/charts",
        ] {
            let refused = policy.check_url(Fetch::Chart, url).unwrap_err();
            assert!(refused.0.contains("--allow-fetch-to"), "{refused}");
        }
        // `localhost` is refused by name, before any answer of the resolver counts.
        let refused = policy
            .check_url(Fetch::Git, "git://localhost/r.git")
            .unwrap_err();
        assert!(refused.0.contains("loopback name"), "{refused}");
        assert!(
            policy
                .check_url(Fetch::Git, "https://gitea.gitea.svc/r.git")
                .is_err_and(|e| e.0.contains("resolving"))
        );
        let allowed = Policy::parse(&["127.0.0.0/8".into()]).unwrap();
        assert_eq!(
            allowed.check_url(Fetch::Chart, "http://127.0.0.1:8879/charts"),
            Ok(())
        );
        assert_eq!(
            host_and_port("oci://[::1]:5000/c"),
            Some(("::1".into(), 5000))
        );
        assert_eq!(host_and_port("git://h/r.git"), Some(("h".into(), 9418)));
    }
}
