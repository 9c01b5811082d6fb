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
mod download;
mod failure;
mod fetch;
pub mod hooks;
pub(crate) mod kustomize;
pub(crate) mod links;
pub mod lookup;
mod pull;
mod registry;
pub(crate) mod workspace;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use binary::{HELM_ENV, choose as choose_program};
pub use cache::CACHE_ENV;
pub use capabilities::Capabilities;
pub use lookup::{ClusterAccess, Fallback, LookupOutcome};

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
    /// Whom Helm's `lookup` asks, and as whom; `None`: no cluster (lookups see nothing).
    pub lookup: Option<ClusterAccess>,
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

/// What rendering one chart gave.
pub(crate) struct Rendered {
    /// `helm template`'s output.
    pub output: Vec<u8>,
    /// The output of a second render, for a chart whose templates may render differently
    /// each time (see `lookup::Traits`): what differs between the two is unstable.
    pub again: Option<Vec<u8>>,
    /// What `lookup` saw.
    pub lookup: LookupOutcome,
}

/// Renders the chart with `helm template` within the render's `budget`: with lookups
/// answered by the cluster when the chart calls `lookup` and a cluster is at hand, and twice
/// when its templates may render differently each time.
pub(crate) fn template(
    chart: &Chart<'_>,
    options: &HelmOptions,
    budget: &Budget,
) -> Result<Rendered, RenderError> {
    let program = options.program();
    let dir = chart.display.to_path_buf();
    let version = binary::check(&program).map_err(|unusable| match unusable {
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
            .map_err(|error| RenderError::HelmFailed {
                chart: dir.clone(),
                message: error.to_string(),
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
                .map_err(|error| RenderError::HelmFailed {
                    chart: dir.clone(),
                    message: error.to_string(),
                })?;
            fetch::provide(&request, &copy.join("charts"))?;
            copy
        }
    };
    let traits = lookup::traits(&chart_dir);
    let once = |server: Option<&Server>| {
        let mut args = args.clone();
        if let Some(server) = server {
            args.extend(server.args.iter().cloned());
        }
        let mut command = binary::template_command(&program, &args, &chart_dir);
        match server {
            // A credential plugin needs the caller's environment to get its token.
            Some(server) if server.plugin => {}
            // A template needs nothing of the caller's environment: charts are local by now.
            _ => workspace.seal_off(&mut command),
        }
        workspace.isolate(&mut command, None);
        run_template(command, &program, &dir, budget)
    };
    let access = options.lookup.as_ref();
    let (output, server, outcome) = match access {
        _ if !traits.lookup => (once(None)?, None, LookupOutcome::NotCalled),
        None => (once(None)?, None, LookupOutcome::Offline),
        Some(_) if version < lookup::MINIMUM => (
            once(None)?,
            None,
            LookupOutcome::HelmTooOld(format!("{}.{}", version.major, version.minor)),
        ),
        Some(access) => {
            let server = Server::new(&workspace, access, version).map_err(|error| {
                RenderError::HelmFailed {
                    chart: dir.clone(),
                    message: format!("cannot write the kubeconfig for helm's lookups: {error}"),
                }
            })?;
            match once(Some(&server)) {
                Ok(output) => (output, Some(server), LookupOutcome::Answered),
                // Out of time or output: rendering again would only spend more.
                Err(error @ RenderError::Stopped { .. }) => return Err(error),
                Err(error) => {
                    let message = match &error {
                        RenderError::HelmFailed { message, .. } => message.clone(),
                        other => other.to_string(),
                    };
                    tracing::debug!(chart = %dir.display(), %message, "helm's render with the cluster failed");
                    let fallback = lookup::Fallback::of(&message);
                    (once(None)?, None, LookupOutcome::Failed(fallback))
                }
            }
        }
    };
    let again = if traits.unsteady {
        Some(once(server.as_ref())?)
    } else {
        None
    };
    Ok(Rendered {
        output,
        again,
        lookup: outcome,
    })
}

/// How helm reaches the cluster for lookups: the flags naming the sandbox's kubeconfig.
struct Server {
    args: Vec<OsString>,
    /// The identity runs a credential plugin.
    plugin: bool,
}

impl Server {
    fn new(
        workspace: &workspace::Workspace,
        access: &ClusterAccess,
        version: binary::Version,
    ) -> std::io::Result<Self> {
        let kubeconfig = lookup::write_kubeconfig(workspace.path(), access)?;
        let mut args: Vec<OsString> = vec![
            "--dry-run=server".into(),
            "--kubeconfig".into(),
            kubeconfig.into(),
        ];
        if version.major >= 4 {
            // Helm 4's server dry run also checks whether an install could take the rendered
            // objects over: a read of each with this flag, a refusal of ours without it. The
            // OpenAPI schema it would fetch to validate adds nothing to our own dry run.
            args.push("--take-ownership".into());
            args.push("--disable-openapi-validation".into());
        }
        Ok(Server {
            args,
            plugin: lookup::runs_a_plugin(access),
        })
    }
}

/// Runs one `helm template` to its end: its output, or its failure in helm's words.
fn run_template(
    command: std::process::Command,
    program: &Path,
    dir: &Path,
    budget: &Budget,
) -> Result<Vec<u8>, RenderError> {
    let output = run(command, budget).map_err(|error| match error {
        RunError::Stopped(exceeded) => RenderError::Stopped {
            place: dir.to_path_buf(),
            what: "helm template",
            exceeded,
        },
        RunError::Io(_) => RenderError::HelmFailed {
            chart: dir.to_path_buf(),
            message: error.reason("helm template", program),
        },
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = scrub(stderr.trim());
        return Err(RenderError::HelmFailed {
            chart: dir.to_path_buf(),
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
            remote: None,
        };
    }
}

/// helm's messages with credentials taken out: URLs lose their userinfo, as everywhere else.
pub(crate) fn scrub(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            if word.contains("://") {
                crate::source::redact::redact_url(word)
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
            remote: None,
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
