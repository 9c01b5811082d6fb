//! Fetching a chart's locked dependencies: `helm dependency build` (as Argo CD runs it) on a
//! copy of the chart, in a private Helm home whose only repositories are the lock's, then the
//! archives kept in the cache. In the controller our own client fetches every repository and
//! registry of the lock instead (`download`, `registry`), and helm only packages its
//! `file://` directories. A lock already cached is never fetched again, so a render whose
//! cache holds its lock does not touch the network.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::cache;
use super::credentials::{self, Repositories};
use super::dependencies::{self, Local, Locked};
use super::failure;
use super::registry::Registry;
use super::workspace::Workspace;
use crate::render::RenderError;
use crate::render::limits::Budget;
use crate::render::run::run;

/// What a fetch is for.
pub(crate) struct Request<'a> {
    pub program: &'a Path,
    /// The chart's directory, and as messages show it.
    pub chart: &'a Path,
    pub display: &'a Path,
    /// The repository the chart lives in: symbolic links may not leave it.
    pub boundary: &'a Path,
    pub locked: &'a [Locked],
    pub missing: &'a [Locked],
    pub local: &'a [Local],
    pub key: &'a str,
    /// The cache's root; `None`: as `cache::root` finds it.
    pub cache: Option<&'a Path>,
    /// The render's deadline and the output it may still read.
    pub budget: &'a Budget,
}

/// Puts the archives of the missing dependencies into `charts`, from the cache, fetching the
/// lock into the cache first when it is not there.
pub(crate) fn provide(request: &Request<'_>, charts: &Path) -> Result<(), RenderError> {
    let root = cache::root(request.cache);
    let archives = match cache::lookup(&root, request.key) {
        Some(archives) => archives,
        None => fetch(request, &root)?,
    };
    std::fs::create_dir_all(charts).map_err(|e| failed(request, request.missing, e.to_string()))?;
    for dependency in request.missing {
        let archive = archives
            .iter()
            .find(|a| dependencies::archive_chart_name(a).as_deref() == Some(&dependency.name))
            .ok_or_else(|| {
                failed(
                    request,
                    std::slice::from_ref(dependency),
                    "helm dependency build did not provide it".into(),
                )
            })?;
        let name = archive.file_name().unwrap_or_default();
        cache::copy_archive(archive, &charts.join(name)).map_err(|e| {
            failed(
                request,
                std::slice::from_ref(dependency),
                format!("cannot copy {} from the cache: {e}", archive.display()),
            )
        })?;
    }
    Ok(())
}

fn fetch(request: &Request<'_>, root: &Path) -> Result<Vec<PathBuf>, RenderError> {
    let all = request.missing;
    for locked in request.locked.iter().filter(|l| l.is_remote()) {
        crate::source::address::check_chart_source(&locked.repository)
            .map_err(|r| failed(request, std::slice::from_ref(locked), r.0))?;
    }
    let repositories = Repositories::from_env().map_err(|reason| failed(request, all, reason))?;
    // In the controller the lock is fetched by our own client, each redirect and token
    // service checked, and helm never goes near a repository or registry (`download`,
    // `registry`): it only packages `file://` directories.
    if crate::source::address::confined().is_some() {
        return download_all(request, root, &repositories);
    }
    let registry = credentials::registry_config().map_err(|reason| failed(request, all, reason))?;
    let workspace = Workspace::new().map_err(|e| failed(request, all, e.to_string()))?;
    // Deep enough that every `file://../..` path stays inside the workspace, where the
    // directories it names are copied.
    let depth = request
        .local
        .iter()
        .map(|l| {
            l.relative
                .components()
                .filter(|c| matches!(c, std::path::Component::ParentDir))
                .count()
        })
        .max()
        .unwrap_or(0);
    let copy = workspace
        .copy_chart_at(request.chart, request.boundary, depth)
        .map_err(|error| failed(request, all, error.to_string()))?;
    for local in request.local {
        let place = normalise(&copy.join(&local.relative));
        if !place.exists() {
            workspace
                .copy_dir(&local.source, &place, request.boundary)
                .map_err(|error| failed(request, all, error.to_string()))?;
        }
    }
    let config = repositories
        .config_for(request.locked)
        .map_err(|unknown| failed(request, &[unknown.dependency], unknown.reason))?;
    credentials::write_private(&workspace.path().join("repositories.yaml"), &config.text)
        .map_err(|e| failed(request, all, e.to_string()))?;

    let mut args: Vec<OsString> = vec!["dependency".into(), "build".into(), copy.clone().into()];
    let oci: Vec<&Locked> = request.locked.iter().filter(|l| l.is_oci()).collect();
    if !oci.is_empty()
        && oci
            .iter()
            .all(|l| credentials::is_loopback_registry(&l.repository))
    {
        args.push("--plain-http".into());
    }
    let mut command = std::process::Command::new(request.program);
    command.args(&args).stdin(std::process::Stdio::null());
    workspace.isolate(&mut command, registry.as_deref());
    command.envs(crate::source::egress::helm_env());
    let output = run(command, request.budget).map_err(|error| {
        failed(
            request,
            all,
            error.reason("helm dependency build", request.program),
        )
    })?;
    if !output.status.success() {
        // Read to decide what failed and whom to blame; never quoted (`failure`).
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let mut named: Vec<Locked> = request
            .locked
            .iter()
            .filter(|l| l.is_built() && mentions(&stderr, &l.name))
            .cloned()
            .collect();
        let mut reason = if stderr.trim().is_empty() {
            format!("`helm dependency build` exited with {}", output.status)
        } else {
            failure::describe(&stderr, "helm dependency build")
        };
        if named.is_empty() {
            // helm does not always say which chart it could not find; the indexes it read do.
            named = unlisted(&workspace, &config, request.locked);
            if !named.is_empty() {
                reason = "the repository's index does not list this version".to_string();
            }
        }
        // helm says on stdout, as a warning, which repositories it could not read, and then
        // fails on the index file that is missing: the warning is the reason.
        let unread = unreadable(&stdout);
        let unreachable: Vec<Locked> = request
            .locked
            .iter()
            .filter(|l| {
                config.names.iter().any(|(repository, name)| {
                    *repository == l.repository && unread.contains_key(name)
                })
            })
            .cloned()
            .collect();
        if !unreachable.is_empty() {
            let mut reasons: Vec<(String, String)> = unreachable
                .iter()
                .filter_map(|l| config.names.iter().find(|(r, _)| *r == l.repository))
                .filter_map(|(repository, name)| {
                    unread.get(name).map(|why| {
                        (
                            crate::scrub::url(repository),
                            failure::describe(why, "helm dependency build"),
                        )
                    })
                })
                .collect();
            reasons.sort();
            reasons.dedup();
            let reasons: Vec<String> = match reasons.as_slice() {
                [(_, why)] => vec![format!("the repository cannot be read: {why}")],
                many => many
                    .iter()
                    .map(|(repository, why)| format!("{repository} cannot be read: {why}"))
                    .collect(),
            };
            return Err(failed(request, &unreachable, reasons.join("; ")));
        }
        let blamed = if named.is_empty() { all } else { &named };
        return Err(failed(request, blamed, reason));
    }
    store(request, root, &copy.join("charts"))
}

/// The lock's archives, as `helm dependency build` would leave them in `charts/`: each from
/// its repository's index or its registry, read by our own client, or packaged by helm from
/// its directory; then cached.
fn download_all(
    request: &Request<'_>,
    root: &Path,
    repositories: &Repositories,
) -> Result<Vec<PathBuf>, RenderError> {
    let all = request.missing;
    let workspace = Workspace::new().map_err(|e| failed(request, all, e.to_string()))?;
    let charts = workspace.path().join("charts");
    std::fs::create_dir_all(&charts).map_err(|e| failed(request, all, e.to_string()))?;
    for (at, locked) in request.locked.iter().enumerate() {
        let one = std::slice::from_ref(locked);
        let archive = charts.join(format!("{}-{}.tgz", locked.name, locked.version));
        if let Some(relative) = locked.local_path() {
            package_local(request, &workspace, at, relative, &charts)
                .map_err(|reason| failed(request, one, reason))?;
            if !archive.is_file() {
                return Err(failed(
                    request,
                    one,
                    format!(
                        "the directory does not hold the chart {} the lock pins",
                        locked.shown()
                    ),
                ));
            }
            continue;
        }
        if !locked.is_built() {
            // Vendored in `charts/`, as `dependencies::needs` made sure.
            continue;
        }
        let bytes = if locked.is_oci() {
            let registry = Registry::for_reference(&locked.repository, request.budget)
                .map_err(|reason| failed(request, one, reason))?
                .ok_or_else(|| failed(request, one, "not confined".into()))?;
            registry
                .chart(&locked.name, &locked.version)
                .map_err(|reason| failed(request, one, reason))?
        } else {
            from_repository(request, locked, repositories)?
        };
        std::fs::write(&archive, bytes).map_err(|e| failed(request, one, e.to_string()))?;
    }
    store(request, root, &charts)
}

/// The lock's archives in `charts`, kept in the chart cache under the lock's key.
fn store(request: &Request<'_>, root: &Path, charts: &Path) -> Result<Vec<PathBuf>, RenderError> {
    let fetched = dependencies::archives(charts, request.locked);
    cache::store(root, request.key, &fetched).map_err(|e| {
        failed(
            request,
            request.missing,
            format!(
                "fetched, but cannot be cached in {} (set ${} to a writable directory): {e}",
                root.display(),
                cache::CACHE_ENV
            ),
        )
    })
}

/// The archive of `locked` from its HTTP(S) repository's index.
fn from_repository(
    request: &Request<'_>,
    locked: &Locked,
    repositories: &Repositories,
) -> Result<Vec<u8>, RenderError> {
    let one = std::slice::from_ref(locked);
    let (repository, entry) = repositories.entry_for(&locked.repository);
    let Some(client) = super::download::Client::for_repository(&repository, entry, request.budget)
        .map_err(|reason| failed(request, one, reason))?
    else {
        return Err(failed(request, one, "not confined".into()));
    };
    let base = repository.trim_end_matches('/');
    let index = client
        .get(&format!("{base}/index.yaml"))
        .map_err(|reason| {
            failed(
                request,
                one,
                format!("the repository cannot be read: {reason}"),
            )
        })?;
    let urls = super::download::chart_urls(&index, base, &locked.name, &locked.version);
    // Read to find one URL, then let go of: the archive is what the render keeps.
    request.budget.refund(index.len());
    let Some(url) = urls.first() else {
        return Err(failed(
            request,
            one,
            "the repository's index does not list this version".into(),
        ));
    };
    client
        .archive(url, &locked.name, &locked.version)
        .map_err(|reason| failed(request, one, reason))
}

/// Packages the `file://` dependency at `relative` (the `at`th of the lock) into `charts`,
/// as `helm dependency build` does: `helm package` of a copy of its directory, which reads
/// local files only.
fn package_local(
    request: &Request<'_>,
    workspace: &Workspace,
    at: usize,
    relative: &Path,
    charts: &Path,
) -> Result<(), String> {
    let local = request
        .local
        .iter()
        .find(|l| l.relative == relative)
        .ok_or_else(|| "the directory was not checked".to_string())?;
    let name = local.source.file_name().unwrap_or_default();
    let copy = workspace
        .path()
        .join("local")
        .join(at.to_string())
        .join(name);
    workspace
        .copy_dir(&local.source, &copy, request.boundary)
        .map_err(|error| error.to_string())?;
    let mut command = std::process::Command::new(request.program);
    command
        .arg("package")
        .arg(&copy)
        .arg("--destination")
        .arg(charts)
        .stdin(std::process::Stdio::null());
    // Local files only: nothing of the caller's environment, no registry login.
    workspace.seal_off(&mut command);
    workspace.isolate(&mut command, None);
    let output = run(command, request.budget)
        .map_err(|error| error.reason("helm package", request.program))?;
    if output.status.success() {
        return Ok(());
    }
    // helm speaks of the directory's own files here, which the repository chose: no server's
    // words to keep out.
    let said = super::scrub(String::from_utf8_lossy(&output.stderr).trim());
    Err(match said.is_empty() {
        true => format!("`helm package` exited with {}", output.status),
        false => format!("`helm package` failed: {said}"),
    })
}

/// The repositories (by the name of their entry) `helm dependency build` warned it could not
/// read, with helm's reason: on stdout, `...Unable to get an update from the "NAME" chart
/// repository (URL):` and the reason on the next line, indented with a tab.
fn unreadable(stdout: &str) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let mut lines = stdout.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line
            .trim_start_matches('.')
            .strip_prefix("Unable to get an update from the \"")
        else {
            continue;
        };
        let Some((name, _)) = rest.split_once('"') else {
            continue;
        };
        let why = lines
            .next_if(|next| next.starts_with('\t'))
            .map(|next| next.trim().to_string())
            .filter(|why| !why.is_empty())
            .unwrap_or_else(|| "helm gives no reason".to_string());
        out.insert(name.to_string(), why);
    }
    out
}

/// The locked dependencies whose version is missing from the index helm read of their
/// repository.
fn unlisted(workspace: &Workspace, config: &credentials::Config, locked: &[Locked]) -> Vec<Locked> {
    let cache = workspace.repository_cache();
    locked
        .iter()
        .filter(|l| l.is_remote() && !l.is_oci())
        .filter(|l| {
            let Some((_, name)) = config.names.iter().find(|(r, _)| *r == l.repository) else {
                return false;
            };
            let Ok(text) = std::fs::read_to_string(cache.join(format!("{name}-index.yaml"))) else {
                return false;
            };
            let Ok(index) = crate::yaml::from_str(&text) else {
                return false;
            };
            !index
                .get("entries")
                .and_then(|e| e.get(&l.name))
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .any(|v| v.get("version").and_then(serde_json::Value::as_str) == Some(&l.version))
        })
        .cloned()
        .collect()
}

/// `a/b/../c` -> `a/c`, without touching the disk.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Whether helm's message speaks of the chart `name` (as a word, not inside another).
fn mentions(message: &str, name: &str) -> bool {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .any(|word| word == name || word.strip_prefix(name).is_some_and(|v| v.starts_with('-')))
}

fn failed(request: &Request<'_>, dependencies: &[Locked], reason: String) -> RenderError {
    let list = |f: &dyn Fn(&Locked) -> String| {
        let mut items: Vec<String> = dependencies.iter().map(f).collect();
        items.dedup();
        items.join(", ")
    };
    RenderError::HelmDependency {
        chart: request.display.to_path_buf(),
        dependency: list(&Locked::shown),
        repository: list(&|l| crate::scrub::url(&l.repository)),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helms_warnings_about_unreadable_repositories_give_the_reason() {
        let stdout = "Hang tight while we grab the latest from your chart repositories...\n\
            ...Unable to get an update from the \"dependency-1\" chart repository (https://charts.example.com/b):\n\
            \tGet \"https://charts.example.com/b/index.yaml\": dial tcp: lookup charts.example.com: no such host\n\
            ...Unable to get an update from the \"dependency-0\" chart repository (https://charts.example.com/a):\n\
            ...Successfully got an update from the \"dependency-2\" chart repository\n\
            Update Complete. \u{2388}Happy Helming!\u{2388}\n";
        let unread = unreadable(stdout);
        assert_eq!(unread.len(), 2, "{unread:?}");
        assert!(
            unread["dependency-1"].ends_with("no such host"),
            "{unread:?}"
        );
        assert_eq!(unread["dependency-0"], "helm gives no reason");
        assert!(unreadable("Update Complete.\n").is_empty());
    }

    #[test]
    fn a_credential_in_helms_reason_is_not_repeated() {
        let reason =
            "Get \"https://ci:hunter2@charts.example.com/index.yaml\": dial tcp: i/o timeout";
        let scrubbed = super::super::scrub(reason);
        assert!(!scrubbed.contains("hunter2"), "{scrubbed}");
        assert!(
            scrubbed.contains("charts.example.com/index.yaml"),
            "{scrubbed}"
        );
    }

    #[test]
    fn helms_message_is_searched_for_whole_chart_names() {
        let message =
            "Error: chart \"db\" version \"0.2.0\" not found in http://127.0.0.1 repository";
        assert!(mentions(message, "db"));
        assert!(!mentions(message, "d"));
        assert!(mentions("could not download db-0.2.0.tgz", "db"));
        assert!(!mentions("could not download dbx-0.2.0.tgz", "db"));
    }
}
