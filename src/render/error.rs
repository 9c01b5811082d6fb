//! What can go wrong while rendering, each message led by where it happened.

use std::fmt;
use std::path::PathBuf;

use super::Origin;
use super::limits::{Exceeded, Limit};
use crate::object::ObjectRef;

/// One problem found while rendering. Messages start with `file:line: ` (or the kustomization
/// directory) so editors and terminals can jump to the spot.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A file (or kustomize's output) whose bytes are not UTF-8 text.
    #[error("{file}:{line}: not valid UTF-8 text (manifests must be UTF-8)")]
    NotUtf8 { file: PathBuf, line: usize },

    /// YAML that does not parse: syntax, duplicate keys, alias or nesting limits, values JSON
    /// cannot hold.
    #[error("{file}:{line}: {message}")]
    Yaml {
        file: PathBuf,
        line: usize,
        message: String,
    },

    /// JSON that does not parse, or that repeats a key.
    #[error("{file}:{line}: {message}")]
    Json {
        file: PathBuf,
        line: usize,
        message: String,
    },

    /// A document or `List` item that is not a mapping, so cannot be a Kubernetes object.
    #[error("{origin}: expected a Kubernetes object (a mapping), found {found}")]
    NotAnObject { origin: Origin, found: &'static str },

    /// A `kind: List` whose `items` is not a sequence.
    #[error("{origin}: `items` of a List must be a sequence of objects, found {found}")]
    ListItemsNotSequence { origin: Origin, found: &'static str },

    /// An object with `items`, which kubectl reads as a List, whose kind is not one.
    #[error(
        "{origin}: has `items`, which kubectl reads as a List of objects, but kind {kind:?} is not a List kind (`List`, `ConfigMapList`, ...)"
    )]
    ItemsOutsideList { origin: Origin, kind: String },

    /// A List among the items of another List.
    #[error("{origin}: this List item is itself a List; nested Lists are not supported")]
    NestedList { origin: Origin, item: usize },

    /// An object whose `metadata` is not a mapping.
    #[error("{origin}: `metadata` must be a mapping, found {found}")]
    MetadataNotMapping { origin: Origin, found: &'static str },

    /// An object without a usable `apiVersion`, `kind` or `metadata.name`.
    #[error(
        "{origin}: object is missing {} (each must be a non-empty string)",
        .fields.join(", ")
    )]
    MissingFields {
        origin: Origin,
        fields: Vec<&'static str>,
    },

    /// Two objects the API server would treat as one.
    #[error("{second}: duplicate object {object}: already defined at {first}")]
    Duplicate {
        object: Box<ObjectRef>,
        first: Origin,
        second: Origin,
    },

    /// Two kustomizations of the PATH built one object from the same file: both include it.
    #[error(
        "{origin}: duplicate object {object}: built by both {} and {}, which both include \
         it (every kustomization under PATH is rendered): point PATH at one of them, or at a \
         kustomization that includes what it needs",
        .first.display(),
        .second.display()
    )]
    BuiltTwice {
        object: Box<ObjectRef>,
        origin: Origin,
        first: PathBuf,
        second: PathBuf,
    },

    /// kustomize ran and reported a failure. `place` is the kustomization file (its
    /// directory where the build failed before kustomize read it).
    #[error("{}: kustomize build failed: {message}", .place.display())]
    KustomizeFailed { place: PathBuf, message: String },

    /// The kustomize program (kubectl or kustomize) is not installed.
    #[error(
        "{dir}: cannot build this kustomization: `{}` was not found; install kubectl (for `kubectl kustomize`) or kustomize",
        .program.display()
    )]
    KustomizeNotFound { dir: PathBuf, program: PathBuf },

    /// The kustomize program exists but could not be started.
    #[error("{dir}: could not run `{}`: {source}", .program.display())]
    KustomizeSpawn {
        dir: PathBuf,
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A kustomize build that did not report back (its worker thread stopped).
    #[error("{dir}: kustomize build did not complete")]
    KustomizeIncomplete { dir: PathBuf },

    /// A kustomization that references something outside the repository or on the network.
    #[error("{file}: refusing to build: {field} {reference:?} {reason}")]
    KustomizeReference {
        file: PathBuf,
        /// The field holding the reference, as `helmCharts[0].valuesFile`.
        field: String,
        reference: String,
        reason: String,
    },

    /// A remote base that could not be fetched, or whose tree is refused.
    #[error("{}: remote base {field} {base}: {reason}", .file.display())]
    RemoteBase {
        /// The kustomization naming it, as messages show it.
        file: PathBuf,
        /// The entry, as `resources[1]`.
        field: String,
        /// The base as messages show it (userinfo masked).
        base: String,
        reason: String,
    },

    /// A kustomization file the guard cannot read as kustomize would: it is refused, never
    /// skipped, or kustomize could act on what the guard never saw.
    #[error("{file}: refusing to build: {reason}")]
    KustomizationUnreadable { file: PathBuf, reason: String },

    /// No helm program to render a chart with.
    #[error(
        "{}: cannot render Helm chart: `{}` was not found; install Helm 3.8 or later \
         (https://helm.sh/docs/intro/install/) or name the program with --helm-binary or $GITOPS_HELM",
        .chart.display(),
        .program.display()
    )]
    HelmNotFound { chart: PathBuf, program: PathBuf },

    /// A helm program that cannot be used (it fails to run, or is too old or too new).
    #[error("{}: cannot render Helm chart with `{}`: {reason}", .chart.display(), .program.display())]
    HelmUnusable {
        chart: PathBuf,
        program: PathBuf,
        reason: String,
    },

    /// `helm template` ran and reported a failure.
    #[error("{}: helm template failed: {message}", .chart.display())]
    HelmFailed { chart: PathBuf, message: String },

    /// A symbolic link in a chart that helm would follow out of the repository.
    #[error("{}: refusing to render the chart {}: {reason}", link_in_chart(.chart, .link).display(), .chart.display())]
    ChartLink {
        chart: PathBuf,
        link: PathBuf,
        reason: String,
    },

    /// A dependency of a chart that cannot be provided: not fetched, not locked, or not
    /// vendored.
    #[error(
        "{}: dependency {dependency} from {repository}: {reason}",
        .chart.display()
    )]
    HelmDependency {
        chart: PathBuf,
        dependency: String,
        repository: String,
        reason: String,
    },

    /// A `helmCharts:` entry's chart that cannot be pulled from its repository.
    #[error(
        "{}: helmCharts {chart} {version} from {repository}: {reason}",
        .file.display()
    )]
    HelmChartPull {
        /// The kustomization file, as messages show it.
        file: PathBuf,
        chart: String,
        version: String,
        repository: String,
        reason: String,
    },

    /// Dependencies missing from `charts/` with no `Chart.lock` pinning them.
    #[error(
        "{}: Chart.yaml declares dependencies that are not in charts/ ({missing}) and the chart \
         has no Chart.lock: run `helm dependency update {}` and commit Chart.lock (charts are \
         rendered with their locked dependencies only)",
        .chart.display(),
        .chart.display()
    )]
    HelmDependenciesUnlocked { chart: PathBuf, missing: String },

    /// A Helm hook annotation with a word Helm does not know (see `helm::hooks`).
    #[error(
        "{origin}: {object} has {key}: {unknown:?}, which Helm does not know, so it would never \
         take effect; use one of {known}"
    )]
    HelmHookAnnotation {
        origin: Origin,
        object: Box<ObjectRef>,
        key: &'static str,
        unknown: String,
        known: String,
    },

    /// An object's `kubectl-gitops.io/ignore-fields` annotation that does not list JSON pointers.
    #[error("{origin}: kubectl-gitops.io/ignore-fields: {message}")]
    IgnoreFields { origin: Origin, message: String },

    /// A PATH's `.gitops-ignore.yaml` that cannot be read as ignore rules.
    #[error("{file}: {message}", file = .file.display())]
    IgnoreRules { file: PathBuf, message: String },

    /// A helm or kustomize process stopped, with what it started, at one of the render's
    /// limits (its deadline, the bytes it may read).
    #[error("{}: `{what}` was stopped: {exceeded}", .place.display())]
    Stopped {
        /// The kustomization's or chart's directory, as messages show it.
        place: PathBuf,
        /// The command, e.g. `helm template`.
        what: &'static str,
        exceeded: Exceeded,
    },

    /// A render with more objects than it may produce: loading stopped at `place`.
    #[error("{}: rendering stopped here: {exceeded}", .place.display())]
    TooManyObjects { place: PathBuf, exceeded: Exceeded },

    /// The render did not come back (its thread ended without an answer).
    #[error("the render did not complete: {reason}")]
    Incomplete { reason: String },
}

impl RenderError {
    /// The render's limit this error reports reaching, if any.
    pub fn exceeded(&self) -> Option<Limit> {
        match self {
            RenderError::Stopped { exceeded, .. }
            | RenderError::TooManyObjects { exceeded, .. } => Some(exceeded.limit),
            _ => None,
        }
    }
}

/// Every problem found while rendering, in the order the files were read.
#[derive(Debug)]
pub struct RenderFailure {
    pub errors: Vec<RenderError>,
}

impl fmt::Display for RenderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RenderFailure {}

impl From<RenderError> for RenderFailure {
    fn from(error: RenderError) -> Self {
        RenderFailure {
            errors: vec![error],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn failure_prints_one_error_per_line() {
        let failure = RenderFailure {
            errors: vec![
                RenderError::NotUtf8 {
                    file: "a.yaml".into(),
                    line: 1,
                },
                RenderError::MissingFields {
                    origin: Origin {
                        file: "b.yaml".into(),
                        document: 0,
                        item: None,
                        line: 3,
                        remote: None,
                    },
                    fields: vec!["apiVersion", "metadata.name"],
                },
            ],
        };
        assert_eq!(
            failure.to_string(),
            "a.yaml:1: not valid UTF-8 text (manifests must be UTF-8)\n\
             b.yaml:3: object is missing apiVersion, metadata.name (each must be a non-empty string)"
        );
    }

    #[test]
    fn missing_program_error_says_what_to_install() {
        let error = RenderError::KustomizeNotFound {
            dir: "apps/web".into(),
            program: Path::new("kubectl").into(),
        };
        let text = error.to_string();
        assert!(text.starts_with("apps/web: "), "{text}");
        assert!(text.contains("install kubectl"), "{text}");
        assert!(text.contains("kustomize"), "{text}");
    }
}

/// Where a link of a chart is, as messages show it: the chart itself when it is the problem.
fn link_in_chart(chart: &std::path::Path, link: &std::path::Path) -> PathBuf {
    if link.as_os_str().is_empty() {
        chart.to_path_buf()
    } else {
        chart.join(link)
    }
}
