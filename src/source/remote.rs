//! The URL a checkout's repository is known by: the remote its current branch tracks, else
//! `origin`, else its only remote (git's own choice of a default remote). It is what a
//! reconciler following the repository would be given as `--repo`.

use std::path::{Path, PathBuf};

/// The fetch URL of the default remote of the repository at `repo_root`, or `None` when it has
/// no remote (or none git can read). A local path remote is made absolute, relative to the
/// repository, so every checkout of it spells it alike.
pub fn default_remote_url(repo_root: &Path) -> Option<String> {
    let repo = gix::open(repo_root).ok()?;
    let remote = repo
        .find_default_remote(gix::remote::Direction::Fetch)?
        .ok()?;
    let url = remote.url(gix::remote::Direction::Fetch)?;
    if url.scheme == gix::url::Scheme::File {
        let path = gix::path::from_bstr(gix::bstr::BStr::new(&url.path))
            .ok()?
            .into_owned();
        return Some(absolute_local_path(repo_root, &path));
    }
    Some(url.to_bstring().to_string())
}

/// The commit `HEAD` of the repository at `repo_root` points to, as a full hexadecimal id;
/// `None` before the first commit.
pub fn head_commit(repo_root: &Path) -> Option<String> {
    let repo = gix::open(repo_root).ok()?;
    let id = repo.head_id().ok()?;
    Some(id.detach().to_string())
}

/// A local repository path as an absolute, canonical path where it exists.
pub fn absolute_local_path(base: &Path, path: &Path) -> String {
    let joined: PathBuf = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    std::fs::canonicalize(&joined)
        .unwrap_or(joined)
        .to_string_lossy()
        .into_owned()
}
