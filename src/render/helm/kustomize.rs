//! `helmCharts:` in a kustomization, rendered by kustomize with our helm
//! (`--enable-helm --helm-command PROGRAM`) and the target cluster's capabilities. Charts must be in the repository (under
//! `helmGlobals.chartHome`, `charts` by default): an entry naming a `repo` would be fetched
//! from the network during every render, so it is refused like a remote base.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::binary::{self, Unusable};
use super::{Capabilities, HelmOptions};
use crate::render::RenderError;

/// What the guard learnt about one kustomization's charts.
pub(crate) struct ChartUse {
    /// Files the kustomization's charts read, to be checked like any other reference.
    pub references: Vec<String>,
}

/// The local paths `helmCharts`/`helmGlobals` read, or why the entries are refused (`refuse`
/// builds the error from the offending reference and the reason). `None` without charts.
pub(crate) fn references(
    doc: &Value,
    refuse: &dyn Fn(&str, &str) -> RenderError,
) -> Result<Option<ChartUse>, RenderError> {
    let charts = doc.get("helmCharts").and_then(Value::as_array);
    let globals = doc.get("helmGlobals");
    if charts.is_none() && globals.is_none() {
        return Ok(None);
    }
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let mut references = Vec::new();
    if let Some(globals) = globals {
        references.extend(text(globals, "chartHome"));
        if globals.get("configHome").is_some() {
            return Err(refuse(
                "helmGlobals.configHome",
                "would let helm read repositories and credentials from outside the repository",
            ));
        }
    }
    for chart in charts.into_iter().flatten() {
        let name = text(chart, "name").unwrap_or_default();
        if text(chart, "repo").is_some_and(|r| !r.is_empty()) {
            return Err(refuse(
                &format!("helmCharts {name}"),
                "names a chart repository, fetched from the network on every render: vendor \
                 the chart under chartHome (`helm pull --untar`) and drop `repo`",
            ));
        }
        references.extend(text(chart, "valuesFile"));
        for file in chart
            .get("additionalValuesFiles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            references.push(file.to_string());
        }
    }
    Ok(Some(ChartUse { references }))
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
