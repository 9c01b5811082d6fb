//! Helm's `lookup` answered from the live cluster, read-only, as whoever renders.
//!
//! A chart that keeps a generated value (an admin password) by looking up the object it
//! generated it for renders a new value whenever `lookup` sees nothing, as in a plain
//! `helm template`. So a chart whose templates call `lookup` is rendered with
//! `--dry-run=server` (Helm 3.13 and later) and a kubeconfig written into the render's sandbox,
//! carrying exactly the identity of the connection the render belongs to: the user's context
//! on the command line, the sync's ServiceAccount (impersonated) under a controller. The file
//! goes with the sandbox when the chart has rendered.
//!
//! `helm template --dry-run=server` only reads: Helm 3 renders client-only and asks the server
//! for nothing but the lookups; Helm 4 also reads the server's version, discovery and each
//! rendered object (to tell whether an install would take it over, which `--take-ownership`
//! turns into a read). When that fails (the identity may not read what the chart looks up, a
//! custom resource whose definition the same render installs), the chart is rendered without
//! the cluster and the report says why lookups saw nothing.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};

/// Oldest Helm whose `helm template` answers `lookup` (its `--dry-run=server`).
pub(crate) const MINIMUM: super::binary::Version = super::binary::Version {
    major: 3,
    minor: 13,
};

/// The identity lookups are answered as: the connection the render belongs to.
#[derive(Clone)]
pub struct ClusterAccess(Arc<kube::Config>);

impl ClusterAccess {
    pub fn new(config: Arc<kube::Config>) -> Self {
        ClusterAccess(config)
    }
}

impl fmt::Debug for ClusterAccess {
    // Never the credentials: the server and who is impersonated are enough to tell it apart.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterAccess")
            .field("server", &self.0.cluster_url.to_string())
            .field("as", &self.0.auth_info.impersonate)
            .finish()
    }
}

/// What `lookup` saw while a chart rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupOutcome {
    /// The chart's templates never call `lookup`.
    NotCalled,
    /// Lookups were answered by the cluster.
    Answered,
    /// No cluster to ask (an offline render): lookups saw nothing.
    Offline,
    /// The helm program answers no lookups in `helm template` (older than 3.13).
    HelmTooOld(String),
    /// The render with the cluster failed; the chart was rendered without it.
    Failed(Fallback),
}

/// Why the render with the cluster failed, as a class a person can act on: helm's own words
/// run to kilobytes when a chart renders many custom resources, and go to the debug log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// A custom resource the chart renders has no definition in the cluster yet (the same
    /// apply installs it).
    DefinitionMissing,
    /// The identity may not read what helm asked for.
    Forbidden,
    /// The server did not answer.
    Unreachable,
    /// Anything else: the first line of helm's message, cut short.
    Other(String),
}

impl Fallback {
    /// The class of helm's failure message.
    pub(crate) fn of(message: &str) -> Fallback {
        let said = |words: &[&str]| words.iter().any(|w| message.contains(w));
        if said(&[
            "ensure CRDs are installed first",
            "no matches for kind",
            "resource mapping not found",
        ]) {
            Fallback::DefinitionMissing
        } else if said(&["forbidden", "Forbidden", "Unauthorized"]) {
            Fallback::Forbidden
        } else if said(&[
            "connection refused",
            "no such host",
            "i/o timeout",
            "Client.Timeout",
            "dial tcp",
        ]) {
            Fallback::Unreachable
        } else {
            let first = message.lines().next().unwrap_or_default().trim();
            Fallback::Other(match first.char_indices().nth(SHORT) {
                Some((cut, _)) => format!("{}...", &first[..cut]),
                None => first.to_string(),
            })
        }
    }
}

/// How much of helm's first line an unclassified failure keeps.
const SHORT: usize = 120;

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Fallback::Other(first) = self {
            return write!(f, "helm said: {first}");
        }
        f.write_str(match self {
            Fallback::DefinitionMissing => {
                "a custom resource it renders has no definition in the cluster yet"
            }
            Fallback::Forbidden => "the identity rendering it may not read what helm asked for",
            Fallback::Unreachable => "the cluster did not answer",
            Fallback::Other(_) => "",
        })
    }
}

impl LookupOutcome {
    /// Whether lookups saw nothing although the chart calls `lookup`.
    pub fn saw_nothing(&self) -> bool {
        matches!(
            self,
            LookupOutcome::Offline | LookupOutcome::HelmTooOld(_) | LookupOutcome::Failed(_)
        )
    }

    /// Why, in a few words, for the note naming the chart.
    pub fn reason(&self) -> String {
        match self {
            LookupOutcome::NotCalled | LookupOutcome::Answered => String::new(),
            LookupOutcome::Offline => "no cluster was asked".into(),
            LookupOutcome::HelmTooOld(version) => {
                format!("helm {version} answers no lookup in `helm template` (3.13 or later does)")
            }
            LookupOutcome::Failed(fallback) => {
                format!("rendered without the cluster: {fallback}")
            }
        }
    }
}

/// What a chart's templates draw on, read from its files (and its subcharts').
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Traits {
    /// It calls `lookup`.
    pub lookup: bool,
    /// It may render differently each time: random values, the time, UUIDs, keys and
    /// certificates, salted hashes.
    pub unsteady: bool,
}

/// Template functions whose result differs from one render to the next (Sprig's and Helm's).
const UNSTEADY: &[&str] = &[
    "randAlphaNum",
    "randAlpha",
    "randNumeric",
    "randAscii",
    "randBytes",
    "randInt",
    "uuidv4",
    "now",
    "unixEpoch",
    "genCA",
    "genCAWithKey",
    "genPrivateKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "htpasswd",
    "bcrypt",
    "encryptAES",
    "shuffle",
];

/// Reads the chart's templates (and those of its unpacked subcharts). A packaged subchart
/// (`.tgz`) cannot be read without unpacking it: it counts as calling both, so the render
/// errs on the side of asking and comparing.
pub(crate) fn traits(chart: &Path) -> Traits {
    let mut found = Traits::default();
    scan(chart, chart, &mut found, 0);
    found
}

/// How deep subcharts are followed: far deeper than any real chart nests.
const MAX_DEPTH: usize = 16;

fn scan(root: &Path, dir: &Path, found: &mut Traits, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if found.lookup && found.unsteady {
            return;
        }
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if kind.is_dir() {
            if depth < MAX_DEPTH && name != ".git" {
                scan(root, &path, found, depth + 1);
            }
        } else if name.ends_with(".tgz") || name.ends_with(".tar.gz") {
            *found = Traits {
                lookup: true,
                unsteady: true,
            };
        } else if is_template(path.strip_prefix(root).unwrap_or(&path))
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            read_template(&text, found);
        }
    }
}

/// Templates are what helm executes: files below a `templates/` directory of the chart (or of
/// a subchart); `path` is relative to the chart.
fn is_template(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "templates")
}

/// Notes what the actions (`{{ ... }}`) of one template call.
fn read_template(text: &str, found: &mut Traits) {
    for action in text.split("{{").skip(1) {
        let action = action.split("}}").next().unwrap_or_default();
        for word in action.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            found.lookup |= word == "lookup";
            found.unsteady |= UNSTEADY.contains(&word);
        }
    }
}

/// Writes the kubeconfig helm answers lookups with into `dir` (the render's sandbox, private
/// to it): one context, the connection's server and identity.
pub(crate) fn write_kubeconfig(dir: &Path, access: &ClusterAccess) -> std::io::Result<PathBuf> {
    let path = dir.join("lookup-kubeconfig");
    let text = serde_json::to_vec(&kubeconfig(&access.0)).map_err(std::io::Error::other)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options.open(&path)?.write_all(&text)?;
    Ok(path)
}

/// Whether the identity runs a credential plugin, which needs the caller's environment (its
/// cloud profile, its home) to get a token.
pub(crate) fn runs_a_plugin(access: &ClusterAccess) -> bool {
    access.0.auth_info.exec.is_some()
}

/// The kubeconfig of `config`: kubectl's format (JSON is YAML), as client-go reads it.
fn kubeconfig(config: &kube::Config) -> Value {
    let mut cluster = json!({ "server": config.cluster_url.to_string() });
    if let Some(file) = &config.root_cert_file {
        cluster["certificate-authority"] = json!(file.to_string_lossy());
    } else if let Some(certificates) = &config.root_cert {
        let pem: String = certificates.iter().map(|der| pem(der)).collect();
        cluster["certificate-authority-data"] =
            json!(base64::engine::general_purpose::STANDARD.encode(pem));
    }
    if config.accept_invalid_certs {
        cluster["insecure-skip-tls-verify"] = json!(true);
    }
    if let Some(name) = &config.tls_server_name {
        cluster["tls-server-name"] = json!(name);
    }
    if let Some(proxy) = &config.proxy_url {
        cluster["proxy-url"] = json!(proxy.to_string());
    }
    let mut user = serde_json::to_value(&config.auth_info).unwrap_or_else(|_| json!({}));
    if let (Some(exec), Some(home)) = (user.get_mut("exec"), std::env::var_os("HOME")) {
        // helm's own home is the sandbox; a credential plugin reads the caller's.
        let mut env = exec
            .get("env")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        env.push(json!({ "name": "HOME", "value": home.to_string_lossy() }));
        exec["env"] = Value::Array(env);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "render", "cluster": cluster }],
        "users": [{ "name": "render", "user": user }],
        "contexts": [{
            "name": "render",
            "context": {
                "cluster": "render",
                "user": "render",
                "namespace": config.default_namespace,
            },
        }],
        "current-context": "render",
    })
}

/// A DER certificate as PEM.
fn pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str("-----END CERTIFICATE-----\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> kube::Config {
        let mut config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
        config.root_cert = Some(vec![vec![1, 2, 3]]);
        config.auth_info.token = Some("t0ken-of-the-user".to_string().into());
        config
    }

    #[test]
    fn the_kubeconfig_carries_the_connections_server_and_identity_only() {
        let mut config = config();
        config.auth_info.impersonate = Some("system:serviceaccount:team:deployer".into());
        let written = kubeconfig(&config);
        let user = &written["users"][0]["user"];
        assert_eq!(user["token"], "t0ken-of-the-user");
        assert_eq!(user["as"], "system:serviceaccount:team:deployer");
        let cluster = &written["clusters"][0]["cluster"];
        assert_eq!(cluster["server"], "https://127.0.0.1:6443/");
        let ca = cluster["certificate-authority-data"].as_str().unwrap();
        let ca = base64::engine::general_purpose::STANDARD
            .decode(ca)
            .unwrap();
        assert_eq!(
            String::from_utf8(ca).unwrap(),
            "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(written["current-context"], "render");
    }

    #[cfg(unix)]
    #[test]
    fn the_written_kubeconfig_is_readable_by_its_owner_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let access = ClusterAccess::new(Arc::new(config()));
        let path = write_kubeconfig(dir.path(), &access).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn debug_output_never_shows_the_credentials() {
        let access = ClusterAccess::new(Arc::new(config()));
        let shown = format!("{access:?}");
        assert!(!shown.contains("t0ken"), "{shown}");
    }

    #[test]
    fn calls_inside_actions_are_found_and_text_outside_them_is_not() {
        let mut found = Traits::default();
        read_template(
            "lookup: randAlphaNum are words here\n{{ $s := (lookup \"v1\" \"Secret\" .ns \"x\") }}",
            &mut found,
        );
        assert!(found.lookup);
        assert!(!found.unsteady);
        read_template("password: {{ randAlphaNum 24 | b64enc }}", &mut found);
        assert!(found.unsteady);
        let mut plain = Traits::default();
        read_template(
            "{{ .Values.lookupTable }} {{ .Values.now_or_never }}",
            &mut plain,
        );
        assert_eq!(plain, Traits::default());
    }

    #[test]
    fn helms_failures_with_the_cluster_are_told_by_class_and_unknown_ones_cut_short() {
        let missing = "Error: unable to build kubernetes objects from release manifest: \
                       [resource mapping not found for name: \"x\" namespace: \"\" from \"\": \
                       no matches for kind \"Prometheus\" in version \"monitoring.coreos.com/v1\"\n\
                       ensure CRDs are installed first";
        assert_eq!(Fallback::of(missing), Fallback::DefinitionMissing);
        assert_eq!(
            Fallback::of(
                "Error: secrets \"a\" is forbidden: User \"u\" cannot get resource \"secrets\""
            ),
            Fallback::Forbidden
        );
        assert_eq!(
            Fallback::of("Error: Get \"https://10.0.0.1/version\": dial tcp: connection refused"),
            Fallback::Unreachable
        );
        let long = format!("Error: {}\nsecond line", "x".repeat(5000));
        let said = Fallback::of(&long).to_string();
        assert!(said.starts_with("helm said: Error: xxx"), "{said}");
        assert!(said.len() < 150, "{said}");
        assert!(!said.contains("second line"), "{said}");
    }

    #[test]
    fn a_packaged_subchart_counts_as_calling_both() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("charts")).unwrap();
        std::fs::write(dir.path().join("charts/db-1.0.0.tgz"), b"").unwrap();
        assert_eq!(
            traits(dir.path()),
            Traits {
                lookup: true,
                unsteady: true
            }
        );
    }
}
