//! Credentials for private chart repositories and registries, read from files the environment
//! names (never from a flag, so they stay out of shell history and process listings):
//!
//! - `$GITOPS_HELM_REPOSITORY_CONFIG`: a file in the format of Helm's `repositories.yaml`
//!   (`repositories: [{name, url, username, password, caFile, certFile, keyFile,
//!   insecure_skip_tls_verify, pass_credentials_all}]`). A dependency whose repository URL
//!   matches an entry's `url`, or that names an entry (`@name`, `alias:name`), is fetched with
//!   that entry. Pointing it at `~/.config/helm/repositories.yaml` reuses Helm's own; it is
//!   only read.
//! - `$GITOPS_HELM_REGISTRY_CONFIG`: an OCI registry config (Docker's `config.json` format, as
//!   `helm registry login` writes it) for `oci://` dependencies.
//!
//! Every password, token and encoded `auth` found is learned by the scrubber before helm runs,
//! so neither helm's messages nor ours can show it.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{Map, Value};

use super::dependencies::Locked;

/// Names a Helm `repositories.yaml`-format file of repository credentials.
pub const REPOSITORY_CONFIG_ENV: &str = "GITOPS_HELM_REPOSITORY_CONFIG";
/// Names an OCI registry config (`config.json`) for `oci://` dependencies.
pub const REGISTRY_CONFIG_ENV: &str = "GITOPS_HELM_REGISTRY_CONFIG";

const SECRET_FIELDS: [&str; 2] = ["password", "token"];

/// The repositories a fetch may use, as the user's file declares them.
#[derive(Debug, Default)]
pub(crate) struct Repositories {
    entries: Vec<Map<String, Value>>,
}

/// A `repositories.yaml` for one fetch.
#[derive(Debug)]
pub(crate) struct Config {
    pub text: String,
    /// Each repository of the lock with the name its entry has (helm caches the repository's
    /// index as `NAME-index.yaml`).
    pub names: Vec<(String, String)>,
}

/// Why a dependency's repository cannot be set up.
#[derive(Debug)]
pub(crate) struct Unknown {
    pub dependency: Locked,
    pub reason: String,
}

impl Repositories {
    /// The file `$GITOPS_HELM_REPOSITORY_CONFIG` names (none: no credentials), its secrets
    /// learned by the scrubber.
    pub fn from_env() -> Result<Self, String> {
        let Some(path) = env_path(REPOSITORY_CONFIG_ENV) else {
            return Ok(Repositories::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|error| {
            format!(
                "cannot read ${REPOSITORY_CONFIG_ENV} ({}): {error}",
                path.display()
            )
        })?;
        Self::parse(&text).map_err(|reason| {
            format!(
                "${REPOSITORY_CONFIG_ENV} ({}) is not a repositories file: {reason}",
                path.display()
            )
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let doc = crate::yaml::from_str(text).map_err(|e| e.to_string())?;
        let entries: Vec<Map<String, Value>> = match doc.get("repositories") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_object()
                        .cloned()
                        .ok_or_else(|| "an entry of `repositories` is not a mapping".to_string())
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`repositories` is not a list".into()),
        };
        for entry in &entries {
            let user = entry.get("username").and_then(Value::as_str).unwrap_or("");
            for field in SECRET_FIELDS {
                if let Some(secret) = entry.get(field).and_then(Value::as_str) {
                    crate::scrub::learn_basic_auth(user, secret);
                }
            }
        }
        Ok(Repositories { entries })
    }

    /// The URL of `repository` (a URL, `@name` or `alias:name`) and the entry it has in the
    /// user's file, if any.
    pub fn entry_for(&self, repository: &str) -> (String, Option<&Map<String, Value>>) {
        if let Some(name) = repository
            .strip_prefix('@')
            .or_else(|| repository.strip_prefix("alias:"))
        {
            let entry = self
                .entries
                .iter()
                .find(|e| e.get("name").and_then(Value::as_str) == Some(name));
            let url = entry
                .and_then(|e| e.get("url"))
                .and_then(Value::as_str)
                .unwrap_or(repository);
            return (url.to_string(), entry);
        }
        let entry = self.entries.iter().find(|e| {
            e.get("url")
                .and_then(Value::as_str)
                .is_some_and(|url| same_url(url, repository))
        });
        (repository.to_string(), entry)
    }

    /// The `repositories.yaml` helm fetches `locked` with: one entry per HTTP repository they
    /// use, with the user's credentials where an entry matches. Helm refuses a lock whose
    /// repositories it does not know, so each gets an entry even without credentials.
    pub fn config_for(&self, locked: &[Locked]) -> Result<Config, Unknown> {
        let mut entries: Vec<Value> = Vec::new();
        let mut names = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for dependency in locked.iter().filter(|l| l.is_remote() && !l.is_oci()) {
            let repository = dependency.repository.as_str();
            if seen.iter().any(|s| s == repository) {
                continue;
            }
            seen.push(repository.to_string());
            let by_name = repository
                .strip_prefix('@')
                .or_else(|| repository.strip_prefix("alias:"));
            let entry = match by_name {
                Some(name) => {
                    let found = self
                        .entries
                        .iter()
                        .find(|e| e.get("name").and_then(Value::as_str) == Some(name));
                    let Some(found) = found else {
                        return Err(Unknown {
                            dependency: dependency.clone(),
                            reason: format!(
                                "the repository is named, not located: define `{name}` in the \
                                 file ${REPOSITORY_CONFIG_ENV} names"
                            ),
                        });
                    };
                    found.clone()
                }
                None => {
                    let mut entry = self
                        .entries
                        .iter()
                        .find(|e| {
                            e.get("url")
                                .and_then(Value::as_str)
                                .is_some_and(|url| same_url(url, repository))
                        })
                        .cloned()
                        .unwrap_or_default();
                    entry.insert(
                        "name".into(),
                        format!("dependency-{}", entries.len()).into(),
                    );
                    entry.insert("url".into(), repository.trim_end_matches('/').into());
                    entry
                }
            };
            let name = entry.get("name").and_then(Value::as_str).unwrap_or("");
            names.push((repository.to_string(), name.to_string()));
            entries.push(Value::Object(entry));
        }
        Ok(Config {
            // JSON is YAML, and helm reads this file with a YAML parser.
            text: serde_json::json!({ "apiVersion": "", "repositories": entries }).to_string(),
            names,
        })
    }
}

/// The registry config `$GITOPS_HELM_REGISTRY_CONFIG` names, its credentials learned by the
/// scrubber; `None` without one.
pub(crate) fn registry_config() -> Result<Option<PathBuf>, String> {
    let Some(path) = env_path(REGISTRY_CONFIG_ENV) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|error| {
        format!(
            "cannot read ${REGISTRY_CONFIG_ENV} ({}): {error}",
            path.display()
        )
    })?;
    learn_registry_config(&text).map_err(|reason| {
        format!(
            "${REGISTRY_CONFIG_ENV} ({}) is not a registry config: {reason}",
            path.display()
        )
    })?;
    Ok(Some(path))
}

/// Learns every credential of a `config.json`: `auth` (base64 `user:password`) and the
/// password inside it, `password`, `identitytoken`, `registrytoken`.
pub(crate) fn learn_registry_config(text: &str) -> Result<(), String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    for (_, entry) in doc
        .get("auths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let field = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or("");
        if !field("auth").is_empty() {
            crate::scrub::learn_credential(field("auth"));
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(field("auth"))
                && let Ok(pair) = String::from_utf8(bytes)
                && let Some((user, password)) = pair.split_once(':')
            {
                crate::scrub::learn_basic_auth(user, password);
            }
        }
        crate::scrub::learn_basic_auth(field("username"), field("password"));
        crate::scrub::learn_credential(field("identitytoken"));
        crate::scrub::learn_credential(field("registrytoken"));
    }
    Ok(())
}

/// A registry login from the registry config, as `helm registry login` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Login {
    /// `auth` (base64 `user:password`), or `username` and `password`.
    Basic { user: String, password: String },
    /// `identitytoken`: an OAuth2 refresh token the registry's token service exchanges.
    Identity(String),
    /// `registrytoken`: a bearer token sent as it is.
    Registry(String),
}

/// The login `$GITOPS_HELM_REGISTRY_CONFIG` holds for the registry at `host` (`host:port`,
/// as an `oci://` reference names it), its secrets learned by the scrubber; `None` without
/// one. Keys are matched as Docker matches them: with or without a scheme and a path.
pub(crate) fn registry_login(host: &str) -> Result<Option<Login>, String> {
    let Some(path) = registry_config()? else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|error| {
        format!(
            "cannot read ${REGISTRY_CONFIG_ENV} ({}): {error}",
            path.display()
        )
    })?;
    Ok(login_in(&text, host))
}

/// The login for `host` in a registry config's text.
fn login_in(text: &str, host: &str) -> Option<Login> {
    let doc: Value = serde_json::from_str(text).ok()?;
    let auths = doc.get("auths")?.as_object()?;
    let bare = |key: &str| {
        let key = key
            .strip_prefix("https://")
            .or_else(|| key.strip_prefix("http://"))
            .unwrap_or(key);
        key.split('/').next().unwrap_or("").to_ascii_lowercase()
    };
    let wanted = host.to_ascii_lowercase();
    // Docker Hub's logins are filed under its old index address.
    let hub = matches!(
        wanted.as_str(),
        "docker.io" | "registry-1.docker.io" | "index.docker.io"
    );
    let (_, entry) = auths
        .iter()
        .find(|(key, _)| bare(key) == wanted || (hub && bare(key) == "index.docker.io"))?;
    let field = |key: &str| {
        entry
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    if let Some(token) = field("registrytoken") {
        return Some(Login::Registry(token.to_string()));
    }
    if let Some(token) = field("identitytoken") {
        return Some(Login::Identity(token.to_string()));
    }
    if let Some(auth) = field("auth")
        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(auth)
        && let Ok(pair) = String::from_utf8(bytes)
        && let Some((user, password)) = pair.split_once(':')
    {
        return Some(Login::Basic {
            user: user.to_string(),
            password: password.to_string(),
        });
    }
    field("username").map(|user| Login::Basic {
        user: user.to_string(),
        password: field("password").unwrap_or_default().to_string(),
    })
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// URLs equal but for a trailing slash, as helm compares them.
fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Whether the registry of an `oci://` reference is on this machine (served over plain HTTP,
/// as container tools treat `localhost` registries).
pub(crate) fn is_loopback_registry(reference: &str) -> bool {
    let rest = reference.strip_prefix("oci://").unwrap_or(reference);
    let host_port = rest.split('/').next().unwrap_or("");
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Writes `text` readable by this user alone.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(name: &str, repository: &str) -> Locked {
        Locked {
            name: name.into(),
            version: "1.0.0".into(),
            repository: repository.into(),
        }
    }

    #[test]
    fn a_matching_entry_lends_its_credentials_and_passwords_are_learned() {
        let repos = Repositories::parse(
            "repositories:\n- name: private\n  url: https://charts.example.com/\n  \
             username: ci\n  password: pa55-for-charts\n",
        )
        .unwrap();
        let config = repos
            .config_for(&[
                locked("db", "https://charts.example.com"),
                locked("web", "https://public.example.com/"),
                locked("cache", "oci://registry.example.com/charts"),
                locked("lib", "file://../lib"),
            ])
            .unwrap();
        let config: Value = serde_json::from_str(&config.text).unwrap();
        let entries = config["repositories"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "HTTP repositories only: {config}");
        assert_eq!(entries[0]["url"], "https://charts.example.com");
        assert_eq!(entries[0]["password"], "pa55-for-charts");
        assert_eq!(entries[1]["url"], "https://public.example.com");
        assert!(entries[1].get("password").is_none());
        assert_eq!(
            crate::scrub::text("Error: 401 for pa55-for-charts"),
            "Error: 401 for ***"
        );
    }

    #[test]
    fn a_named_repository_must_be_defined() {
        let repos = Repositories::parse("repositories:\n- name: stable\n  url: https://s\n")
            .expect("parses");
        assert!(repos.config_for(&[locked("a", "@stable")]).is_ok());
        let unknown = repos.config_for(&[locked("b", "alias:other")]).unwrap_err();
        assert_eq!(unknown.dependency.name, "b");
        assert!(unknown.reason.contains("`other`"), "{}", unknown.reason);
    }

    #[test]
    fn registry_auths_are_learned_encoded_and_decoded() {
        let auth = base64::engine::general_purpose::STANDARD.encode("robot:registry-t0ken");
        learn_registry_config(&format!(
            "{{\"auths\":{{\"r.example.com\":{{\"auth\":\"{auth}\"}}}}}}"
        ))
        .unwrap();
        let shown = crate::scrub::text(&format!("denied registry-t0ken {auth}"));
        assert_eq!(shown, "denied *** ***");
    }

    #[test]
    fn a_registry_login_is_found_by_host_with_or_without_a_scheme() {
        let auth = base64::engine::general_purpose::STANDARD.encode("robot:s3cret");
        let config = format!(
            "{{\"auths\":{{\"https://r.example.com/v1/\":{{\"auth\":\"{auth}\"}},\
             \"127.0.0.1:5000\":{{\"username\":\"u\",\"password\":\"p\"}},\
             \"https://index.docker.io/v1/\":{{\"identitytoken\":\"refresh\"}}}}}}"
        );
        assert_eq!(
            login_in(&config, "r.example.com"),
            Some(Login::Basic {
                user: "robot".into(),
                password: "s3cret".into()
            })
        );
        assert_eq!(
            login_in(&config, "127.0.0.1:5000"),
            Some(Login::Basic {
                user: "u".into(),
                password: "p".into()
            })
        );
        assert_eq!(
            login_in(&config, "registry-1.docker.io"),
            Some(Login::Identity("refresh".into()))
        );
        assert_eq!(login_in(&config, "r.example.com:444"), None);
        assert_eq!(login_in(&config, "127.0.0.1"), None);
    }

    #[test]
    fn loopback_registries_are_recognised() {
        assert!(is_loopback_registry("oci://127.0.0.1:5000/charts"));
        assert!(is_loopback_registry("oci://localhost/charts"));
        assert!(is_loopback_registry("oci://[::1]:5000/charts"));
        assert!(!is_loopback_registry("oci://registry.example.com/charts"));
        assert!(!is_loopback_registry("oci://10.0.0.1:5000/charts"));
    }
}
