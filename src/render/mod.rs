//! Render: a snapshot's files -> the Kubernetes objects they describe, each with its origin.
//!
//! Plain `*.yaml`/`*.yml`/`*.json` files are loaded directly (multi-document YAML, JSON, and
//! every List kind flattened). A directory holding a kustomization is built by kustomize as one
//! unit and its sub-directories are not loaded again. Every error cites where it comes from.

mod command;
mod documents;
mod error;
mod generator_secrets;
pub mod helm;
pub mod ignore;
mod json;
mod kustomization_file;
mod kustomize;
mod kustomize_failure;
mod kustomize_guard;
mod kustomize_origin;
mod layout;
pub mod limits;
mod load;
mod remote_base;
mod remote_bases;
mod run;
pub mod target;
#[cfg(test)]
mod tests;
mod unstable;
mod validate;
mod yaml;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::object::ObjectRef;
use crate::source::Snapshot;

pub use command::KustomizeCommand;
pub use error::{RenderError, RenderFailure};
pub use ignore::{
    ANNOTATION_IGNORE_FIELDS, IGNORE_FILE, IgnoreSource, IgnoredField, Pointer, UnstablePolicy,
};
pub use limits::RenderLimits;
pub use load::load_file;

/// How `render` builds kustomizations.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Program for kustomize; `None` = auto: `kustomize build` if `kustomize` is on PATH, else
    /// `kubectl kustomize`.
    pub kustomize: Option<KustomizeCommand>,
    /// Extra arguments placed before the directory, e.g. `--enable-helm`.
    pub kustomize_args: Vec<OsString>,
    /// How Helm charts are rendered.
    pub helm: helm::HelmOptions,
    /// How long the render may take, how much helm and kustomize may print, how many objects
    /// it may produce.
    pub limits: RenderLimits,
    /// What an apply does with fields a chart renders differently each time.
    pub unstable: UnstablePolicy,
    /// Whether kustomizations may build on remote bases.
    pub remote_bases: RemoteBases,
}

/// A chart whose templates call `lookup`, and what the lookups saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupNote {
    /// The chart's directory as messages show it.
    pub chart: PathBuf,
    pub outcome: helm::LookupOutcome,
}

/// One sentence for every chart whose lookups saw nothing (an empty list: none did).
pub fn unseen_lookups(notes: &[LookupNote]) -> Option<String> {
    let blind: Vec<String> = notes
        .iter()
        .filter(|n| n.outcome.saw_nothing())
        .map(|n| format!("{} ({})", n.chart.display(), n.outcome.reason()))
        .collect();
    (!blind.is_empty()).then(|| {
        format!(
            "Helm's `lookup` saw no cluster objects in {}: values these charts keep from live \
             objects (generated passwords, certificates) are rendered anew, and marked unstable \
             where they differ between two renders",
            blind.join(", ")
        )
    })
}

/// Whether kustomizations may build on remote bases (git repositories kustomize would clone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RemoteBases {
    /// Refused, naming the kustomization, the URL and how to allow them.
    #[default]
    Refused,
    /// Fetched with our own git client into the build's sandbox, checked like the repository,
    /// and built by kustomize offline.
    Fetched,
}

/// Whether rendering the snapshot runs helm: it holds a chart, or a kustomization in it
/// names `helmCharts` (then the target cluster's capabilities matter).
pub fn has_charts(snapshot: &Snapshot) -> bool {
    snapshot.files.iter().any(|(path, bytes)| {
        path.file_name().is_some_and(|name| {
            name == layout::CHART_FILE
                || (layout::KUSTOMIZATION_FILES.iter().any(|k| name == *k)
                    && bytes.windows(11).any(|w| w == b"helmCharts:"))
        })
    })
}

#[cfg(test)]
mod lookup_note_tests {
    use super::*;

    #[test]
    fn one_note_names_every_chart_whose_lookups_saw_nothing_and_why() {
        let note = |chart: &str, outcome| LookupNote {
            chart: chart.into(),
            outcome,
        };
        let notes = [
            note("deploy/grafana", helm::LookupOutcome::Offline),
            note("deploy/web", helm::LookupOutcome::Answered),
            note("deploy/db", helm::LookupOutcome::HelmTooOld("3.12".into())),
        ];
        let said = unseen_lookups(&notes).expect("a note");
        assert!(
            said.starts_with(
                "Helm's `lookup` saw no cluster objects in deploy/grafana (no cluster was \
                 asked), deploy/db (helm 3.12 answers no lookup"
            ),
            "{said}"
        );
        assert!(!said.contains("deploy/web"), "{said}");
        assert_eq!(unseen_lookups(&notes[1..2]), None);
    }
}

/// Renders every manifest under the snapshot. All problems are collected, not just the first.
pub fn render(
    snapshot: &Snapshot,
    options: &RenderOptions,
) -> Result<Vec<Manifest>, RenderFailure> {
    render_noting(snapshot, options, &mut Vec::new())
}

/// [`render`], telling in `notes` what the lookups of each chart calling `lookup` saw.
pub fn render_noting(
    snapshot: &Snapshot,
    options: &RenderOptions,
    notes: &mut Vec<LookupNote>,
) -> Result<Vec<Manifest>, RenderFailure> {
    render_units(snapshot, options, notes, None)
}

/// Renders only the charts of the snapshot whose directories (as messages show them, see
/// [`LookupNote::chart`]) are among `charts`: nothing else is built or loaded.
pub fn render_charts(
    snapshot: &Snapshot,
    options: &RenderOptions,
    charts: &[PathBuf],
    notes: &mut Vec<LookupNote>,
) -> Result<Vec<Manifest>, RenderFailure> {
    render_units(snapshot, options, notes, Some(charts))
}

/// The render of every unit, or only of the charts in `only`.
fn render_units(
    snapshot: &Snapshot,
    options: &RenderOptions,
    notes: &mut Vec<LookupNote>,
    only: Option<&[PathBuf]>,
) -> Result<Vec<Manifest>, RenderFailure> {
    let layout = layout::lay_out(&snapshot.files);

    // PATH's prefix within the repository, taken off PATH, is the repository root.
    let mut repo_root = snapshot.root.clone();
    for _ in snapshot.display_prefix.components() {
        repo_root.pop();
    }
    let budget = limits::Budget::start(options.limits);
    let mut built = Vec::new();
    if !layout.kustomizations.is_empty() && only.is_none() {
        generator_secrets::learn(&snapshot.files);
        // Only look for a kustomize program when there is something to build.
        let command = options
            .kustomize
            .clone()
            .unwrap_or_else(KustomizeCommand::detect);
        let build = kustomize::Build {
            root: &snapshot.root,
            repo_root: &repo_root,
            display_prefix: &snapshot.display_prefix,
            command: &command,
            extra_args: &options.kustomize_args,
            helm: &options.helm,
            budget: &budget,
            remote_bases: options.remote_bases,
        };
        built = kustomize::build_all(&build, &layout.kustomizations)
            .into_iter()
            .map(Some)
            .collect();
    }

    let values = crate::yaml::read::ValueBudget::new();
    let mut manifests = Vec::new();
    let mut errors = Vec::new();
    // Which kustomization built which manifests, to explain an object built twice.
    let mut built_by: Vec<validate::Built> = Vec::new();
    let max_objects = options.limits.limits.max_objects;
    for unit in &layout.units {
        if let Some(charts) = only {
            let wanted = matches!(unit, layout::Unit::Chart(_))
                && charts.contains(&unit_display(
                    unit,
                    &layout.kustomizations,
                    &snapshot.display_prefix,
                ));
            if !wanted {
                continue;
            }
        }
        match *unit {
            // The PATH's ignore rules are not a manifest.
            layout::Unit::File { path, .. } if path == std::path::Path::new(IGNORE_FILE) => {}
            layout::Unit::File { path, bytes } => {
                let display = snapshot.display_prefix.join(path);
                manifests.extend(load::load_collecting(&display, bytes, &values, &mut errors));
            }
            layout::Unit::Kustomize(i) => {
                let (Some(kustomization), Some(slot)) =
                    (layout.kustomizations.get(i), built.get_mut(i))
                else {
                    continue;
                };
                match slot.take() {
                    Some(Ok(built)) => {
                        let display = kustomization.display_file(&snapshot.display_prefix);
                        let mut objects =
                            load::load_collecting(&display, &built.output, &values, &mut errors);
                        if let Some(wrapper) = &built.traced_from {
                            let canonical =
                                |p: &PathBuf| p.canonicalize().unwrap_or_else(|_| p.clone());
                            let trace = kustomize_origin::Trace {
                                wrapper,
                                root: &canonical(&snapshot.root),
                                display_prefix: &snapshot.display_prefix,
                                repo_root: &canonical(&repo_root),
                                fetched: built.fetched.as_deref(),
                            };
                            kustomize_origin::attribute(&mut objects, &trace);
                        }
                        let start = manifests.len();
                        manifests.extend(objects);
                        built_by.push(validate::Built {
                            manifests: start..manifests.len(),
                            kustomization: display,
                        });
                    }
                    Some(Err(error)) => errors.push(error),
                    None => {}
                }
            }
            layout::Unit::Chart(dir) => {
                manifests.extend(render_chart(
                    snapshot,
                    &repo_root,
                    dir,
                    options,
                    (&values, &budget),
                    (&mut errors, notes),
                ));
            }
        }
        // Past the cap nothing is planned anyway: nothing more is loaded.
        if manifests.len() > max_objects {
            errors.push(RenderError::TooManyObjects {
                place: unit_display(unit, &layout.kustomizations, &snapshot.display_prefix),
                exceeded: budget.hit(limits::Limit::Objects),
            });
            break;
        }
    }
    // Every Secret value rendered is known to the scrubber before anything can quote it.
    for manifest in &manifests {
        if manifest.kind() == "Secret" {
            crate::scrub::learn_object(&Value::Object(manifest.object.clone()));
        }
    }
    let rules = match snapshot.files.get(std::path::Path::new(IGNORE_FILE)) {
        Some(bytes) => {
            let display = snapshot.display_prefix.join(IGNORE_FILE);
            ignore::Rules::parse(&display, bytes).unwrap_or_else(|error| {
                errors.push(error);
                ignore::Rules::default()
            })
        }
        None => ignore::Rules::default(),
    };
    for manifest in &mut manifests {
        if let Err(error) = ignore::attach(manifest, &rules) {
            errors.push(error);
        }
    }
    errors.extend(helm::hooks::unknown_words(&manifests));
    errors.extend(validate::find_duplicates(&manifests, &built_by));
    // Helm's tests and delete or rollback hooks are never applied, whether a chart in the tree,
    // kustomize's `helmCharts` or a committed `helm template` output rendered them (after the
    // duplicate check, whose kustomization ranges index the whole render).
    let manifests = helm::hooks::sort_out(manifests);
    keep_first_missing_program(&mut errors);

    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(RenderFailure { errors })
    }
}

/// A unit as messages name it: the file, the kustomization's or the chart's directory.
fn unit_display(
    unit: &layout::Unit<'_>,
    kustomizations: &[layout::Kustomization],
    prefix: &std::path::Path,
) -> PathBuf {
    let shown = |path: &std::path::Path| match prefix.join(path) {
        joined if joined.as_os_str().is_empty() => PathBuf::from("."),
        joined => joined,
    };
    match *unit {
        layout::Unit::File { path, .. } => shown(path),
        layout::Unit::Kustomize(i) => kustomizations.get(i).map_or_else(
            || shown(std::path::Path::new("")),
            |k| k.display_dir(prefix),
        ),
        layout::Unit::Chart(dir) => shown(dir),
    }
}

/// The objects of the chart in `dir` (relative to the snapshot root) that an apply applies.
/// `budgets`: the YAML values the render may still build, and what its processes may spend.
fn render_chart(
    snapshot: &Snapshot,
    repo_root: &std::path::Path,
    dir: &std::path::Path,
    options: &RenderOptions,
    (values, budget): (&crate::yaml::read::ValueBudget, &limits::Budget),
    (errors, notes): (&mut Vec<RenderError>, &mut Vec<LookupNote>),
) -> Vec<Manifest> {
    // Joining "" would add a trailing separator; the PATH itself reads better in messages.
    let display = if dir.as_os_str().is_empty() {
        snapshot.display_prefix.clone()
    } else {
        snapshot.display_prefix.join(dir)
    };
    let on_disk = if dir.as_os_str().is_empty() {
        snapshot.root.clone()
    } else {
        snapshot.root.join(dir)
    };
    // The release is named after the directory, as Argo CD names an application's release.
    let release = on_disk
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "release".to_string());
    let chart = helm::Chart {
        on_disk: &on_disk,
        display: if display.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            &display
        },
        release,
        boundary: repo_root,
    };
    let rendered = match helm::template(&chart, &options.helm, budget) {
        Ok(rendered) => rendered,
        Err(error) => {
            errors.push(error);
            return Vec::new();
        }
    };
    if let helm::LookupOutcome::Failed(fallback) = &rendered.lookup {
        tracing::warn!(chart = %chart.display.display(), reason = %fallback, "rendered without the cluster: lookups saw nothing");
    }
    if rendered.lookup != helm::LookupOutcome::NotCalled {
        notes.push(LookupNote {
            chart: chart.display.to_path_buf(),
            outcome: rendered.lookup.clone(),
        });
    }
    let shown = display.join(layout::CHART_FILE);
    let mut objects = load::load_collecting(&shown, &rendered.output, values, errors);
    helm::attribute(&mut objects, &rendered.output, &display);
    if let Some(again) = &rendered.again {
        // The second render's problems are the first's: they were reported already.
        let second = load::load_collecting(&shown, again, values, &mut Vec::new());
        unstable::mark(&mut objects, &second, options.unstable);
    }
    objects
}

/// A missing kustomize program fails every directory the same way, and once the render's
/// time is up every process still to run is refused the same way; saying each once is enough.
fn keep_first_missing_program(errors: &mut Vec<RenderError>) {
    let mut missing_seen = false;
    let mut deadline_seen = false;
    errors.retain(|error| {
        let missing = matches!(error, RenderError::KustomizeNotFound { .. });
        let deadline = error.exceeded() == Some(limits::Limit::Timeout);
        let keep = !(missing && missing_seen) && !(deadline && deadline_seen);
        missing_seen |= missing;
        deadline_seen |= deadline;
        keep
    });
}

/// Where a rendered object came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    /// File relative to the repository root (see `Snapshot::display_prefix`); for kustomize
    /// output, the kustomization file.
    pub file: PathBuf,
    /// Index of the YAML document in the file (or in kustomize's output), from 0.
    pub document: usize,
    /// For an object of a List (`kind: List`, `ConfigMapList`, ...), its index in `items`,
    /// from 0: the items of one document are told apart by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// Line of the object's first line in the file, from 1: the document's, or the List item's
    /// where the YAML says (for kustomize output, the line in its output).
    pub line: usize,
    /// For a file of a remote base, the repository and commit it was fetched at; `file` is
    /// then the path inside that repository. Boxed: every render error carries an origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<Box<RemoteRevision>>,
}

/// Where a remote base's file was fetched from: which repository, at which commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RemoteRevision {
    /// The repository, any userinfo masked.
    pub repository: String,
    /// The `ref=` the kustomization asked for; `None` for the default branch.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The commit it resolved to, as a full hexadecimal id.
    pub commit: String,
}

impl Origin {
    /// What tells this object's place apart from every other object's of a render.
    pub fn position(&self) -> (&std::path::Path, usize, Option<usize>) {
        (&self.file, self.document, self.item)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.remote {
            Some(remote) => write!(
                f,
                "{}//{}:{}",
                remote.repository,
                self.file.display(),
                self.line
            )?,
            None => write!(f, "{}:{}", self.file.display(), self.line)?,
        }
        if let Some(item) = self.item {
            write!(f, ", item {item}")?;
        }
        if let Some(remote) = &self.remote {
            let short = remote.commit.get(..12).unwrap_or(&remote.commit);
            match &remote.reference {
                Some(reference) => write!(f, " ({reference} at commit {short})")?,
                None => write!(f, " (commit {short})")?,
            }
        }
        Ok(())
    }
}

/// One desired object and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The object as written: a JSON object with at least `apiVersion`, `kind` and
    /// `metadata.name` (or `metadata.generateName`).
    pub object: Map<String, Value>,
    pub origin: Origin,
    /// Fields git seeds on create and leaves alone afterwards (`kubectl-gitops.io/ignore-fields`
    /// and the PATH's `.gitops-ignore.yaml`), attached once the whole render is done.
    pub ignored: Vec<IgnoredField>,
    /// Its Helm hook (`helm.sh/hook` and its weight and delete policy), read once from the
    /// object as rendered: the planner and apply ask this, never the annotations again.
    pub hook: helm::hooks::Hook,
}

impl Manifest {
    /// An object as rendered, with no ignored fields yet.
    pub fn new(object: Map<String, Value>, origin: Origin) -> Self {
        let hook = helm::hooks::Hook::of(&Value::Object(object.clone()));
        Manifest {
            object,
            origin,
            ignored: Vec::new(),
            hook,
        }
    }

    /// The ignored fields that hold for the object once placed in `namespace`.
    pub fn ignored_in<'a>(
        &'a self,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a IgnoredField> + 'a {
        self.ignored.iter().filter(move |f| f.holds_in(namespace))
    }

    pub fn api_version(&self) -> &str {
        self.object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn kind(&self) -> &str {
        self.object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn metadata_str(&self, key: &str) -> Option<&str> {
        self.object.get("metadata")?.get(key)?.as_str()
    }

    pub fn name(&self) -> &str {
        self.metadata_str("name").unwrap_or_default()
    }

    /// The namespace as written in the manifest, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata_str("namespace").filter(|ns| !ns.is_empty())
    }

    /// The object's reference with the namespace as written (namespace defaulting happens at
    /// plan time, where the resource's scope is known).
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(
            self.api_version(),
            self.kind(),
            self.namespace().map(str::to_string),
            self.name(),
        )
    }
}
