//! Reading candidate files with the caps and the symlink confinement both sources share.
//!
//! A walk first lists candidate paths (stopping early once there are too many), then the
//! reader reads them in sorted order, so which error a broken tree reports does not depend on
//! the order the filesystem lists directories in.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use super::{Limits, SourceError, confine};

/// Candidate paths gathered during a walk, relative to the snapshot root.
pub(super) struct Candidates {
    paths: Vec<PathBuf>,
    limit: usize,
    overflowed: bool,
}

impl Candidates {
    pub(super) fn new(limit: usize) -> Self {
        Candidates {
            paths: Vec::new(),
            limit,
            overflowed: false,
        }
    }

    /// Breaks once the cap is exceeded, so a hostile tree is not walked to its end.
    pub(super) fn push(&mut self, rel: PathBuf) -> ControlFlow<()> {
        if self.paths.len() >= self.limit {
            self.overflowed = true;
            return ControlFlow::Break(());
        }
        self.paths.push(rel);
        ControlFlow::Continue(())
    }

    /// The gathered paths, or `TooManyFiles` naming `user_path` if the cap was exceeded.
    pub(super) fn finish(self, user_path: &Path) -> Result<Vec<PathBuf>, SourceError> {
        if self.overflowed {
            return Err(SourceError::TooManyFiles {
                root: user_path.to_path_buf(),
                limit: self.limit,
            });
        }
        Ok(self.paths)
    }
}

/// Reads candidates below `root`, refusing symlinks that leave `boundary`.
pub(super) struct Reader<'a> {
    /// The canonical PATH; candidates are relative to it.
    pub root: &'a Path,
    /// Symlink targets must resolve below this canonical directory: the repository root, or
    /// PATH itself for a plain directory.
    pub boundary: &'a Path,
    /// The repository's git directory (canonical), never read even when it sits elsewhere or
    /// under another name than `.git`.
    pub git_dir: Option<&'a Path>,
    /// Put in front of file names in errors, so they read relative to the repository root.
    pub display_prefix: &'a Path,
    /// PATH as the user wrote it, for errors about the tree as a whole.
    pub user_path: &'a Path,
    pub limits: &'a Limits,
}

impl Reader<'_> {
    /// Reads every candidate that turns out to be a regular file (directly or via a confined
    /// symlink), keyed by its path relative to `root`.
    pub(super) fn read_all(
        &self,
        mut candidates: Vec<PathBuf>,
    ) -> Result<BTreeMap<PathBuf, Vec<u8>>, SourceError> {
        candidates.sort();
        candidates.dedup();
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        for rel in candidates {
            if let Some(bytes) = self.read_one(&rel, total)? {
                total += bytes.len() as u64;
                files.insert(rel, bytes);
            }
        }
        Ok(files)
    }

    /// `None` when the candidate is not a regular file (a directory named `x.yaml`, a socket):
    /// those are not manifests, and skipping them matches what a renderer could load anyway.
    fn read_one(&self, rel: &Path, total: u64) -> Result<Option<Vec<u8>>, SourceError> {
        let full = self.root.join(rel);
        let shown = self.display_prefix.join(rel);
        let io = |source| SourceError::Io {
            path: shown.clone(),
            source,
        };
        // The walk's view of the entry may be stale; decide from what is on disk now.
        let link_meta = fs::symlink_metadata(&full).map_err(io)?;
        let (file, meta) = if link_meta.file_type().is_symlink() {
            let target = self.confined_target(&full, &shown)?;
            let meta = fs::metadata(&target).map_err(io)?;
            (target, meta)
        } else {
            (full, link_meta)
        };
        if !meta.is_file() {
            return Ok(None);
        }
        // Sizes come from metadata first so an oversized file is refused without reading it.
        self.check_size(&shown, meta.len(), total)?;
        let bytes = read_at_most(&file, self.limits.max_file_bytes).map_err(io)?;
        // The file may have grown between the metadata call and the read.
        self.check_size(&shown, bytes.len() as u64, total)?;
        Ok(Some(bytes))
    }

    fn check_size(&self, shown: &Path, size: u64, total: u64) -> Result<(), SourceError> {
        if size > self.limits.max_file_bytes {
            return Err(SourceError::FileTooLarge {
                path: shown.to_path_buf(),
                size,
                limit: self.limits.max_file_bytes,
            });
        }
        if total.saturating_add(size) > self.limits.max_total_bytes {
            return Err(SourceError::TotalTooLarge {
                root: self.user_path.to_path_buf(),
                limit: self.limits.max_total_bytes,
            });
        }
        Ok(())
    }

    /// The symlink's final target, provided it stays inside the boundary and out of `.git`.
    fn confined_target(&self, link: &Path, shown: &Path) -> Result<PathBuf, SourceError> {
        let escapes = |target: PathBuf| SourceError::EscapesRepository {
            path: shown.to_path_buf(),
            target,
        };
        match fs::canonicalize(link) {
            Ok(target) if self.is_confined(&target) => Ok(target),
            Ok(target) => Err(escapes(target)),
            Err(source) => {
                // A dangling link still says where it points: an escape is reported as one
                // rather than as a missing file.
                let raw = fs::read_link(link).map_err(|source| SourceError::Io {
                    path: shown.to_path_buf(),
                    source,
                })?;
                let target = confine::lexical_target(link, &raw);
                if self.is_confined(&target) {
                    Err(SourceError::Io {
                        path: shown.to_path_buf(),
                        source,
                    })
                } else {
                    Err(escapes(target))
                }
            }
        }
    }

    fn is_confined(&self, target: &Path) -> bool {
        confine::is_confined(target, self.boundary, self.git_dir)
    }
}

/// Reads up to `limit + 1` bytes: enough to tell the file went over the limit without
/// letting a file that grows while being read exhaust memory.
fn read_at_most(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok(bytes)
}
