//! Fetches the remote bases of a kustomization build, when they are allowed, so kustomize
//! builds them offline: kustomize never runs git.
//!
//! In the build's sandbox the repository is copied to `tree/NAME`; each remote base's
//! repository is fetched with our git client (`source::git`, shallow, no credential sent:
//! a private base is reached over ssh with the user's own keys) and its commit written by the
//! same defensive materializer as any revision (`source::read_revision`: no repeated names, no
//! link leaving the tree), then copied to `tree/.remote/N`. The guard walks each fetched base
//! as it walks the repository, its own tree as the boundary, and the remote bases it names in
//! turn are fetched the same way (a repository at one revision once, a cycle refused, the depth
//! and count bounded). Every
//! kustomization naming a remote base is then rewritten in the copy, the URL replaced by the
//! relative path to the fetched directory, written back as JSON from exactly what kustomize
//! would read (`kustomization_file`). kustomize builds the copy; origins inside a fetched base
//! name its repository and commit (`Fetched::place`).

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::RemoteBases;
use super::RemoteRevision;
use super::error::RenderError;
use super::helm::workspace::{CopyError, Workspace};
use super::kustomization_file;
use super::kustomize_guard::{self, RemoteUse};
use super::limits::Budget;
use super::remote_base::RemoteBase;

/// Remote bases built on remote bases, at most this deep.
const MAX_DEPTH: usize = 8;

/// Most repository revisions one build fetches.
const MAX_BASES: usize = 32;

/// Where fetched bases sit, beside the repository's copy.
const REMOTE_DIR: &str = ".remote";

/// The repository's copy with every remote base fetched beside it; removed when dropped.
pub(crate) struct Fetched {
    workspace: Workspace,
    /// `tree`, holding the copy and the fetched bases: the boundary of the build.
    tree: PathBuf,
    /// The copy of the repository root.
    copy: PathBuf,
    /// The repository root, canonical.
    original: PathBuf,
    bases: Vec<FetchedBase>,
}

/// One fetched repository revision.
struct FetchedBase {
    /// Its copy's root, canonical.
    root: PathBuf,
    revision: RemoteRevision,
}

/// Where a path of the build lies.
pub(crate) enum Place<'a> {
    /// In the repository: the same path in the repository itself.
    Repository(PathBuf),
    /// In a remote base: the path inside its repository, and the revision fetched.
    Remote(PathBuf, &'a RemoteRevision),
}

impl Fetched {
    pub fn sandbox(&self) -> &Workspace {
        &self.workspace
    }

    /// The boundary of the build: no reference may leave it.
    pub fn tree(&self) -> &Path {
        &self.tree
    }

    /// `path` (inside the repository on disk) in the copy.
    pub fn in_copy(&self, path: &Path) -> Option<PathBuf> {
        let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        Some(self.copy.join(path.strip_prefix(&self.original).ok()?))
    }

    /// Where `path`, a path of the build, lies.
    pub fn place(&self, path: &Path) -> Option<Place<'_>> {
        if let Ok(inside) = path.strip_prefix(&self.copy) {
            return Some(Place::Repository(self.original.join(inside)));
        }
        let base = self.bases.iter().find(|b| path.starts_with(&b.root))?;
        let inside = path.strip_prefix(&base.root).ok()?;
        Some(Place::Remote(inside.to_path_buf(), &base.revision))
    }

    /// `path` as messages show it: relative to the repository root, or `REPOSITORY//PATH`.
    pub fn shown(&self, path: &Path) -> PathBuf {
        match self.place(path) {
            Some(Place::Repository(original)) => original
                .strip_prefix(&self.original)
                .map(Path::to_path_buf)
                .unwrap_or(original),
            Some(Place::Remote(inside, revision)) => {
                PathBuf::from(format!("{}//{}", revision.repository, inside.display()))
            }
            None => path.to_path_buf(),
        }
    }

    /// A message of kustomize's with the copy's paths put back to the repository's.
    pub fn restore_paths(&self, message: &str) -> String {
        message.replace(
            &*self.copy.to_string_lossy(),
            &self.original.to_string_lossy(),
        )
    }
}

/// Copies the repository at `repo_root` and fetches every remote base the kustomization in
/// `dir` builds on, directly or through other bases.
pub(crate) fn fetch(repo_root: &Path, dir: &Path, budget: &Budget) -> Result<Fetched, RenderError> {
    let original = repo_root
        .canonicalize()
        .unwrap_or_else(|_| repo_root.to_path_buf());
    let shown_dir = dir.strip_prefix(&original).unwrap_or(dir).to_path_buf();
    let setup = |reason: String| RenderError::KustomizeFailed {
        place: shown_dir.clone(),
        message: reason,
    };
    let workspace =
        Workspace::new().map_err(|e| setup(format!("cannot create the build's sandbox: {e}")))?;
    let name = original
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "repository".into());
    let tree = workspace.path().join("tree");
    let copy = tree.join(name);
    workspace
        .copy_dir(&original, &copy, &original)
        .map_err(|reason| setup(format!("cannot copy the repository: {reason}")))?;
    let tree = tree.canonicalize().unwrap_or(tree);
    let copy = copy.canonicalize().unwrap_or(copy);
    let mut fetched = Fetched {
        workspace,
        tree,
        copy,
        original,
        bases: Vec::new(),
    };
    let start = fetched
        .in_copy(dir)
        .ok_or_else(|| setup("the kustomization is outside the repository".into()))?;
    let shown = |p: &Path| fetched.shown(p);
    let first = kustomize_guard::check(&start, &fetched.copy, &shown, RemoteBases::Fetched)?;

    // Each use with the chain of bases that led to it.
    let mut pending: Vec<(RemoteUse, Vec<Key>)> = first
        .remote_bases
        .into_iter()
        .map(|u| (u, Vec::new()))
        .collect();
    // A repository at one revision is fetched once, whichever of its directories are bases;
    // each directory is walked once.
    let mut trees: HashMap<(String, Option<String>), usize> = HashMap::new();
    let mut walked: HashSet<Key> = HashSet::new();
    let mut rewrites: Vec<(RemoteUse, PathBuf)> = Vec::new();
    while let Some((used, chain)) = pending.pop() {
        let failed = |reason: String| RenderError::RemoteBase {
            file: used.file.clone(),
            field: used.field.clone(),
            base: used.base.shown(),
            reason,
        };
        let key = used.base.key();
        if chain.contains(&key) {
            return Err(failed(
                "is one of the bases it is built from: the bases form a cycle".into(),
            ));
        }
        if chain.len() >= MAX_DEPTH {
            return Err(failed(format!(
                "is more than {MAX_DEPTH} remote bases deep; vendor some of them"
            )));
        }
        let revision_key = (key.0.clone(), key.1.clone());
        let index = match trees.get(&revision_key) {
            Some(&index) => index,
            None => {
                if fetched.bases.len() >= MAX_BASES {
                    return Err(failed(format!(
                        "is past the {MAX_BASES} remote repositories one build may fetch"
                    )));
                }
                let index = fetched.bases.len();
                let root = fetched.tree.join(REMOTE_DIR).join(index.to_string());
                let revision = fetch_one(&used.base, &root, &fetched.workspace, budget)
                    .map_err(|e| failed(e.to_string()))?;
                let root = root.canonicalize().unwrap_or(root);
                fetched.bases.push(FetchedBase { root, revision });
                trees.insert(revision_key, index);
                index
            }
        };
        let target = fetched.bases[index].root.join(&used.base.dir);
        if !target.is_dir() {
            return Err(failed(format!(
                "has no directory {:?} at that revision",
                used.base.dir
            )));
        }
        if walked.insert(key.clone()) {
            let shown = |p: &Path| fetched.shown(p);
            let boundary = fetched.bases[index].root.clone();
            let nested = kustomize_guard::check(&target, &boundary, &shown, RemoteBases::Fetched)?;
            let mut inner = chain.clone();
            inner.push(key);
            pending.extend(nested.remote_bases.into_iter().map(|u| (u, inner.clone())));
        }
        rewrites.push((used, target));
    }
    rewrite(&rewrites)?;
    Ok(fetched)
}

type Key = (String, Option<String>, String);

/// Fetches `base`'s repository at its revision and writes the commit's tree at `to`; the
/// revision fetched.
fn fetch_one(
    base: &RemoteBase,
    to: &Path,
    workspace: &Workspace,
    budget: &Budget,
) -> Result<RemoteRevision, BaseFetchError> {
    if budget.expired() {
        return Err(BaseFetchError::OutOfTime);
    }
    if crate::source::address::confined().is_some() && base.over_ssh() {
        return Err(BaseFetchError::Ssh);
    }
    // gix's https client needs rustls's provider: the reconciler installs it as it starts, a
    // command-line render here (a second install is a no-op).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let reference = base.reference.clone().unwrap_or_else(|| "HEAD".into());
    let source = crate::source::git::GitSource::new(
        &base.repository,
        &reference,
        &workspace.path().join("git"),
        None,
    )?
    .named_by_tree();
    // kustomize's `timeout=` bounds the whole fetch, and so does what the render has left.
    let limit = budget
        .remaining()
        .map_or(base.timeout, |left| left.min(base.timeout));
    let source = source.with_request_timeout(limit);
    let interrupt = std::sync::Arc::new(crate::source::git::Interrupt::default());
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = {
        let interrupt = interrupt.clone();
        std::thread::Builder::new()
            .name("remote-base-deadline".into())
            .spawn(move || {
                if finished.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                    interrupt.trigger();
                }
            })
            .map_err(BaseFetchError::Watchdog)?
    };
    let found = source.fetch(&interrupt);
    drop(done);
    let _ = watchdog.join();
    let found = found.map_err(|e| {
        if interrupt.is_triggered() {
            BaseFetchError::Stopped { after: limit }
        } else {
            BaseFetchError::Git(e)
        }
    })?;
    let commit = found.commit.to_string();
    let snapshot = crate::source::read_revision(
        &source.repo_dir().join(&base.dir),
        &commit,
        &crate::source::Limits::default(),
    )
    .map_err(|source_error| BaseFetchError::Tree {
        repo_dir: source.repo_dir().to_path_buf(),
        source: source_error,
    })?;
    // The copy of the commit's tree: the snapshot's root less the base's directory.
    let mut written = snapshot.root.clone();
    for _ in Path::new(&base.dir).components() {
        written.pop();
    }
    if base.submodules && written.join(".gitmodules").exists() {
        return Err(BaseFetchError::Submodules);
    }
    // Links were followed and checked by the materializer; the copy holds none.
    workspace.copy_dir(&written, to, &written)?;
    Ok(RemoteRevision {
        repository: base.shown_repository(),
        reference: base.reference.clone(),
        commit,
    })
}

/// Why a remote base was not fetched; each message follows the base's address.
#[derive(Debug, thiserror::Error)]
enum BaseFetchError {
    #[error("the render's time ran out before it could be fetched")]
    OutOfTime,
    #[error(
        "is reached over ssh, which the controller does not fetch (its fetches go through its \
         checked proxy): use an https URL"
    )]
    Ssh,
    #[error(transparent)]
    Git(#[from] crate::source::git::GitError),
    #[error("cannot watch the fetch's deadline: {0}")]
    Watchdog(std::io::Error),
    #[error(
        "the fetch was stopped after {} (the URL's `timeout=`, or what the render had left)",
        humantime::format_duration(*.after)
    )]
    Stopped { after: std::time::Duration },
    /// The materializer's refusal, said without the fetch's cache directory.
    #[error("its tree is refused: {}", tree_refusal(source, repo_dir))]
    Tree {
        repo_dir: PathBuf,
        source: crate::source::SourceError,
    },
    #[error(
        "its repository has submodules, which are not fetched: add `submodules=false` to the \
         URL if the base does not need them, or vendor it"
    )]
    Submodules,
    #[error(transparent)]
    Copy(#[from] CopyError),
}

/// The materializer's refusal, with the fetch's cache directory taken out of it.
fn tree_refusal(error: &crate::source::SourceError, repo_dir: &Path) -> String {
    let message = error.to_string().replace(&*repo_dir.to_string_lossy(), "");
    message.trim_start_matches(['/', ':', ' ']).to_string()
}

/// Replaces each remote base's URL by the relative path to its fetched directory, in the
/// kustomization naming it.
fn rewrite(rewrites: &[(RemoteUse, PathBuf)]) -> Result<(), RenderError> {
    let mut by_dir: HashMap<&Path, Vec<&(RemoteUse, PathBuf)>> = HashMap::new();
    for entry in rewrites {
        by_dir.entry(&entry.0.dir).or_default().push(entry);
    }
    for (dir, entries) in by_dir {
        let first = &entries[0].0;
        let failed = |reason: String| RenderError::RemoteBase {
            file: first.file.clone(),
            field: first.field.clone(),
            base: first.base.shown(),
            reason,
        };
        let read = kustomization_file::read(dir)
            .map_err(|e| failed(e.reason))?
            .ok_or_else(|| failed("the kustomization is gone".into()))?;
        let mut doc = read.doc;
        for (used, target) in entries {
            let relative = relative_path(dir, target)
                .ok_or_else(|| failed("the fetched base cannot be named from here".into()))?;
            let slot = entry_mut(&mut doc, &used.field)
                .ok_or_else(|| failed(format!("{} is not in the kustomization", used.field)))?;
            *slot = Value::String(relative.to_string_lossy().into_owned());
        }
        let text = serde_json::to_string_pretty(&doc).map_err(|e| failed(e.to_string()))?;
        std::fs::write(&read.file, text).map_err(|e| failed(e.to_string()))?;
    }
    Ok(())
}

/// The list entry `field` (`resources[2]`) of a kustomization.
fn entry_mut<'a>(doc: &'a mut Value, field: &str) -> Option<&'a mut Value> {
    let (name, rest) = field.split_once('[')?;
    let index: usize = rest.strip_suffix(']')?.parse().ok()?;
    doc.get_mut(name)?.get_mut(index)
}

/// `to` as seen from `from`, both absolute: `../..` up to their common ancestor, then down.
fn relative_path(from: &Path, to: &Path) -> Option<PathBuf> {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let mut relative = PathBuf::new();
    for _ in common..from.len() {
        relative.push("..");
    }
    for component in to.iter().skip(common) {
        relative.push(component.as_os_str());
    }
    if relative.as_os_str().is_empty() {
        relative.push(".");
    }
    Some(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_entry_is_replaced_by_the_path_to_its_fetched_directory() {
        let mut doc = serde_json::json!({"resources": ["../a", "https://h/o/r//x"]});
        *entry_mut(&mut doc, "resources[1]").unwrap() = Value::String("../../.remote/0/x".into());
        assert_eq!(doc["resources"][1], "../../.remote/0/x");
        assert!(entry_mut(&mut doc, "resources[2]").is_none());
        assert_eq!(
            relative_path(
                Path::new("/w/tree/repo/app"),
                Path::new("/w/tree/.remote/0/x")
            ),
            Some(PathBuf::from("../../.remote/0/x"))
        );
    }
}
