//! A directory outside any git repository, read as plain files.

use std::fs;
use std::path::{Path, PathBuf};

use super::read::{Candidates, Reader};
use super::{Limits, Snapshot, SourceError, SourceOrigin, is_manifest_candidate};

/// Reads the candidates below `root` (canonical); symlinks may not leave `root`.
pub(super) fn read(
    root: PathBuf,
    user_path: &Path,
    limits: &Limits,
) -> Result<Snapshot, SourceError> {
    let candidates = walk(&root, limits, user_path)?;
    let reader = Reader {
        root: &root,
        boundary: &root,
        git_dir: None,
        display_prefix: Path::new(""),
        user_path,
        limits,
    };
    let files = reader.read_all(candidates)?;
    Ok(Snapshot::new(
        root,
        PathBuf::new(),
        SourceOrigin::PlainDirectory,
        files,
    ))
}

/// Lists candidate files and symlinks below `root`. Symlinked directories are not descended
/// into (same rule as in a git working tree), and `.git` directories of nested repositories
/// are skipped because `.git` is never read.
fn walk(root: &Path, limits: &Limits, user_path: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let mut candidates = Candidates::new(limits.max_files);
    // An explicit stack rather than recursion: a deeply nested tree cannot overflow it.
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(root.join(&dir)).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let rel = dir.join(entry.file_name());
            // `DirEntry::file_type` does not follow symlinks, which is what keeps the walk
            // from leaving `root` through a symlinked directory.
            let kind = entry.file_type().map_err(io(&rel))?;
            if kind.is_dir() {
                if entry.file_name() != ".git" {
                    pending.push(rel);
                }
            } else if (kind.is_file() || kind.is_symlink())
                && is_manifest_candidate(&rel)
                && candidates.push(rel).is_break()
            {
                return candidates.finish(user_path);
            }
        }
    }
    candidates.finish(user_path)
}

/// An I/O error naming `rel`, spelled `.` for the root itself.
fn io(rel: &Path) -> impl FnOnce(std::io::Error) -> SourceError + use<> {
    let path = if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel.to_path_buf()
    };
    move |source| SourceError::Io { path, source }
}
