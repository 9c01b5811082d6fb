//! Source: a path in a git working tree (or a plain directory) -> the files to render.
//!
//! The working tree is read as the user sees it: tracked files with their uncommitted edits and
//! untracked files that `.gitignore` does not exclude. Nothing outside the repository is ever
//! read: a symlink or path escaping it is an error naming the file. File and total sizes are
//! capped so a hostile repository cannot exhaust memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub mod confine;
mod plain;
mod read;
mod worktree;

#[cfg(test)]
mod tests;

/// Where a snapshot's files came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceOrigin {
    /// The working tree of the git repository at `repo_root`.
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
    #[error("more than {limit} manifest files under {root}")]
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
