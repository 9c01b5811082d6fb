//! Runs kustomize for each kustomization directory, several at once.
//!
//! Each build goes through a wrapping kustomization in a temporary directory that lists the
//! directory as its one resource and asks for `buildMetadata: [originAnnotations]`: kustomize
//! then records, on every object, the base, overlay or component file (or the generator) that
//! defined it, without a byte of the repository being changed. `kustomize_origin` turns that
//! record into origins and removes it. A build that fails that way is run again directly, so
//! its error speaks of the user's directory.
//!
//! Every build runs in a sandbox of its own (`helm::workspace`): kustomize, and the helm it
//! runs for `helmCharts`, get a private home and temporary directory and nothing else of our
//! environment but `PATH`, after the guard (`kustomize_guard`) has refused every reference
//! that would lead them out of the repository.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use super::command::KustomizeCommand;
use super::error::RenderError;
use super::helm::workspace::Workspace;
use super::layout::{KUSTOMIZATION_FILES, Kustomization};
use super::limits::{Budget, Exceeded};
use super::remote_bases::Fetched;
use super::run::{RunError, run};

/// Most kustomize processes at once: each is mostly waiting on the disk, but dozens at once
/// would only fight over the CPU.
const MAX_PARALLEL: usize = 8;

/// What to run and where.
pub(crate) struct Build<'a> {
    /// The snapshot root on disk; kustomization directories are relative to it.
    pub root: &'a Path,
    /// The repository root on disk: no kustomization may reference anything outside it.
    pub repo_root: &'a Path,
    /// Prefix of directory names in messages.
    pub display_prefix: &'a Path,
    pub command: &'a KustomizeCommand,
    pub extra_args: &'a [OsString],
    /// The helm that renders `helmCharts`.
    pub helm: &'a super::helm::HelmOptions,
    /// The render's deadline and the output it may still read, shared by every build.
    pub budget: &'a Budget,
    /// Whether remote bases are fetched (`remote_bases`) or refused.
    pub remote_bases: super::RemoteBases,
}

/// One build's output.
pub(crate) struct Built {
    /// kustomize's standard output: the objects as YAML.
    pub output: Vec<u8>,
    /// When the objects carry origin annotations: the wrapping kustomization's directory
    /// (canonical; gone by now), or for a build in a copy of the repository where it would
    /// be beside the repository, which their paths are relative to.
    pub traced_from: Option<PathBuf>,
    /// The repository's copy and the remote bases fetched for the build, when it has any:
    /// where its paths lie (kept until origins are traced).
    pub fetched: Option<std::sync::Arc<Fetched>>,
}

/// kustomize's output for each kustomization, in the same order.
pub(crate) fn build_all(
    build: &Build<'_>,
    kustomizations: &[Kustomization],
) -> Vec<Result<Built, RenderError>> {
    let next = AtomicUsize::new(0);
    // Workers claim directories one at a time, so a slow build does not hold up a queue.
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(kustomization) = kustomizations.get(i) else {
                return done;
            };
            done.push((i, build_one(build, kustomization)));
        }
    };

    let helpers = thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_PARALLEL)
        .min(kustomizations.len())
        .saturating_sub(1);
    let finished = thread::scope(|scope| {
        // A thread that cannot be started just leaves more work for the others.
        let handles: Vec<_> = (0..helpers)
            .filter_map(|_| {
                thread::Builder::new()
                    .name("kustomize".into())
                    .spawn_scoped(scope, work)
                    .ok()
            })
            .collect();
        let mut finished = work();
        for handle in handles {
            if let Ok(done) = handle.join() {
                finished.extend(done);
            }
        }
        finished
    });

    let mut results: Vec<Option<Result<Built, RenderError>>> =
        kustomizations.iter().map(|_| None).collect();
    for (i, result) in finished {
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(result);
        }
    }
    results
        .into_iter()
        .zip(kustomizations)
        .map(|(result, kustomization)| {
            result.unwrap_or_else(|| {
                Err(RenderError::KustomizeIncomplete {
                    dir: kustomization.display_dir(build.display_prefix),
                })
            })
        })
        .collect()
}

fn build_one(build: &Build<'_>, kustomization: &Kustomization) -> Result<Built, RenderError> {
    let dir = kustomization.display_dir(build.display_prefix);
    // Joining "" would add a trailing separator; the root itself reads better in messages.
    let on_disk = if kustomization.dir.as_os_str().is_empty() {
        build.root.to_path_buf()
    } else {
        build.root.join(&kustomization.dir)
    };
    let repo_root = build
        .repo_root
        .canonicalize()
        .unwrap_or_else(|_| build.repo_root.to_path_buf());
    let shown = |p: &Path| {
        let relative = p.strip_prefix(&repo_root).unwrap_or(p);
        relative.to_path_buf()
    };
    let charts =
        super::kustomize_guard::check(&on_disk, build.repo_root, &shown, build.remote_bases)?;
    // Remote bases are fetched into a copy of the repository, which is then built (and checked
    // again, every base now a directory of the copy) in place of the repository.
    let fetched = if charts.remote_bases.is_empty() {
        None
    } else {
        Some(std::sync::Arc::new(super::remote_bases::fetch(
            build.repo_root,
            &on_disk,
            build.budget,
        )?))
    };
    let shown_in_copy = |p: &Path| match &fetched {
        Some(fetched) => fetched.shown(p),
        None => shown(p),
    };
    let (on_disk, repo_root, charts) = match &fetched {
        Some(fetched) => {
            let in_copy = fetched
                .in_copy(&on_disk)
                .ok_or_else(|| RenderError::KustomizeIncomplete { dir: dir.clone() })?;
            let charts = super::kustomize_guard::check(
                &in_copy,
                fetched.tree(),
                &shown_in_copy,
                super::RemoteBases::Refused,
            )?;
            (in_copy, fetched.tree().to_path_buf(), charts)
        }
        None => (on_disk, build.repo_root.to_path_buf(), charts),
    };
    let shown = shown_in_copy;
    let mut extra_args = build.extra_args.to_vec();
    if charts.any {
        extra_args.extend(super::helm::kustomize::kustomize_args(&dir, build.helm)?);
    }
    // kustomize hands these to helm, which follows their links. (A chart holding a `.git` of
    // its own would need a copy too; charts under chartHome are not repository roots.)
    for chart in charts.local.iter().filter(|chart| chart.is_dir()) {
        super::helm::links::check(chart, &shown(chart), &repo_root)?;
    }
    let program = build.command.program().to_path_buf();
    // Charts from repositories are pulled (or found in the cache) now, and kustomize builds a
    // copy of the repository holding them, in the build's sandbox.
    let provided =
        super::helm::kustomize::provide(&repo_root, &charts.remote, build.helm, build.budget)?;
    let fresh;
    let sandbox = match (&provided, &fetched) {
        (Some(provided), _) => provided.sandbox(),
        (None, Some(fetched)) => fetched.sandbox(),
        (None, None) => {
            fresh = Workspace::new().map_err(|source| RenderError::KustomizeSpawn {
                dir: dir.clone(),
                program: program.clone(),
                source,
            })?;
            &fresh
        }
    };
    let on_disk = match &provided {
        Some(provided) => provided.in_copy(&on_disk).unwrap_or(on_disk),
        None => on_disk,
    };
    let build = &Build {
        extra_args: &extra_args,
        ..*build
    };
    let stopped = |exceeded| RenderError::Stopped {
        place: dir.clone(),
        what: "kustomize build",
        exceeded,
    };
    if let Some(mut built) =
        build_traced(build, &on_disk, provided.as_ref(), sandbox).map_err(stopped)?
    {
        built.fetched = fetched;
        return Ok(built);
    }
    let mut command = build.command.command(build.extra_args, &on_disk);
    sandbox.seal_off(&mut command);
    let output = run(command, build.budget).map_err(|error| match error {
        RunError::Io(source) if source.kind() == ErrorKind::NotFound => {
            RenderError::KustomizeNotFound {
                dir: dir.clone(),
                program: program.clone(),
            }
        }
        RunError::Io(source) => RenderError::KustomizeSpawn {
            dir: dir.clone(),
            program: program.clone(),
            source,
        },
        RunError::Stopped(exceeded) => stopped(exceeded),
    })?;
    if output.status.success() {
        Ok(Built {
            output: output.stdout,
            traced_from: None,
            fetched,
        })
    } else {
        let message = failure_message(&output);
        let message = match &provided {
            Some(provided) => provided.restore_paths(&message),
            None => message,
        };
        let message = match &fetched {
            Some(fetched) => fetched.restore_paths(&message),
            None => message,
        };
        // Paths inside the kustomization read as it writes them.
        let message = message.replace(&format!("{}/", on_disk.display()), "");
        Err(RenderError::KustomizeFailed {
            place: kustomization_file(&dir, &on_disk),
            message: super::kustomize_failure::plain(&message),
        })
    }
}

/// Builds `dir` through a wrapping kustomization that records origins; `None` when that
/// cannot be set up or the build fails (the caller then builds `dir` itself), `Err` when the
/// build was stopped at one of the render's limits (building again could only be stopped
/// again). In a copy of the repository, the wrapper sits beside the copy and origins are
/// traced as if beside the repository.
fn build_traced(
    build: &Build<'_>,
    dir: &Path,
    provided: Option<&super::helm::kustomize::Provided>,
    sandbox: &Workspace,
) -> Result<Option<Built>, Exceeded> {
    let Some(wrapper_dir) = wrap(dir, provided, sandbox) else {
        return Ok(None);
    };
    let (wrapper_dir, traced_from) = wrapper_dir;
    let mut command = build.command.command(build.extra_args, &wrapper_dir);
    sandbox.seal_off(&mut command);
    let output = match run(command, build.budget) {
        Ok(output) => output,
        Err(RunError::Stopped(exceeded)) => return Err(exceeded),
        Err(RunError::Io(_)) => return Ok(None),
    };
    if !output.status.success() {
        // The direct build that follows reads its own output.
        build.budget.refund(output.stdout.len());
        return Ok(None);
    }
    Ok(Some(Built {
        output: output.stdout,
        traced_from: Some(traced_from),
        fetched: None,
    }))
}

/// The wrapping kustomization for `dir`: its directory, and the directory origins are traced
/// from.
fn wrap(
    dir: &Path,
    provided: Option<&super::helm::kustomize::Provided>,
    sandbox: &Workspace,
) -> Option<(PathBuf, PathBuf)> {
    let (wrapper_dir, traced_from) = match provided {
        Some(provided) => provided.wrapper()?,
        None => {
            let wrapper = sandbox.path().join("origins");
            std::fs::create_dir_all(&wrapper).ok()?;
            let dir = wrapper.canonicalize().ok()?;
            (dir.clone(), dir)
        }
    };
    let target = dir.canonicalize().ok()?;
    // kustomize refuses absolute resource paths, so the directory is named relative to the
    // wrapper.
    let relative = relative_path(&wrapper_dir, &target)?;
    let relative = serde_json::to_string(relative.to_str()?).ok()?;
    let mut text = format!("resources:\n- {relative}\nbuildMetadata: [originAnnotations]\n");
    // Only the outermost kustomization's sort order counts; the wrapper is now outermost.
    if let Some(sort) = sort_options(dir) {
        text.push_str(&format!("sortOptions: {sort}\n"));
    }
    std::fs::write(wrapper_dir.join("kustomization.yaml"), text).ok()?;
    Some((wrapper_dir, traced_from))
}

/// `sortOptions` of the kustomization in `dir`, as JSON (which YAML reads), if it sets them.
fn sort_options(dir: &Path) -> Option<String> {
    let kustomization = super::kustomization_file::read(dir).ok()??;
    serde_json::to_string(kustomization.doc.get("sortOptions")?).ok()
}

/// `to` as seen from `from`, both absolute: `../..` up to their common ancestor, then down.
fn relative_path(from: &Path, to: &Path) -> Option<PathBuf> {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let mut relative = PathBuf::new();
    for _ in common..from.len() {
        relative.push("..");
    }
    for component in to.iter().skip(common) {
        relative.push(component.as_os_str());
    }
    Some(relative)
}

/// The kustomization file of `dir` as shown to the user (`on_disk` is where it is read).
fn kustomization_file(dir: &Path, on_disk: &Path) -> PathBuf {
    let Some(name) = KUSTOMIZATION_FILES
        .iter()
        .find(|name| on_disk.join(name).exists())
    else {
        return dir.to_path_buf();
    };
    if dir.as_os_str().is_empty() || dir == Path::new(".") {
        PathBuf::from(name)
    } else {
        dir.join(name)
    }
}

/// kustomize's complaint, without kubectl's log-line headers; the exit status if it said nothing.
fn failure_message(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message = stderr
        .lines()
        .map(strip_klog_header)
        .collect::<Vec<_>>()
        .join("\n");
    let message = message.trim();
    if message.is_empty() {
        format!("{} with no message", output.status)
    } else {
        message.to_string()
    }
}

/// kubectl logs errors as `E1128 04:11:18.875576   28645 run.go:72] message`; the header is
/// noise to someone reading a build failure.
fn strip_klog_header(line: &str) -> &str {
    let is_header = line.get(..5).is_some_and(|head| {
        let mut chars = head.chars();
        chars
            .next()
            .is_some_and(|c| matches!(c, 'I' | 'W' | 'E' | 'F'))
            && chars.all(|c| c.is_ascii_digit())
    }) && line.get(5..6) == Some(" ");
    match line.find("] ") {
        Some(end) if is_header => line.get(end + 2..).unwrap_or(line),
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_named_relative_to_the_wrapper() {
        assert_eq!(
            relative_path(Path::new("/tmp/w1"), Path::new("/work/repo/apps")),
            Some(PathBuf::from("../../work/repo/apps"))
        );
        assert_eq!(
            relative_path(Path::new("/work/tmp"), Path::new("/work/tmp/x")),
            Some(PathBuf::from("x"))
        );
    }

    #[test]
    fn klog_headers_are_removed_from_kubectl_errors() {
        assert_eq!(
            strip_klog_header(
                "E1128 04:11:18.875576   28645 run.go:72] \"command failed\" err=\"boom\""
            ),
            "\"command failed\" err=\"boom\""
        );
        assert_eq!(strip_klog_header("Error: boom] x"), "Error: boom] x");
        assert_eq!(strip_klog_header("E12"), "E12");
    }
}
