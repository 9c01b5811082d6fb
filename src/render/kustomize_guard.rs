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
#[path = "kustomize_guard_tests.rs"]
mod tests;
