//! A commit's files under PATH as a [`Snapshot`], read from the object database (no checkout
//! of the cache repository). The commit's whole tree is written to a private temporary
//! directory so kustomize can follow `../base` references the way it does in a checkout.
//!
//! Trees are untrusted input: entry names that are not plain file names (`..`, `.git`, names
//! with separators) are refused, symlinks are refused rather than followed, submodules are
//! skipped, and the source limits apply.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use gix::ObjectId;
use gix::objs::tree::EntryKind;

use crate::source::{Limits, Snapshot, SourceError, SourceOrigin, is_manifest_candidate};

/// A snapshot and the temporary directory its root lives in (removed on drop).
pub struct RevisionTree {
    pub snapshot: Snapshot,
    _dir: tempfile::TempDir,
}

/// Reads `path` (relative to the repository root; "" for all of it) at `commit`.
pub fn read(
    repo: &gix::Repository,
    commit: ObjectId,
    path: &Path,
    limits: &Limits,
    scratch: &Path,
) -> Result<RevisionTree, SourceError> {
    let git = |message: String| SourceError::Git {
        path: path.to_path_buf(),
        message,
    };
    let tree = repo
        .find_commit(commit)
        .map_err(|e| git(format!("reading commit {commit}: {e}")))?
        .tree()
        .map_err(|e| git(format!("reading the tree of {commit}: {e}")))?;
    let entries = tree
        .traverse()
        .breadthfirst
        .files()
        .map_err(|e| git(format!("walking the tree of {commit}: {e}")))?;

    std::fs::create_dir_all(scratch).map_err(|source| SourceError::Io {
        path: scratch.to_path_buf(),
        source,
    })?;
    let dir = tempfile::Builder::new()
        .prefix("revision-")
        .tempdir_in(scratch)
        .map_err(|source| SourceError::Io {
            path: scratch.to_path_buf(),
            source,
        })?;
    let root = dir.path().to_path_buf();

    let mut files = BTreeMap::new();
    let mut total = 0u64;
    let mut written = 0usize;
    let mut under_path_dir = false;
    for entry in entries {
        let rel = safe_relative(&entry.filepath.to_string()).ok_or_else(|| {
            git(format!(
                "{commit}: unsafe path {:?} in the tree",
                entry.filepath
            ))
        })?;
        let in_path = path.as_os_str().is_empty() || rel.starts_with(path);
        match entry.mode.kind() {
            EntryKind::Tree => {
                under_path_dir |= rel == path;
                continue;
            }
            EntryKind::Commit => continue,
            EntryKind::Link => {
                if in_path && is_manifest_candidate(&rel) {
                    return Err(SourceError::EscapesRepository {
                        path: rel,
                        target: PathBuf::from("(a symlink; not followed when reading a revision)"),
                    });
                }
                continue;
            }
            EntryKind::Blob | EntryKind::BlobExecutable => {}
        }
        written += 1;
        if written > limits.max_files {
            return Err(SourceError::TooManyFiles {
                root: path.to_path_buf(),
                limit: limits.max_files,
            });
        }
        let object = repo
            .find_object(entry.oid)
            .map_err(|e| git(format!("reading {}: {e}", rel.display())))?;
        let size = object.data.len() as u64;
        if size > limits.max_file_bytes {
            return Err(SourceError::FileTooLarge {
                path: rel,
                size,
                limit: limits.max_file_bytes,
            });
        }
        total += size;
        if total > limits.max_total_bytes {
            return Err(SourceError::TotalTooLarge {
                root: path.to_path_buf(),
                limit: limits.max_total_bytes,
            });
        }
        let full = root.join(&rel);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|source| SourceError::Io {
                path: rel.clone(),
                source,
            })?;
        }
        std::fs::write(&full, &object.data).map_err(|source| SourceError::Io {
            path: rel.clone(),
            source,
        })?;
        if in_path && is_manifest_candidate(&rel) {
            let below = rel.strip_prefix(path).unwrap_or(&rel).to_path_buf();
            files.insert(below, object.data.clone());
        }
    }
    if !path.as_os_str().is_empty() && !under_path_dir {
        return Err(SourceError::NotADirectory {
            path: path.to_path_buf(),
        });
    }
    let snapshot_root = root.join(path);
    Ok(RevisionTree {
        snapshot: Snapshot {
            root: snapshot_root,
            display_prefix: path.to_path_buf(),
            origin: SourceOrigin::Worktree { repo_root: root },
            files,
        },
        _dir: dir,
    })
}

/// A tree path made of plain names only, or None.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.eq_ignore_ascii_case(".git") {
            return None;
        }
        if part.contains('\\') || part.contains('\0') {
            return None;
        }
        out.push(part);
    }
    Some(out)
}

/// `--path` as the repository-relative directory the reader and the ApplySet name use:
/// `./deploy/` and `deploy` are both `deploy`; `.`, `/` and "" are the repository root.
pub fn normalize_path(path: &str) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(format!("--path {path:?} must stay inside the repository"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_to_repository_relative_directories() {
        assert_eq!(normalize_path("deploy/").unwrap(), PathBuf::from("deploy"));
        assert_eq!(
            normalize_path("./deploy/prod").unwrap(),
            PathBuf::from("deploy/prod")
        );
        assert_eq!(normalize_path(".").unwrap(), PathBuf::new());
        assert_eq!(normalize_path("").unwrap(), PathBuf::new());
        assert!(normalize_path("../elsewhere").is_err());
    }

    #[test]
    fn unsafe_tree_names_are_refused() {
        assert!(safe_relative("a/b.yaml").is_some());
        assert!(safe_relative("a/../b.yaml").is_none());
        assert!(safe_relative(".git/config").is_none());
        assert!(safe_relative("a/.GIT/x").is_none());
        assert!(safe_relative("").is_none());
    }
}
