//! The on-disk cache of fetched charts: one directory per lock (see
//! `dependencies::Needs::Fetched::key`) holding the archives `helm dependency build` fetched,
//! and one per `helmCharts:` entry's (repository, chart, version) holding the pulled chart.
//! Either entry is complete once it exists: it is filled under a temporary name and renamed into
//! place, so a render that stops half-way, or two renders at once, never leave a partial one.
//!
//! Location: `$GITOPS_HELM_CACHE`, else `helm` in kubectl-gitops' cache directory
//! (`$KUBECTL_GITOPS_CACHE_DIR`, else `$XDG_CACHE_HOME/kubectl-gitops`, else
//! `~/.cache/kubectl-gitops`).

use std::path::{Path, PathBuf};

/// Overrides where fetched dependencies are cached.
pub const CACHE_ENV: &str = "GITOPS_HELM_CACHE";

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

/// The archives cached for `key`, if the entry exists.
pub(crate) fn lookup(root: &Path, key: &str) -> Option<Vec<PathBuf>> {
    let entry = root.join("dependencies").join(key);
    let mut archives: Vec<PathBuf> = std::fs::read_dir(&entry)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
        .collect();
    archives.sort();
    Some(archives)
}

/// Stores copies of `archives` as the entry for `key`; returns the entry's archives.
pub(crate) fn store(root: &Path, key: &str, archives: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let parent = root.join("dependencies");
    std::fs::create_dir_all(&parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".incomplete-")
        .tempdir_in(&parent)?;
    for archive in archives {
        if let Some(name) = archive.file_name() {
            std::fs::copy(archive, staging.path().join(name))?;
        }
    }
    let entry = parent.join(key);
    match std::fs::rename(staging.path(), &entry) {
        Ok(()) => {
            // Renamed away: nothing left for the guard to remove.
            let _ = staging.keep();
        }
        // Another render stored the same lock first; its entry is as good as ours.
        Err(_) if entry.is_dir() => {}
        Err(error) => return Err(error),
    }
    lookup(root, key).ok_or_else(|| std::io::Error::other("the cache entry vanished"))
}

/// The chart cached for `key` (see `pull::key`): `CHARTS/KEY/NAME`, if the entry exists.
pub(crate) fn lookup_chart(root: &Path, key: &str, name: &str) -> Option<PathBuf> {
    let chart = root.join("charts").join(key).join(name);
    chart.join("Chart.yaml").is_file().then_some(chart)
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

/// Makes `staging` (holding the pulled chart `name`) the entry for `key`; returns the chart.
pub(crate) fn store_chart(
    root: &Path,
    key: &str,
    name: &str,
    staging: tempfile::TempDir,
) -> std::io::Result<PathBuf> {
    let entry = root.join("charts").join(key);
    match std::fs::rename(staging.path(), &entry) {
        Ok(()) => {
            let _ = staging.keep();
        }
        // Another render stored the same chart first; its entry is as good as ours.
        Err(_) if entry.is_dir() => {}
        Err(error) => return Err(error),
    }
    lookup_chart(root, key, name).ok_or_else(|| std::io::Error::other("the cache entry vanished"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_entry_is_found_and_a_second_store_keeps_the_first() {
        let root = tempfile::tempdir().unwrap();
        let source = tempfile::tempdir().unwrap();
        let archive = source.path().join("db-0.1.0.tgz");
        std::fs::write(&archive, "first").unwrap();
        assert_eq!(lookup(root.path(), "k"), None);
        let stored = store(root.path(), "k", std::slice::from_ref(&archive)).unwrap();
        assert_eq!(stored.len(), 1);
        std::fs::write(&archive, "second").unwrap();
        store(root.path(), "k", &[archive]).unwrap();
        let found = lookup(root.path(), "k").unwrap();
        assert_eq!(std::fs::read_to_string(&found[0]).unwrap(), "first");
        let leftovers = std::fs::read_dir(root.path().join("dependencies"))
            .unwrap()
            .count();
        assert_eq!(leftovers, 1, "no staging directory is left behind");
    }
}
