//! Git: one repository in the cache directory per remote, created on first use and fetched
//! (shallow, only the ref we follow) every cycle with gix. Its working tree stays empty:
//! revisions are read from the object database with `source::read_revision`.
//!
//! Remotes: `file://` URLs and plain local paths (gix runs `git-upload-pack` for them),
//! `git://` (gix's own TCP client) and `http(s)://` (gix's reqwest transport, rustls), with a
//! token sent as basic-auth password when the server asks for credentials. No credential
//! helper or prompt is ever consulted. Every message leaving this module has the remote URL's
//! userinfo and any token masked.

use std::net::TcpStream;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use gix::ObjectId;
use gix::remote::Direction;
use sha2::{Digest, Sha256};

use crate::source::address::Fetch;
use crate::source::git_url::GitUrl;
use crate::source::redact::{redact_url, repository_name};

/// The local ref each fetch writes the followed remote ref to.
const TRACKING_REF: &str = "refs/gitops/target";

/// What to answer when an HTTP remote asks for credentials.
#[derive(Clone)]
pub struct Credentials {
    /// `x-access-token` suits GitHub; GitLab wants `oauth2`, Bitbucket `x-token-auth`.
    pub username: String,
    pub token: String,
}

/// A git failure, its message already free of credentials.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct GitError(pub String);

/// A remote repository and the ref to follow.
#[derive(Clone)]
pub struct GitSource {
    /// As given; may carry credentials, so never printed.
    url: String,
    /// `url` without userinfo: what logs and status show.
    display: String,
    reference: String,
    repo_dir: PathBuf,
    credentials: Option<Credentials>,
    shallow: bool,
    /// Longest a single http(s) request may take; None: the transport's own default.
    request_timeout: Option<std::time::Duration>,
    /// Which of the confined process's rules this fetch obeys: a GitSync's own remote, or a
    /// repository a tree names (a remote base), held to the stricter rule of chart sources.
    rule: Fetch,
}

impl std::fmt::Debug for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSource")
            .field("url", &self.display)
            .field("reference", &self.reference)
            .field("repo_dir", &self.repo_dir)
            .finish()
    }
}

/// Credentials go only to a server reached over https: over plain http anyone on the path
/// could read them. Both what git says the protocol is and the URL asked about must agree.
fn over_https(context: &gix::credentials::protocol::Context) -> bool {
    let protocol_ok = context
        .protocol
        .as_deref()
        .is_none_or(|p| p.eq_ignore_ascii_case("https"));
    let url_ok = context
        .url
        .as_ref()
        .is_none_or(|url| url.len() >= 8 && url[..8].eq_ignore_ascii_case(b"https://"));
    protocol_ok && url_ok && (context.protocol.is_some() || context.url.is_some())
}

/// Ends a fetch from outside. gix checks the flag while it transfers objects; a `git://`
/// connection's socket is also shut down, so a read blocked on a server that accepted and went
/// silent (during the handshake, where no flag is checked) returns at once and the thread is
/// free again.
#[derive(Debug, Default)]
pub struct Interrupt {
    flag: AtomicBool,
    sockets: Mutex<Vec<TcpStream>>,
}

impl Interrupt {
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        for socket in self.lock().drain(..) {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }

    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The flag gix polls.
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    fn hold(&self, socket: TcpStream) {
        let mut sockets = self.lock();
        sockets.push(socket);
        // Triggered while connecting: no later trigger would see this socket.
        if self.is_triggered() {
            for socket in sockets.drain(..) {
                let _ = socket.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<TcpStream>> {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Connecting to a `git://` daemon may take this long.
const DAEMON_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a `git://` connection could not be made; only our own words and the socket's.
#[derive(Debug, thiserror::Error)]
enum DaemonError {
    /// gix's parse error, as it words it.
    #[error("{0}")]
    Url(String),
    #[error("no host in the URL")]
    NoHost,
    #[error(transparent)]
    Refused(#[from] crate::source::address::Refused),
    #[error("resolving {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("resolving {host}: no address")]
    NoAddress { host: String },
    #[error("connecting to {address}: {source}")]
    Connect {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Socket(std::io::Error),
}

type Transport = Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>;

/// A `git://` connection on a socket `interrupt` can shut down; None for other schemes.
fn daemon_transport(url: &str, interrupt: &Interrupt) -> Result<Option<Transport>, DaemonError> {
    use gix::protocol::transport::client::git;
    use std::net::ToSocketAddrs;
    if !url.starts_with("git://") {
        return Ok(None);
    }
    let parsed =
        gix::url::parse(gix::bstr::BStr::new(url)).map_err(|e| DaemonError::Url(e.to_string()))?;
    if parsed.scheme != gix::url::Scheme::Git {
        return Ok(None);
    }
    let host = parsed.host().ok_or(DaemonError::NoHost)?.to_string();
    let port = parsed.port;
    // In the controller, the address connected to is the one checked.
    let address = match crate::source::address::confined() {
        Some(policy) => policy
            .check_host(Fetch::Git, &host, port.unwrap_or(9418))?
            .into_iter()
            .next(),
        None => (host.as_str(), port.unwrap_or(9418))
            .to_socket_addrs()
            .map_err(|source| DaemonError::Resolve {
                host: host.clone(),
                source,
            })?
            .next(),
    }
    .ok_or_else(|| DaemonError::NoAddress { host: host.clone() })?;
    let read = TcpStream::connect_timeout(&address, DAEMON_CONNECT_TIMEOUT)
        .map_err(|source| DaemonError::Connect { address, source })?;
    let clone = || read.try_clone().map_err(DaemonError::Socket);
    interrupt.hold(clone()?);
    let write = clone()?;
    let connection = git::blocking_io::Connection::new(
        read,
        write,
        gix::protocol::transport::Protocol::V2,
        parsed.path.clone(),
        Some((host, port)),
        git::ConnectMode::Daemon,
        false,
    );
    Ok(Some(Box::new(connection)))
}

/// What a fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The commit the ref points to (tags peeled).
    pub commit: ObjectId,
    /// The remote ref's full name, e.g. `refs/heads/main`.
    pub remote_ref: String,
}

impl GitSource {
    /// `url` is a URL (`file://`, `git://`) or a local path; `reference` a branch or tag name
    /// (`main`, `v1.2.0`) or a full ref (`refs/heads/main`).
    pub fn new(
        url: &str,
        reference: &str,
        cache_dir: &Path,
        credentials: Option<Credentials>,
    ) -> Result<Self, GitError> {
        let url = normalize_local(url);
        let display = redact_url(&url);
        let mut hasher = Sha256::new();
        hasher.update(url.as_bytes());
        let digest = hasher.finalize();
        let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let repo_dir = cache_dir
            .join("repositories")
            .join(format!("{}-{short}", repository_name(&url)));
        let mut secrets: Vec<String> = Vec::new();
        if let Some(c) = &credentials {
            crate::scrub::learn_basic_auth(&c.username, &c.token);
            secrets.push(c.token.clone());
        }
        if let Some(userinfo) = userinfo(&url) {
            // The whole userinfo first, then its password alone (it may appear on its own).
            secrets.push(userinfo.to_string());
            if let Some((_, password)) = userinfo.split_once(':') {
                secrets.push(password.to_string());
            }
        }
        for secret in &secrets {
            crate::scrub::learn_credential(secret);
        }
        Ok(GitSource {
            url,
            display,
            reference: reference.to_string(),
            repo_dir,
            credentials,
            shallow: true,
            request_timeout: None,
            rule: Fetch::Git,
        })
    }

    /// Bounds every http(s) request by `limit`, so a server that accepts and then stalls
    /// releases the fetching thread within the fetch's own timeout.
    pub fn with_request_timeout(mut self, limit: std::time::Duration) -> Self {
        self.request_timeout = Some(limit);
        self
    }

    /// Holds the fetch to the rule for addresses a tree names (see `source::address`): a
    /// remote base is chosen by whoever commits, not by the GitSync's author.
    pub fn named_by_tree(mut self) -> Self {
        self.rule = Fetch::Chart;
        self
    }

    /// The URL without credentials.
    pub fn display_url(&self) -> &str {
        &self.display
    }

    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// Where the repository lives: a git directory in `.git` and a working tree that stays
    /// empty (revisions are read from the object database, never checked out).
    pub fn repo_dir(&self) -> &Path {
        &self.repo_dir
    }

    /// Masks credentials in `text` (everything the process knows, this source's included).
    pub fn scrub(&self, text: &str) -> String {
        crate::scrub::text(text)
    }

    fn error(&self, what: &str, err: impl std::fmt::Display) -> GitError {
        GitError(self.scrub(&format!("{what}: {err:#}")))
    }

    /// A failure talking to the remote, in our words only: git's messages quote what the
    /// server sent (an `ERR` line, a redirect's URL, a service announcement), which must not
    /// reach a status, an Event or a log.
    fn remote_error(&self, what: &str, err: impl std::fmt::Display) -> GitError {
        GitError(self.scrub(&format!("{what}: {}", remote_failure(&format!("{err:#}")))))
    }

    /// The repository's http options (proxy, CA, ...) with every request bounded by
    /// `request_timeout` and, in the controller, sent through the fetch proxy; None for other
    /// schemes, or with neither.
    fn http_options(&self, repo: &gix::Repository) -> Option<Box<dyn std::any::Any>> {
        use gix::protocol::transport::client::blocking_io::http;
        // In the controller every request, redirects included, goes through the fetch proxy,
        // which connects only to addresses a tenant's remote may reach.
        let proxy = crate::source::egress::proxy_url(self.rule);
        let limit = self.request_timeout;
        if !(self.url.starts_with("https://") || self.url.starts_with("http://"))
            || (limit.is_none() && proxy.is_none())
        {
            return None;
        }
        let mut options = repo
            .transport_options(self.url.as_str(), None)
            .ok()
            .flatten()
            .unwrap_or_else(|| Box::new(http::Options::default()));
        let http_options = options.downcast_mut::<http::Options>()?;
        let backend = http::reqwest::Options {
            configure_client: Some(Box::new(move |builder| {
                let builder = match limit {
                    Some(limit) => builder.timeout(limit),
                    None => builder,
                };
                Ok(match &proxy {
                    Some(url) => {
                        builder.proxy(reqwest::Proxy::all(url.as_str()).map_err(gix::Exn::from)?)
                    }
                    None => builder,
                })
            })),
            configure_request: None,
        };
        http_options.backend = Some(std::sync::Arc::new(std::sync::Mutex::new(backend)));
        Some(options)
    }

    /// Opens the cache repository, creating it on first use.
    pub fn open(&self) -> Result<gix::Repository, GitError> {
        if self.repo_dir.join(".git").join("HEAD").is_file() {
            return gix::open(&self.repo_dir)
                .map_err(|e| self.error("opening the cached repository", e));
        }
        std::fs::create_dir_all(&self.repo_dir)
            .map_err(|e| self.error("creating the cache directory", e))?;
        gix::init(&self.repo_dir).map_err(|e| self.error("creating the cached repository", e))
    }

    /// Fetches the followed ref (blocking: run it on a blocking thread). `interrupt` aborts a
    /// transfer in progress.
    pub fn fetch(&self, interrupt: &Interrupt) -> Result<Fetched, GitError> {
        if let Some(policy) = crate::source::address::confined() {
            // `host:path` is ssh to `host`.
            let url = if matches!(GitUrl::parse(&self.url), GitUrl::Scp { .. }) {
                format!("ssh://{}", self.url.replacen(':', "/", 1))
            } else {
                self.url.clone()
            };
            policy
                .check_url(self.rule, &url)
                .map_err(|refused| GitError(self.scrub(&refused.0)))?;
        }
        let repo = self.open()?;
        let spec = format!("+{}:{TRACKING_REF}", self.reference);
        let remote = repo
            .remote_at(self.url.as_str())
            .map_err(|e| self.error(&format!("invalid repository URL {}", self.display), e))?
            .with_refspecs([spec.as_str()], Direction::Fetch)
            .map_err(|e| self.error(&format!("invalid ref {:?}", self.reference), e))?;
        let credentials = self.credentials.clone();
        let connecting = |e: &dyn std::fmt::Display| {
            self.remote_error(&format!("connecting to {}", self.display), e)
        };
        let connection =
            // Our own connection's errors are ours to quote (an address refused, a socket's).
            match daemon_transport(&self.url, interrupt).map_err(|e| {
                self.error(&format!("connecting to {}", self.display), e)
            })? {
                Some(transport) => remote.to_connection_with_transport(transport),
                None => {
                    let connection = remote
                        .connect(Direction::Fetch)
                        .map_err(|e| connecting(&e))?;
                    match self.http_options(&repo) {
                        Some(options) => connection.with_transport_options(options),
                        None => connection,
                    }
                }
            }
            // Only our token, never a credential helper or a prompt: nobody is there to answer.
            .with_credentials(move |action| {
                use gix::credentials::helper::Action;
                Ok(match (action, &credentials) {
                    (Action::Get(context), Some(c)) if over_https(&context) => {
                        Some(gix::credentials::protocol::Outcome {
                            identity: gix::sec::identity::Account {
                                username: c.username.clone(),
                                password: c.token.clone(),
                                oauth_refresh_token: None,
                            },
                            next: context.into(),
                        })
                    }
                    _ => None,
                })
            });
        let mut prepare = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| self.remote_error(&format!("listing refs of {}", self.display), e))?;
        let mapping = prepare
            .ref_map()
            .mappings
            .iter()
            .find(|m| m.local.as_ref().is_some_and(|l| l == TRACKING_REF))
            .map(|m| {
                (
                    m.remote
                        .as_name()
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                    m.remote.as_id().map(|id| id.to_owned()),
                )
            });
        let Some((remote_ref, Some(_))) = mapping else {
            return Err(GitError(self.scrub(&format!(
                "{} has no branch or tag {:?}",
                self.display, self.reference
            ))));
        };
        if self.shallow {
            prepare =
                prepare.with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::MIN));
        }
        prepare
            .receive(gix::progress::Discard, interrupt.flag())
            .map_err(|e| {
                self.remote_error(
                    &format!("fetching {} from {}", self.reference, self.display),
                    e,
                )
            })?;

        let repo = gix::open(&self.repo_dir)
            .map_err(|e| self.error("opening the cached repository", e))?;
        let mut tracking = repo
            .find_reference(TRACKING_REF)
            .map_err(|e| self.error("reading the fetched ref", e))?;
        let commit = tracking
            .peel_to_commit()
            .map_err(|e| self.error(&format!("{remote_ref} does not point to a commit"), e))?;
        Ok(Fetched {
            commit: commit.id,
            remote_ref,
        })
    }
}

/// The `user:password` part of `scheme://user:password@host/...`.
fn userinfo(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    Some(&authority[..authority.rfind('@')?])
}

/// Local paths become absolute, so the cache key does not depend on the working directory.
fn normalize_local(url: &str) -> String {
    if GitUrl::parse(url).is_remote() {
        return url.to_string();
    }
    std::fs::canonicalize(url)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| url.to_string())
}

/// What failed in a conversation with a remote, read from gix's message (which may quote the
/// server) and said in words of our own.
fn remote_failure(message: &str) -> String {
    if let Some(refusal) = crate::source::egress::refusal_in(message) {
        return refusal;
    }
    let lower = message.to_ascii_lowercase();
    if let Some(code) = lower
        .split_once("received http status ")
        .map(|(_, rest)| rest.chars().take(3).collect::<String>())
        .filter(|code| code.len() == 3 && code.chars().all(|c| c.is_ascii_digit()))
    {
        return format!("the server answered HTTP {code}");
    }
    let classes: &[(&[&str], &str)] = &[
        (&["connection refused"], "the connection was refused"),
        (
            &[
                "failed to lookup",
                "dns error",
                "no such host",
                "name or service not known",
            ],
            "the host name does not resolve",
        ),
        (
            &["timed out", "timeout"],
            "the server did not answer in time",
        ),
        (
            &["certificate", "tls", "ssl"],
            "the TLS handshake failed (the server's certificate is not trusted or not valid)",
        ),
        (
            &["authentication", "credentials", "unauthorized"],
            "the server refused the credentials",
        ),
        (&["interrupted", "cancelled"], "the fetch was interrupted"),
        (
            &["connection reset", "broken pipe", "unexpected end", "eof"],
            "the connection closed before a complete answer",
        ),
        (
            &["handshake failed"],
            "the server did not complete git's handshake (it refused the request, or does not \
             speak git)",
        ),
    ];
    for (markers, reason) in classes {
        if markers.iter().any(|m| lower.contains(m)) {
            return (*reason).to_string();
        }
    }
    "the remote refused or failed the request; its message is not shown, as it may quote what \
     the server sent (run `git ls-remote` on the URL to see it)"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_keyed_by_url_and_named_after_the_repository() {
        let dir = Path::new("/cache");
        let a = GitSource::new("git://h/platform.git", "main", dir, None).unwrap();
        let b = GitSource::new("git://other/platform.git", "main", dir, None).unwrap();
        assert!(a.repo_dir().starts_with("/cache/repositories"));
        let name = a
            .repo_dir()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with("platform-"), "{name}");
        assert_ne!(a.repo_dir(), b.repo_dir());
    }

    #[test]
    fn credentials_are_offered_over_https_only() {
        use gix::credentials::protocol::Context;
        let asked = |protocol: Option<&str>, url: Option<&str>| Context {
            protocol: protocol.map(str::to_string),
            url: url.map(Into::into),
            ..Default::default()
        };
        assert!(over_https(&asked(Some("https"), Some("https://h/r.git"))));
        assert!(over_https(&asked(None, Some("HTTPS://h/r.git"))));
        assert!(!over_https(&asked(Some("http"), Some("http://h/r.git"))));
        assert!(!over_https(&asked(Some("https"), Some("http://h/r.git"))));
        assert!(!over_https(&asked(None, Some("http://h/r.git"))));
        assert!(!over_https(&asked(None, None)));
    }

    #[test]
    fn credentials_never_reach_messages() {
        let s = GitSource::new(
            "https://user:s3cret-token@example.com/org/repo.git",
            "main",
            Path::new("/cache"),
            Some(Credentials {
                username: "x-access-token".into(),
                token: "tok-from-file".into(),
            }),
        )
        .unwrap();
        assert_eq!(s.display_url(), "https://***@example.com/org/repo.git");
        let e = s.error(
            "connecting",
            "https://user:s3cret-token@example.com/org/repo.git refused tok-from-file",
        );
        assert!(
            !e.0.contains("s3cret") && !e.0.contains("tok-from-file"),
            "{}",
            e.0
        );
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn a_remotes_own_words_never_reach_the_message() {
        let canary = "canary-5b1d";
        for (gix, class) in [
            (
                format!("Transport handshake failed\n0: Io(Custom {{ error: \"{canary}\" }})"),
                "handshake",
            ),
            (format!("Received HTTP status 403 ({canary})"), "HTTP 403"),
            (
                format!("Connection refused (os error 111) {canary}"),
                "refused",
            ),
            (canary.to_string(), "not shown"),
        ] {
            let said = remote_failure(&gix);
            assert!(
                said.contains(class) && !said.contains(canary),
                "{gix}: {said}"
            );
        }
    }
}
