//! The on-disk cache of fetched charts, shared by every render of the process (and, in the
//! controller, by every tenant), so it is a store renders can only read through a digest:
//!
//! - `dependencies/KEY/` holds the archives `helm dependency build` fetched for one lock (see
//!   `dependencies::Needs::Fetched::key`), with `SHA256SUMS` naming each archive's digest;
//! - `charts/sha256/DIGEST/NAME/` holds a chart pulled for a `helmCharts:` entry, named by the
//!   digest of its files, and `charts/index/KEY` names the digest pulled for one (repository,
//!   chart, version).
//!
//! Entries are filled under a temporary name, made read-only and renamed into place, so a
//! render that stops half-way, or two renders at once, never leave a partial one. No render
//! builds in the store: what it uses is copied into its own sandbox and checked against the
//! digest there, and an entry whose files no longer match their digest is thrown away and
//! fetched again. Read-only files stop a stray write; the digest stops one made anyway (a
//! process running as root ignores permissions).
//!
//! The store is bounded: each use of an entry is recorded in `used/`, and after each fetch the
//! entries beyond the `MAX_ENTRIES` most recently used are removed, unless used within
//! `RECENT` (a render may be copying them); so are index entries naming a removed chart, the
//! directories of the store's previous layout (`charts/KEY/`) and staging directories a
//! killed process left.
//!
//! Location: `$GITOPS_HELM_CACHE`, else `helm` in kubectl-gitops' cache directory
//! (`$KUBECTL_GITOPS_CACHE_DIR`, else `$XDG_CACHE_HOME/kubectl-gitops`, else
//! `~/.cache/kubectl-gitops`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// Overrides where fetched dependencies are cached.
pub const CACHE_ENV: &str = "GITOPS_HELM_CACHE";

/// The file of a dependencies entry naming each archive's digest.
const SUMS: &str = "SHA256SUMS";

/// Entries (fetched locks and stored charts together) kept beyond those used within
/// `RECENT`.
pub(crate) const MAX_ENTRIES: usize = 256;

/// An entry used this recently is never removed: a render may be copying it.
pub(crate) const RECENT: Duration = Duration::from_secs(600);

/// The staging directories' prefix.
const INCOMPLETE: &str = ".incomplete-";

/// The cache's root directory: `explicit`, else as the module says.
pub(crate) fn root(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = env(CACHE_ENV) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = env("KUBECTL_GITOPS_CACHE_DIR") {
        return PathBuf::from(dir).join("helm");
    }
    let base = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("kubectl-gitops").join("helm")
}

/// The archives cached for `key`, if the entry exists and every archive still has the digest
/// it was stored with (an entry that does not is removed).
pub(crate) fn lookup(root: &Path, key: &str) -> Option<Vec<PathBuf>> {
    let entry = root.join("dependencies").join(key);
    if !entry.is_dir() {
        return None;
    }
    match verified_archives(&entry) {
        Some(archives) => {
            mark_used(root, "dependencies", key);
            Some(archives)
        }
        None => {
            discard(&entry);
            None
        }
    }
}

fn verified_archives(entry: &Path) -> Option<Vec<PathBuf>> {
    let sums = std::fs::read_to_string(entry.join(SUMS)).ok()?;
    let mut listed = Vec::new();
    for line in sums.lines() {
        let (digest, name) = line.split_once("  ")?;
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return None;
        }
        let archive = entry.join(name);
        if file_digest(&archive).ok()? != digest {
            return None;
        }
        listed.push(archive);
    }
    let present = std::fs::read_dir(entry)
        .ok()?
        .flatten()
        .filter(|e| e.file_name() != SUMS)
        .count();
    // Nothing may have been added beside the archives either.
    if present != listed.len() {
        return None;
    }
    listed.sort();
    Some(listed)
}

/// Stores copies of `archives` as the entry for `key`; returns the entry's archives.
pub(crate) fn store(root: &Path, key: &str, archives: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let parent = root.join("dependencies");
    std::fs::create_dir_all(&parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".incomplete-")
        .tempdir_in(&parent)?;
    let mut sums = String::new();
    for archive in archives {
        if let Some(name) = archive.file_name() {
            let copy = staging.path().join(name);
            std::fs::copy(archive, &copy)?;
            sums.push_str(&format!(
                "{}  {}\n",
                file_digest(&copy)?,
                name.to_string_lossy()
            ));
        }
    }
    std::fs::write(staging.path().join(SUMS), sums)?;
    seal(staging.path())?;
    let entry = parent.join(key);
    if entry.is_dir() && verified_archives(&entry).is_none() {
        discard(&entry);
    }
    match std::fs::rename(staging.path(), &entry) {
        Ok(()) => {
            // Renamed away: nothing left for the guard to remove.
            let _ = staging.keep();
        }
        // Another render stored the same lock first; its entry is as good as ours.
        Err(_) if entry.is_dir() => unseal_and_drop(staging),
        Err(error) => {
            unseal_and_drop(staging);
            return Err(error);
        }
    }
    let stored = lookup(root, key).ok_or_else(|| std::io::Error::other("the cache entry vanished"));
    evict(root, MAX_ENTRIES, RECENT);
    stored
}

/// Copies an archive of a dependencies entry to `to` (in a render's sandbox) and checks the
/// copy against the digest the entry lists for it.
pub(crate) fn copy_archive(archive: &Path, to: &Path) -> std::io::Result<()> {
    let listed = archive
        .parent()
        .and_then(|entry| std::fs::read_to_string(entry.join(SUMS)).ok())
        .and_then(|sums| {
            let name = archive.file_name()?.to_string_lossy().into_owned();
            sums.lines().find_map(|line| {
                let (digest, listed) = line.split_once("  ")?;
                (listed == name).then(|| digest.to_string())
            })
        });
    std::fs::copy(archive, to)?;
    set_writable(to, true)?;
    match listed {
        Some(digest) if file_digest(to)? == digest => Ok(()),
        _ => {
            let _ = std::fs::remove_file(to);
            Err(std::io::Error::other(
                "it no longer matches the digest it was stored with; it is fetched again on \
                 the next render",
            ))
        }
    }
}

/// A chart in the store: its directory and the digest of its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredChart {
    pub dir: PathBuf,
    pub digest: String,
}

impl StoredChart {
    /// Copies the chart to `to` (in a render's sandbox) and checks the copy against the
    /// digest: what the render builds is what was stored, whatever happened to the store.
    pub fn copy_to(&self, to: &Path) -> Result<(), StoredChartError> {
        copy_plain(&self.dir, to).map_err(StoredChartError::Copy)?;
        match tree_digest(to) {
            Ok(digest) if digest == self.digest => Ok(()),
            _ => Err(StoredChartError::Digest {
                dir: self.dir.clone(),
                digest: self.digest.clone(),
            }),
        }
    }
}

/// Why a stored chart could not be placed in a render's sandbox.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoredChartError {
    #[error("cannot copy from the cache: {0}")]
    Copy(std::io::Error),
    /// The store changed under us; the entry is fetched again next time.
    #[error(
        "the cached chart {} no longer matches its digest sha256:{digest}; it is fetched again \
         on the next render",
        .dir.display()
    )]
    Digest { dir: PathBuf, digest: String },
}

/// The chart stored for `key` (see `pull::key`), if the index names one whose files still
/// have their digest (an entry that does not is removed).
pub(crate) fn lookup_chart(root: &Path, key: &str, name: &str) -> Option<StoredChart> {
    let charts = root.join("charts");
    let digest = std::fs::read_to_string(charts.join("index").join(key)).ok()?;
    let digest = digest.trim();
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let entry = charts.join("sha256").join(digest);
    let dir = entry.join(name);
    if !dir.join("Chart.yaml").is_file() {
        return None;
    }
    if tree_digest(&dir).ok()?.as_str() != digest {
        discard(&entry);
        return None;
    }
    mark_used(root, "charts", digest);
    Some(StoredChart {
        dir,
        digest: digest.to_string(),
    })
}

/// A directory to pull a chart into, on the cache's file system so `store_chart` can rename
/// it into place; removed when dropped unless stored.
pub(crate) fn chart_staging(root: &Path) -> std::io::Result<tempfile::TempDir> {
    let parent = root.join("charts");
    std::fs::create_dir_all(&parent)?;
    tempfile::Builder::new()
        .prefix(".incomplete-")
        .tempdir_in(&parent)
}

/// Makes `staging` (holding the pulled chart `name`) the store's entry for its digest and the
/// index's entry for `key`; returns the stored chart.
pub(crate) fn store_chart(
    root: &Path,
    key: &str,
    name: &str,
    staging: tempfile::TempDir,
) -> std::io::Result<StoredChart> {
    let charts = root.join("charts");
    let digest = tree_digest(&staging.path().join(name))?;
    std::fs::create_dir_all(charts.join("sha256"))?;
    std::fs::create_dir_all(charts.join("index"))?;
    seal(staging.path())?;
    let entry = charts.join("sha256").join(&digest);
    if entry.is_dir() && tree_digest(&entry.join(name)).ok().as_ref() != Some(&digest) {
        discard(&entry);
    }
    match std::fs::rename(staging.path(), &entry) {
        Ok(()) => {
            let _ = staging.keep();
        }
        // The same files are stored already (the digest says so).
        Err(_) if entry.is_dir() => unseal_and_drop(staging),
        Err(error) => {
            unseal_and_drop(staging);
            return Err(error);
        }
    }
    let index = tempfile::Builder::new()
        .prefix(".incomplete-")
        .tempfile_in(charts.join("index"))?;
    std::fs::write(index.path(), format!("{digest}\n"))?;
    index
        .persist(charts.join("index").join(key))
        .map_err(|e| e.error)?;
    let stored = lookup_chart(root, key, name)
        .ok_or_else(|| std::io::Error::other("the cache entry vanished"));
    evict(root, MAX_ENTRIES, RECENT);
    stored
}

/// Records that the entry `name` of `kind` (`dependencies`, `charts`) was used now.
fn mark_used(root: &Path, kind: &str, name: &str) {
    let used = root.join("used");
    if std::fs::create_dir_all(&used).is_ok() {
        let _ = std::fs::File::create(used.join(format!("{kind}-{name}")));
    }
}

/// When an entry was last used: its mark, else when it was stored.
fn last_used(root: &Path, kind: &str, entry: &Path) -> SystemTime {
    let name = entry.file_name().unwrap_or_default().to_string_lossy();
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    modified(&root.join("used").join(format!("{kind}-{name}")))
        .or_else(|| modified(entry))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Removes the entries beyond the `max` most recently used, except those used within
/// `recent`; index entries naming a chart no longer stored; directories of the previous
/// layout and staging directories older than `recent`.
pub(crate) fn evict(root: &Path, max: usize, recent: Duration) {
    let now = SystemTime::now();
    let old = |time: SystemTime| now.duration_since(time).is_ok_and(|age| age > recent);
    let listing = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let named = |path: &Path, prefix: &str| {
        path.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
    };
    let mut entries: Vec<(SystemTime, &str, PathBuf)> = Vec::new();
    for (kind, dir) in [
        ("dependencies", root.join("dependencies")),
        ("charts", root.join("charts").join("sha256")),
    ] {
        for entry in listing(&dir) {
            if named(&entry, INCOMPLETE) {
                if old(last_used(root, kind, &entry)) {
                    discard(&entry);
                }
                continue;
            }
            entries.push((last_used(root, kind, &entry), kind, entry));
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (used, kind, entry) in entries.into_iter().skip(max) {
        if old(used) {
            discard(&entry);
            let name = entry.file_name().unwrap_or_default().to_string_lossy();
            let _ = std::fs::remove_file(root.join("used").join(format!("{kind}-{name}")));
        }
    }
    let charts = root.join("charts");
    for index in listing(&charts.join("index")) {
        let stored = std::fs::read_to_string(&index)
            .is_ok_and(|digest| charts.join("sha256").join(digest.trim()).is_dir());
        if !stored && !named(&index, INCOMPLETE) {
            let _ = std::fs::remove_file(&index);
        }
    }
    // The previous layout kept a pulled chart in `charts/KEY/`.
    for dir in listing(&charts) {
        let current = ["sha256", "index"].iter().any(|n| dir.ends_with(n));
        let modified = std::fs::metadata(&dir).and_then(|m| m.modified()).ok();
        if !current && dir.is_dir() && modified.is_some_and(old) {
            discard(&dir);
        }
    }
}

/// The digest of a directory's files: every entry's path, kind and content, in name order.
/// A link or any other special file has no place in a stored chart and is an error.
pub(crate) fn tree_digest(dir: &Path) -> std::io::Result<String> {
    let mut hash = Sha256::new();
    digest_dir(dir, Path::new(""), &mut hash)?;
    Ok(hex(&hash.finalize()))
}

fn digest_dir(dir: &Path, relative: &Path, hash: &mut Sha256) -> std::io::Result<()> {
    let mut entries = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let kind = entry.file_type()?;
        let path = relative.join(entry.file_name());
        let name = path.as_os_str().as_encoded_bytes();
        let tag: &[u8] = if kind.is_dir() {
            b"d"
        } else if kind.is_file() {
            b"f"
        } else {
            return Err(std::io::Error::other(format!(
                "{} is a link or special file",
                path.display()
            )));
        };
        hash.update(tag);
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name);
        if kind.is_dir() {
            digest_dir(&entry.path(), &path, hash)?;
        } else {
            hash.update(entry.metadata()?.len().to_le_bytes());
            hash_file(&entry.path(), hash)?;
        }
    }
    Ok(())
}

fn file_digest(path: &Path) -> std::io::Result<String> {
    let mut hash = Sha256::new();
    hash_file(path, &mut hash)?;
    Ok(hex(&hash.finalize()))
}

fn hash_file(path: &Path, hash: &mut Sha256) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(());
        }
        hash.update(&buffer[..read]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A copy of the plain files and directories below `from` at `to`, writable by the render.
fn copy_plain(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_plain(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
            set_writable(&target, true)?;
        }
        // Anything else fails the digest check that follows the copy.
    }
    Ok(())
}

/// Makes every file and directory below `dir` (and `dir`) read-only.
fn seal(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            seal(&entry.path())?;
        } else if kind.is_file() {
            set_writable(&entry.path(), false)?;
        }
    }
    set_writable(dir, false)
}

/// Makes `dir` and everything below it writable again, so it can be removed.
fn unseal(dir: &Path) {
    let _ = set_writable(dir, true);
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => unseal(&path),
                Ok(kind) if kind.is_file() => {
                    let _ = set_writable(&path, true);
                }
                _ => {}
            }
        }
    }
}

fn unseal_and_drop(staging: tempfile::TempDir) {
    unseal(staging.path());
    drop(staging);
}

/// Removes a store entry whose files no longer match their digest.
fn discard(entry: &Path) {
    unseal(entry);
    let _ = std::fs::remove_dir_all(entry);
}

#[cfg(unix)]
fn set_writable(path: &Path, writable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::symlink_metadata(path)?;
    let mode = match (metadata.is_dir(), writable) {
        (true, true) => 0o755,
        (true, false) => 0o555,
        (false, true) => 0o644,
        (false, false) => 0o444,
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_writable(path: &Path, writable: bool) -> std::io::Result<()> {
    let mut permissions = std::fs::metadata(path)?.permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(!writable);
    std::fs::set_permissions(path, permissions)
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
