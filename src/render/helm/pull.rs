//! Pulling a `helmCharts:` entry's chart from its repository: `helm pull` (HTTP repositories
//! through a private `repositories.yaml`, so credentials never appear on a command line;
//! `oci://` through the registry config), once per (repository, chart, version), into the
//! cache. In the controller our own client fetches instead (`download`, `registry`), and helm
//! is not run at all. A chart already cached is never pulled again, so a render whose cache holds it does
//! not touch the network.

use std::ffi::OsString;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::cache;
use super::credentials::{self, Repositories};
use super::dependencies::Locked;
use super::download;
use super::kustomize::RemoteChart;
use super::registry::Registry;
use super::workspace::Workspace;
use crate::render::RenderError;
use crate::render::limits::Budget;

/// What to pull and what for.
pub(crate) struct Request<'a> {
    pub program: &'a Path,
    /// The kustomization file naming the chart, as messages show it.
    pub file: &'a Path,
    pub chart: &'a RemoteChart,
    /// The cache's root; `None`: as `cache::root` finds it.
    pub cache: Option<&'a Path>,
    /// The render's deadline and the output it may still read.
    pub budget: &'a Budget,
}

/// The cache entry's name for a chart: the repository (without a trailing `/`), the chart's
/// name and its version.
pub(crate) fn key(chart: &RemoteChart) -> String {
    let mut hash = Sha256::new();
    for part in [
        chart.repo.trim_end_matches('/'),
        &chart.name,
        &chart.version,
    ] {
        hash.update(part.as_bytes());
        hash.update(b"\n");
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The chart in the cache's store, pulled first when it is not there.
pub(crate) fn provide(request: &Request<'_>) -> Result<cache::StoredChart, RenderError> {
    let root = cache::root(request.cache);
    let key = key(request.chart);
    if let Some(chart) = cache::lookup_chart(&root, &key, &request.chart.name) {
        return Ok(chart);
    }
    let staging = cache::chart_staging(&root).map_err(|e| {
        failed(
            request,
            format!(
                "cannot be cached in {} (set ${} to a writable directory): {e}",
                root.display(),
                cache::CACHE_ENV
            ),
        )
    })?;
    pull(request, staging.path())?;
    if !staging
        .path()
        .join(&request.chart.name)
        .join("Chart.yaml")
        .is_file()
    {
        return Err(failed(
            request,
            format!(
                "`helm pull` did not provide a chart named {}",
                request.chart.name
            ),
        ));
    }
    cache::store_chart(&root, &key, &request.chart.name, staging)
        .map_err(|e| failed(request, format!("pulled, but cannot be cached: {e}")))
}

fn pull(request: &Request<'_>, into: &Path) -> Result<(), RenderError> {
    let chart = request.chart;
    crate::source::address::check_chart_source(&chart.repo).map_err(|r| failed(request, r.0))?;
    let workspace = Workspace::new().map_err(|e| failed(request, e.to_string()))?;
    let registry = credentials::registry_config().map_err(|reason| failed(request, reason))?;
    let oci = chart.repo.starts_with("oci://");
    let mut earlier = String::new();
    let mut args: Vec<OsString> = vec!["pull".into()];
    if oci {
        // In the controller the registry is spoken to by our own client, the token service
        // and each redirect checked, and helm never goes near it (`registry`).
        if let Some(registry) = Registry::for_reference(&chart.repo, request.budget)
            .map_err(|reason| failed(request, reason))?
        {
            let archive = registry
                .chart(&chart.name, &chart.version)
                .map_err(|reason| failed(request, reason))?;
            download::unpack(&archive, into, request.budget)
                .map_err(|reason| failed(request, reason))?;
            request.budget.refund(archive.len());
            return Ok(());
        }
        args.push(format!("{}/{}", chart.repo.trim_end_matches('/'), chart.name).into());
        if credentials::is_loopback_registry(&chart.repo) {
            args.push("--plain-http".into());
        }
    } else {
        // The repository goes into a private repositories.yaml, with the user's credentials
        // for it, and is read from there: `--repo` would want them as flags.
        let repositories = Repositories::from_env().map_err(|reason| failed(request, reason))?;
        // In the controller the repository is read by our own client, each redirect checked,
        // and helm never goes near it (`download`).
        let (repository, entry) = repositories.entry_for(&chart.repo);
        if let Some(client) = download::Client::for_repository(&repository, entry, request.budget)
            .map_err(|reason| failed(request, reason))?
        {
            return download_into(request, &client, &repository, into);
        }
        let locked = Locked {
            name: chart.name.clone(),
            version: chart.version.clone(),
            repository: chart.repo.clone(),
        };
        let config = repositories
            .config_for(std::slice::from_ref(&locked))
            .map_err(|unknown| failed(request, unknown.reason))?;
        credentials::write_private(&workspace.path().join("repositories.yaml"), &config.text)
            .map_err(|e| failed(request, e.to_string()))?;
        let Some((_, name)) = config.names.first() else {
            return Err(failed(request, "not an HTTP chart repository".into()));
        };
        // helm 3 only warns (on stdout) when the index cannot be read, and the pull then fails
        // on the missing index: the warning says why.
        earlier = run(
            request,
            &workspace,
            registry.as_deref(),
            vec!["repo".into(), "update".into(), name.into()],
            "helm repo update",
            "",
        )?;
        args.push(format!("{name}/{}", chart.name).into());
    }
    args.extend([
        "--version".into(),
        chart.version.clone().into(),
        "--untar".into(),
        "--untardir".into(),
        into.as_os_str().to_owned(),
    ]);
    run(
        request,
        &workspace,
        registry.as_deref(),
        args,
        "helm pull",
        &earlier,
    )
    .map(drop)
}

/// The chart from `repository`'s index, downloaded and unpacked into `into` by `client`.
fn download_into(
    request: &Request<'_>,
    client: &download::Client<'_>,
    repository: &str,
    into: &Path,
) -> Result<(), RenderError> {
    let chart = request.chart;
    let base = repository.trim_end_matches('/');
    let index = client
        .get(&format!("{base}/index.yaml"))
        .map_err(|reason| failed(request, format!("the repository cannot be read: {reason}")))?;
    let urls = download::chart_urls(&index, base, &chart.name, &chart.version);
    // Read to find one URL, then let go of: the unpacked chart is what the render keeps.
    request.budget.refund(index.len());
    let Some(url) = urls.first() else {
        return Err(failed(
            request,
            "the repository's index does not list this version".into(),
        ));
    };
    let archive = client
        .archive(url, &chart.name, &chart.version)
        .map_err(|reason| failed(request, reason))?;
    download::unpack(&archive, into, request.budget).map_err(|reason| failed(request, reason))?;
    request.budget.refund(archive.len());
    Ok(())
}

fn run(
    request: &Request<'_>,
    workspace: &Workspace,
    registry: Option<&Path>,
    args: Vec<OsString>,
    what: &str,
    earlier: &str,
) -> Result<String, RenderError> {
    let mut command = std::process::Command::new(request.program);
    command.args(&args).stdin(std::process::Stdio::null());
    workspace.isolate(&mut command, registry);
    command.envs(crate::source::egress::helm_env());
    let output = crate::render::run::run(command, request.budget)
        .map_err(|error| failed(request, error.reason(what, request.program)))?;
    // What it said, read to say what failed (with what an earlier command said); never
    // quoted (`failure`).
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    if output.status.success() {
        return Ok(said);
    }
    let said = format!("{earlier}\n{said}");
    Err(failed(
        request,
        if said.trim().is_empty() {
            format!("`{what}` exited with {}", output.status)
        } else {
            super::failure::describe(&said, what)
        },
    ))
}

fn failed(request: &Request<'_>, reason: String) -> RenderError {
    RenderError::HelmChartPull {
        file: request.file.to_path_buf(),
        chart: request.chart.name.clone(),
        version: request.chart.version.clone(),
        repository: crate::scrub::url(&request.chart.repo),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_is_the_repository_chart_and_version() {
        let chart = |repo: &str, version: &str| RemoteChart {
            name: "web".into(),
            repo: repo.into(),
            version: version.into(),
            chart_home: "charts".into(),
        };
        let base = key(&chart("https://c.example.com", "1.0.0"));
        assert_eq!(base, key(&chart("https://c.example.com/", "1.0.0")));
        assert_ne!(base, key(&chart("https://c.example.com", "1.0.1")));
        assert_ne!(base, key(&chart("https://d.example.com", "1.0.0")));
        // The chart home is where it goes, not what it is.
        let elsewhere = RemoteChart {
            chart_home: "vendor".into(),
            ..chart("https://c.example.com", "1.0.0")
        };
        assert_eq!(base, key(&elsewhere));
    }
}
