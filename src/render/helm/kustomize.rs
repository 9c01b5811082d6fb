//! `helmCharts:` in a kustomization, rendered by kustomize with our helm
//! (`--enable-helm --helm-command PROGRAM`) and the target cluster's capabilities. A chart is
//! either in the repository (under `helmGlobals.chartHome`, `charts` by default) or names a
//! `repo` and a pinned `version`: then it is pulled once into the cache (`pull`) and kustomize
//! finds it where it would have pulled it itself (`CHARTHOME/NAME-VERSION/NAME`) in a copy of
//! the repository, so kustomize never fetches anything.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::binary::{self, Unusable};
use super::pull;
use super::workspace::Workspace;
use super::{Capabilities, HelmOptions};
use crate::render::RenderError;
use crate::render::kustomize_guard::{Placed, Reference, Refuse};

/// What the guard learnt about one kustomization's charts.
#[derive(Debug)]
pub(crate) struct ChartUse {
    /// Files the kustomization's charts read, to be checked like any other reference.
    pub references: Vec<Reference>,
    /// The entries whose chart comes from a repository.
    pub remote: Vec<RemoteChart>,
    /// The directories of the charts in the repository (`chartHome/name`, relative to the
    /// kustomization), whose symbolic links are checked before helm follows them.
    pub local: Vec<PathBuf>,
}

/// A `helmCharts:` entry naming a chart repository (HTTP or `oci://`) and a pinned version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteChart {
    pub name: String,
    pub repo: String,
    pub version: String,
    /// `helmGlobals.chartHome`, relative to the kustomization's directory.
    pub chart_home: String,
}

impl RemoteChart {
    /// Where kustomize looks for the chart before pulling it, relative to the kustomization.
    pub fn place(&self) -> PathBuf {
        Path::new(&self.chart_home)
            .join(format!("{}-{}", self.name, self.version))
            .join(&self.name)
    }
}

/// The local paths `helmCharts`/`helmGlobals` read, or why the entries are refused (`refuse`
/// builds the error from the field, the offending value and the reason). `None` without charts.
///
/// Besides the paths, kustomize hands helm a chart's `name` as a path (it joins it to the
/// chart home, and writes `NAME-kustomize-values.yaml` beside its temporary directory), and
/// its `releaseName` as a bare argument: a name with a path in it writes wherever it climbs
/// to, and a release name starting with `-` is a flag to helm.
pub(crate) fn references(
    doc: &Value,
    refuse: &Refuse<'_>,
) -> Result<Option<ChartUse>, RenderError> {
    let charts = doc.get("helmCharts").and_then(Value::as_array);
    let globals = doc.get("helmGlobals");
    if charts.is_none() && globals.is_none() {
        return Ok(None);
    }
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let mut references = Vec::new();
    let mut remote = Vec::new();
    let mut local = Vec::new();
    let chart_home = globals
        .and_then(|g| text(g, "chartHome"))
        .unwrap_or_else(|| "charts".to_string());
    if let Some(globals) = globals {
        if let Some(home) = text(globals, "chartHome") {
            references.push(Reference::new("helmGlobals.chartHome", home));
        }
        if let Some(config) = globals.get("configHome") {
            return Err(refuse(
                "helmGlobals.configHome",
                config.as_str().unwrap_or(""),
                "is refused: it would let helm read repositories and credentials from outside                  the repository",
            ));
        }
    }
    for (i, chart) in charts.into_iter().flatten().enumerate() {
        let at = format!("helmCharts[{i}]");
        let name = text(chart, "name").unwrap_or_default();
        if let Err(reason) = plain_name(&name) {
            return Err(refuse(&format!("{at}.name"), &name, reason));
        }
        if let Some(release) = text(chart, "releaseName")
            && let Err(reason) = release_name(&release)
        {
            return Err(refuse(
                &format!("{at}.releaseName"),
                &release,
                &reason.to_string(),
            ));
        }
        if let Some(template) = text(chart, "nameTemplate")
            && template.contains("{{")
        {
            return Err(refuse(
                &format!("{at}.nameTemplate"),
                &template,
                "is refused: helm evaluates it with access to the environment; set                  `releaseName` instead",
            ));
        }
        if let Some(repo) = text(chart, "repo").filter(|r| !r.is_empty()) {
            let version = text(chart, "version").unwrap_or_default();
            if let Err(reason) = pinned(&version) {
                return Err(refuse(
                    &format!("helmCharts {name}"),
                    &crate::scrub::url(&repo),
                    &reason.to_string(),
                ));
            }
            remote.push(RemoteChart {
                name: name.clone(),
                repo,
                version,
                chart_home: chart_home.clone(),
            });
        } else if !name.is_empty() {
            local.push(Path::new(&chart_home).join(&name));
        }
        if let Some(values) = text(chart, "valuesFile") {
            references.push(Reference::new(format!("{at}.valuesFile"), values));
        }
        for (j, file) in chart
            .get("additionalValuesFiles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let Some(file) = file.as_str() else { continue };
            references.push(Reference::new(
                format!("{at}.additionalValuesFiles[{j}]"),
                file,
            ));
        }
    }
    Ok(Some(ChartUse {
        references,
        remote,
        local,
    }))
}

/// Whether a chart `name` is a directory name of the chart home, and nothing more.
fn plain_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty: every chart needs a `name`");
    }
    if name.contains(['/', '\\', '\0']) || name.starts_with('.') {
        return Err(
            "is not a plain chart name: kustomize takes it as a path (and writes the chart's              values beside it), so it may not hold `/` or start with `.`",
        );
    }
    Ok(())
}

/// Whether `release` is a name helm accepts as a release: lowercase letters, digits, `-` and
/// `.`, starting and ending with a letter or digit, at most 53 characters.
fn release_name(release: &str) -> Result<(), Refused> {
    let valid = !release.is_empty()
        && release.len() <= 53
        && release
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && release
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && release
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(Refused::ReleaseName)
    }
}

/// Whether `version` names one chart version: a chart pulled by a range, or by none (the
/// newest), would change under a reviewed plan.
fn pinned(version: &str) -> Result<(), Refused> {
    if version.is_empty() {
        return Err(Refused::NoVersion);
    }
    let core = version.strip_prefix('v').unwrap_or(version);
    let core = core.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let exact = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && !version.contains(|c: char| c.is_whitespace() || "^~<>=*|,".contains(c));
    if exact {
        Ok(())
    } else {
        Err(Refused::Unpinned {
            version: version.to_string(),
        })
    }
}

/// Why a `helmCharts` entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Refused {
    #[error(
        "is not a release name (lowercase letters, digits, `-` and `.`, starting and              ending with a letter or digit, at most 53 characters): kustomize passes it to              helm as an argument"
    )]
    ReleaseName,
    #[error(
        "has no `version`: a chart from a repository must pin an exact `version` (as `1.2.3`), \
         or the next render could pull a different chart than the one reviewed"
    )]
    NoVersion,
    #[error(
        "`version: {version}` is not one exact version: a chart from a repository must pin an \
         exact `version` (as `1.2.3`), or the next render could pull a different chart than \
         the one reviewed"
    )]
    Unpinned { version: String },
}

/// A copy of the repository in which every chart from a repository sits where kustomize
/// looks for it before pulling, so kustomize builds it without the network. Removed when
/// dropped.
pub(crate) struct Provided {
    workspace: Workspace,
    /// The copy of the repository root.
    tree: PathBuf,
    /// The original repository root, canonical.
    original: PathBuf,
}

/// The directory name, beside the copied tree, of the kustomization that wraps a build.
const WRAPPER: &str = ".kubectl-gitops-wrapper";

impl Provided {
    /// The build's sandbox, which holds the copy.
    pub fn sandbox(&self) -> &Workspace {
        &self.workspace
    }

    /// `path` (inside the repository on disk) in the copy.
    pub fn in_copy(&self, path: &Path) -> Option<PathBuf> {
        let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        Some(self.tree.join(path.strip_prefix(&self.original).ok()?))
    }

    /// The directory for a wrapping kustomization beside the copy, and where it would be
    /// beside the repository itself: paths kustomize records relative to the one name the
    /// same files relative to the other. `None` for a repository at `/`.
    pub fn wrapper(&self) -> Option<(PathBuf, PathBuf)> {
        let beside = self.original.parent()?.join(WRAPPER);
        let dir = self.workspace.path().join("tree").join(WRAPPER);
        std::fs::create_dir_all(&dir).ok()?;
        Some((dir.canonicalize().ok()?, beside))
    }

    /// A message of kustomize's with the copy's paths put back to the repository's.
    pub fn restore_paths(&self, message: &str) -> String {
        message.replace(
            &*self.tree.to_string_lossy(),
            &self.original.to_string_lossy(),
        )
    }
}

/// Pulls (or finds in the cache) every chart of `charts` the repository does not hold, and
/// lays out a copy of the repository with them in place; `None` when there is nothing to pull.
pub(crate) fn provide(
    repo_root: &Path,
    charts: &[Placed],
    options: &HelmOptions,
    budget: &crate::render::limits::Budget,
) -> Result<Option<Provided>, RenderError> {
    let program = options.program();
    let mut pulled = Vec::new();
    for placed in charts {
        // A chart the repository already holds where kustomize looks is the one it renders.
        if placed.dir.join(placed.chart.place()).is_dir() {
            continue;
        }
        let request = pull::Request {
            program: &program,
            file: &placed.file,
            chart: &placed.chart,
            cache: options.cache_dir.as_deref(),
            budget,
        };
        pulled.push((placed, pull::provide(&request)?));
    }
    if pulled.is_empty() {
        return Ok(None);
    }
    let original = repo_root
        .canonicalize()
        .unwrap_or_else(|_| repo_root.to_path_buf());
    let copy_failed = |placed: &Placed, reason: String| RenderError::HelmChartPull {
        file: placed.file.clone(),
        chart: placed.chart.name.clone(),
        version: placed.chart.version.clone(),
        repository: crate::scrub::url(&placed.chart.repo),
        reason,
    };
    let first = pulled[0].0;
    let workspace = Workspace::new().map_err(|e| {
        copy_failed(
            first,
            format!("cannot create a temporary directory for the build: {e}"),
        )
    })?;
    let name = original
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "repository".into());
    let tree = workspace.path().join("tree").join(name);
    workspace
        .copy_dir(&original, &tree, &original)
        .map_err(|reason| copy_failed(first, format!("cannot copy the repository: {reason}")))?;
    let tree = tree.canonicalize().unwrap_or(tree);
    let provided = Provided {
        workspace,
        tree,
        original,
    };
    for (placed, cached) in pulled {
        let Some(dir) = provided.in_copy(&placed.dir) else {
            return Err(copy_failed(
                placed,
                "the kustomization is outside the repository".into(),
            ));
        };
        cached
            .copy_to(&dir.join(placed.chart.place()))
            .map_err(|error| copy_failed(placed, error.to_string()))?;
    }
    Ok(Some(provided))
}

/// kustomize's arguments that render `helmCharts` with our helm, which must be Helm 3:
/// kustomize v5.5 refuses any other major version.
pub(crate) fn kustomize_args(
    dir: &Path,
    options: &HelmOptions,
) -> Result<Vec<OsString>, RenderError> {
    let program = options.program();
    let unusable = |reason: String| RenderError::HelmUnusable {
        chart: dir.to_path_buf(),
        program: program.clone(),
        reason,
    };
    match binary::check(&program) {
        Ok(version) if version.major == 3 => {}
        Ok(_) => {
            return Err(unusable(
                "kustomize renders helmCharts only with Helm 3 and this is Helm 4: name a Helm 3 \
                 program with --helm-binary or $GITOPS_HELM"
                    .into(),
            ));
        }
        Err(Unusable::NotFound) => {
            return Err(RenderError::HelmNotFound {
                chart: dir.to_path_buf(),
                program,
            });
        }
        Err(Unusable::CannotRun(reason) | Unusable::Unsupported(reason)) => {
            return Err(unusable(reason));
        }
    }
    let mut args: Vec<OsString> = vec![
        "--enable-helm".into(),
        "--helm-command".into(),
        absolute(&program).into_os_string(),
    ];
    // kustomize's spelling of helm's --kube-version/--api-versions.
    if let Capabilities::Cluster {
        kube_version,
        api_versions,
    } = &options.capabilities
    {
        args.push("--helm-kube-version".into());
        args.push(kube_version.into());
        for api_version in api_versions {
            args.push("--helm-api-versions".into());
            args.push(api_version.into());
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn use_of(text: &str) -> Result<ChartUse, String> {
        let doc = crate::yaml::from_str(text).unwrap();
        let refuse = |field: &str, reference: &str, reason: &str| RenderError::KustomizeReference {
            file: "app/kustomization.yaml".into(),
            field: field.to_string(),
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        references(&doc, &refuse)
            .map(Option::unwrap)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_pinned_chart_from_a_repository_is_placed_where_kustomize_looks_for_it() {
        let found = use_of(
            "helmGlobals:\n  chartHome: vendor\nhelmCharts:\n- name: web\n  repo: https://charts.example.com\n  version: 1.2.3\n",
        )
        .unwrap();
        assert_eq!(found.remote.len(), 1);
        assert_eq!(found.remote[0].place(), Path::new("vendor/web-1.2.3/web"));
        let default_home = use_of(
            "helmCharts:\n- name: web\n  repo: oci://r.example.com/c\n  version: v2.0.0-rc.1\n",
        )
        .unwrap();
        assert_eq!(
            default_home.remote[0].place(),
            Path::new("charts/web-v2.0.0-rc.1/web")
        );
    }

    #[test]
    fn an_unpinned_chart_from_a_repository_is_refused() {
        for version in [
            "",
            "  version: ^1.2.0\n",
            "  version: 1.x\n",
            "  version: '>=1.0.0'\n",
            "  version: \"1.2\"\n",
        ] {
            let error = use_of(&format!(
                "helmCharts:\n- name: web\n  repo: https://u:pw@charts.example.com\n{version}"
            ))
            .unwrap_err();
            assert!(error.contains("app/kustomization.yaml"), "{error}");
            assert!(error.contains("helmCharts web"), "{error}");
            assert!(error.contains("must pin an exact `version`"), "{error}");
            assert!(!error.contains("pw@"), "{error}");
        }
    }
}

/// kustomize runs helm from another directory: a relative program path must not change
/// meaning.
fn absolute(program: &Path) -> PathBuf {
    if program.components().count() > 1 && program.is_relative() {
        std::env::current_dir()
            .map(|cwd| cwd.join(program))
            .unwrap_or_else(|_| program.to_path_buf())
    } else {
        program.to_path_buf()
    }
}
