//! Checks a kustomization's references before kustomize runs: a repository must not pull in
//! files from outside itself (an absolute path, `../` past the repository root), from the
//! network (remote bases, unless they are allowed: then they are collected for
//! `remote_bases` to fetch, and never reach kustomize as URLs), or reach helm with anything but
//! a chart of its own, which kustomize would otherwise happily do.
//!
//! The guard reads each kustomization as kustomize reads it (`kustomization_file`: repeated
//! keys, anchors, merges, JSON, UTF-16) and fails closed: a kustomization it cannot read, or a
//! reference it cannot place, is refused with the file and field, never skipped.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::RemoteBases;
use super::error::RenderError;
use super::kustomization_file;
use super::remote_base::RemoteBase;

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

/// Fields kustomize resolves as a directory to build, or else as a remote base when nothing in
/// the tree has the name: what they name must exist in the repository.
const BASES: &[&str] = &["resources", "bases", "components"];

/// Fields whose entries may be plugin configurations written inline instead of paths.
const PLUGINS: &[&str] = &["generators", "transformers", "validators"];

/// Generators whose `files`/`envs` entries name files (`key=path` or `path`).
const GENERATORS: &[&str] = &["configMapGenerator", "secretGenerator"];

/// A path a kustomization (or a plugin configuration it names) makes kustomize read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// Where it is written, as `configMapGenerator[0].files`.
    pub field: String,
    pub path: String,
}

impl Reference {
    pub(crate) fn new(field: impl Into<String>, path: impl Into<String>) -> Self {
        Reference {
            field: field.into(),
            path: path.into(),
        }
    }

    /// The top-level field it is written under.
    fn top(&self) -> &str {
        let end = self.field.find(['[', '.', ' ']).unwrap_or(self.field.len());
        &self.field[..end]
    }
}

/// Builds the refusal of a reference: (field, reference, reason).
pub(crate) type Refuse<'a> = dyn Fn(&str, &str, &str) -> RenderError + 'a;

/// Walks the kustomization in `dir` and every local kustomization it references, refusing
/// references that leave `repo_root` or point at the network. `display` turns an on-disk path
/// into the repository-relative name used in messages. Says whether a kustomization renders
/// `helmCharts`, and which of their charts come from a repository.
pub(crate) fn check(
    dir: &Path,
    repo_root: &Path,
    display: &dyn Fn(&Path) -> PathBuf,
    remote: RemoteBases,
) -> Result<Charts, RenderError> {
    let repo_root = repo_root
        .canonicalize()
        .unwrap_or_else(|_| repo_root.to_path_buf());
    let mut seen = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    let mut charts_found = Charts::default();
    // Kustomizations named as generators or transformers build plugin configurations the guard
    // cannot see before kustomize runs; harmless unless helm is enabled, then refused.
    let mut plugin_builds = Vec::new();
    while let Some(dir) = pending.pop() {
        let dir = dir.canonicalize().unwrap_or(dir);
        if !seen.insert(dir.clone()) {
            continue;
        }
        let read = kustomization_file::read(&dir).map_err(|unreadable| {
            RenderError::KustomizationUnreadable {
                file: display(&unreadable.file),
                reason: unreadable.reason,
            }
        })?;
        let Some(kustomization_file::Kustomization { file, doc }) = read else {
            continue;
        };
        let refuse = |field: &str, reference: &str, reason: &str| RenderError::KustomizeReference {
            file: display(&file),
            field: field.to_string(),
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        let real_file = file.canonicalize().unwrap_or_else(|_| file.clone());
        if !real_file.starts_with(&repo_root) {
            return Err(RenderError::KustomizationUnreadable {
                file: display(&file),
                reason: "it is a link to a file outside the repository".into(),
            });
        }
        if let Some(legacy) = doc.get("helmChartInflationGenerator") {
            let chart = legacy
                .get(0)
                .and_then(|c| c.get("chartName"))
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(refuse(
                "helmChartInflationGenerator",
                chart,
                "is refused: write the chart under `helmCharts:`, where its paths are checked",
            ));
        }
        let charts = super::helm::kustomize::references(&doc, &refuse)?;
        let mut references = references(&doc, &refuse)?;
        if let Some(charts) = charts {
            charts_found.any = true;
            references.extend(charts.references);
            charts_found
                .local
                .extend(charts.local.iter().map(|chart| lexical_join(&dir, chart)));
            charts_found
                .remote
                .extend(charts.remote.into_iter().map(|chart| Placed {
                    dir: dir.clone(),
                    file: display(&file),
                    chart,
                }));
        }
        // Popped from the end: the first entry written is judged (and refused) first.
        let mut queue: Vec<Reference> = references.into_iter().rev().collect();
        while let Some(reference) = queue.pop() {
            let top = reference.top().to_string();
            if BASES.contains(&top.as_str())
                && let Some(base) = remote_base(&reference, &dir, remote, &refuse)?
            {
                charts_found.remote_bases.push(RemoteUse {
                    dir: dir.clone(),
                    file: display(&file),
                    field: reference.field.clone(),
                    base,
                });
                continue;
            }
            let resolved = place(&reference, &dir, &repo_root, &refuse)?;
            if BASES.contains(&top.as_str())
                && !resolved.exists()
                && could_be_remote(&reference.path)
            {
                return Err(refuse(
                    &reference.field,
                    &reference.path,
                    "is neither a file nor a directory of the repository (kustomize would look \
                     for it on the network)",
                ));
            }
            // An entry of `generators:` itself, not a path inside a configuration it names.
            let plugin = PLUGINS.contains(&top.as_str()) && !reference.field.contains(' ');
            if resolved.is_dir() {
                if plugin {
                    plugin_builds.push(refuse(
                        &reference.field,
                        &reference.path,
                        "is a kustomization building plugin configurations, which cannot be \
                         checked before helm runs: name the configuration files themselves",
                    ));
                }
                pending.push(resolved);
            } else if plugin {
                let configs = plugin_configurations(&resolved).map_err(|reason| {
                    refuse(
                        &reference.field,
                        &reference.path,
                        &format!("cannot be read as plugin configurations: {reason}"),
                    )
                })?;
                let field = format!("{} ({})", reference.field, reference.path);
                queue.extend(plugin_references(&configs, &field, &refuse)?);
            }
        }
    }
    if charts_found.any
        && let Some(refusal) = plugin_builds.into_iter().next()
    {
        return Err(refusal);
    }
    Ok(charts_found)
}

/// The remote base `reference` names, when kustomize would fetch it (it names nothing in the
/// tree and reads as a URL kustomize clones): collected when `remote` allows it, else refused
/// naming the flag that allows it.
fn remote_base(
    reference: &Reference,
    dir: &Path,
    remote: RemoteBases,
    refuse: &Refuse<'_>,
) -> Result<Option<RemoteBase>, RenderError> {
    let Some(parsed) = super::remote_base::parse(&reference.path) else {
        return Ok(None);
    };
    // kustomize looks for the entry in the tree first.
    if lexical_join(dir, Path::new(&reference.path)).exists() {
        return Ok(None);
    }
    let shown = crate::scrub::url(&reference.path);
    match (parsed, remote) {
        (Err(reason), _) => Err(refuse(&reference.field, &shown, &reason.to_string())),
        (Ok(base), RemoteBases::Fetched) => Ok(Some(base)),
        (Ok(_), RemoteBases::Refused) => Err(refuse(
            &reference.field,
            &shown,
            "is a remote base, and remote bases are fetched only when allowed: run with \
             --allow-remote-bases (a GitSync: spec.allowRemoteBases: true), or vendor the base \
             into the repository",
        )),
    }
}

/// Where `reference`, written in the kustomization in `dir`, points: refused when remote,
/// absolute or outside the repository.
fn place(
    reference: &Reference,
    dir: &Path,
    repo_root: &Path,
    refuse: &Refuse<'_>,
) -> Result<PathBuf, RenderError> {
    let (field, text) = (&reference.field, &reference.path);
    if is_remote(text) {
        return Err(refuse(
            field,
            text,
            "is remote: only bases (resources, bases, components) are ever fetched, and only \
             when allowed; vendor it into the repository",
        ));
    }
    let path = Path::new(text);
    if path.is_absolute() {
        return Err(refuse(
            field,
            text,
            "is an absolute path: absolute paths are refused, use a path inside the repository",
        ));
    }
    let target = lexical_join(dir, path);
    let resolved = target.canonicalize().unwrap_or_else(|_| target.clone());
    if !resolved.starts_with(repo_root) || !target.starts_with(repo_root) {
        return Err(refuse(field, text, "points outside the repository"));
    }
    Ok(resolved)
}

/// The `helmCharts` of a kustomization and of everything it builds on.
#[derive(Debug, Default)]
pub(crate) struct Charts {
    /// Whether any kustomization renders `helmCharts`, so helm is needed.
    pub any: bool,
    /// The charts to be pulled from repositories.
    pub remote: Vec<Placed>,
    /// The directories of the charts in the repository, as kustomize will find them.
    pub local: Vec<PathBuf>,
    /// The remote bases named, when they are allowed.
    pub remote_bases: Vec<RemoteUse>,
}

/// A remote base and the kustomization entry naming it.
#[derive(Debug, Clone)]
pub(crate) struct RemoteUse {
    /// The kustomization's directory on disk, canonical.
    pub dir: PathBuf,
    /// Its kustomization file, as messages show it.
    pub file: PathBuf,
    /// The entry, as `resources[2]`.
    pub field: String,
    pub base: RemoteBase,
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

/// The strings of a list field, each with its place (`resources[2]`).
fn strings<'a>(doc: &'a Value, field: &str) -> Vec<(String, &'a str)> {
    doc.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, v)| Some((format!("{field}[{i}]"), v.as_str()?)))
        .collect()
}

/// Every string in the kustomization that kustomize treats as something to load; inline
/// plugin configurations are checked where they stand.
fn references(doc: &Value, refuse: &Refuse<'_>) -> Result<Vec<Reference>, RenderError> {
    let mut found = Vec::new();
    for field in PATH_LISTS {
        for (at, s) in strings(doc, field) {
            // kustomize reads an entry that parses as objects as inline content (a patch, a
            // plugin's configuration), and only anything else as a path.
            match configurations(s) {
                Some(configs) if PLUGINS.contains(field) => {
                    found.extend(plugin_references(&configs, &at, refuse)?);
                }
                Some(_) if *field == "patchesStrategicMerge" => {}
                _ => found.push(Reference::new(at, s)),
            }
        }
    }
    found.extend(entry_paths(doc, ""));
    if let Some(path) = doc
        .get("openapi")
        .and_then(|o| o.get("path"))
        .and_then(Value::as_str)
    {
        found.push(Reference::new("openapi.path", path));
    }
    Ok(found)
}

/// The paths of `patches`, `patchesJson6902`, `replacements` and the generators' files in
/// `doc` (a kustomization, or a builtin plugin's configuration, which spells them alike).
fn entry_paths(doc: &Value, prefix: &str) -> Vec<Reference> {
    let mut found = Vec::new();
    let entries = |field: &str| -> Vec<(String, &Value)> {
        doc.get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, v)| (format!("{prefix}{field}[{i}]"), v))
            .collect()
    };
    for field in ["patches", "patchesJson6902", "replacements"] {
        for (at, entry) in entries(field) {
            if let Some(path) = entry.get("path").and_then(Value::as_str) {
                found.push(Reference::new(format!("{at}.path"), path));
            }
        }
    }
    for generator in GENERATORS {
        for (at, entry) in entries(generator) {
            found.extend(generator_files(entry, &at));
        }
    }
    found
}

/// A generator's `files`, `envs` and `env`.
fn generator_files(entry: &Value, at: &str) -> Vec<Reference> {
    let mut found = Vec::new();
    for key in ["files", "envs"] {
        for (i, s) in entry
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let Some(s) = s.as_str() else { continue };
            let path = s.split_once('=').map_or(s, |(_, p)| p);
            found.push(Reference::new(format!("{at}.{key}[{i}]"), path));
        }
    }
    if let Some(env) = entry.get("env").and_then(Value::as_str) {
        found.push(Reference::new(format!("{at}.env"), env));
    }
    found
}

/// `text` as the objects kustomize would take from it inline (each document, the items of a
/// List), or `None` when it is not YAML objects (then kustomize reads it as a path).
fn configurations(text: &str) -> Option<Vec<Value>> {
    let mut objects = Vec::new();
    for document in super::documents::split_documents(text) {
        if document.content_line.is_none() {
            continue;
        }
        match crate::yaml::from_str_last_key_wins(document.text).ok()? {
            Value::Object(object) => match object.get("items").and_then(Value::as_array) {
                Some(items) if object.get("kind").and_then(Value::as_str) == Some("List") => {
                    objects.extend(items.iter().cloned());
                }
                _ => objects.push(Value::Object(object)),
            },
            _ => return None,
        }
    }
    (!objects.is_empty()).then_some(objects)
}

/// Why a file a kustomization names as plugin configurations cannot be read as them.
#[derive(Debug, thiserror::Error)]
enum Unconfigurable {
    #[error(transparent)]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Decode(#[from] kustomization_file::Undecodable),
    /// A file of no objects is not one kustomize could use as configurations either.
    #[error("it is not YAML objects the guard can read")]
    NotObjects,
}

/// The configurations in the file at `path`.
fn plugin_configurations(path: &Path) -> Result<Vec<Value>, Unconfigurable> {
    let text = kustomization_file::decode(&std::fs::read(path)?)?;
    configurations(&text).ok_or(Unconfigurable::NotObjects)
}

/// The paths builtin plugin configurations make kustomize read. A Helm chart configured as a
/// plugin is refused: its chart home, values files and release name would reach helm unchecked.
fn plugin_references(
    configs: &[Value],
    at: &str,
    refuse: &Refuse<'_>,
) -> Result<Vec<Reference>, RenderError> {
    let mut found = Vec::new();
    for config in configs {
        let kind = config.get("kind").and_then(Value::as_str).unwrap_or("");
        let field = format!("{at} ({kind})");
        match kind {
            "HelmChartInflationGenerator" => {
                return Err(refuse(
                    &field,
                    config.get("name").and_then(Value::as_str).unwrap_or(""),
                    "is refused: write the chart under `helmCharts:`, where its paths are checked",
                ));
            }
            "ConfigMapGenerator" | "SecretGenerator" => {
                found.extend(generator_files(config, &field));
            }
            "PatchTransformer" | "PatchJson6902Transformer" => {
                if let Some(path) = config.get("path").and_then(Value::as_str) {
                    found.push(Reference::new(format!("{field}.path"), path));
                }
            }
            _ => {}
        }
        for (i, path) in strings(config, "paths") {
            if configurations(path).is_some() {
                continue;
            }
            found.push(Reference::new(format!("{field}.{i}"), path));
        }
        found.extend(entry_paths(config, &format!("{field}.")));
    }
    Ok(found)
}

/// Whether kustomize, finding nothing at `reference` in the tree, could take it for a remote
/// base (`host.example/org/repo`, `host:org/repo`): a missing plain file (`missing.yaml`) is
/// left to kustomize to report in its own words.
fn could_be_remote(reference: &str) -> bool {
    let mut parts = Path::new(reference).components().filter_map(|c| match c {
        Component::Normal(part) => Some(part.to_string_lossy()),
        _ => None,
    });
    let first = parts.next();
    reference.contains(':') || (first.is_some_and(|f| f.contains('.')) && parts.next().is_some())
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
        check(
            &root.join(dir),
            &root,
            &move |p: &Path| p.strip_prefix(&shown).unwrap_or(p).to_path_buf(),
            RemoteBases::Refused,
        )
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
        assert!(
            err.starts_with(
                "app/kustomization.yaml: refusing to build: resources[0] \
                 \"https://github.com/example/repo//deploy?ref=v1\" is a remote base"
            ),
            "{err}"
        );
        assert!(err.contains("--allow-remote-bases"), "{err}");
    }

    #[test]
    fn remote_bases_allowed_are_collected_not_refused_and_remote_patches_still_are() {
        let r = repo(&[
            (
                "app/kustomization.yaml",
                "resources:\n- ../base\n- git@github.com:example/repo//deploy?ref=v1\n",
            ),
            (
                "base/kustomization.yaml",
                "resources: [https://example.com/org/r.git//x]\n",
            ),
        ]);
        let root = r.path().to_path_buf();
        let shown = root.canonicalize().unwrap();
        let display = move |p: &Path| p.strip_prefix(&shown).unwrap_or(p).to_path_buf();
        let found = check(&root.join("app"), &root, &display, RemoteBases::Fetched).unwrap();
        let mut named: Vec<(String, String, String)> = found
            .remote_bases
            .iter()
            .map(|u| {
                (
                    u.file.display().to_string(),
                    u.field.clone(),
                    u.base.shown(),
                )
            })
            .collect();
        named.sort();
        assert_eq!(
            named,
            [
                (
                    "app/kustomization.yaml".to_string(),
                    "resources[1]".to_string(),
                    "git@github.com:example/repo//deploy?ref=v1".to_string()
                ),
                (
                    "base/kustomization.yaml".to_string(),
                    "resources[0]".to_string(),
                    "https://example.com/org/r.git//x".to_string()
                ),
            ]
        );
        let patch = repo(&[(
            "app/kustomization.yaml",
            "patches:\n- path: https://example.com/org/r.git//p.yaml\n",
        )]);
        let root = patch.path().to_path_buf();
        let err = check(
            &root.join("app"),
            &root,
            &|p: &Path| p.to_path_buf(),
            RemoteBases::Fetched,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("only bases"), "{err}");
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

    fn refused(r: &tempfile::TempDir, dir: &str) -> String {
        match run(r, dir) {
            Ok(_) => panic!("expected a refusal"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_repeated_key_is_read_as_kustomize_reads_it_its_last_value() {
        let r = repo(&[(
            "app/kustomization.yaml",
            "resources: []\nresources: [../../../etc]\n",
        )]);
        let err = refused(&r, "app");
        assert!(
            err.starts_with(
                "app/kustomization.yaml: refusing to build: resources[0] \"../../../etc\""
            ),
            "{err}"
        );
        assert!(err.contains("points outside the repository"), "{err}");
    }

    #[test]
    fn anchors_and_merge_keys_cannot_hide_a_reference() {
        for text in [
            "<<: {resources: [../../../etc]}\n",
            "namePrefix: &p ../../../etc\nresources: [*p]\n",
            "<<: [{resources: [../../../etc]}, {resources: []}]\n",
            "!!merge <<: {resources: [../../../etc]}\n",
            "{\"resources\": [], \"resources\": [\"../../../etc\"]}\n",
        ] {
            let r = repo(&[("app/kustomization.yaml", text)]);
            let err = refused(&r, "app");
            assert!(
                err.contains("points outside the repository"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn a_kustomization_the_guard_cannot_read_is_refused_not_skipped() {
        let r = repo(&[("app/kustomization.yaml", "resources: [../../../etc\n")]);
        let err = refused(&r, "app");
        assert!(
            err.starts_with("app/kustomization.yaml: refusing to build: "),
            "{err}"
        );
        let r = repo(&[(
            "app/kustomization.yaml",
            "resources: []\n---\nresources: [../../../etc]\n",
        )]);
        assert!(refused(&r, "app").contains("second YAML document"));
        // A base's unreadable kustomization stops the build as surely as the top one's.
        let r = repo(&[
            ("app/kustomization.yaml", "resources: [../base]\n"),
            ("base/kustomization.yaml", "resources: !!binary x\n\t- [\n"),
        ]);
        assert!(refused(&r, "app").starts_with("base/kustomization.yaml: refusing to build"));
    }

    #[test]
    fn a_utf16_kustomization_is_read_not_skipped() {
        let r = repo(&[]);
        std::fs::create_dir_all(r.path().join("app")).unwrap();
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "resources: [../../../etc]\n".encode_utf16() {
            bytes.extend(unit.to_le_bytes());
        }
        std::fs::write(r.path().join("app/kustomization.yaml"), bytes).unwrap();
        assert!(refused(&r, "app").contains("points outside the repository"));
    }

    #[test]
    fn components_spelled_kustomization_are_walked() {
        let r = repo(&[
            ("app/kustomization.yaml", "components: [../comp]\n"),
            (
                "comp/Kustomization",
                "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [../../../etc]\n",
            ),
        ]);
        let err = refused(&r, "app");
        assert!(
            err.starts_with("comp/Kustomization: refusing to build"),
            "{err}"
        );
    }

    #[test]
    fn a_base_missing_from_the_repository_is_refused_as_kustomize_would_fetch_it() {
        let r = repo(&[(
            "app/kustomization.yaml",
            "resources: [example.org/team/config/base]\n",
        )]);
        let err = refused(&r, "app");
        assert!(err.contains("would look for it on the network"), "{err}");
    }

    #[test]
    fn a_local_chart_name_that_is_a_path_is_refused() {
        let r = repo(&[(
            "app/kustomization.yaml",
            "helmCharts:\n- name: ../../../cache/helm/charts/0123/web/templates/pwn\n",
        )]);
        let err = refused(&r, "app");
        assert!(err.contains("helmCharts[0].name"), "{err}");
        assert!(err.contains("is not a plain chart name"), "{err}");
    }

    #[test]
    fn a_release_name_that_is_a_helm_flag_is_refused() {
        let r = repo(&[(
            "app/kustomization.yaml",
            "helmCharts:\n- name: web\n  releaseName: --post-renderer=/bin/sh\n",
        )]);
        let err = refused(&r, "app");
        assert!(err.contains("helmCharts[0].releaseName"), "{err}");
        let r = repo(&[(
            "app/kustomization.yaml",
            "helmCharts:\n- name: web\n  nameTemplate: '{{ env \"TOKEN\" }}'\n",
        )]);
        assert!(refused(&r, "app").contains("helmCharts[0].nameTemplate"));
    }

    #[test]
    fn every_path_of_a_chart_is_checked() {
        for (text, field) in [
            (
                "helmGlobals:\n  chartHome: /var/cache\nhelmCharts:\n- name: web\n",
                "helmGlobals.chartHome",
            ),
            (
                "helmGlobals:\n  configHome: /tmp\nhelmCharts:\n- name: web\n",
                "helmGlobals.configHome",
            ),
            (
                "helmCharts:\n- name: web\n  additionalValuesFiles: [ok.yaml, ../../../x.yaml]\n",
                "helmCharts[0].additionalValuesFiles[1]",
            ),
            (
                "helmCharts:\n- name: web\n  additionalValuesFiles: [http://169.254.169.254/x]\n",
                "helmCharts[0].additionalValuesFiles[0]",
            ),
            (
                "helmChartInflationGenerator:\n- chartName: web\n  chartHome: /\n",
                "helmChartInflationGenerator",
            ),
        ] {
            let r = repo(&[("app/kustomization.yaml", text)]);
            let err = refused(&r, "app");
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn a_helm_chart_configured_as_a_generator_is_refused_inline_or_in_a_file() {
        let config = "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata: {name: x}\nname: ../../pwn\nchartHome: /\n";
        let inline = format!(
            "generators:\n- {}\n",
            serde_json::Value::String(config.to_string())
        );
        let r = repo(&[("app/kustomization.yaml", &inline)]);
        let err = refused(&r, "app");
        assert!(
            err.contains("generators[0] (HelmChartInflationGenerator)"),
            "{err}"
        );
        let r = repo(&[
            ("app/kustomization.yaml", "generators: [helm.yaml]\n"),
            ("app/helm.yaml", config),
        ]);
        let err = refused(&r, "app");
        assert!(
            err.contains("generators[0] (helm.yaml) (HelmChartInflationGenerator)"),
            "{err}"
        );
    }

    #[test]
    fn paths_in_plugin_configuration_files_are_checked() {
        let r = repo(&[
            ("app/kustomization.yaml", "generators: [cm.yaml]\n"),
            (
                "app/cm.yaml",
                "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: x}\nfiles: [k=../../../etc/passwd]\n",
            ),
        ]);
        let err = refused(&r, "app");
        assert!(
            err.contains("generators[0] (cm.yaml) (ConfigMapGenerator).files[0]"),
            "{err}"
        );
        let fine = repo(&[
            (
                "app/kustomization.yaml",
                "transformers: [t.yaml]\npatchesStrategicMerge: ['{kind: ConfigMap, metadata: {name: x}}']\n",
            ),
            (
                "app/t.yaml",
                "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: x}\npath: patch.yaml\n",
            ),
            ("app/patch.yaml", "kind: ConfigMap\n"),
        ]);
        assert!(run(&fine, "app").is_ok());
    }

    #[test]
    fn a_kustomization_building_plugin_configurations_is_refused_where_helm_runs() {
        let files = [
            ("gen/kustomization.yaml", "resources: [cm.yaml]\n"),
            (
                "gen/cm.yaml",
                "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: x}\n",
            ),
        ];
        let mut without = files.to_vec();
        without.push(("app/kustomization.yaml", "generators: [../gen]\n"));
        assert!(run(&repo(&without), "app").is_ok());
        let mut with = files.to_vec();
        with.push((
            "app/kustomization.yaml",
            "generators: [../gen]\nhelmCharts:\n- name: web\n",
        ));
        let err = refused(&repo(&with), "app");
        assert!(err.contains("generators[0]"), "{err}");
    }

    /// Kustomizations choosing their `resources` through repeated keys, anchors, aliases and
    /// merge keys, generated from `seed`: each statement is one way of writing the field.
    fn generated(seed: u64, bases: usize) -> String {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let list = |next: &mut dyn FnMut(u64) -> u64| {
            let chosen: Vec<String> = (0..bases)
                .filter(|_| next(2) == 0)
                .map(|i| format!("../b{i}"))
                .collect();
            format!("[{}]", chosen.join(", "))
        };
        let mut text = String::new();
        let mut anchors = 0;
        for _ in 0..1 + next(4) {
            match next(7) {
                0 => text.push_str(&format!("resources: {}\n", list(&mut next))),
                1 => text.push_str(&format!("<<: {{resources: {}}}\n", list(&mut next))),
                2 => text.push_str(&format!(
                    "<<: [{{resources: {}}}, {{resources: {}}}]\n",
                    list(&mut next),
                    list(&mut next)
                )),
                3 => {
                    text.push_str(&format!("resources: &l{anchors} {}\n", list(&mut next)));
                    anchors += 1;
                }
                4 if anchors > 0 => {
                    text.push_str(&format!("resources: *l{}\n", next(anchors)));
                }
                5 if anchors > 0 => {
                    text.push_str(&format!("<<: {{resources: *l{}}}\n", next(anchors)));
                }
                6 => text.push_str(&format!("!!merge <<: {{resources: {}}}\n", list(&mut next))),
                _ => text.push_str(&format!(
                    "commonAnnotations: {{note: x}}\nresources: {}\n",
                    list(&mut next)
                )),
            }
        }
        text
    }

    #[test]
    fn the_guard_sees_the_resources_kubectl_kustomize_loads() {
        const BASES: usize = 4;
        let mut files: Vec<(String, String)> = Vec::new();
        for i in 0..BASES {
            files.push((
                format!("b{i}/kustomization.yaml"),
                "resources: [cm.yaml]\n".into(),
            ));
            files.push((
                format!("b{i}/cm.yaml"),
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b{i}\n"),
            ));
        }
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let r = repo(&refs);
        let app = r.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        let refuse = |field: &str, reference: &str, reason: &str| RenderError::KustomizeReference {
            file: "app/kustomization.yaml".into(),
            field: field.to_string(),
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        let mut compared = 0;
        for seed in 0..40 {
            let text = generated(seed, BASES);
            std::fs::write(app.join("kustomization.yaml"), &text).unwrap();
            let doc = kustomization_file::read(&app).unwrap().unwrap().doc;
            let mut seen: Vec<String> = references(&doc, &refuse)
                .unwrap()
                .into_iter()
                .filter(|r| r.top() == "resources")
                .map(|r| r.path.trim_start_matches("../").to_string())
                .collect();
            seen.sort();
            let output = std::process::Command::new("kubectl")
                .arg("kustomize")
                .arg(&app)
                .output()
                .expect("kubectl, whose kustomize is the oracle");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "seed {seed}:\n{text}\n{stderr}");
            let mut loaded: Vec<String> = String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("  name: "))
                .map(str::to_string)
                .collect();
            loaded.sort();
            assert_eq!(seen, loaded, "seed {seed}:\n{text}");
            compared += 1;
        }
        assert_eq!(compared, 40);
    }
}
