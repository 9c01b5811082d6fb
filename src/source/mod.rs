//! Source: a path in a git working tree (or a plain directory) -> the files to render.
//!
//! The working tree is read as the user sees it: tracked files with their uncommitted edits and
//! untracked files that `.gitignore` does not exclude. Nothing outside the repository is ever
//! read: a symlink or path escaping it is an error naming the file. File and total sizes are
//! capped so a hostile repository cannot exhaust memory.
//!
//! A revision (`--ref`) is read from the repository's object database instead, with the same
//! filter, caps and symlink confinement; see [`read_revision`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tempfile::TempDir;

pub mod address;
pub mod confine;
pub mod egress;
pub mod git;
pub mod git_url;
mod plain;
mod read;
pub mod redact;
mod remote;
mod revision;
pub mod tree;
mod worktree;

pub use remote::{absolute_local_path, default_remote_url, head_commit};

#[cfg(test)]
mod tests;

/// Where a snapshot's files came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceOrigin {
    /// The git repository at `repo_root`: its working tree, or one of its revisions when
    /// [`Snapshot::revision`] is set.
    Worktree { repo_root: PathBuf },
    /// A directory outside any git repository, read as plain files.
    PlainDirectory,
}

/// Caps on what a source may read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest single file read, in bytes.
    pub max_file_bytes: u64,
    /// Largest sum of all files read, in bytes.
    pub max_total_bytes: u64,
    /// Most files read.
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 16 * 1024 * 1024,
            max_total_bytes: 256 * 1024 * 1024,
            max_files: 50_000,
        }
    }
}

/// The files under the user's PATH, ready to render.
#[derive(Debug)]
pub struct Snapshot {
    /// The directory the user asked for, absolute and canonical. It exists on disk, so
    /// kustomize can be run inside it.
    pub root: PathBuf,
    /// `root` relative to the repository root ("" when PATH is the repository root or the
    /// source is a plain directory); prefixed to file names in messages so they read the same
    /// wherever the command runs.
    pub display_prefix: PathBuf,
    pub origin: SourceOrigin,
    /// Manifest candidates under `root` (`*.yaml`, `*.yml`, `*.json` and files named
    /// `Kustomization`), keyed by path relative to `root`, with their bytes.
    pub files: BTreeMap<PathBuf, Vec<u8>>,
    /// The revision the files were read from; `None` for the working tree or a plain directory.
    pub revision: Option<Revision>,
    /// A revision's files written to a temporary directory holding `root`, kept on disk for as
    /// long as any snapshot sharing it lives and removed afterwards. `None` when `root` is the
    /// user's own directory.
    materialised: Option<Arc<TempDir>>,
}

impl Snapshot {
    /// A snapshot of files that already sit under `root` on disk (the working tree, a plain
    /// directory, or a test's temporary directory).
    pub fn new(
        root: PathBuf,
        display_prefix: PathBuf,
        origin: SourceOrigin,
        files: BTreeMap<PathBuf, Vec<u8>>,
    ) -> Self {
        Snapshot {
            root,
            display_prefix,
            origin,
            files,
            revision: None,
            materialised: None,
        }
    }

    /// True when `root` is a temporary copy of a revision rather than the user's directory.
    pub fn is_materialised(&self) -> bool {
        self.materialised.is_some()
    }
}

/// A commit the snapshot was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The revision as the user spelled it (`main`, `v1.2`, `HEAD~2`).
    pub spec: String,
    /// The commit it resolved to, as a full hexadecimal id.
    pub commit: String,
}

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// PATH does not exist or is not a directory.
    #[error("{path}: not a directory (PATH is the directory holding your manifests)")]
    NotADirectory { path: PathBuf },
    /// A symlink or path that resolves outside the repository (or the plain directory).
    #[error("{path}: points outside the repository ({target}); refusing to follow it")]
    EscapesRepository { path: PathBuf, target: PathBuf },
    /// One file above `Limits::max_file_bytes`.
    #[error("{path}: {size} bytes is over the {limit}-byte limit for one file")]
    FileTooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    /// The sum of files above `Limits::max_total_bytes`.
    #[error("the manifests under {root} exceed the {limit}-byte total limit")]
    TotalTooLarge { root: PathBuf, limit: u64 },
    /// More files than `Limits::max_files`.
    #[error("more than {limit} files to read under {root}")]
    TooManyFiles { root: PathBuf, limit: usize },
    /// Reading a file or directory failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The git repository could not be opened or walked.
    #[error("{path}: git: {message}")]
    Git { path: PathBuf, message: String },
    /// A revision's tree that the copy for kustomize and helm cannot hold safely: two entries
    /// of one name, or a symlink leaving the repository. `path` is in the repository.
    #[error("{path}: refusing the tree of revision {}: {reason}", revision_shown(.rev, .commit))]
    UnsafeTree {
        path: PathBuf,
        rev: String,
        commit: String,
        reason: String,
    },
    /// A revision that does not name a commit of the repository.
    #[error("unknown revision `{rev}` in the repository at {repo}: {reason}")]
    UnknownRevision {
        rev: String,
        repo: PathBuf,
        reason: String,
    },
}

/// `main (commit 1a2b…)`, or the commit alone when that is how the revision was given.
fn revision_shown(rev: &str, commit: &str) -> String {
    if rev == commit {
        commit.to_string()
    } else {
        format!("{rev} (commit {commit})")
    }
}

/// True for file names render loads: `*.yaml`, `*.yml`, `*.json`, `Kustomization`.
pub fn is_manifest_candidate(path: &Path) -> bool {
    if path.file_name().is_some_and(|n| n == "Kustomization") {
        return true;
    }
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Reads the manifests under `path` as the user sees them.
///
/// Inside a git repository this is the working tree: tracked files as they are on disk
/// (uncommitted edits included, files deleted from disk left out) and untracked files that
/// `.gitignore` does not exclude. Outside any repository `path` is read as a plain directory.
/// Only manifest candidates ([`is_manifest_candidate`]) are read.
///
/// Symlinks: a candidate that is a symlink is read through it when its target is a regular
/// file inside the repository (plain directory: inside `path`), and is an
/// [`SourceError::EscapesRepository`] when it points anywhere else or into a `.git`
/// directory. Symlinked directories are never descended into, wherever they point: git records
/// them as links rather than as the files behind them, so following them would show the user
/// files their repository does not contain (and could loop).
///
/// Errors about one file name it relative to the repository root (plain directory: to `path`),
/// like [`Snapshot::display_prefix`]; errors about the tree as a whole name `path` as given.
pub fn read_working_tree(path: &Path, limits: &Limits) -> Result<Snapshot, SourceError> {
    let root = canonical_directory(path)?;
    match worktree::discover(&root, path)? {
        Some(repo) => worktree::read(&repo, root, path, limits),
        None => plain::read(root, path, limits),
    }
}

/// Reads the manifests under `path` as they are at revision `rev` (a branch, tag, commit id or
/// any expression git understands, e.g. `HEAD~2`), from the repository's object database: the
/// working tree, its edits and its untracked files play no part, and `path` need not exist in
/// the working tree any more. The files are the same as [`read_working_tree`] would read had
/// the commit been checked out: manifest candidates only, file and total sizes capped (a blob's
/// size is checked from its header before it is decoded), symlinks followed inside the commit's
/// tree and refused with [`SourceError::EscapesRepository`] when they leave it or point into
/// `.git`. Blobs are read as stored: no clean/smudge filters or line-ending conversion.
///
/// So that kustomize can read them, the files are also written to a temporary directory owned
/// by the snapshot and removed when it is dropped; [`Snapshot::root`] points inside it. When a
/// kustomization is among the candidates the whole tree of the commit is written (kustomize may
/// reach `../base` anywhere in the repository), counting towards the caps; otherwise only the
/// candidates are. Symlinks in that copy point to their resolved target inside the copy.
///
/// The tree is checked as hostile input before and after it is written:
/// [`SourceError::UnsafeTree`] when a tree read holds two entries of one name, when a symlink
/// anywhere in the copied tree leaves the repository or points into `.git`, or when anything
/// written would land on something already there or resolve outside the copy.
///
/// Errors: [`SourceError::UnknownRevision`] when `rev` names no commit,
/// [`SourceError::NotADirectory`] when `path` is not a directory at that commit, and
/// [`SourceError::Git`] when `path` is not inside a repository with a working tree.
pub fn read_revision(path: &Path, rev: &str, limits: &Limits) -> Result<Snapshot, SourceError> {
    revision::read(path, rev, limits)
}

/// `path` made absolute and free of symlinks, so paths inside it can be compared by prefix.
fn canonical_directory(path: &Path) -> Result<PathBuf, SourceError> {
    let not_a_directory = || SourceError::NotADirectory {
        path: path.to_path_buf(),
    };
    let root = match std::fs::canonicalize(path) {
        Ok(root) => root,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_a_directory()),
        Err(source) => {
            return Err(SourceError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if root.is_dir() {
        Ok(root)
    } else {
        Err(not_a_directory())
    }
}
