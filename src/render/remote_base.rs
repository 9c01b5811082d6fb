//! Reads a kustomization entry as kustomize reads a remote base: a git repository to clone, a
//! directory inside it, and the revision to check out, spelled as `kustomize` accepts them
//! (`https://host/org/repo//sub/dir?ref=v1`, `git::https://...`, `ssh://git@host/org/repo`,
//! `git@host:org/repo.git//sub`, `github.com/org/repo/sub`, with `ref`, `version`, `timeout`
//! and `submodules` in the query).
//!
//! What kustomize would fetch over a channel we do not (`file://`, plain `http://` beyond this
//! machine) is an error saying so; what kustomize would not read as a remote base at all is
//! `None`, and stays the guard's to judge as a path.

use std::time::Duration;

/// How long kustomize lets one fetch take when the URL does not say (its `27s`).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(27);

/// A remote base: the repository, the directory in it, the revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteBase {
    /// What git clones: `https://host/org/repo.git`, `ssh://git@host/org/repo`,
    /// `git@host:org/repo`. May carry userinfo written in the kustomization: never printed.
    pub repository: String,
    /// The directory inside the repository, without leading or trailing `/` ("" for its root).
    pub dir: String,
    /// `ref=` (or the older `version=`): a branch, a tag or a full commit id; `None` for the
    /// repository's default branch.
    pub reference: Option<String>,
    /// `timeout=`: how long the fetch may take.
    pub timeout: Duration,
    /// `submodules=` (kustomize's default: true): whether the base's submodules are wanted.
    pub submodules: bool,
}

impl RemoteBase {
    /// What tells two bases apart: the same repository, revision and directory are one base.
    pub fn key(&self) -> (String, Option<String>, String) {
        (
            self.repository.clone(),
            self.reference.clone(),
            self.dir.clone(),
        )
    }

    /// The repository as messages show it: any userinfo masked.
    pub fn shown_repository(&self) -> String {
        crate::source::redact::redact_url(&self.repository)
    }

    /// The base as messages show it: `https://host/org/repo//dir?ref=v1`, userinfo masked.
    pub fn shown(&self) -> String {
        let mut shown = self.shown_repository();
        if !self.dir.is_empty() {
            shown.push_str("//");
            shown.push_str(&self.dir);
        }
        if let Some(reference) = &self.reference {
            shown.push_str("?ref=");
            shown.push_str(reference);
        }
        shown
    }

    /// Whether the fetch goes over ssh (the ssh program, with the user's own keys and agent).
    pub fn over_ssh(&self) -> bool {
        self.repository.starts_with("ssh://") || !self.repository.contains("://")
    }
}

/// `text` as a remote base: `None` when kustomize would not read it as one (a local path),
/// `Some(Err(reason))` when it would but we do not fetch it so.
pub(crate) fn parse(text: &str) -> Option<Result<RemoteBase, Unfetchable>> {
    let trimmed = text.trim();
    let bare = trimmed.strip_prefix("git::").unwrap_or(trimmed);
    let (scheme, rest) = if let Some(rest) = bare.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = bare.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = bare.strip_prefix("ssh://") {
        (Scheme::Ssh, rest)
    } else if bare.starts_with("file://") {
        return Some(Err(Unfetchable::File));
    } else if let Some(rest) = bare.strip_prefix("git@") {
        (Scheme::Scp, rest)
    } else if let Some(rest) = bare.strip_prefix("gh:") {
        return Some(build(Scheme::Scp, &format!("github.com:{rest}"), trimmed));
    } else if bare.starts_with("github.com/") {
        (Scheme::Https, bare)
    } else {
        return None;
    };
    Some(build(scheme, rest, trimmed))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Https,
    /// Refused: anyone on the way could change what is built.
    Http,
    Ssh,
    /// `git@host:path`, scp's spelling of ssh.
    Scp,
}

fn build(scheme: Scheme, rest: &str, text: &str) -> Result<RemoteBase, Unfetchable> {
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    let (host, path) = match scheme {
        Scheme::Scp => location
            .split_once(':')
            .ok_or_else(|| Unfetchable::NoColon {
                text: text.to_string(),
            })?,
        _ => location
            .split_once('/')
            .ok_or(Unfetchable::NoRepositoryAfterHost)?,
    };
    if host.is_empty() || path.trim_matches('/').is_empty() {
        return Err(Unfetchable::NoRepository);
    }
    if scheme == Scheme::Http {
        return Err(Unfetchable::PlainHttp);
    }
    let (repo_path, dir) = split_repository(host, path);
    if dir.split('/').any(|part| part == "..") {
        return Err(Unfetchable::Climbs);
    }
    let repository = match scheme {
        Scheme::Https | Scheme::Http => format!("https://{host}/{repo_path}"),
        Scheme::Ssh => format!("ssh://{host}/{repo_path}"),
        Scheme::Scp => format!("git@{host}:{repo_path}"),
    };
    let mut base = RemoteBase {
        repository,
        dir,
        reference: None,
        timeout: DEFAULT_TIMEOUT,
        submodules: true,
    };
    let mut version = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "ref" => base.reference = Some(checked_reference(value)?),
            "version" => version = Some(checked_reference(value)?),
            "timeout" => base.timeout = timeout(value)?,
            "submodules" => {
                base.submodules = match value {
                    "true" | "1" | "t" | "T" | "TRUE" | "True" => true,
                    "false" | "0" | "f" | "F" | "FALSE" | "False" => false,
                    _ => {
                        return Err(Unfetchable::NotABoolean {
                            value: value.to_string(),
                        });
                    }
                }
            }
            // kustomize ignores what it does not know; so does this.
            _ => {}
        }
    }
    if base.reference.is_none() {
        base.reference = version;
    }
    Ok(base)
}

/// The repository's path and the directory inside it: split at `//`, else after `.git`,
/// else (on GitHub) after `org/repo`; else the whole path is the repository.
fn split_repository(host: &str, path: &str) -> (String, String) {
    let clean = |dir: &str| dir.trim_matches('/').to_string();
    if let Some((repo, dir)) = path.split_once("//") {
        return (repo.trim_end_matches('/').to_string(), clean(dir));
    }
    if let Some(at) = path.find(".git/") {
        return (path[..at + 4].to_string(), clean(&path[at + 4..]));
    }
    if path.ends_with(".git") {
        return (path.to_string(), String::new());
    }
    if host.eq_ignore_ascii_case("github.com") {
        let mut parts = path.trim_matches('/').splitn(3, '/');
        let org = parts.next().unwrap_or_default();
        let repo = parts.next().unwrap_or_default();
        return (format!("{org}/{repo}"), clean(parts.next().unwrap_or("")));
    }
    (path.trim_end_matches('/').to_string(), String::new())
}

/// A `ref=` value as a fetch can use it: a branch, tag or full commit id, nothing a refspec
/// would read as more than one name.
fn checked_reference(value: &str) -> Result<String, Unfetchable> {
    let bad = value.is_empty()
        || value.starts_with('-')
        || value.contains("..")
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || ":*?[\\^~@{".contains(c));
    if bad {
        return Err(Unfetchable::Reference {
            value: value.to_string(),
        });
    }
    Ok(value.to_string())
}

/// kustomize's `timeout=`: whole seconds, or a Go duration (`90s`, `2m`).
fn timeout(value: &str) -> Result<Duration, Unfetchable> {
    let parsed = match value.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(value).ok(),
    };
    match parsed {
        Some(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(Unfetchable::Timeout {
            value: value.to_string(),
        }),
    }
}

/// Why a remote base kustomize would fetch is not fetched here; each message follows the
/// base's address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unfetchable {
    #[error(
        "is a `file://` repository: it reads a local repository outside this one, which is \
         refused; vendor the base into the repository"
    )]
    File,
    #[error("has no `:` between host and path in {text:?}")]
    NoColon { text: String },
    #[error("names no repository after its host")]
    NoRepositoryAfterHost,
    #[error("names no repository")]
    NoRepository,
    #[error("is fetched over plain http, which anyone on the way could change: use https or ssh")]
    PlainHttp,
    #[error("climbs out of its repository with `..`")]
    Climbs,
    #[error("has `submodules={value}`, which is not a boolean")]
    NotABoolean { value: String },
    #[error("has `ref={value}`, which is not a branch, tag or commit name")]
    Reference { value: String },
    #[error("has `timeout={value}`, which is not a duration")]
    Timeout { value: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(text: &str) -> RemoteBase {
        parse(text).expect("remote").expect("accepted")
    }

    #[test]
    fn the_spellings_kustomize_documents_are_read_as_it_reads_them() {
        let b = base(
            "https://github.com/kubernetes-sigs/kustomize//examples/multibases/dev/?timeout=120&ref=v3.3.1",
        );
        assert_eq!(b.repository, "https://github.com/kubernetes-sigs/kustomize");
        assert_eq!(b.dir, "examples/multibases/dev");
        assert_eq!(b.reference.as_deref(), Some("v3.3.1"));
        assert_eq!(b.timeout, Duration::from_secs(120));
        let b = base("git::https://git.example.com/org/repo.git/base?ref=main&timeout=2m");
        assert_eq!(b.repository, "https://git.example.com/org/repo.git");
        assert_eq!(b.dir, "base");
        assert_eq!(b.timeout, Duration::from_secs(120));
        let b = base("git@github.com:owner/repo//deploy?version=v1&submodules=false");
        assert_eq!(b.repository, "git@github.com:owner/repo");
        assert_eq!(
            (b.dir.as_str(), b.reference.as_deref()),
            ("deploy", Some("v1"))
        );
        assert!(!b.submodules && b.over_ssh());
        let b = base("ssh://git@github.com/owner/repo.git");
        assert_eq!(b.repository, "ssh://git@github.com/owner/repo.git");
        assert_eq!(b.dir, "");
        assert!(b.submodules && b.over_ssh());
        let b = base("github.com/kubernetes-sigs/kustomize/examples/helloWorld?ref=v5");
        assert_eq!(b.repository, "https://github.com/kubernetes-sigs/kustomize");
        assert_eq!(b.dir, "examples/helloWorld");
        assert_eq!(b.timeout, DEFAULT_TIMEOUT);
        let b = base(
            "https://127.0.0.1:8443/bases.git//team?ref=0123456789abcdef0123456789abcdef01234567",
        );
        assert_eq!(b.repository, "https://127.0.0.1:8443/bases.git");
        assert_eq!(b.dir, "team");
        assert!(!b.over_ssh());
    }

    #[test]
    fn local_paths_are_not_remote_bases() {
        for path in [
            "../base",
            "base",
            "./x/y",
            "/abs",
            "example.org/team/config/base",
        ] {
            assert_eq!(parse(path), None, "{path}");
        }
    }

    #[test]
    fn what_we_do_not_fetch_is_refused_with_the_reason() {
        for (text, reason) in [
            ("file:///srv/repo//base", "file://"),
            ("http://git.example.com/org/repo//base", "plain http"),
            ("https://git.example.com/org/repo//../../etc", "`..`"),
            ("https://git.example.com/org/repo?ref=a:b", "not a branch"),
            (
                "https://git.example.com/org/repo?ref=-uexploit",
                "not a branch",
            ),
            (
                "https://git.example.com/org/repo?timeout=soon",
                "not a duration",
            ),
            (
                "https://git.example.com/org/repo?submodules=maybe",
                "not a boolean",
            ),
            ("https://git.example.com", "no repository"),
        ] {
            let error = parse(text).expect("remote").expect_err(text).to_string();
            assert!(error.contains(reason), "{text}: {error}");
        }
    }

    #[test]
    fn userinfo_never_shows() {
        let b = base("https://me:t0ken@git.example.com/org/repo//base?ref=v1");
        assert!(!b.shown().contains("t0ken"), "{}", b.shown());
        assert!(
            b.shown().ends_with("/org/repo//base?ref=v1"),
            "{}",
            b.shown()
        );
    }
}
