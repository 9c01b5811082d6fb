//! A revision of a git repository, read from its object database; the working tree is never
//! looked at beyond finding the repository and PATH's place in it.
//!
//! Candidates are listed from the commit's tree under PATH's prefix and read in sorted order
//! with the same caps as the working tree. Symlinks (mode 120000) are resolved inside the tree,
//! one path component at a time as the kernel would, so a link to a link or through a
//! symlinked directory works and one climbing out of the repository is caught wherever it
//! happens. The result is written to a temporary directory for kustomize (see
//! [`super::read_revision`]).
//!
//! The tree is hostile input: whoever can commit chooses it. git's own checks on names (no
//! `.`, `..`, `.git` or separators) are not enough, because a crafted tree object can hold two
//! entries of the same name (a symlink `p` to `.` and a directory `p`): written in turn, the
//! directory lands inside the symlink, so the path a link is resolved at in the tree is no
//! longer the path it is written at, and a link that stays inside the tree on paper climbs
//! out of the copy on disk. So a tree with repeated names is refused, nothing written ever
//! follows or replaces what is already there, a symlink leaving the repository is refused
//! rather than written, and the copy is walked again once written: no entry may resolve
//! outside it.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use gix::ObjectId;
use gix::bstr::BStr;
use gix::objs::tree::EntryKind;

use super::read::Candidates;
use super::worktree::{append_causes, canonicalize, discover, git_error, prefix_in_worktree};
use super::{Limits, Revision, Snapshot, SourceError, SourceOrigin, is_manifest_candidate};

/// Symlinks followed while resolving one path, as Linux allows (`ELOOP` beyond).
const MAX_SYMLINK_HOPS: usize = 40;

/// Longest symlink target read, in bytes (Linux's `PATH_MAX`).
const MAX_LINK_TARGET: u64 = 4096;

/// File names that make a directory a kustomization (as render recognises them).
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Bytes of the object cache: symlink resolution looks trees up from the root again and again.
const OBJECT_CACHE_BYTES: usize = 4 * 1024 * 1024;

pub(super) fn read(user_path: &Path, rev: &str, limits: &Limits) -> Result<Snapshot, SourceError> {
    let (wanted, existing) = locate(user_path)?;
    let mut repo = discover(&existing, user_path)?.ok_or_else(|| SourceError::Git {
        path: user_path.to_path_buf(),
        message: "not inside a git repository, so it has no revision to read".into(),
    })?;
    repo.object_cache_size_if_unset(OBJECT_CACHE_BYTES);
    let workdir = repo.workdir().ok_or_else(|| SourceError::Git {
        path: user_path.to_path_buf(),
        message: "the repository is bare: PATH cannot be placed inside it".into(),
    })?;
    let repo_root = canonicalize(workdir)?;
    let git_dir = canonicalize(repo.git_dir())?;
    let display_prefix = prefix_in_worktree(&wanted, &repo_root, &git_dir, user_path)?;

    let (commit, root_tree) = resolve(&repo, rev, &repo_root, user_path)?;
    let tree = TreeReader {
        repo: &repo,
        commit,
        rev,
        root: repo
            .find_tree(root_tree)
            .map_err(|e| git_error(user_path, "reading the revision's tree", &e))?,
        repo_root: &repo_root,
        user_path,
        limits,
    };
    let prefix_tree = match tree.lookup(&display_prefix)? {
        Some((EntryKind::Tree, id)) => id,
        _ => {
            return Err(SourceError::NotADirectory {
                path: user_path.to_path_buf(),
            });
        }
    };

    let mut budget = Budget::default();
    let candidates = tree.candidates(prefix_tree, &display_prefix)?;
    let mut files = BTreeMap::new();
    for (rel, (kind, id)) in candidates {
        let in_repo = display_prefix.join(&rel);
        let blob = if kind == EntryKind::Link {
            match tree.resolve_link(&in_repo, id)? {
                Ok(Resolved::File { id, .. }) => id,
                // A directory or submodule named like a manifest is not one.
                Ok(Resolved::Directory { .. } | Resolved::Submodule) => continue,
                Err(problem) => return Err(problem.into_error(&in_repo)),
            }
        } else {
            id
        };
        let bytes = tree.read_blob(blob, &in_repo, &mut budget)?;
        files.insert(rel, bytes);
    }

    let temp = tempfile::Builder::new()
        .prefix("kubectl-gitops-rev-")
        .tempdir()
        .map_err(|source| SourceError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let copy = canonicalize(temp.path())?;
    // kustomize and helm read files that are not manifests (patches, templates, helpers).
    let needs_whole_tree = files.keys().any(|rel| {
        rel.file_name().is_some_and(|name| {
            KUSTOMIZATION_FILES.iter().any(|k| name == *k) || name == "Chart.yaml"
        })
    });
    if needs_whole_tree {
        let within = Within {
            prefix: &display_prefix,
            files: &files,
        };
        tree.materialise(&copy, &within, &mut budget)?;
    } else {
        for (rel, bytes) in &files {
            let path = display_prefix.join(rel);
            create_parents(&copy, &path)?;
            tree.write_file(&copy, &path, bytes, false)?;
        }
    }
    tree.verify_confined(&copy)?;
    let root = copy.join(&display_prefix);
    fs::create_dir_all(&root).map_err(|source| SourceError::Io {
        path: display_prefix.clone(),
        source,
    })?;

    let mut snapshot = Snapshot::new(
        root,
        display_prefix,
        SourceOrigin::Worktree {
            repo_root: repo_root.clone(),
        },
        files,
    );
    snapshot.revision = Some(Revision {
        spec: rev.to_string(),
        commit: commit.to_string(),
    });
    snapshot.materialised = Some(Arc::new(temp));
    Ok(snapshot)
}

/// PATH made absolute, with its longest existing ancestor canonical (so it compares with the
/// repository root by prefix), and the nearest existing directory to discover the repository
/// from. At a revision PATH may be a directory the working tree no longer has.
fn locate(user_path: &Path) -> Result<(PathBuf, PathBuf), SourceError> {
    let absolute = std::path::absolute(user_path).map_err(|source| SourceError::Io {
        path: user_path.to_path_buf(),
        source,
    })?;
    let components: Vec<Component<'_>> = absolute.components().collect();
    for keep in (1..=components.len()).rev() {
        let ancestor: PathBuf = components[..keep].iter().collect();
        match fs::canonicalize(&ancestor) {
            Ok(canonical) => {
                let mut wanted = canonical.clone();
                for component in &components[keep..] {
                    match component {
                        Component::ParentDir => {
                            wanted.pop();
                        }
                        Component::CurDir => {}
                        other => wanted.push(other),
                    }
                }
                let existing = if canonical.is_dir() {
                    canonical
                } else {
                    canonical
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or(canonical)
                };
                return Ok((wanted, existing));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) => {}
            Err(source) => {
                return Err(SourceError::Io {
                    path: user_path.to_path_buf(),
                    source,
                });
            }
        }
    }
    Err(SourceError::NotADirectory {
        path: user_path.to_path_buf(),
    })
}

/// The commit `rev` names and its tree.
fn resolve(
    repo: &gix::Repository,
    rev: &str,
    repo_root: &Path,
    user_path: &Path,
) -> Result<(ObjectId, ObjectId), SourceError> {
    let unknown = |reason: String| SourceError::UnknownRevision {
        rev: rev.to_string(),
        repo: repo_root.to_path_buf(),
        reason,
    };
    let id = repo.rev_parse_single(rev).map_err(|err| {
        let mut reason = String::new();
        append_causes(&mut reason, &err);
        unknown(reason)
    })?;
    let object = id
        .object()
        .and_then(gix::Object::peel_tags_to_end)
        .map_err(|err| git_error(user_path, "reading the revision", &err))?;
    if object.kind != gix::object::Kind::Commit {
        return Err(unknown(format!(
            "it names a {} ({}), not a commit",
            object.kind, object.id
        )));
    }
    let commit = object.into_commit();
    let tree = commit
        .tree_id()
        .map_err(|err| git_error(user_path, "reading the commit", &err))?;
    Ok((commit.id, tree.detach()))
}

/// Bytes and files read so far, against `Limits`.
#[derive(Default)]
struct Budget {
    bytes: u64,
    files: usize,
}

/// The candidates already read, so the whole-tree copy does not read them twice.
struct Within<'a> {
    prefix: &'a Path,
    files: &'a BTreeMap<PathBuf, Vec<u8>>,
}

impl Within<'_> {
    fn get(&self, in_repo: &Path) -> Option<&[u8]> {
        let rel = in_repo.strip_prefix(self.prefix).ok()?;
        self.files.get(rel).map(Vec::as_slice)
    }
}

/// Where a symlink leads inside the tree.
#[derive(Debug)]
enum Resolved {
    File {
        path: PathBuf,
        id: ObjectId,
    },
    /// A directory; the empty path is the repository root.
    Directory {
        path: PathBuf,
    },
    Submodule,
}

/// Why a symlink leads nowhere readable.
#[derive(Debug)]
enum LinkProblem {
    /// Out of the repository, or into `.git`; where it points, as an absolute path.
    Escapes(PathBuf),
    /// Its target does not exist at this revision (or a file is used as a directory).
    Dangling,
    /// More than `MAX_SYMLINK_HOPS` links.
    Loop,
}

impl LinkProblem {
    fn into_error(self, link: &Path) -> SourceError {
        let io = |source| SourceError::Io {
            path: link.to_path_buf(),
            source,
        };
        match self {
            LinkProblem::Escapes(target) => SourceError::EscapesRepository {
                path: link.to_path_buf(),
                target,
            },
            LinkProblem::Dangling => io(io::Error::new(
                io::ErrorKind::NotFound,
                "the symlink's target does not exist at this revision",
            )),
            LinkProblem::Loop => io(io::Error::other("too many levels of symbolic links")),
        }
    }
}

/// Reads one commit's tree. Paths are relative to the repository root, which is also how
/// errors name them.
struct TreeReader<'a> {
    repo: &'a gix::Repository,
    /// The commit read, and the revision as the user spelled it, for refusals.
    commit: ObjectId,
    rev: &'a str,
    root: gix::Tree<'a>,
    repo_root: &'a Path,
    user_path: &'a Path,
    limits: &'a Limits,
}

impl TreeReader<'_> {
    fn git(&self, path: &Path, doing: &'static str) -> impl Fn(gix::Error) -> SourceError + use<> {
        let path = if path.as_os_str().is_empty() {
            self.user_path.to_path_buf()
        } else {
            path.to_path_buf()
        };
        move |err| git_error(&path, doing, &err)
    }

    /// The entries of tree `id` (the directory `dir`), with names checked to be safe to write
    /// to disk: never `.`, `..`, a separator, `.git` in any spelling the platform folds to it,
    /// or a name given twice (git never writes such a tree, but a crafted one can hold it, and
    /// only one of the two could be on disk: see the module's documentation).
    fn entries(
        &self,
        id: ObjectId,
        dir: &Path,
    ) -> Result<Vec<(OsString, EntryKind, ObjectId)>, SourceError> {
        let tree = self
            .repo
            .find_tree(id)
            .map_err(self.git(dir, "reading a tree"))?;
        let decoded = tree.decode().map_err(self.git(dir, "decoding a tree"))?;
        let mut entries = Vec::with_capacity(decoded.entries.len());
        let mut seen = HashSet::with_capacity(decoded.entries.len());
        for entry in &decoded.entries {
            let kind = entry.mode.kind();
            let name = checked_name(entry.filename, kind, dir)?;
            // git sorts a directory as if its name ended in `/`, so twins need not be adjacent.
            if !seen.insert(name.clone()) {
                return Err(self.refuse(
                    &dir.join(&name),
                    format!(
                        "the tree holds more than one entry named `{}`, which no checkout can \
                         write",
                        name.to_string_lossy()
                    ),
                ));
            }
            entries.push((name, kind, entry.oid.to_owned()));
        }
        Ok(entries)
    }

    /// The entry at `path`, or `None` when the tree has nothing there. Every tree on the way
    /// is read through [`Self::entries`], so a lookup never picks one of two twins.
    fn lookup(&self, path: &Path) -> Result<Option<(EntryKind, ObjectId)>, SourceError> {
        let mut found = (EntryKind::Tree, self.root.id);
        let mut dir = PathBuf::new();
        for component in path.components() {
            if found.0 != EntryKind::Tree {
                return Ok(None);
            }
            let name = component.as_os_str();
            let Some((_, kind, id)) = self
                .entries(found.1, &dir)?
                .into_iter()
                .find(|(entry, _, _)| entry == name)
            else {
                return Ok(None);
            };
            found = (kind, id);
            dir.push(name);
        }
        Ok(Some(found))
    }

    /// The refusal of this revision's tree at `path` (relative to the repository root).
    fn refuse(&self, path: &Path, reason: String) -> SourceError {
        SourceError::UnsafeTree {
            path: if path.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                path.to_path_buf()
            },
            rev: self.rev.to_string(),
            commit: self.commit.to_string(),
            reason,
        }
    }

    /// The refusal of an entry that would land on something already written: two names the
    /// filesystem folds together (on a case-insensitive one), or a bug; never written through.
    fn refuse_existing(&self, path: &Path, source: io::Error) -> SourceError {
        if source.kind() == io::ErrorKind::AlreadyExists {
            self.refuse(
                path,
                "another entry of the tree was already written at this path (names this \
                 filesystem does not tell apart)"
                    .into(),
            )
        } else {
            SourceError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }

    /// Writes `bytes` to the new file `dest/path`, whose parent exists: never through or over
    /// anything already there.
    fn write_file(
        &self,
        dest: &Path,
        path: &Path,
        bytes: &[u8],
        executable: bool,
    ) -> Result<(), SourceError> {
        use std::io::Write;
        let full = dest.join(path);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if executable { 0o755 } else { 0o644 });
        }
        #[cfg(not(unix))]
        let _ = executable;
        let mut file = options
            .open(&full)
            .map_err(|e| self.refuse_existing(path, e))?;
        file.write_all(bytes).map_err(|source| SourceError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Creates the directory `dest/dir`, which must not exist yet (its parent does).
    fn create_dir(&self, dest: &Path, dir: &Path) -> Result<(), SourceError> {
        if dir.as_os_str().is_empty() {
            return Ok(());
        }
        fs::create_dir(dest.join(dir)).map_err(|e| self.refuse_existing(dir, e))
    }

    /// Walks the copy at `dest` as written, following nothing: every symlink in it must
    /// resolve inside it. The tree was checked before writing; this holds the writing to it.
    fn verify_confined(&self, dest: &Path) -> Result<(), SourceError> {
        match first_escape(dest)? {
            None => Ok(()),
            Some(path) => Err(self.refuse(
                &path,
                "the symlink, as written, does not resolve inside the copy of the repository"
                    .into(),
            )),
        }
    }

    /// Manifest candidates below the tree `id` at `prefix`, keyed relative to it.
    fn candidates(
        &self,
        id: ObjectId,
        prefix: &Path,
    ) -> Result<BTreeMap<PathBuf, (EntryKind, ObjectId)>, SourceError> {
        let mut counted = Candidates::new(self.limits.max_files);
        let mut found = BTreeMap::new();
        // An explicit stack: a deeply nested tree cannot overflow it.
        let mut pending = vec![(PathBuf::new(), id)];
        'walk: while let Some((dir, id)) = pending.pop() {
            for (name, kind, id) in self.entries(id, &prefix.join(&dir))? {
                let rel = dir.join(name);
                match kind {
                    EntryKind::Tree => pending.push((rel, id)),
                    EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link
                        if is_manifest_candidate(&rel) =>
                    {
                        if counted.push(rel.clone()).is_break() {
                            break 'walk;
                        }
                        found.insert(rel, (kind, id));
                    }
                    // Submodules are other repositories, never read (as in the working tree).
                    _ => {}
                }
            }
        }
        counted.finish(self.user_path)?;
        Ok(found)
    }

    /// A blob's bytes, refused from its header alone when over the caps.
    fn read_blob(
        &self,
        id: ObjectId,
        path: &Path,
        budget: &mut Budget,
    ) -> Result<Vec<u8>, SourceError> {
        let header = self
            .repo
            .find_header(id)
            .map_err(self.git(path, "reading a file"))?;
        self.admit(path, header.size(), budget)?;
        let mut blob = self
            .repo
            .find_blob(id)
            .map_err(self.git(path, "reading a file"))?;
        let bytes = blob.take_data();
        if bytes.len() as u64 > self.limits.max_file_bytes {
            return Err(SourceError::FileTooLarge {
                path: path.to_path_buf(),
                size: bytes.len() as u64,
                limit: self.limits.max_file_bytes,
            });
        }
        Ok(bytes)
    }

    fn admit(&self, path: &Path, size: u64, budget: &mut Budget) -> Result<(), SourceError> {
        if size > self.limits.max_file_bytes {
            return Err(SourceError::FileTooLarge {
                path: path.to_path_buf(),
                size,
                limit: self.limits.max_file_bytes,
            });
        }
        let total = budget.bytes.saturating_add(size);
        if total > self.limits.max_total_bytes {
            return Err(SourceError::TotalTooLarge {
                root: self.user_path.to_path_buf(),
                limit: self.limits.max_total_bytes,
            });
        }
        budget.bytes = total;
        Ok(())
    }

    /// The path a symlink's blob holds, as components; an absolute target escapes.
    fn link_target(
        &self,
        id: ObjectId,
        link: &Path,
    ) -> Result<Result<Vec<OsString>, LinkProblem>, SourceError> {
        let header = self
            .repo
            .find_header(id)
            .map_err(self.git(link, "reading a symlink"))?;
        if header.size() > MAX_LINK_TARGET {
            return Err(SourceError::Git {
                path: link.to_path_buf(),
                message: format!(
                    "the symlink's target is {} bytes long, over the {MAX_LINK_TARGET}-byte limit",
                    header.size()
                ),
            });
        }
        let blob = self
            .repo
            .find_blob(id)
            .map_err(self.git(link, "reading a symlink"))?;
        let target = gix::path::from_byte_slice(&blob.data).map_err(|_| SourceError::Git {
            path: link.to_path_buf(),
            message: "the symlink's target is not a valid path on this platform".into(),
        })?;
        if target.has_root() || target.is_absolute() {
            return Ok(Err(LinkProblem::Escapes(target.to_path_buf())));
        }
        Ok(Ok(target
            .components()
            .map(|c| c.as_os_str().to_os_string())
            .collect()))
    }

    /// Follows the symlink at `link` (blob `id`) through the tree.
    fn resolve_link(
        &self,
        link: &Path,
        id: ObjectId,
    ) -> Result<Result<Resolved, LinkProblem>, SourceError> {
        let mut resolved: Vec<OsString> = link
            .parent()
            .map(|p| p.iter().map(OsStr::to_os_string).collect())
            .unwrap_or_default();
        let mut pending: VecDeque<OsString> = match self.link_target(id, link)? {
            Ok(target) => target.into(),
            Err(problem) => return Ok(Err(problem)),
        };
        let mut hops = 1;
        while let Some(component) = pending.pop_front() {
            if component == "." || component.is_empty() {
                continue;
            }
            if component == ".." {
                if resolved.pop().is_none() {
                    let outside = self.repo_root.parent().unwrap_or(self.repo_root);
                    return Ok(Err(LinkProblem::Escapes(fold(outside, &pending))));
                }
                continue;
            }
            if component.eq_ignore_ascii_case(".git") {
                let at: PathBuf = resolved.iter().collect();
                let mut rest = pending.clone();
                rest.push_front(component);
                return Ok(Err(LinkProblem::Escapes(fold(
                    &self.repo_root.join(at),
                    &rest,
                ))));
            }
            resolved.push(component);
            let path: PathBuf = resolved.iter().collect();
            let Some((kind, id)) = self.lookup(&path)? else {
                return Ok(Err(LinkProblem::Dangling));
            };
            let last = pending.iter().all(|c| c == ".");
            match kind {
                EntryKind::Tree => {}
                EntryKind::Link => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Ok(Err(LinkProblem::Loop));
                    }
                    resolved.pop();
                    match self.link_target(id, &path)? {
                        Ok(target) => {
                            for component in target.into_iter().rev() {
                                pending.push_front(component);
                            }
                        }
                        Err(problem) => return Ok(Err(problem)),
                    }
                }
                EntryKind::Blob | EntryKind::BlobExecutable if last => {
                    return Ok(Ok(Resolved::File { path, id }));
                }
                EntryKind::Commit if last => return Ok(Ok(Resolved::Submodule)),
                // A file (or submodule) used as a directory.
                _ => return Ok(Err(LinkProblem::Dangling)),
            }
        }
        Ok(Ok(Resolved::Directory {
            path: resolved.iter().collect(),
        }))
    }

    /// Writes the whole tree below `dest`: directories, files (those in `within` from memory),
    /// and symlinks re-pointed at their resolved target inside `dest`. Submodules become empty
    /// directories, as in a checkout that did not initialise them.
    fn materialise(
        &self,
        dest: &Path,
        within: &Within<'_>,
        budget: &mut Budget,
    ) -> Result<(), SourceError> {
        let mut pending = vec![(PathBuf::new(), self.root.id)];
        while let Some((dir, id)) = pending.pop() {
            self.create_dir(dest, &dir)?;
            for (name, kind, id) in self.entries(id, &dir)? {
                let path = dir.join(name);
                if matches!(
                    kind,
                    EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link
                ) {
                    budget.files += 1;
                    if budget.files > self.limits.max_files {
                        return Err(SourceError::TooManyFiles {
                            root: self.repo_root.to_path_buf(),
                            limit: self.limits.max_files,
                        });
                    }
                }
                match kind {
                    EntryKind::Tree => pending.push((path, id)),
                    EntryKind::Commit => self.create_dir(dest, &path)?,
                    EntryKind::Blob | EntryKind::BlobExecutable => {
                        let executable = kind == EntryKind::BlobExecutable;
                        match within.get(&path) {
                            Some(bytes) => self.write_file(dest, &path, bytes, executable)?,
                            None => {
                                let bytes = self.read_blob(id, &path, budget)?;
                                self.write_file(dest, &path, &bytes, executable)?;
                            }
                        }
                    }
                    EntryKind::Link => self.materialise_link(dest, &path, id, budget)?,
                }
            }
        }
        Ok(())
    }

    /// A confined symlink becomes a relative link to its resolved target in the copy, which
    /// cannot leave it. A link out of the repository (or into `.git`) is refused, wherever it
    /// is: helm follows links in a chart, so leaving one out only where it is unused would
    /// need to know what every tool reads. One that dangles or loops leads nowhere and is
    /// left out (a manifest candidate among them has already been refused).
    fn materialise_link(
        &self,
        dest: &Path,
        link: &Path,
        id: ObjectId,
        budget: &mut Budget,
    ) -> Result<(), SourceError> {
        let (target, file) = match self.resolve_link(link, id)? {
            Ok(Resolved::File { path, id }) => (path, Some(id)),
            Ok(Resolved::Directory { path }) => (path, None),
            Err(LinkProblem::Escapes(target)) => {
                return Err(self.refuse(
                    link,
                    format!(
                        "the symlink points outside the repository ({}); refusing to write it",
                        target.display()
                    ),
                ));
            }
            Ok(Resolved::Submodule) | Err(LinkProblem::Dangling | LinkProblem::Loop) => {
                return Ok(());
            }
        };
        let io = |source| SourceError::Io {
            path: link.to_path_buf(),
            source,
        };
        #[cfg(unix)]
        {
            let _ = (file, budget);
            let depth = link.parent().map_or(0, |p| p.components().count());
            let mut relative: PathBuf = std::iter::repeat_n(Component::ParentDir, depth).collect();
            relative.push(&target);
            if relative.as_os_str().is_empty() {
                relative.push(".");
            }
            let _ = io;
            std::os::unix::fs::symlink(&relative, dest.join(link))
                .map_err(|e| self.refuse_existing(link, e))
        }
        #[cfg(not(unix))]
        {
            // Without symlinks to spare, a file is copied and a directory link left out.
            let _ = io;
            match file {
                Some(id) => {
                    let bytes = self.read_blob(id, &target, budget)?;
                    self.write_file(dest, link, &bytes, false)
                }
                None => Ok(()),
            }
        }
    }
}

/// A tree entry's name as a path component, refusing what git itself refuses to check out.
fn checked_name(raw: &BStr, kind: EntryKind, dir: &Path) -> Result<OsString, SourceError> {
    let options = gix::validate::path::component::Options {
        protect_windows: cfg!(windows),
        protect_hfs: cfg!(target_os = "macos"),
        protect_ntfs: cfg!(windows),
    };
    let mode = (kind == EntryKind::Link).then_some(gix::validate::path::component::Mode::Symlink);
    let shown = || dir.join(raw.to_string());
    if let Err(err) = gix::validate::path::component(raw, mode, options) {
        return Err(SourceError::Git {
            path: shown(),
            message: format!("the tree holds a file name git refuses to check out: {err}"),
        });
    }
    match gix::path::from_byte_slice(raw) {
        Ok(path) => Ok(path.as_os_str().to_os_string()),
        Err(_) => Err(SourceError::Git {
            path: shown(),
            message: "the file name is not valid on this platform".into(),
        }),
    }
}

/// `base` with `rest` applied lexically: where a path points, for messages.
fn fold(base: &Path, rest: &VecDeque<OsString>) -> PathBuf {
    let mut out = base.to_path_buf();
    for component in rest {
        if component == ".." {
            out.pop();
        } else if component != "." && !component.is_empty() {
            out.push(component);
        }
    }
    out
}

/// The first symlink under `dest` (canonical), walked without following any, that does not
/// resolve inside it (dangling or looping counts as not inside), relative to `dest`.
fn first_escape(dest: &Path) -> Result<Option<PathBuf>, SourceError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SourceError::Io { path, source }
    };
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(dest.join(&dir)).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = dir.join(entry.file_name());
            let file_type = entry.file_type().map_err(io(&path))?;
            if file_type.is_dir() {
                pending.push(path);
            } else if file_type.is_symlink()
                && !fs::canonicalize(dest.join(&path)).is_ok_and(|real| real.starts_with(dest))
            {
                return Ok(Some(path));
            }
        }
    }
    Ok(None)
}

/// Creates the parent directories of `dest/path` for a copy holding no symlinks.
fn create_parents(dest: &Path, path: &Path) -> Result<(), SourceError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    fs::create_dir_all(dest.join(parent)).map_err(|source| SourceError::Io {
        path: parent.to_path_buf(),
        source,
    })
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn the_walk_after_writing_finds_a_link_that_leaves_the_copy_however_it_got_there() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "x").unwrap();
        let copy = tempfile::tempdir().unwrap();
        let dest = copy.path().canonicalize().unwrap();
        fs::create_dir_all(dest.join("chart/templates")).unwrap();
        symlink("../..", dest.join("chart/templates/root")).unwrap();
        symlink(".", dest.join("p")).unwrap();
        assert_eq!(first_escape(&dest).unwrap(), None);

        // As the naive materializer wrote it: a climb counted from the depth on paper.
        symlink(
            format!(
                "../../../../../../../..{}",
                outside.path().join("secret").display()
            ),
            dest.join("chart/sa"),
        )
        .unwrap();
        assert_eq!(
            first_escape(&dest).unwrap(),
            Some(PathBuf::from("chart/sa"))
        );
    }

    #[test]
    fn the_walk_after_writing_counts_a_dangling_or_looping_link_as_escaping() {
        for (name, target) in [("dangling", "missing"), ("loop", "loop")] {
            let copy = tempfile::tempdir().unwrap();
            let dest = copy.path().canonicalize().unwrap();
            symlink(target, dest.join(name)).unwrap();
            assert_eq!(first_escape(&dest).unwrap(), Some(PathBuf::from(name)));
        }
    }
}
