//! How a git remote is spelled, told apart in one place: a URL with a scheme
//! (`https://host/org/repo`), scp's spelling of ssh (`[user@]host:path`), or a local path.
//! Fetching, the controller's admission, repository names and set identities all ask this.

/// A git remote as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitUrl<'a> {
    /// `scheme://rest`.
    Scheme { scheme: &'a str, rest: &'a str },
    /// `[user@]host:path`, which git reaches over ssh.
    Scp { host: &'a str, path: &'a str },
    /// Anything else: a path on this machine.
    Local(&'a str),
}

impl<'a> GitUrl<'a> {
    /// Reads `url` as git does: a `://` makes a URL; else a colon after a host (no slash before
    /// it, and longer than one letter, so `C:\repo` stays a path) makes scp's spelling.
    pub fn parse(url: &'a str) -> Self {
        if let Some((scheme, rest)) = url.split_once("://") {
            return GitUrl::Scheme { scheme, rest };
        }
        match url.split_once(':') {
            Some((host, path)) if !host.contains('/') && host.len() > 1 => {
                GitUrl::Scp { host, path }
            }
            _ => GitUrl::Local(url),
        }
    }

    /// Whether it names a remote (a URL or scp's spelling) rather than a local path.
    pub fn is_remote(&self) -> bool {
        !matches!(self, GitUrl::Local(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheme_makes_a_url_whatever_follows() {
        assert_eq!(
            GitUrl::parse("https://git.example.com/org/repo.git"),
            GitUrl::Scheme {
                scheme: "https",
                rest: "git.example.com/org/repo.git"
            }
        );
        assert_eq!(
            GitUrl::parse("file:///srv/git/repo"),
            GitUrl::Scheme {
                scheme: "file",
                rest: "/srv/git/repo"
            }
        );
    }

    #[test]
    fn a_colon_after_a_host_is_scp_with_or_without_a_user() {
        assert_eq!(
            GitUrl::parse("git@github.com:org/repo.git"),
            GitUrl::Scp {
                host: "git@github.com",
                path: "org/repo.git"
            }
        );
        assert_eq!(
            GitUrl::parse("host:repo"),
            GitUrl::Scp {
                host: "host",
                path: "repo"
            }
        );
    }

    #[test]
    fn paths_drive_letters_and_colons_after_a_slash_are_local() {
        for path in [
            "/srv/git/repo",
            "./repo",
            "C:\\repo",
            "c:/repo",
            "dir/a:b",
            "repo",
        ] {
            assert_eq!(GitUrl::parse(path), GitUrl::Local(path), "{path}");
            assert!(!GitUrl::parse(path).is_remote());
        }
        assert!(GitUrl::parse("git@host:repo").is_remote());
        assert!(GitUrl::parse("ssh://host/repo").is_remote());
    }
}
