//! The working tree of a git repository, read with gix's directory walk.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::bstr::BString;
use gix::dir::entry::{Kind, Status};
use gix::dir::walk::{Action, Delegate, EmissionMode};

use super::read::{Candidates, Reader};
use super::{Limits, Snapshot, SourceError, SourceOrigin, is_manifest_candidate};

/// The repository containing `root`, or `None` when there is none (a plain directory).
///
/// Discovery behaves like git's: it stops at filesystem boundaries and honours
/// `GIT_CEILING_DIRECTORIES`, so a directory the user's git treats as outside any repository
/// is read as a plain directory here too.
pub(super) fn discover(
    root: &Path,
    user_path: &Path,
) -> Result<Option<gix::Repository>, SourceError> {
    let mut options = gix::discover::upwards::Options::default().apply_environment();
    // Ceiling directories that do not contain `root` are someone else's concern, not an error.
    options.match_ceiling_dir_or_error = false;
    match gix::ThreadSafeRepository::discover_opts(root, options, Default::default()) {
        Ok(repo) => Ok(Some(repo.to_thread_local())),
        Err(err) if is_no_repository(&err) => Ok(None),
        Err(err) => Err(git_error(user_path, "opening the repository", &err)),
    }
}

fn is_no_repository(err: &gix::Error) -> bool {
    use gix::discover::upwards::Error as Upwards;
    matches!(
        err.downcast_any_ref::<Upwards>(),
        Some(
            Upwards::NoGitRepository { .. }
                | Upwards::NoGitRepositoryWithinCeiling { .. }
                | Upwards::NoGitRepositoryWithinFs { .. }
        )
    )
}

/// Reads the candidates below `root` (canonical) in `repo`'s working tree.
pub(super) fn read(
    repo: &gix::Repository,
    root: PathBuf,
    user_path: &Path,
    limits: &Limits,
) -> Result<Snapshot, SourceError> {
    let workdir = repo.workdir().ok_or_else(|| SourceError::Git {
        path: user_path.to_path_buf(),
        message: "the repository is bare: it has no working tree to read".into(),
    })?;
    let repo_root = canonicalize(workdir)?;
    let git_dir = canonicalize(repo.git_dir())?;
    let display_prefix = prefix_in_worktree(&root, &repo_root, &git_dir, user_path)?;
    let candidates = walk(repo, &display_prefix, limits, user_path)?;
    let reader = Reader {
        root: &root,
        boundary: &repo_root,
        git_dir: Some(&git_dir),
        display_prefix: &display_prefix,
        user_path,
        limits,
    };
    let files = reader.read_all(candidates)?;
    Ok(Snapshot::new(
        root,
        display_prefix,
        SourceOrigin::Worktree { repo_root },
        files,
    ))
}

pub(super) fn canonicalize(path: &Path) -> Result<PathBuf, SourceError> {
    fs::canonicalize(path).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `root` relative to the repository root; PATH inside `.git` has no working tree to read.
pub(super) fn prefix_in_worktree(
    root: &Path,
    repo_root: &Path,
    git_dir: &Path,
    user_path: &Path,
) -> Result<PathBuf, SourceError> {
    let outside = |what: &str| SourceError::Git {
        path: user_path.to_path_buf(),
        message: format!("{what}, not in the working tree of {}", repo_root.display()),
    };
    if root.starts_with(git_dir) {
        return Err(outside("inside the git directory"));
    }
    let prefix = root
        .strip_prefix(repo_root)
        .map_err(|_| outside("outside the repository's working tree"))?;
    if prefix
        .components()
        .any(|c| c == Component::Normal(".git".as_ref()))
    {
        return Err(outside("inside a .git directory"));
    }
    Ok(prefix.to_path_buf())
}

/// Lists the candidate files and symlinks under `display_prefix`, relative to it.
///
/// The walk emits tracked entries as they are on disk (so files deleted from disk never show
/// up) and untracked entries one by one, and skips ignored ones. It does not descend into
/// symlinked directories, nested repositories or submodules, nor into `.git`.
fn walk(
    repo: &gix::Repository,
    display_prefix: &Path,
    limits: &Limits,
    user_path: &Path,
) -> Result<Vec<PathBuf>, SourceError> {
    let git = |doing: &'static str| move |err: gix::Error| git_error(user_path, doing, &err);
    let index = repo.index_or_empty().map_err(git("reading the index"))?;
    let options = repo
        .dirwalk_options()
        .map_err(git("reading the configuration"))?
        .emit_tracked(true)
        .emit_untracked(EmissionMode::Matching)
        .emit_ignored(None)
        .emit_pruned(false)
        .emit_empty_directories(false)
        .recurse_repositories(false);
    let patterns = pathspec_for(display_prefix, user_path)?;
    let mut collect = Collect {
        prefix: display_prefix,
        candidates: Candidates::new(limits.max_files),
        unrepresentable: None,
    };
    let interrupt = AtomicBool::new(false);
    repo.dirwalk(&index, patterns, &interrupt, options, &mut collect)
        .map_err(git("walking the working tree"))?;
    if let Some(path) = collect.unrepresentable {
        return Err(SourceError::Git {
            path: PathBuf::from(path.to_string()),
            message: "the file name is not valid on this platform".into(),
        });
    }
    collect.candidates.finish(user_path)
}

/// No pattern for the repository root (walk everything); otherwise one matching the
/// subdirectory exactly: `top` so it is not taken relative to the process's current
/// directory, `literal` so a directory named like a glob (`app[1]`) matches only itself.
fn pathspec_for(display_prefix: &Path, user_path: &Path) -> Result<Vec<BString>, SourceError> {
    if display_prefix.as_os_str().is_empty() {
        return Ok(Vec::new());
    }
    let bytes = gix::path::into_bstr(display_prefix)
        .map_err(|err| git_error(user_path, "spelling the path for git", &err))?;
    let mut pattern = BString::from(":(top,literal)");
    pattern.extend_from_slice(&gix::path::to_unix_separators_on_windows(bytes));
    Ok(vec![pattern])
}

/// Keeps the walk's manifest candidates under the prefix.
struct Collect<'a> {
    prefix: &'a Path,
    candidates: Candidates,
    /// A path this platform cannot spell; reported rather than silently skipped.
    unrepresentable: Option<BString>,
}

impl Delegate for Collect<'_> {
    fn emit(&mut self, entry: gix::dir::EntryRef<'_>, _collapsed: Option<Status>) -> Action {
        let wanted_status = matches!(entry.status, Status::Tracked | Status::Untracked);
        // Directories (including symlinked ones, which are `Symlink` here and resolved later)
        // are not read; `Untrackable` entries (sockets, fifos) are never manifests.
        let wanted_kind = matches!(entry.disk_kind, Some(Kind::File | Kind::Symlink));
        if !wanted_status || !wanted_kind {
            return Action::Continue(());
        }
        let Ok(path) = gix::path::to_native_path_on_windows(entry.rela_path.as_ref()) else {
            self.unrepresentable = Some(entry.rela_path.into_owned());
            return Action::Break(());
        };
        match path.strip_prefix(self.prefix) {
            Ok(rel) if is_manifest_candidate(rel) => self.candidates.push(rel.to_path_buf()),
            _ => Action::Continue(()),
        }
    }
}

/// gix errors nest; the whole chain, after what we were `doing`, tells the user what went wrong.
pub(super) fn git_error(path: &Path, doing: &str, err: &gix::Error) -> SourceError {
    let mut message = doing.to_string();
    append_causes(&mut message, err);
    SourceError::Git {
        path: path.to_path_buf(),
        message,
    }
}

/// Appends each distinct message of `err`'s chain to `message`, separated by `: `.
pub(super) fn append_causes(message: &mut String, err: &gix::Error) {
    for cause in err.iter_errors() {
        let text = cause.to_string();
        if !text.is_empty() && !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
    }
}
