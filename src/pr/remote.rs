//! Which GitHub repository a git remote points at.

use std::fmt;

use crate::source::git_url::GitUrl;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubRepo {
    pub owner: String,
    pub name: String,
}

impl fmt::Display for GitHubRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A `--repo` value that is not `OWNER/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not OWNER/NAME")]
pub struct NotARepository {
    pub text: String,
}

impl std::str::FromStr for GitHubRepo {
    type Err = NotARepository;

    /// `owner/name`.
    fn from_str(text: &str) -> Result<Self, NotARepository> {
        match text.split_once('/') {
            Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(GitHubRepo {
                    owner: owner.to_string(),
                    name: name.trim_end_matches(".git").to_string(),
                })
            }
            _ => Err(NotARepository {
                text: text.to_string(),
            }),
        }
    }
}

/// The repository of a GitHub remote URL in any of git's spellings:
/// `https://github.com/o/r(.git)`, `git@github.com:o/r.git`, `ssh://git@github.com/o/r`.
/// `host` is the web host (github.com, or a GitHub Enterprise host).
pub fn parse_github_remote(url: &str, host: &str) -> Option<GitHubRepo> {
    let path = match GitUrl::parse(url.trim()) {
        // scheme://[user[:pass]@]host[:port]/path
        GitUrl::Scheme { rest, .. } => {
            let (authority, path) = rest.split_once('/')?;
            let hostname = authority.rsplit('@').next()?.split(':').next()?;
            (hostname == host).then_some(path)?
        }
        // scp-like: [user@]host:path
        GitUrl::Scp {
            host: authority,
            path,
        } => {
            let hostname = authority.rsplit('@').next()?;
            (hostname == host).then_some(path)?
        }
        GitUrl::Local(_) => return None,
    };
    path.trim_matches('/').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(owner: &str, name: &str) -> Option<GitHubRepo> {
        Some(GitHubRepo {
            owner: owner.into(),
            name: name.into(),
        })
    }

    #[test]
    fn understands_every_spelling_of_a_github_remote() {
        for url in [
            "https://github.com/acme/platform.git",
            "https://github.com/acme/platform",
            "https://token@github.com/acme/platform.git",
            "git@github.com:acme/platform.git",
            "ssh://git@github.com/acme/platform",
            "ssh://git@github.com:22/acme/platform.git",
        ] {
            assert_eq!(
                parse_github_remote(url, "github.com"),
                repo("acme", "platform"),
                "{url}"
            );
        }
    }

    #[test]
    fn other_hosts_and_local_paths_are_not_github() {
        assert_eq!(
            parse_github_remote("https://gitlab.com/a/b.git", "github.com"),
            None
        );
        assert_eq!(parse_github_remote("/srv/git/repo.git", "github.com"), None);
        assert_eq!(
            parse_github_remote("git@github.com:only-owner", "github.com"),
            None
        );
        assert_eq!(
            parse_github_remote("https://git.corp.example/a/b.git", "git.corp.example"),
            repo("a", "b")
        );
    }
}
