//! A commit of PATH's changes on a new branch, made without touching the user's current
//! branch, index or working tree: the commit is built in a private index from HEAD plus the
//! working tree under PATH.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum BranchError {
    /// The working tree under PATH matches HEAD.
    #[error("nothing to commit under {path}: it matches HEAD")]
    NothingToCommit { path: PathBuf },
    /// The branch name is taken.
    #[error("branch {branch:?} already exists with other changes; choose another with --branch")]
    BranchExists { branch: String },
    /// The remote refused the push.
    #[error("git push to {remote} was rejected: {stderr}")]
    PushRejected { remote: String, stderr: String },
    /// A git command failed.
    #[error("git {command} failed: {stderr}")]
    Git { command: String, stderr: String },
}

pub struct CommitRequest<'a> {
    pub repo_root: &'a Path,
    /// PATH relative to the repository root ("" for all of it).
    pub path: &'a Path,
    pub branch: &'a str,
    pub message: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub branch: String,
    pub commit: String,
    /// The commit the branch starts from (HEAD).
    pub base: String,
    /// Files the commit changes, relative to the repository root.
    pub files: Vec<String>,
    /// The branch already held this change (a rerun); nothing new was committed.
    pub reused: bool,
}

fn git<I, S>(repo_root: &Path, index: Option<&Path>, args: I) -> Result<String, BranchError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let mut command = Command::new("git");
    command.arg("-C").arg(repo_root).args(&args);
    if let Some(index) = index {
        command.env("GIT_INDEX_FILE", index);
    }
    let output = command.output().map_err(|e| BranchError::Git {
        command: describe(&args),
        stderr: e.to_string(),
    })?;
    if !output.status.success() {
        return Err(BranchError::Git {
            command: describe(&args),
            // git quotes remote URLs, userinfo and all.
            stderr: crate::scrub::text(String::from_utf8_lossy(&output.stderr).trim()),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn describe(args: &[std::ffi::OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Commits the working tree under `request.path` on top of HEAD as a new branch.
/// The tree PATH's working-tree files make on top of HEAD, before any branch is named: its
/// hash names the default branch, so a rerun with the same change finds the branch it pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub base: String,
    pub tree: String,
    pub files: Vec<String>,
}

/// Stages PATH's working-tree state in a scratch index (the user's index stays as it is).
pub fn stage(repo_root: &Path, path: &Path) -> Result<Staged, BranchError> {
    let root = repo_root;
    let base = git(root, None, ["rev-parse", "--verify", "HEAD^{commit}"])?;
    let base_tree = git(root, None, ["rev-parse", "--verify", "HEAD^{tree}"])?;

    let scratch = tempfile::tempdir().map_err(|e| BranchError::Git {
        command: "(temporary index)".into(),
        stderr: e.to_string(),
    })?;
    let index = scratch.path().join("index");
    let pathspec = if path.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        path.to_path_buf()
    };
    git(root, Some(&index), ["read-tree", &base])?;
    git(
        root,
        Some(&index),
        [
            OsStr::new("add"),
            OsStr::new("-A"),
            OsStr::new("--"),
            pathspec.as_os_str(),
        ],
    )?;
    let tree = git(root, Some(&index), ["write-tree"])?;
    if tree == base_tree {
        return Err(BranchError::NothingToCommit { path: pathspec });
    }
    let files = git(root, None, ["diff", "--name-only", &base_tree, &tree])?
        .lines()
        .map(str::to_string)
        .collect();
    Ok(Staged { base, tree, files })
}

pub fn commit_to_new_branch(request: &CommitRequest<'_>) -> Result<Committed, BranchError> {
    let staged = stage(request.repo_root, request.path)?;
    commit_staged(request, &staged)
}

/// Commits `staged` on a new branch. A branch of that name that already holds exactly this
/// change (the same tree on the same base: a run that pushed it, then failed) is taken as it
/// is, so the run can go on where it stopped; one holding anything else is refused.
pub fn commit_staged(
    request: &CommitRequest<'_>,
    staged: &Staged,
) -> Result<Committed, BranchError> {
    let root = request.repo_root;
    let reference = format!("refs/heads/{}", request.branch);
    if let Ok(existing) = git(root, None, ["rev-parse", "--verify", "--quiet", &reference]) {
        let tree = git(
            root,
            None,
            ["rev-parse", "--verify", &format!("{existing}^{{tree}}")],
        )?;
        let parent = git(
            root,
            None,
            ["rev-parse", "--verify", &format!("{existing}^1")],
        );
        if tree == staged.tree && parent.is_ok_and(|p| p == staged.base) {
            return Ok(Committed {
                branch: request.branch.to_string(),
                commit: existing,
                base: staged.base.clone(),
                files: staged.files.clone(),
                reused: true,
            });
        }
        return Err(BranchError::BranchExists {
            branch: request.branch.to_string(),
        });
    }
    git(root, None, ["check-ref-format", "--branch", request.branch])?;
    let commit = git(
        root,
        None,
        [
            "commit-tree",
            &staged.tree,
            "-p",
            &staged.base,
            "-m",
            request.message,
        ],
    )?;
    git(root, None, ["update-ref", &reference, &commit, ""])?;
    Ok(Committed {
        branch: request.branch.to_string(),
        commit,
        base: staged.base.clone(),
        files: staged.files.clone(),
        reused: false,
    })
}

pub fn push(repo_root: &Path, remote: &str, branch: &str) -> Result<(), BranchError> {
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    match git(repo_root, None, ["push", "--porcelain", remote, &refspec]) {
        Ok(_) => Ok(()),
        Err(BranchError::Git { stderr, .. }) => Err(BranchError::PushRejected {
            remote: remote.to_string(),
            stderr,
        }),
        Err(other) => Err(other),
    }
}

/// Removes a branch this command created, so a failed run leaves nothing behind.
pub fn delete_branch(repo_root: &Path, branch: &str) -> Result<(), BranchError> {
    git(
        repo_root,
        None,
        ["update-ref", "-d", &format!("refs/heads/{branch}")],
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        sh(p, &["init", "-q", "-b", "main"]);
        sh(p, &["config", "user.name", "Test"]);
        sh(p, &["config", "user.email", "test@example.com"]);
        std::fs::create_dir_all(p.join("deploy")).unwrap();
        std::fs::write(p.join("deploy/a.yaml"), "a: 1\n").unwrap();
        std::fs::write(p.join("notes.txt"), "x\n").unwrap();
        sh(p, &["add", "-A"]);
        sh(p, &["commit", "-qm", "init"]);
        dir
    }

    #[test]
    fn commits_only_path_on_a_new_branch_leaving_the_user_where_they_were() {
        let dir = repo();
        let p = dir.path();
        std::fs::write(p.join("deploy/a.yaml"), "a: 2\n").unwrap();
        std::fs::write(p.join("deploy/new.yaml"), "n: 1\n").unwrap();
        std::fs::write(p.join("notes.txt"), "changed outside PATH\n").unwrap();
        let status_before = sh(p, &["status", "--porcelain"]);

        let committed = commit_to_new_branch(&CommitRequest {
            repo_root: p,
            path: Path::new("deploy"),
            branch: "gitops/change",
            message: "Update deploy",
        })
        .unwrap();

        assert_eq!(committed.files, ["deploy/a.yaml", "deploy/new.yaml"]);
        assert_eq!(sh(p, &["show", "gitops/change:deploy/a.yaml"]), "a: 2");
        assert_eq!(
            sh(p, &["show", "gitops/change:notes.txt"]),
            "x",
            "outside PATH stays as in HEAD"
        );
        assert_eq!(
            sh(p, &["log", "-1", "--format=%s", "gitops/change"]),
            "Update deploy"
        );
        assert_eq!(sh(p, &["rev-parse", "--abbrev-ref", "HEAD"]), "main");
        assert_eq!(
            sh(p, &["status", "--porcelain"]),
            status_before,
            "index and tree untouched"
        );
    }

    #[test]
    fn nothing_to_commit_and_existing_branches_are_refused() {
        let dir = repo();
        let p = dir.path();
        let request = CommitRequest {
            repo_root: p,
            path: Path::new("deploy"),
            branch: "x",
            message: "m",
        };
        assert!(matches!(
            commit_to_new_branch(&request),
            Err(BranchError::NothingToCommit { .. })
        ));
        sh(p, &["branch", "taken"]);
        std::fs::write(p.join("deploy/a.yaml"), "a: 3\n").unwrap();
        let taken = CommitRequest {
            branch: "taken",
            ..request
        };
        assert!(matches!(
            commit_to_new_branch(&taken),
            Err(BranchError::BranchExists { .. })
        ));
    }
}
