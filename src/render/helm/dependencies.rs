//! A chart's dependencies: which `Chart.yaml` declares, which `charts/` already holds
//! (vendored), and, for the rest, what `Chart.lock` pins.
//!
//! Only locked dependencies are fetched: a range in `Chart.yaml` resolved at render time would
//! make two renders of one commit differ as the repository publishes releases. A chart whose
//! missing dependencies have no lock is refused with the command that writes one.
//!
//! A `file://` dependency is another directory of the repository: helm packages it during the
//! fetch, and its files are part of the cache key, so an edit to it is rendered at once.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::render::RenderError;

/// A dependency as `Chart.lock` pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Locked {
    pub name: String,
    pub version: String,
    /// A repository URL (`https://`, `oci://`, `file://`), a repository name (`@name`,
    /// `alias:name`), or empty for a chart that lives in `charts/`.
    pub repository: String,
}

impl Locked {
    /// `db 1.2.3`, as messages name it.
    pub fn shown(&self) -> String {
        format!("{} {}", self.name, self.version)
    }

    /// Whether helm fetches it from a chart repository or registry.
    pub fn is_remote(&self) -> bool {
        !self.repository.is_empty() && !self.repository.starts_with("file://")
    }

    pub fn is_oci(&self) -> bool {
        self.repository.starts_with("oci://")
    }

    /// Whether `helm dependency build` provides it (from a repository, or from a directory).
    pub fn is_built(&self) -> bool {
        !self.repository.is_empty()
    }

    /// The directory of a `file://` dependency, relative to the chart.
    pub fn local_path(&self) -> Option<&Path> {
        self.repository.strip_prefix("file://").map(Path::new)
    }
}

/// A `file://` dependency's directory: where the chart names it, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Local {
    /// As the lock names it, relative to the chart's directory.
    pub relative: PathBuf,
    /// The directory itself, inside the repository.
    pub source: PathBuf,
}

/// What rendering the chart needs besides its own directory.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Nothing: no dependencies, or every one is already in `charts/`.
    Nothing,
    /// These locked dependencies, fetched (or found in the cache under `key`).
    Fetched {
        /// Every dependency of the lock (helm fetches them all).
        locked: Vec<Locked>,
        /// The ones `charts/` lacks: their archives are added to the rendered copy.
        missing: Vec<Locked>,
        /// The `file://` dependencies' directories, which the fetch needs beside the chart.
        local: Vec<Local>,
        /// The cache entry holding the archives of this lock.
        key: String,
    },
}

/// What the chart in `dir` (shown as `display`) needs; `file://` dependencies must stay inside
/// `boundary`, the repository.
pub(crate) fn needs(dir: &Path, display: &Path, boundary: &Path) -> Result<Needs, RenderError> {
    let read_yaml = |name: &str| -> Result<Option<Value>, RenderError> {
        let path = dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(RenderError::HelmFailed {
                    chart: display.to_path_buf(),
                    message: format!("cannot read {name}: {error}"),
                });
            }
        };
        crate::yaml::from_str(&text)
            .map(Some)
            .map_err(|reason| RenderError::HelmFailed {
                chart: display.to_path_buf(),
                message: format!("{name} is not valid YAML: {reason}"),
            })
    };
    let Some(chart) = read_yaml("Chart.yaml")? else {
        return Ok(Needs::Nothing);
    };
    let declared = chart
        .get("dependencies")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    let names: Vec<String> = declared
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let vendored = vendored(&dir.join("charts"));
    let absent: Vec<&String> = names
        .iter()
        .filter(|name| !vendored.iter().any(|v| v == *name))
        .collect();
    if absent.is_empty() {
        return Ok(Needs::Nothing);
    }
    let Some(lock) = read_yaml("Chart.lock")? else {
        return Err(RenderError::HelmDependenciesUnlocked {
            chart: display.to_path_buf(),
            missing: absent
                .iter()
                .map(|name| describe_declared(&declared, name))
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let locked: Vec<Locked> = lock
        .get("dependencies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| {
            let text = |key: &str| d.get(key).and_then(Value::as_str).unwrap_or("").to_string();
            Locked {
                name: text("name"),
                version: text("version"),
                repository: text("repository"),
            }
        })
        .collect();
    let mut missing = Vec::new();
    for name in absent {
        let Some(found) = locked.iter().find(|l| &l.name == name) else {
            return Err(RenderError::HelmDependency {
                chart: display.to_path_buf(),
                dependency: name.clone(),
                repository: declared_repository(&declared, name),
                reason: "Chart.yaml declares it but Chart.lock does not pin it: run `helm \
                         dependency update` and commit Chart.lock"
                    .into(),
            });
        };
        if !found.is_built() {
            return Err(RenderError::HelmDependency {
                chart: display.to_path_buf(),
                dependency: found.shown(),
                repository: "charts/".into(),
                reason: "it is not in charts/: a dependency without a repository must be \
                         vendored there"
                    .into(),
            });
        }
        missing.push(found.clone());
    }
    // helm builds every file:// dependency of the lock, vendored or not.
    let mut local = Vec::new();
    for dependency in &locked {
        let Some(relative) = dependency.local_path() else {
            continue;
        };
        let refuse = |reason: String| RenderError::HelmDependency {
            chart: display.to_path_buf(),
            dependency: dependency.shown(),
            repository: dependency.repository.clone(),
            reason,
        };
        let boundary = boundary
            .canonicalize()
            .unwrap_or_else(|_| boundary.to_path_buf());
        let source = dir
            .join(relative)
            .canonicalize()
            .map_err(|e| refuse(format!("cannot read the directory: {e}")))?;
        if relative.is_absolute() || !source.starts_with(&boundary) {
            return Err(refuse("the directory is outside the repository".into()));
        }
        local.push(Local {
            relative: relative.to_path_buf(),
            source,
        });
    }
    let digest = lock.get("digest").and_then(Value::as_str).unwrap_or("");
    let mut key = Sha256::new();
    key.update(cache_key(digest, &declared).as_bytes());
    for dependency in &local {
        key.update(dependency.relative.to_string_lossy().as_bytes());
        hash_tree(&dependency.source, &dependency.source, &mut key);
    }
    Ok(Needs::Fetched {
        key: hex(&key.finalize()),
        locked,
        missing,
        local,
    })
}

/// Every file's path and bytes under `dir`, in sorted order.
fn hash_tree(root: &Path, dir: &Path, hash: &mut Sha256) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            hash_tree(root, &path, hash);
        } else if let Ok(bytes) = std::fs::read(&path) {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            hash.update(relative.to_string_lossy().as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(&bytes);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache entry for a lock: its digest, and the dependencies as Chart.yaml declares them, so
/// a Chart.yaml edited without `helm dependency update` is fetched again (and refused by helm
/// as out of sync) rather than rendered with the archives of the old lock.
fn cache_key(digest: &str, declared: &Value) -> String {
    let mut hash = Sha256::new();
    hash.update(digest.as_bytes());
    hash.update(b"\n");
    hash.update(declared.to_string().as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The chart names `charts/` provides: each sub-directory's `Chart.yaml` name, and each archive
/// `NAME-VERSION.tgz`.
fn vendored(charts: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(charts) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            let name = std::fs::read_to_string(path.join("Chart.yaml"))
                .ok()
                .and_then(|text| crate::yaml::from_str(&text).ok())
                .and_then(|chart| chart.get("name")?.as_str().map(str::to_string));
            names.extend(name);
        } else if let Some(name) = archive_chart_name(&path) {
            names.push(name);
        }
    }
    names
}

/// `charts/db-1.2.3.tgz` -> `db`: the name is what precedes the `-` that starts the version.
pub(crate) fn archive_chart_name(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    let stem = file.strip_suffix(".tgz")?;
    let split = stem.char_indices().find(|&(i, c)| {
        c == '-'
            && stem[i + 1..]
                .trim_start_matches('v')
                .starts_with(|d: char| d.is_ascii_digit())
    })?;
    Some(stem[..split.0].to_string())
}

fn declared_repository(declared: &Value, name: &str) -> String {
    declared
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|d| d.get("repository").and_then(Value::as_str))
        .filter(|r| !r.is_empty())
        .unwrap_or("charts/")
        .to_string()
}

fn describe_declared(declared: &Value, name: &str) -> String {
    format!(
        "{name} from {}",
        crate::scrub::url(&declared_repository(declared, name))
    )
}

/// Where `helm dependency build` left the archives of `locked` in `charts`.
pub(crate) fn archives(charts: &Path, locked: &[Locked]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(charts) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            archive_chart_name(p).is_some_and(|name| {
                locked
                    .iter()
                    .any(|l| l.is_built() && l.name == name && p.is_file())
            })
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    const CHART: &str = "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: db\n  \
                         version: ~0.1\n  repository: https://charts.example.com\n- name: cache\n  \
                         version: 2.x\n  repository: oci://registry.example.com/charts\n";
    const LOCK: &str = "dependencies:\n- name: db\n  repository: https://charts.example.com\n  \
                        version: 0.1.4\n- name: cache\n  repository: oci://registry.example.com/charts\n  \
                        version: 2.3.0\ndigest: sha256:abc\ngenerated: \"2026-01-01T00:00:00Z\"\n";

    #[test]
    fn archive_names_stop_where_the_version_starts() {
        let name = |f: &str| archive_chart_name(Path::new(f));
        assert_eq!(name("charts/db-0.1.0.tgz").as_deref(), Some("db"));
        assert_eq!(name("my-db-1.2.3.tgz").as_deref(), Some("my-db"));
        assert_eq!(name("redis-v7.0.0.tgz").as_deref(), Some("redis"));
        assert_eq!(name("notes.txt"), None);
    }

    #[test]
    fn a_chart_with_every_dependency_vendored_needs_nothing() {
        let dir = chart(&[
            ("Chart.yaml", CHART),
            ("charts/db/Chart.yaml", "name: db\nversion: 0.1.0\n"),
            ("charts/cache-2.3.0.tgz", "archive"),
        ]);
        assert_eq!(
            needs(dir.path(), Path::new("web"), dir.path()).unwrap(),
            Needs::Nothing
        );
    }

    #[test]
    fn missing_locked_dependencies_are_fetched_as_pinned() {
        let dir = chart(&[
            ("Chart.yaml", CHART),
            ("Chart.lock", LOCK),
            ("charts/db/Chart.yaml", "name: db\nversion: 0.1.4\n"),
        ]);
        let Needs::Fetched {
            locked,
            missing,
            key,
            ..
        } = needs(dir.path(), Path::new("web"), dir.path()).unwrap()
        else {
            panic!("a fetch is needed");
        };
        assert_eq!(locked.len(), 2);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].shown(), "cache 2.3.0");
        assert!(missing[0].is_oci());
        assert_eq!(key.len(), 64);
    }

    #[test]
    fn the_cache_key_changes_with_the_lock_and_with_chart_yaml() {
        let declared = crate::yaml::from_str(CHART).unwrap()["dependencies"].clone();
        let mut edited = declared.clone();
        edited[0]["version"] = "~0.2".into();
        assert_eq!(
            cache_key("sha256:abc", &declared),
            cache_key("sha256:abc", &declared)
        );
        assert_ne!(
            cache_key("sha256:abc", &declared),
            cache_key("sha256:abd", &declared)
        );
        assert_ne!(
            cache_key("sha256:abc", &declared),
            cache_key("sha256:abc", &edited)
        );
    }

    #[test]
    fn missing_dependencies_without_a_lock_are_refused_saying_how_to_lock_them() {
        let dir = chart(&[("Chart.yaml", CHART)]);
        let error = needs(dir.path(), Path::new("deploy/web"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("deploy/web: "), "{error}");
        assert!(
            error.contains("db from https://charts.example.com"),
            "{error}"
        );
        assert!(error.contains("helm dependency update"), "{error}");
        assert!(error.contains("Chart.lock"), "{error}");
    }

    #[test]
    fn a_dependency_the_lock_lacks_is_named_with_its_repository() {
        let lock = "dependencies:\n- name: db\n  repository: https://charts.example.com\n  \
                    version: 0.1.4\ndigest: sha256:abc\n";
        let dir = chart(&[("Chart.yaml", CHART), ("Chart.lock", lock)]);
        let error = needs(dir.path(), Path::new("web"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cache") && error.contains("oci://registry.example.com/charts"),
            "{error}"
        );
    }

    #[test]
    fn a_local_dependency_is_built_from_inside_the_repository_and_keyed_by_its_files() {
        let chart_yaml = "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: lib\n  \
                          version: 0.1.0\n  repository: file://../lib\n";
        let lock = "dependencies:\n- name: lib\n  repository: file://../lib\n  version: 0.1.0\n\
                    digest: sha256:abc\n";
        let repo = chart(&[
            ("web/Chart.yaml", chart_yaml),
            ("web/Chart.lock", lock),
            ("lib/Chart.yaml", "name: lib\nversion: 0.1.0\n"),
        ]);
        let web = repo.path().join("web");
        let key = |boundary: &Path| match needs(&web, Path::new("web"), boundary) {
            Ok(Needs::Fetched { key, local, .. }) => {
                assert_eq!(local[0].relative, Path::new("../lib"));
                Ok(key)
            }
            Ok(other) => panic!("{other:?}"),
            Err(error) => Err(error.to_string()),
        };
        let before = key(repo.path()).unwrap();
        std::fs::write(repo.path().join("lib/values.yaml"), "x: 1\n").unwrap();
        assert_ne!(
            key(repo.path()).unwrap(),
            before,
            "an edit is fetched again"
        );
        let error = key(&web).unwrap_err();
        assert!(
            error.contains("lib 0.1.0") && error.contains("outside the repository"),
            "{error}"
        );
    }
}
