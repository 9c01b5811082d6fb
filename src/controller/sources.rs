//! One git cache per repository, ref and credentials, shared by every sync that reads it: a
//! fetch younger than nine tenths of the asking sync's interval is reused, so a thousand syncs
//! of one repository cost about one fetch per interval, not a thousand. (The tenth spares the
//! timers' jitter: a sync due exactly one interval after its own fetch would otherwise find
//! that fetch a few milliseconds too young, reuse it, and see a new commit an interval late.)
//!
//! A fetch that finds a new commit tells every other sync following that cache at once (they
//! are woken, see [`Sources::take_news`]): a sync that reused the previous fetch moments before
//! the push would otherwise wait a second interval, so a commit reached every sync only within
//! twice the interval. Now it reaches them all within one interval of being pushed, at the cost
//! of the same one fetch.
//!
//! Credentials are part of the key: a sync without them never reads a private repository
//! through a cache another namespace's token filled.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::crd::GitSync;

use crate::source::git::{Credentials, Fetched, GitError, GitSource, Interrupt};
use crate::source::git_url::GitUrl;

/// Why a sync may not name a repository URL. The URL is shown scrubbed of credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "spec.repository.url {url}: file:// URLs and local paths are off in this controller \
         (they would read the controller's own disk); an operator may allow them with \
         --allow-file-sources"
    )]
    FilesOff { url: String },
    #[error(
        "spec.repository.url {url}: the path is inside the controller's git caches, which \
         hold other syncs' repositories"
    )]
    InsideCaches { url: String },
}

/// Why a fetch gave no commit; every message is free of credentials.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Git(#[from] GitError),
    /// The blocking fetch task panicked or was cancelled.
    #[error(transparent)]
    Stopped(#[from] tokio::task::JoinError),
    #[error("fetching {url} timed out after {}", humantime::format_duration(*.after))]
    TimedOut { url: String, after: Duration },
}

/// What identifies one cache: the URL, the ref, and whose credentials fill it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceKey {
    pub url: String,
    pub reference: String,
    /// `namespace/name` of the credentials Secret, if any.
    pub credentials: Option<String>,
}

impl SourceKey {
    fn directory(&self) -> String {
        let digest = Sha256::digest(
            format!(
                "{}\n{}\n{}",
                self.url,
                self.reference,
                self.credentials.as_deref().unwrap_or_default()
            )
            .as_bytes(),
        );
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// A fetch that succeeded, and when it started.
#[derive(Debug, Clone)]
struct LastFetch {
    fetched: Fetched,
    started: Instant,
}

/// One repository cache; fetches are serialised, reads of fetched commits are not.
pub struct Source {
    pub git: GitSource,
    key: SourceKey,
    last: tokio::sync::Mutex<Option<LastFetch>>,
}

/// Every cache of the controller.
pub struct Sources {
    root: PathBuf,
    fetch_timeout: Duration,
    /// `file://` URLs and local paths may be synced (`--allow-file-sources`).
    allow_files: bool,
    caches: Mutex<HashMap<SourceKey, Arc<Source>>>,
    fetches: std::sync::atomic::AtomicU64,
    /// Which cache each sync (`namespace/name`) last read.
    followers: Mutex<HashMap<String, (SourceKey, ObjectRef<GitSync>)>>,
    /// Syncs whose cache fetched a new commit they have not been told of.
    news: Mutex<HashMap<String, gix::ObjectId>>,
    /// Where those syncs are woken.
    wake: Option<mpsc::Sender<ObjectRef<GitSync>>>,
}

impl Sources {
    pub fn new(root: PathBuf, fetch_timeout: Duration) -> Self {
        Sources {
            root,
            fetch_timeout,
            allow_files: false,
            caches: Mutex::default(),
            fetches: Default::default(),
            followers: Mutex::default(),
            news: Mutex::default(),
            wake: None,
        }
    }

    /// Wakes syncs on `wake` when their cache fetched a new commit.
    pub fn waking(mut self, wake: mpsc::Sender<ObjectRef<GitSync>>) -> Self {
        self.wake = Some(wake);
        self
    }

    /// Records that `sync` reads the cache of `key`.
    pub fn follow(&self, key: &SourceKey, sync: &GitSync) {
        let mut followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        followers.insert(sync.key(), (key.clone(), ObjectRef::from(sync)));
    }

    /// Forgets syncs not in `alive` (deleted, moved to another shard).
    pub fn retain(&self, alive: &std::collections::HashSet<String>) {
        let mut followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        followers.retain(|k, _| alive.contains(k));
        let mut news = self.news.lock().unwrap_or_else(|p| p.into_inner());
        news.retain(|k, _| alive.contains(k));
    }

    /// The new commit `sync`'s cache fetched since it was last told, if any (and forgets it).
    pub fn take_news(&self, sync: &str) -> Option<gix::ObjectId> {
        self.news
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sync)
    }

    /// Tells every sync following `key` (but `fetcher`, which applies it itself) of `commit`.
    fn announce(&self, key: &SourceKey, commit: gix::ObjectId, fetcher: &str) {
        let told: Vec<ObjectRef<GitSync>> = {
            let followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
            let mut news = self.news.lock().unwrap_or_else(|p| p.into_inner());
            followers
                .iter()
                .filter(|(sync, (followed, _))| followed == key && sync.as_str() != fetcher)
                .map(|(sync, (_, target))| {
                    news.insert(sync.clone(), commit);
                    target.clone()
                })
                .collect()
        };
        if let Some(wake) = &self.wake {
            for target in told {
                // A full queue only delays: the news waits for the sync's own next reconcile.
                let _ = wake.try_send(target);
            }
        }
    }

    /// Lets syncs name `file://` URLs and local paths (never inside these caches).
    pub fn allowing_files(mut self, allow: bool) -> Self {
        self.allow_files = allow;
        self
    }

    /// Whether a sync may name `url`. A `file://` URL or a local path reads whatever the
    /// controller can read, another sync's cache of a private repository included: refused
    /// unless the operator allowed such sources, and inside the caches always. (Hosts are
    /// checked when fetched, after resolution: `source::git`.)
    pub fn admit(&self, url: &str) -> Result<(), Refused> {
        let path = match url.strip_prefix("file://") {
            Some(path) => std::path::Path::new(path).to_path_buf(),
            None if GitUrl::parse(url).is_remote() => return Ok(()),
            None => PathBuf::from(url),
        };
        if !self.allow_files {
            return Err(Refused::FilesOff {
                url: crate::scrub::url(url),
            });
        }
        // A path that does not exist cannot be fetched; folded lexically, it is still judged.
        let physical = |p: &std::path::Path| {
            std::fs::canonicalize(p).unwrap_or_else(|_| {
                let absolute = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
                crate::source::confine::lexical_target(std::path::Path::new("/"), &absolute)
            })
        };
        if physical(&path).starts_with(physical(&self.root)) {
            return Err(Refused::InsideCaches {
                url: crate::scrub::url(url),
            });
        }
        Ok(())
    }

    /// The cache for `key`, created on first use. Each key has a directory of its own (two refs
    /// of one repository never share a tracking ref).
    pub fn get(
        &self,
        key: &SourceKey,
        credentials: Option<Credentials>,
    ) -> Result<Arc<Source>, GitError> {
        let mut caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(source) = caches.get(key) {
            return Ok(source.clone());
        }
        let dir = self.root.join(key.directory());
        let git = GitSource::new(&key.url, &key.reference, &dir, credentials)?
            .with_request_timeout(self.fetch_timeout);
        let source = Arc::new(Source {
            git,
            key: key.clone(),
            last: tokio::sync::Mutex::new(None),
        });
        caches.insert(key.clone(), source.clone());
        Ok(source)
    }

    /// Fetches made so far (the benchmark's "fetches per interval").
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The commit `source`'s ref points to, fetching only when the last fetch started more
    /// than nine tenths of `max_age` ago (or before `not_before`, a reconcile a user
    /// requested). A fetch that
    /// finds a commit other than the last one's is announced to the cache's other followers
    /// (all but `fetcher`, `namespace/name`).
    pub async fn fetch(
        &self,
        source: &Arc<Source>,
        max_age: Duration,
        not_before: Option<Instant>,
        fetcher: &str,
    ) -> Result<Fetched, FetchError> {
        let mut last = source.last.lock().await;
        if let Some(previous) = last.as_ref() {
            let fresh = previous.started.elapsed() < max_age.mul_f64(0.9)
                && not_before.is_none_or(|at| previous.started >= at);
            if fresh {
                return Ok(previous.fetched.clone());
            }
        }
        let started = Instant::now();
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fetched = self.fetch_now(source).await?;
        let moved = last
            .as_ref()
            .is_some_and(|previous| previous.fetched.commit != fetched.commit);
        *last = Some(LastFetch {
            fetched: fetched.clone(),
            started,
        });
        drop(last);
        if moved {
            self.announce(&source.key, fetched.commit, fetcher);
        }
        Ok(fetched)
    }

    /// Whether `source` was fetched by this process (a cache left on disk by an earlier one
    /// may lack the commits its syncs last applied).
    pub async fn fetched(&self, source: &Arc<Source>) -> bool {
        source.last.lock().await.is_some()
    }

    async fn fetch_now(&self, source: &Arc<Source>) -> Result<Fetched, FetchError> {
        let interrupt = Arc::new(Interrupt::default());
        let flag = interrupt.clone();
        let this = source.clone();
        let task = tokio::task::spawn_blocking(move || this.git.fetch(&flag));
        match tokio::time::timeout(self.fetch_timeout, task).await {
            Ok(Ok(result)) => Ok(result?),
            Ok(Err(join)) => Err(join.into()),
            Err(_) => {
                interrupt.trigger();
                Err(FetchError::TimedOut {
                    url: source.git.display_url().to_string(),
                    after: self.fetch_timeout,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(url: &str, reference: &str, credentials: Option<&str>) -> SourceKey {
        SourceKey {
            url: url.into(),
            reference: reference.into(),
            credentials: credentials.map(str::to_string),
        }
    }

    #[test]
    fn syncs_of_one_repository_and_ref_share_a_cache_and_others_do_not() {
        let sources = Sources::new("/cache".into(), Duration::from_secs(5));
        let a = sources
            .get(&key("git://h/r.git", "main", None), None)
            .unwrap();
        let b = sources
            .get(&key("git://h/r.git", "main", None), None)
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let other_ref = sources
            .get(&key("git://h/r.git", "v1", None), None)
            .unwrap();
        let other_credentials = sources
            .get(&key("git://h/r.git", "main", Some("team-a/git")), None)
            .unwrap();
        for other in [&other_ref, &other_credentials] {
            assert!(!Arc::ptr_eq(&a, other));
            assert_ne!(a.git.repo_dir(), other.git.repo_dir());
        }
    }

    #[test]
    fn file_sources_are_refused_unless_allowed_and_never_reach_the_caches() {
        let root = tempfile::tempdir().unwrap();
        let cache = root.path().join("controller");
        std::fs::create_dir_all(cache.join("0123/repositories/app-abc")).unwrap();
        let strict = Sources::new(cache.clone(), Duration::from_secs(5));
        let inside = format!("file://{}/0123/repositories/app-abc", cache.display());
        let elsewhere = root.path().join("repo");
        for url in [inside.as_str(), &elsewhere.to_string_lossy(), "./repo"] {
            let refused = strict.admit(url).unwrap_err();
            assert!(matches!(refused, Refused::FilesOff { .. }), "{refused}");
            assert!(refused.to_string().contains("--allow-file-sources"));
        }
        let relaxed = Sources::new(cache.clone(), Duration::from_secs(5)).allowing_files(true);
        let refused = relaxed.admit(&inside).unwrap_err();
        assert!(matches!(refused, Refused::InsideCaches { .. }), "{refused}");
        assert!(refused.to_string().contains("caches"));
        let sneaky = format!("file://{}/../controller/0123", cache.display());
        assert!(relaxed.admit(&sneaky).is_err());
        assert_eq!(
            relaxed.admit(&format!("file://{}", elsewhere.display())),
            Ok(())
        );
        for remote in ["https://h/r.git", "git://h/r.git", "git@h:org/r.git"] {
            assert_eq!(strict.admit(remote), Ok(()));
        }
    }
}
