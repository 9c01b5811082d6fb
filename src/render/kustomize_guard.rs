//! Checks a kustomization's references before kustomize runs: a repository must not pull in
//! files from outside itself (an absolute path, `../` past the repository root) or from the
//! network (remote bases), which kustomize would otherwise happily do.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::error::RenderError;

/// Fields whose strings are paths (or remote URLs) kustomize loads.
const PATH_LISTS: &[&str] = &[
    "resources",
    "bases",
    "components",
    "crds",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "patchesStrategicMerge",
];

/// Generators whose `files`/`envs` entries name files (`key=path` or `path`).
const GENERATORS: &[&str] = &["configMapGenerator", "secretGenerator"];

const KUSTOMIZATION_FILES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Walks the kustomization in `dir` and every local kustomization it references, refusing
/// references that leave `repo_root` or point at the network. `display` turns an on-disk path
/// into the repository-relative name used in messages. Says whether a kustomization renders
/// `helmCharts`, and which of their charts come from a repository.
pub(crate) fn check(
    dir: &Path,
    repo_root: &Path,
    display: &dyn Fn(&Path) -> PathBuf,
) -> Result<Charts, RenderError> {
    let repo_root = repo_root
        .canonicalize()
        .unwrap_or_else(|_| repo_root.to_path_buf());
    let mut seen = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    let mut charts_found = Charts::default();
    while let Some(dir) = pending.pop() {
        let dir = dir.canonicalize().unwrap_or(dir);
        if !seen.insert(dir.clone()) {
            continue;
        }
        let Some((file, text)) = read_kustomization(&dir) else {
            continue;
        };
        // A kustomization that does not parse is kustomize's to report, with its own words.
        let Ok(doc) = crate::yaml::from_str(&text) else {
            continue;
        };
        let refuse = |reference: &str, reason: &str| RenderError::KustomizeReference {
            file: display(&file),
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        let charts = super::helm::kustomize::references(&doc, &refuse)?;
        let mut references = references(&doc);
        if let Some(charts) = charts {
            charts_found.any = true;
            references.extend(charts.references);
            charts_found
                .remote
                .extend(charts.remote.into_iter().map(|chart| Placed {
                    dir: dir.clone(),
                    file: display(&file),
                    chart,
                }));
        }
        for reference in references {
            if is_remote(&reference) {
                return Err(refuse(
                    &reference,
                    "remote bases are refused: vendor them into the repository",
                ));
            }
            let path = Path::new(&reference);
            if path.is_absolute() {
                return Err(refuse(
                    &reference,
                    "absolute paths are refused: use a path inside the repository",
                ));
            }
            let target = lexical_join(&dir, path);
            let resolved = target.canonicalize().unwrap_or_else(|_| target.clone());
            if !resolved.starts_with(&repo_root) {
                return Err(refuse(&reference, "points outside the repository"));
            }
            if resolved.is_dir() {
                pending.push(resolved);
            }
        }
    }
    Ok(charts_found)
}

/// The `helmCharts` of a kustomization and of everything it builds on.
#[derive(Debug, Default)]
pub(crate) struct Charts {
    /// Whether any kustomization renders `helmCharts`, so helm is needed.
    pub any: bool,
    /// The charts to be pulled from repositories.
    pub remote: Vec<Placed>,
}

/// A chart from a repository and the kustomization naming it.
#[derive(Debug)]
pub(crate) struct Placed {
    /// The kustomization's directory on disk, canonical.
    pub dir: PathBuf,
    /// Its kustomization file, as messages show it.
    pub file: PathBuf,
    pub chart: super::helm::kustomize::RemoteChart,
}

fn read_kustomization(dir: &Path) -> Option<(PathBuf, String)> {
    KUSTOMIZATION_FILES.iter().find_map(|name| {
        let file = dir.join(name);
        let text = std::fs::read_to_string(&file).ok()?;
        Some((file, text))
    })
}

/// Every string in the kustomization that kustomize treats as something to load.
fn references(doc: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    for field in PATH_LISTS {
        for s in strings(doc.get(*field)) {
            // patchesStrategicMerge also accepts inline patches; only single-line entries are paths.
            if !s.contains('\n') {
                found.push(s);
            }
        }
    }
    for field in ["patches", "patchesJson6902", "replacements"] {
        for entry in doc
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(path) = entry.get("path").and_then(Value::as_str) {
                found.push(path.to_string());
            }
        }
    }
    if let Some(path) = doc
        .get("openapi")
        .and_then(|o| o.get("path"))
        .and_then(Value::as_str)
    {
        found.push(path.to_string());
    }
    for generator in GENERATORS {
        for entry in doc
            .get(*generator)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for key in ["files", "envs"] {
                for s in strings(entry.get(key)) {
                    found.push(s.split_once('=').map_or(s.clone(), |(_, p)| p.to_string()));
                }
            }
            if let Some(env) = entry.get("env").and_then(Value::as_str) {
                found.push(env.to_string());
            }
        }
    }
    found
}

/// kustomize's remote forms: URLs, scp-like git addresses, `host/org/repo//path?ref=`.
fn is_remote(reference: &str) -> bool {
    reference.contains("://")
        || reference.starts_with("git@")
        || reference.contains("?ref=")
        || reference.contains("?version=")
        || reference.contains("//")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"]
            .iter()
            .any(|host| reference.starts_with(host))
}

/// `base` joined with `path`, with `..` applied lexically (the target may not exist yet, and
/// canonicalising alone would follow symlinks before we could judge the path itself).
pub(crate) fn lexical_join(base: &Path, path: &Path) -> PathBuf {
    let mut out = base.to_path_buf();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        dir
    }

    fn run(repo: &tempfile::TempDir, dir: &str) -> Result<bool, RenderError> {
        charts(repo, dir).map(|c| c.any)
    }

    fn charts(repo: &tempfile::TempDir, dir: &str) -> Result<Charts, RenderError> {
        let root = repo.path().to_path_buf();
        let shown = root.canonicalize().unwrap();
        check(&root.join(dir), &root, &move |p: &Path| {
            p.strip_prefix(&shown).unwrap_or(p).to_path_buf()
        })
    }

    #[test]
    fn local_bases_inside_the_repository_are_fine() {
        let r = repo(&[
            ("base/kustomization.yaml", "resources: [cm.yaml]\n"),
            ("base/cm.yaml", "kind: ConfigMap\n"),
            (
                "prod/kustomization.yaml",
                "resources: [../base]\nconfigMapGenerator:\n- name: x\n  files: [k=../base/cm.yaml]\n",
            ),
        ]);
        assert!(run(&r, "prod").is_ok());
    }

    #[test]
    fn remote_bases_are_refused_naming_file_and_reference() {
        let r = repo(&[(
            "app/kustomization.yaml",
            "resources:\n- https://github.com/example/repo//deploy?ref=v1\n",
        )]);
        let err = run(&r, "app").unwrap_err().to_string();
        assert!(err.contains("app/kustomization.yaml"), "{err}");
        assert!(err.contains("remote bases are refused"), "{err}");
    }

    #[test]
    fn paths_leaving_the_repository_are_refused() {
        let r = repo(&[("app/kustomization.yaml", "resources: [../../../etc]\n")]);
        let err = run(&r, "app").unwrap_err().to_string();
        assert!(err.contains("points outside the repository"), "{err}");

        let r = repo(&[(
            "app/kustomization.yaml",
            "configMapGenerator:\n- name: x\n  files: [/etc/passwd]\n",
        )]);
        assert!(
            run(&r, "app")
                .unwrap_err()
                .to_string()
                .contains("absolute paths are refused")
        );
    }

    #[test]
    fn a_symlinked_base_escaping_the_repository_is_refused() {
        let r = repo(&[("app/kustomization.yaml", "resources: [../linked]\n")]);
        std::os::unix::fs::symlink("/etc", r.path().join("linked")).unwrap();
        let err = run(&r, "app").unwrap_err().to_string();
        assert!(err.contains("points outside the repository"), "{err}");
    }

    #[test]
    fn escapes_hidden_in_a_referenced_base_are_found() {
        let r = repo(&[
            (
                "base/kustomization.yaml",
                "resources: [git@github.com:org/repo.git]\n",
            ),
            ("app/kustomization.yaml", "resources: [../base]\n"),
        ]);
        let err = run(&r, "app").unwrap_err().to_string();
        assert!(err.contains("base/kustomization.yaml"), "{err}");
    }

    #[test]
    fn helm_charts_from_a_repository_are_found_in_bases_and_must_be_pinned() {
        let r = repo(&[
            (
                "base/kustomization.yaml",
                "helmCharts:\n- name: x\n  repo: https://charts.example.com\n  version: 1.0.0\n",
            ),
            ("app/kustomization.yaml", "resources: [../base]\n"),
        ]);
        let found = charts(&r, "app").unwrap();
        assert!(found.any);
        assert_eq!(found.remote.len(), 1);
        assert_eq!(found.remote[0].file, Path::new("base/kustomization.yaml"));
        assert_eq!(found.remote[0].chart.version, "1.0.0");
        let unpinned = repo(&[(
            "app/kustomization.yaml",
            "helmCharts:\n- name: x\n  repo: https://charts.example.com\n",
        )]);
        let err = run(&unpinned, "app").unwrap_err().to_string();
        assert!(
            err.contains("app/kustomization.yaml")
                && err.contains("helmCharts x")
                && err.contains("has no `version`"),
            "{err}"
        );
    }

    #[test]
    fn local_helm_charts_are_built_with_helm_and_their_values_stay_inside() {
        let r = repo(&[(
            "app/kustomization.yaml",
            "helmGlobals:\n  chartHome: ../charts\nhelmCharts:\n- name: x\n  valuesFile: values.yaml\n",
        )]);
        assert!(run(&r, "app").unwrap(), "helm is needed");
        let plain = repo(&[("app/kustomization.yaml", "resources: []\n")]);
        assert!(!run(&plain, "app").unwrap());
        let escaping = repo(&[(
            "app/kustomization.yaml",
            "helmCharts:\n- name: x\n  valuesFile: ../../../etc/values.yaml\n",
        )]);
        let err = run(&escaping, "app").unwrap_err().to_string();
        assert!(err.contains("outside the repository"), "{err}");
    }
}
