//! Which set a deployment is: the repository (by its normalised remote URL, not where it is
//! checked out), PATH inside it, and the namespace namespace-less objects go to. The laptop
//! (`diff`, `apply`), the reconciler and `install` all resolve a set through [`resolve`], so
//! given the same three values they name the same parent in the same namespace.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{ApplySet, migration};
use crate::source::git_url::GitUrl;
use crate::source::{Snapshot, SourceOrigin};

/// Annotations on the parent recording the identity it was created for; a caller whose
/// identity disagrees is refused instead of pruning another deployment's objects.
pub const ANNOTATION_REPOSITORY: &str = "kubectl-gitops.io/repository";
pub const ANNOTATION_PATH: &str = "kubectl-gitops.io/path";
pub const ANNOTATION_NAMESPACE: &str = "kubectl-gitops.io/namespace";

/// Where the repository part of an identity came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repository {
    /// A remote URL (the reconciler's `--repo`, a checkout's upstream or `origin`), normalised
    /// by [`normalize_url`].
    Remote(String),
    /// No remote to go by: the repository directory's name, as `local/<name>`. A clone renamed
    /// or a checkout elsewhere is then another set; adding a remote fixes that.
    Local(String),
}

impl Repository {
    /// A remote URL as given by the user or git config.
    pub fn from_url(url: &str) -> Self {
        Repository::Remote(normalize_url(url))
    }

    /// A checkout without a usable remote, known by its directory name.
    pub fn local(directory_name: &str) -> Self {
        Repository::Local(format!("local/{}", directory_name.to_lowercase()))
    }

    /// The value recorded on the parent: a normalised URL (free of credentials) or `local/<name>`.
    pub fn as_str(&self) -> &str {
        match self {
            Repository::Remote(url) | Repository::Local(url) => url,
        }
    }

    /// The last segment, for readable names: `github.com/org/platform` gives `platform`.
    pub fn short_name(&self) -> &str {
        let text = self.as_str();
        let name = text.rsplit('/').next().unwrap_or(text);
        if name.is_empty() { "repository" } else { name }
    }
}

/// The identity of a set: what it deploys and where namespace-less objects go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetIdentity {
    pub repository: Repository,
    /// PATH relative to the repository root, `/`-separated, without `./` or trailing slashes
    /// ("" for the root).
    pub path: String,
    /// The namespace namespace-less objects are applied to.
    pub namespace: String,
}

impl SetIdentity {
    pub fn new(repository: Repository, path: &str, namespace: &str) -> Self {
        SetIdentity {
            repository,
            path: normalize_path(path),
            namespace: namespace.to_string(),
        }
    }

    /// One line naming all three parts, for messages.
    pub fn describe(&self) -> String {
        let path = if self.path.is_empty() {
            "."
        } else {
            &self.path
        };
        format!(
            "repository {}, path {path}, namespace {}",
            self.repository.as_str(),
            self.namespace
        )
    }

    /// A short hash of the whole identity: two sets that share a readable name (`infra` of two
    /// organisations) still get different parents.
    fn hash(&self) -> String {
        let digest = Sha256::digest(
            format!(
                "{}\n{}\n{}",
                self.repository.as_str(),
                self.path,
                self.namespace
            )
            .as_bytes(),
        );
        digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
    }
}

/// The set for `identity`. `name` and `parent_namespace` are the user's `--applyset` and
/// `--applyset-namespace`; without them the parent is `gitops-<repo>-<path>-<hash>` in the
/// target namespace, as `kubectl apply --applyset` places its parent (a user who may only work
/// in that namespace can diff, apply and prune). A parent placed elsewhere by
/// `--applyset-namespace` gets the target namespace in its name too.
pub fn resolve(
    identity: SetIdentity,
    name: Option<&str>,
    parent_namespace: Option<&str>,
) -> ApplySet {
    let namespace = parent_namespace.unwrap_or(&identity.namespace).to_string();
    let name = match name {
        Some(name) => name.to_string(),
        None => {
            let mut readable = vec![identity.repository.short_name(), identity.path.as_str()];
            if namespace != identity.namespace {
                readable.push(&identity.namespace);
            }
            default_name(&readable, &identity.hash())
        }
    };
    ApplySet {
        name,
        namespace,
        identity: Some(identity),
        legacy: Vec::new(),
    }
}

/// The set of a checkout's PATH, as `diff` and `apply` resolve it, and a note to show the
/// user when the identity had to fall back to the directory name.
pub fn for_checkout(
    snapshot: &Snapshot,
    target_namespace: &str,
    name: Option<&str>,
    parent_namespace: Option<&str>,
) -> (ApplySet, Option<String>) {
    let (root, path) = match &snapshot.origin {
        SourceOrigin::Worktree { repo_root } => (
            repo_root.as_path(),
            snapshot.display_prefix.to_string_lossy().into_owned(),
        ),
        SourceOrigin::PlainDirectory => (snapshot.root.as_path(), String::new()),
    };
    let directory = directory_name(root);
    let url = match &snapshot.origin {
        SourceOrigin::Worktree { repo_root } => crate::source::default_remote_url(repo_root),
        SourceOrigin::PlainDirectory => None,
    };
    let (repository, note) = match &url {
        Some(url) => (Repository::from_url(url), None),
        None => {
            let repository = Repository::local(&directory);
            let note = format!(
                "{} has no git remote, so its ApplySet is identified by the directory name ({}): \
                 a clone elsewhere or under another name is another set. Add a remote (`git \
                 remote add origin URL`) or pass --applyset",
                root.display(),
                repository.as_str()
            );
            (repository, Some(note))
        }
    };
    let mut names = vec![directory.as_str()];
    let remote_name = url.as_deref().map(crate::source::redact::repository_name);
    names.extend(remote_name.as_deref());
    let mut set = resolve(
        SetIdentity::new(repository, &path, target_namespace),
        name,
        parent_namespace,
    );
    set.legacy = migration::candidates(&names, &path, name, parent_namespace, &set.parent());
    (set, note)
}

/// The set of `path` in the repository at `url`, as the reconciler and `install` resolve it.
/// A local path (or `file://` URL) is made absolute where it exists, as a checkout's remote is.
pub fn for_remote(
    url: &str,
    path: &str,
    target_namespace: &str,
    name: Option<&str>,
    parent_namespace: Option<&str>,
) -> ApplySet {
    let local = url.strip_prefix("file://").or_else(|| {
        (!url.contains("://") && (url.starts_with(['/', '.']) || Path::new(url).exists()))
            .then_some(url)
    });
    let repository = match local {
        Some(local) => {
            let cwd = std::env::current_dir().unwrap_or_default();
            Repository::from_url(&crate::source::absolute_local_path(&cwd, Path::new(local)))
        }
        None => Repository::from_url(url),
    };
    let path = normalize_path(path);
    let old_name = crate::source::redact::repository_name(url);
    let mut set = resolve(
        SetIdentity::new(repository, &path, target_namespace),
        name,
        parent_namespace,
    );
    set.legacy = migration::candidates(
        &[old_name.as_str()],
        &path,
        name,
        parent_namespace,
        &set.parent(),
    );
    set
}

fn directory_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".to_string())
}

/// `gitops-<parts>-<hash>` as a DNS label of at most 63 characters: the readable part is cut,
/// never the hash.
fn default_name(parts: &[&str], hash: &str) -> String {
    let raw = std::iter::once("gitops")
        .chain(parts.iter().copied().filter(|p| !p.is_empty()))
        .collect::<Vec<_>>()
        .join("-");
    let readable = dns_label(&raw);
    let room = 63 - hash.len() - 1;
    let cut = if readable.len() > room {
        readable[..room].trim_end_matches('-')
    } else {
        &readable
    };
    format!("{cut}-{hash}")
}

/// Lower case, runs of anything but `[a-z0-9]` turned into one `-`, no `-` at either end.
pub(super) fn dns_label(raw: &str) -> String {
    let mut name = String::new();
    for c in raw.to_lowercase().chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if c == '-' && name.ends_with('-') {
            continue;
        }
        name.push(c);
    }
    name.trim_matches('-').to_string()
}

/// PATH as the identity records it: `/`-separated, no `./`, no leading or trailing slashes.
pub fn normalize_path(path: &str) -> String {
    path.replace('\\', "/")
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// One spelling for every way of writing a repository's URL, so a checkout cloned over SSH and
/// a reconciler following it over HTTPS agree: no scheme, no userinfo (credentials never reach
/// the parent), no port, no query, no `.git` suffix or trailing slash, lower case. scp-like
/// `git@host:org/repo` becomes `host/org/repo`; a local path keeps its path.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let (authority, path) = match GitUrl::parse(url) {
        GitUrl::Scheme { rest, .. } => match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        },
        GitUrl::Scp { host, path } => (host, path),
        GitUrl::Local(path) => ("", path),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let mut path = path.replace('\\', "/");
    loop {
        let trimmed = path.trim_end_matches('/');
        let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed);
        if trimmed.len() == path.len() {
            break;
        }
        path = trimmed.to_string();
    }
    let segments: Vec<&str> = std::iter::once(host)
        .chain(path.split('/'))
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    segments.join("/").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_one_repository_normalises_alike() {
        let want = "github.com/org/platform";
        for url in [
            "https://github.com/org/platform.git",
            "https://github.com/org/platform",
            "https://github.com/Org/Platform/",
            "https://x-access-token:s3cret@github.com/org/platform.git",
            "ssh://git@github.com:22/org/platform.git",
            "git@github.com:org/platform.git",
            "github.com:org/platform",
            "git://github.com/org/platform.git?ref=main",
        ] {
            assert_eq!(normalize_url(url), want, "{url}");
        }
        assert_eq!(
            normalize_url("file:///srv/git/platform.git"),
            "srv/git/platform"
        );
        assert_eq!(normalize_url("/srv/git/platform/"), "srv/git/platform");
        assert_eq!(
            normalize_url("git://127.0.0.1:9418/platform.git"),
            "127.0.0.1/platform"
        );
    }

    #[test]
    fn credentials_never_reach_the_identity() {
        let url = normalize_url("https://user:hunter2@git.example.com/team/infra.git");
        assert!(!url.contains("hunter2") && !url.contains("user"), "{url}");
    }

    #[test]
    fn two_organisations_with_the_same_repository_and_path_get_two_sets() {
        let a = resolve(
            SetIdentity::new(
                Repository::from_url("https://g.example/team-a/infra"),
                "k8s",
                "apps",
            ),
            None,
            None,
        );
        let b = resolve(
            SetIdentity::new(
                Repository::from_url("https://g.example/team-b/infra"),
                "k8s",
                "apps",
            ),
            None,
            None,
        );
        assert!(a.name.starts_with("gitops-infra-k8s-"), "{}", a.name);
        assert_ne!(a.name, b.name);
        assert_eq!(a.namespace, "apps");
    }

    #[test]
    fn a_checkout_over_ssh_and_a_reconciler_over_https_resolve_one_set() {
        let laptop = resolve(
            SetIdentity::new(
                Repository::from_url("git@github.com:Org/platform.git"),
                "deploy/prod",
                "prod",
            ),
            None,
            None,
        );
        let reconciler = for_remote(
            "https://x-access-token@github.com/org/platform",
            "./deploy/prod/",
            "prod",
            None,
            None,
        );
        assert_eq!(
            (laptop.name, laptop.namespace, laptop.identity),
            (reconciler.name, reconciler.namespace, reconciler.identity)
        );
    }

    #[test]
    fn the_target_namespace_is_part_of_the_identity() {
        let repo = Repository::from_url("https://g.example/org/infra");
        let staging = resolve(SetIdentity::new(repo.clone(), "k8s", "staging"), None, None);
        let prod = resolve(SetIdentity::new(repo, "k8s", "prod"), None, None);
        assert_ne!(staging.id(), prod.id());
        assert_eq!(staging.namespace, "staging");
    }

    #[test]
    fn a_parent_placed_elsewhere_names_the_target_namespace() {
        let identity = SetIdentity::new(
            Repository::from_url("g.example:org/infra"),
            "./k8s/",
            "prod",
        );
        let set = resolve(identity, None, Some("gitops-system"));
        assert!(
            set.name.starts_with("gitops-infra-k8s-prod-"),
            "{}",
            set.name
        );
        assert_eq!(set.namespace, "gitops-system");
    }

    #[test]
    fn long_names_keep_the_hash_and_stay_dns_labels() {
        let identity = SetIdentity::new(
            Repository::local("Very_Long_Repository_Name"),
            &"segment/".repeat(12),
            "ns",
        );
        let set = resolve(identity.clone(), None, None);
        assert!(set.name.len() <= 63, "{}", set.name);
        assert!(set.name.ends_with(&identity.hash()), "{}", set.name);
        assert!(
            set.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }

    #[test]
    fn an_explicit_name_is_kept_and_the_parent_follows_the_target_namespace() {
        let identity = SetIdentity::new(Repository::local("infra"), "", "team");
        let set = resolve(identity, Some("mine"), None);
        assert_eq!(
            (set.name.as_str(), set.namespace.as_str()),
            ("mine", "team")
        );
    }
}
