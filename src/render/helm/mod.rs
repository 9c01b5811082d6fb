//! Helm charts in the tree: a directory holding `Chart.yaml` is rendered with `helm template`,
//! as Argo CD renders it, and its output loads like any other manifests.
//!
//! The release is named after the chart's directory, installed into the target namespace,
//! with the chart's own `values.yaml`, its `crds/` included, and `.Capabilities` describing
//! the target cluster when there is one (see `capabilities`). Hooks and tests are sorted out
//! by `hooks`. Dependencies missing from `charts/` are fetched as `Chart.lock` pins them
//! (`dependencies`, `fetch`, `cache`, `credentials`) and rendered from a copy of the chart
//! (`workspace`). `helmCharts:` entries naming a repository are pulled into the same cache
//! (`pull`) and built by kustomize from a copy of the repository (`kustomize`). helm always
//! runs with a private Helm home.

mod binary;
mod cache;
mod capabilities;
pub mod credentials;
mod dependencies;
mod failure;
mod fetch;
pub mod hooks;
mod index;
pub(crate) mod kustomize;
pub(crate) mod links;
mod pull;
pub(crate) mod workspace;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use binary::{HELM_ENV, choose as choose_program};
pub use cache::CACHE_ENV;
pub use capabilities::Capabilities;

use super::error::RenderError;
use super::limits::Budget;
use super::run::{RunError, run};
use super::{Manifest, Origin};

/// How charts are rendered.
#[derive(Debug, Clone, Default)]
pub struct HelmOptions {
    /// The helm program; `None`: `--helm-binary`, else `$GITOPS_HELM`, else `helm` on PATH.
    pub program: Option<PathBuf>,
    /// The release namespace (`.Release.Namespace`); `None`: `default`.
    pub namespace: Option<String>,
    /// What `.Capabilities` reports.
    pub capabilities: Capabilities,
    /// Where fetched dependencies are cached; `None`: `$GITOPS_HELM_CACHE`, else `helm` in
    /// the cache directory (`$KUBECTL_GITOPS_CACHE_DIR`, `$XDG_CACHE_HOME/kubectl-gitops`,
    /// `~/.cache/kubectl-gitops`).
    pub cache_dir: Option<PathBuf>,
}

impl HelmOptions {
    /// The helm program a render runs.
    pub fn program(&self) -> PathBuf {
        binary::program(self.program.as_deref())
    }

    fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

/// One chart of the snapshot.
pub(crate) struct Chart<'a> {
    /// Its directory on disk.
    pub on_disk: &'a Path,
    /// Its directory as messages show it (relative to the repository root).
    pub display: &'a Path,
    /// The release name: the directory's name.
    pub release: String,
    /// The repository holding the chart: symbolic links of a copied chart may not leave it.
    pub boundary: &'a Path,
}

/// `helm template`'s output for the chart, within the render's `budget`.
pub(crate) fn template(
    chart: &Chart<'_>,
    options: &HelmOptions,
    budget: &Budget,
) -> Result<Vec<u8>, RenderError> {
    let program = options.program();
    let dir = chart.display.to_path_buf();
    binary::check(&program).map_err(|unusable| match unusable {
        binary::Unusable::NotFound => RenderError::HelmNotFound {
            chart: dir.clone(),
            program: program.clone(),
        },
        binary::Unusable::CannotRun(reason) | binary::Unusable::Unsupported(reason) => {
            RenderError::HelmUnusable {
                chart: dir.clone(),
                program: program.clone(),
                reason,
            }
        }
    })?;
    let mut args: Vec<OsString> = vec![
        chart.release.clone().into(),
        "--namespace".into(),
        options.namespace().into(),
        "--include-crds".into(),
    ];
    args.extend(options.capabilities.args());
    let holds_git = links::check(chart.on_disk, &dir, chart.boundary)?;
    let workspace = workspace::Workspace::new().map_err(|error| RenderError::HelmFailed {
        chart: dir.clone(),
        message: format!("cannot create a temporary directory for helm: {error}"),
    })?;
    let chart_dir = match dependencies::needs(chart.on_disk, &dir, chart.boundary)? {
        // helm would load a chart's own `.git` into `.Files` (a CI checkout's token among it):
        // such a chart is rendered from a copy, which leaves `.git` out.
        dependencies::Needs::Nothing if holds_git => workspace
            .copy_chart(chart.on_disk, chart.boundary)
            .map_err(|message| RenderError::HelmFailed {
                chart: dir.clone(),
                message,
            })?,
        dependencies::Needs::Nothing => chart.on_disk.to_path_buf(),
        // Fetched dependencies join a copy of the chart: the tree itself is never written.
        dependencies::Needs::Fetched {
            locked,
            missing,
            local,
            key,
        } => {
            let request = fetch::Request {
                program: &program,
                chart: chart.on_disk,
                display: &dir,
                boundary: chart.boundary,
                locked: &locked,
                missing: &missing,
                local: &local,
                key: &key,
                cache: options.cache_dir.as_deref(),
                budget,
            };
            let copy = workspace
                .copy_chart(chart.on_disk, chart.boundary)
                .map_err(|message| RenderError::HelmFailed {
                    chart: dir.clone(),
                    message,
                })?;
            fetch::provide(&request, &copy.join("charts"))?;
            copy
        }
    };
    let mut command = binary::template_command(&program, &args, &chart_dir);
    // A template needs nothing of the caller's environment: charts are local by now.
    workspace.seal_off(&mut command);
    workspace.isolate(&mut command, None);
    let output = run(command, budget).map_err(|error| match error {
        RunError::Stopped(exceeded) => RenderError::Stopped {
            place: dir.clone(),
            what: "helm template",
            exceeded,
        },
        RunError::Io(_) => RenderError::HelmFailed {
            chart: dir.clone(),
            message: error.reason("helm template", &program),
        },
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = scrub(stderr.trim());
        return Err(RenderError::HelmFailed {
            chart: dir,
            message: if message.is_empty() {
                format!(
                    "`helm template` exited with {} and no message",
                    output.status
                )
            } else {
                message
            },
        });
    }
    Ok(output.stdout)
}

/// Re-points origins from lines of helm's output to the template each object came from,
/// which helm names in a `# Source: CHART/templates/FILE` comment above every document.
pub(crate) fn attribute(manifests: &mut [Manifest], output: &[u8], chart_display: &Path) {
    let text = String::from_utf8_lossy(output);
    let sources: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter_map(|(i, line)| Some((i + 1, line.strip_prefix("# Source: ")?.trim())))
        .collect();
    for manifest in manifests {
        let Some((_, source)) = sources
            .iter()
            .rev()
            .find(|(line, _)| *line <= manifest.origin.line)
        else {
            continue;
        };
        // The first component is the chart's name as Chart.yaml spells it; the rest is the
        // path inside the chart's directory.
        let inside: PathBuf = Path::new(source).components().skip(1).collect();
        manifest.origin = Origin {
            file: chart_display.join(inside),
            document: manifest.origin.document,
            item: manifest.origin.item,
            line: 1,
        };
    }
}

/// helm's messages with credentials taken out: URLs lose their userinfo, as everywhere else.
pub(crate) fn scrub(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            if word.contains("://") {
                crate::reconcile::redact::redact_url(word)
            } else {
                word.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_helms_messages_are_removed() {
        let message = "Error: looks like \"https://user:s3cret@charts.example.com/x\" is not \
                       a valid chart repository";
        let scrubbed = scrub(message);
        assert!(!scrubbed.contains("s3cret"), "{scrubbed}");
        assert!(
            scrubbed.contains("https://***@charts.example.com/x"),
            "{scrubbed}"
        );
    }

    #[test]
    fn origins_name_the_template_below_the_chart_directory() {
        let output = b"---\n# Source: web/templates/a.yaml\nkind: A\n---\n# Source: web/charts/db/templates/b.yaml\nkind: B\n";
        let origin = |line| Origin {
            file: "x".into(),
            document: 0,
            item: None,
            line,
        };
        let mut manifests = vec![
            Manifest::new(Default::default(), origin(3)),
            Manifest::new(Default::default(), origin(6)),
        ];
        attribute(&mut manifests, output, Path::new("deploy/web"));
        assert_eq!(
            manifests[0].origin.file,
            Path::new("deploy/web/templates/a.yaml")
        );
        assert_eq!(
            manifests[1].origin.file,
            Path::new("deploy/web/charts/db/templates/b.yaml")
        );
    }
}
