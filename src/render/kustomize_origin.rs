//! Where each object of a kustomize build was written. The build runs with
//! `buildMetadata: [originAnnotations]` (see `kustomize`), so every object carries
//! `config.kubernetes.io/origin`: the resource file it came from (in the base, overlay or
//! component) or the generator that made it. Here that annotation is taken off again, before
//! anything else sees the object, and turned into an `Origin` with a line: the document in
//! that file, or the generator's entry in its kustomization.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::kustomize_guard::lexical_join;
use super::remote_bases::Place;
use super::{Manifest, Origin, RemoteRevision, load_file};

/// The annotation kustomize writes for `buildMetadata: [originAnnotations]`.
pub(crate) const ORIGIN_ANNOTATION: &str = "config.kubernetes.io/origin";

/// Source files larger than this are not read to find a line (the object still cites the file).
const MAX_SOURCE_BYTES: u64 = 16 * 1024 * 1024;

/// Where the traced build ran and what paths are shown relative to.
pub(crate) struct Trace<'a> {
    /// The directory of the wrapping kustomization; origin paths are relative to it.
    pub wrapper: &'a Path,
    /// The snapshot root (PATH on disk), canonical, and how it is shown.
    pub root: &'a Path,
    pub display_prefix: &'a Path,
    /// The repository root, canonical: files outside PATH are shown relative to it.
    pub repo_root: &'a Path,
    /// When the build ran in a copy with remote bases fetched: where its paths lie.
    pub fetched: Option<&'a super::remote_bases::Fetched>,
}

/// Takes the origin annotation off every manifest and, where it can be traced, replaces the
/// manifest's origin (the build output's position) with the file and line that defined it.
pub(crate) fn attribute(manifests: &mut [Manifest], trace: &Trace<'_>) {
    let mut sources = Sources::default();
    for manifest in manifests {
        let Some(annotation) = take_annotation(&mut manifest.object) else {
            continue;
        };
        let recorded = Recorded::parse(&annotation);
        if let Some(origin) = trace_one(&recorded, manifest, trace, &mut sources) {
            manifest.origin = origin;
        }
    }
}

/// Removes the origin annotation (and an `annotations` map it leaves empty, which kustomize
/// would not have printed), returning its text.
fn take_annotation(object: &mut serde_json::Map<String, Value>) -> Option<String> {
    let metadata = object.get_mut("metadata")?.as_object_mut()?;
    let annotations = metadata.get_mut("annotations")?.as_object_mut()?;
    let value = annotations.shift_remove(ORIGIN_ANNOTATION)?;
    if annotations.is_empty() {
        metadata.shift_remove("annotations");
    }
    value.as_str().map(str::to_string)
}

/// The fields of kustomize's origin record this needs.
#[derive(Debug, Default, PartialEq)]
struct Recorded {
    /// A resource file, relative to the wrapping kustomization.
    path: Option<String>,
    /// Set for remote resources (which the render refuses before building).
    repo: Option<String>,
    /// The kustomization (or generator config) that configured a generator.
    configured_in: Option<String>,
    /// The generator's kind (`ConfigMapGenerator`, `SecretGenerator`, a plugin's kind).
    generator_kind: Option<String>,
    /// A plugin generator's name.
    generator_name: Option<String>,
}

impl Recorded {
    /// Reads the annotation's small YAML mapping line by line: its shape is fixed by kustomize
    /// (`path:`, `repo:`, `ref:`, `configuredIn:`, `configuredBy: {apiVersion, kind, name}`).
    fn parse(text: &str) -> Recorded {
        let mut recorded = Recorded::default();
        let mut in_configured_by = false;
        for line in text.lines() {
            let nested = line.starts_with(' ');
            let Some((key, value)) = line.trim().split_once(':') else {
                continue;
            };
            let value = unquote(value.trim());
            if !nested {
                in_configured_by = key == "configuredBy";
            }
            let slot = match (nested && in_configured_by, key) {
                (false, "path") => &mut recorded.path,
                (false, "repo") => &mut recorded.repo,
                (false, "configuredIn") => &mut recorded.configured_in,
                (true, "kind") => &mut recorded.generator_kind,
                (true, "name") => &mut recorded.generator_name,
                _ => continue,
            };
            if !value.is_empty() {
                *slot = Some(value.to_string());
            }
        }
        recorded
    }
}

fn unquote(value: &str) -> String {
    let quoted = |q: char| value.len() >= 2 && value.starts_with(q) && value.ends_with(q);
    if quoted('\'') {
        value[1..value.len() - 1].replace("''", "'")
    } else if quoted('"') {
        value[1..value.len() - 1].to_string()
    } else {
        value.to_string()
    }
}

fn trace_one(
    recorded: &Recorded,
    manifest: &Manifest,
    trace: &Trace<'_>,
    sources: &mut Sources,
) -> Option<Origin> {
    if recorded.repo.is_some() {
        return None;
    }
    if let Some(path) = &recorded.path {
        let (on_disk, shown, remote) = locate(path, trace)?;
        let documents = sources.documents(&on_disk, &shown);
        let mut origin = match find_document(documents, manifest) {
            Some(origin) => origin.clone(),
            None => first_line(shown),
        };
        origin.remote = remote;
        return Some(origin);
    }
    let configured_in = recorded.configured_in.as_deref()?;
    let (on_disk, shown, remote) = locate(configured_in, trace)?;
    let kind = recorded.generator_kind.as_deref().unwrap_or_default();
    let Some(section) = builtin_section(kind) else {
        // A generator plugin: its configuration is an object in `configuredIn`.
        let documents = sources.documents(&on_disk, &shown);
        let configured = documents
            .iter()
            .find(|m| m.kind() == kind && Some(m.name()) == recorded.generator_name.as_deref());
        let mut origin = configured.map_or_else(|| first_line(shown), |m| m.origin.clone());
        origin.remote = remote;
        return Some(origin);
    };
    let line = sources
        .text(&on_disk)
        .map(|text| generator_line(text, section, manifest.name()))
        .unwrap_or(1);
    Some(Origin {
        file: shown,
        document: 0,
        item: None,
        line,
        remote,
    })
}

/// The kustomization field holding a builtin generator's entries.
fn builtin_section(kind: &str) -> Option<&'static str> {
    match kind {
        "ConfigMapGenerator" => Some("configMapGenerator"),
        "SecretGenerator" => Some("secretGenerator"),
        _ => None,
    }
}

fn first_line(file: PathBuf) -> Origin {
    Origin {
        file,
        document: 0,
        item: None,
        line: 1,
        remote: None,
    }
}

/// A path recorded relative to the wrapper, on disk and as shown (relative to the repository,
/// or to the root of the remote base holding it, with the revision fetched).
fn locate(
    recorded: &str,
    trace: &Trace<'_>,
) -> Option<(PathBuf, PathBuf, Option<Box<RemoteRevision>>)> {
    let mut on_disk = lexical_join(trace.wrapper, Path::new(recorded));
    if let Some(fetched) = trace.fetched {
        match fetched.place(&on_disk) {
            Some(Place::Remote(inside, revision)) => {
                return Some((on_disk, inside, Some(Box::new(revision.clone()))));
            }
            // The file as the repository has it: its lines are the user's.
            Some(Place::Repository(original)) => on_disk = original,
            None => {}
        }
    }
    let shown = match on_disk.strip_prefix(trace.root) {
        Ok(inside) => trace.display_prefix.join(inside),
        Err(_) => on_disk.strip_prefix(trace.repo_root).ok()?.to_path_buf(),
    };
    Some((on_disk, shown, None))
}

/// The document of `documents` that became `manifest`: the same kind, and among several the
/// one whose name the built name contains (kustomize adds prefixes, suffixes and hashes), the
/// longest such name winning.
fn find_document<'a>(documents: &'a [Manifest], manifest: &Manifest) -> Option<&'a Origin> {
    let group = |api_version: &str| api_version.rsplit_once('/').map(|(g, _)| g.to_string());
    let same_kind: Vec<&Manifest> = documents
        .iter()
        .filter(|d| d.kind() == manifest.kind())
        .filter(|d| group(d.api_version()) == group(manifest.api_version()))
        .collect();
    if let [only] = same_kind.as_slice() {
        return Some(&only.origin);
    }
    same_kind
        .iter()
        .filter(|d| manifest.name().contains(d.name()))
        .max_by_key(|d| (d.name().len(), d.namespace() == manifest.namespace()))
        .map(|d| &d.origin)
}

/// The line of the generator entry whose `name:` the built object's name contains, in the
/// `section:` of a kustomization's text; the section's own line when no entry matches, and 1
/// without the section.
fn generator_line(text: &str, section: &str, built_name: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|line| {
        line.strip_prefix(section)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    }) else {
        return 1;
    };
    let mut best: Option<(usize, usize)> = None;
    for (at, line) in lines.iter().enumerate().skip(start + 1) {
        let top_level = line
            .chars()
            .next()
            .is_some_and(|c| !c.is_whitespace() && c != '-' && c != '#');
        if top_level {
            break;
        }
        let entry = line.trim_start().trim_start_matches("- ").trim_start();
        let Some(name) = entry.strip_prefix("name:") else {
            continue;
        };
        let name = unquote(name.split(" #").next().unwrap_or_default().trim());
        if !name.is_empty()
            && built_name.contains(&name)
            && best.is_none_or(|(len, _)| name.len() > len)
        {
            best = Some((name.len(), at));
        }
    }
    1 + best.map_or(start, |(_, at)| at)
}

/// Source files read so far, each parsed once.
#[derive(Default)]
struct Sources {
    documents: HashMap<PathBuf, Vec<Manifest>>,
    texts: HashMap<PathBuf, Option<String>>,
}

impl Sources {
    fn text(&mut self, on_disk: &Path) -> Option<&str> {
        self.texts
            .entry(on_disk.to_path_buf())
            .or_insert_with(|| {
                let small = std::fs::metadata(on_disk).is_ok_and(|m| m.len() <= MAX_SOURCE_BYTES);
                small
                    .then(|| std::fs::read_to_string(on_disk).ok())
                    .flatten()
            })
            .as_deref()
    }

    /// The file's objects with their origins; none when it cannot be read or loaded (then
    /// the object cites the file's first line).
    fn documents(&mut self, on_disk: &Path, shown: &Path) -> &[Manifest] {
        if !self.documents.contains_key(on_disk) {
            let loaded = self
                .text(on_disk)
                .and_then(|text| load_file(shown, text.as_bytes()).ok())
                .unwrap_or_default();
            self.documents.insert(on_disk.to_path_buf(), loaded);
        }
        self.documents.get(on_disk).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_recorded_origin_is_read_for_files_and_generators() {
        assert_eq!(
            Recorded::parse("path: ../../repo/base/deploy.yaml\n"),
            Recorded {
                path: Some("../../repo/base/deploy.yaml".into()),
                ..Recorded::default()
            }
        );
        assert_eq!(
            Recorded::parse(
                "configuredIn: ../repo/overlay/kustomization.yaml\nconfiguredBy:\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n"
            ),
            Recorded {
                configured_in: Some("../repo/overlay/kustomization.yaml".into()),
                generator_kind: Some("ConfigMapGenerator".into()),
                ..Recorded::default()
            }
        );
        assert_eq!(
            Recorded::parse("path: 'a b/it''s.yaml'\n").path.as_deref(),
            Some("a b/it's.yaml")
        );
    }

    #[test]
    fn the_annotation_is_removed_with_an_annotations_map_it_leaves_empty() {
        let mut object = json!({"metadata": {"name": "a", "annotations": {ORIGIN_ANNOTATION: "path: x.yaml\n"}}});
        let map = object.as_object_mut().unwrap();
        assert_eq!(take_annotation(map).as_deref(), Some("path: x.yaml\n"));
        assert_eq!(object, json!({"metadata": {"name": "a"}}));

        let mut kept =
            json!({"metadata": {"annotations": {"team": "web", ORIGIN_ANNOTATION: "path: x\n"}}});
        take_annotation(kept.as_object_mut().unwrap());
        assert_eq!(kept, json!({"metadata": {"annotations": {"team": "web"}}}));
    }

    #[test]
    fn a_generated_object_cites_its_generator_entry() {
        let text = "namePrefix: prod-\nconfigMapGenerator:\n- name: web\n  literals: [a=b]\n- name: web-extra\n  literals: [c=d]\nsecretGenerator:\n- literals: [p=q]\n  name: \"creds\"\n";
        assert_eq!(
            generator_line(text, "configMapGenerator", "prod-web-6gc9d749f7"),
            3
        );
        assert_eq!(
            generator_line(text, "configMapGenerator", "prod-web-extra-6gc9d749f7"),
            5
        );
        assert_eq!(
            generator_line(text, "secretGenerator", "prod-creds-hb2dth72f6"),
            9
        );
        // A generator the text does not show by name: its section.
        assert_eq!(generator_line(text, "secretGenerator", "other"), 7);
        assert_eq!(generator_line("resources: []\n", "secretGenerator", "x"), 1);
    }

    #[test]
    fn a_built_object_is_matched_to_its_document_despite_prefixes() {
        let file = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web-admin\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n";
        let documents = load_file(Path::new("base/all.yaml"), file.as_bytes()).unwrap();
        let built = |kind: &str, api: &str, name: &str| {
            let object = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}});
            Manifest::new(
                object.as_object().unwrap().clone(),
                first_line("k.yaml".into()),
            )
        };
        let line = |m: &Manifest| find_document(&documents, m).map(|o| o.line);
        assert_eq!(line(&built("Service", "v1", "prod-web")), Some(1));
        assert_eq!(line(&built("Service", "v1", "prod-web-admin")), Some(6));
        assert_eq!(line(&built("Deployment", "apps/v1", "prod-web")), Some(11));
        assert_eq!(line(&built("Service", "v1", "unrelated")), None);
    }
}
