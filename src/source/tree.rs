//! A fetched commit's files under PATH as a [`Snapshot`], through the Source stage's
//! [`source::read_revision`] on the cache repository (object database only, no checkout; the
//! snapshot owns the temporary copy kustomize reads).

use std::path::{Component, Path, PathBuf};

use gix::ObjectId;

use crate::source::{self, Limits, Snapshot, SourceError};

/// Why PATH could not be read at a commit.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{}: not a directory at commit {commit} (check --path)", .path.display())]
    NotADirectory { path: PathBuf, commit: ObjectId },
    /// The Source stage's failure, its paths relative to the repository.
    #[error("{}", .source.to_string().replace(&format!("{}/", .repo_dir.display()), ""))]
    Source {
        repo_dir: PathBuf,
        source: SourceError,
    },
}

/// A `--path` (or `spec.path`) that climbs out of the repository.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--path {path:?} must stay inside the repository")]
pub struct OutsideRepository {
    pub path: String,
}

impl OutsideRepository {
    /// The same refusal naming the field the path came from (`spec.path`).
    pub fn naming(&self, field: &str) -> String {
        format!("{field} {:?} must stay inside the repository", self.path)
    }
}

/// Reads `path` (relative to the repository root; "" for all of it) at `commit` of the
/// repository whose working tree is `repo_dir`. Messages name `path` as the repository has it.
pub fn read(
    repo_dir: &Path,
    commit: ObjectId,
    path: &Path,
    limits: &Limits,
) -> Result<Snapshot, TreeError> {
    let shown = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    match source::read_revision(&repo_dir.join(path), &commit.to_string(), limits) {
        Ok(snapshot) => Ok(snapshot),
        Err(SourceError::NotADirectory { .. }) => Err(TreeError::NotADirectory {
            path: shown.to_path_buf(),
            commit,
        }),
        // Paths inside the cache repository read better relative to the repository.
        Err(source) => Err(TreeError::Source {
            repo_dir: repo_dir.to_path_buf(),
            source,
        }),
    }
}

/// `--path` as the repository-relative directory the reader and the ApplySet name use:
/// `./deploy/` and `deploy` are both `deploy`; `.`, `/` and "" are the repository root.
pub fn normalize_path(path: &str) -> Result<PathBuf, OutsideRepository> {
    let mut out = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(OutsideRepository {
                    path: path.to_string(),
                });
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
}
