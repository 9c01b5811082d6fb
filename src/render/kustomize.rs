//! Runs kustomize for each kustomization directory, several at once.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::command::KustomizeCommand;
use super::error::RenderError;
use super::layout::Kustomization;

/// Most kustomize processes at once: each is mostly waiting on the disk, but dozens at once
/// would only fight over the CPU.
const MAX_PARALLEL: usize = 8;

/// Longest a single kustomize build may run: remote fetches are refused, so a build that
/// takes longer is stuck.
const TIMEOUT: Duration = Duration::from_secs(120);

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
}

/// kustomize's standard output for each kustomization, in the same order.
pub(crate) fn build_all(
    build: &Build<'_>,
    kustomizations: &[Kustomization],
) -> Vec<Result<Vec<u8>, RenderError>> {
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

    let mut results: Vec<Option<Result<Vec<u8>, RenderError>>> =
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

fn build_one(build: &Build<'_>, kustomization: &Kustomization) -> Result<Vec<u8>, RenderError> {
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
    super::kustomize_guard::check(&on_disk, build.repo_root, &shown)?;
    let program = build.command.program().to_path_buf();
    let output = run_with_timeout(build.command.command(build.extra_args, &on_disk), TIMEOUT)
        .map_err(|source| match source.kind() {
            ErrorKind::NotFound => RenderError::KustomizeNotFound {
                dir: dir.clone(),
                program: program.clone(),
            },
            _ => RenderError::KustomizeSpawn {
                dir: dir.clone(),
                program: program.clone(),
                source,
            },
        })?;
    let Some(output) = output else {
        return Err(RenderError::KustomizeTimeout {
            dir,
            seconds: TIMEOUT.as_secs(),
        });
    };
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(RenderError::KustomizeFailed {
            dir,
            message: failure_message(&output),
        })
    }
}

/// Runs `command` to completion, or kills it after `timeout` (then `Ok(None)`). Output is
/// drained on threads so a chatty build cannot block on a full pipe.
fn run_with_timeout(mut command: Command, timeout: Duration) -> std::io::Result<Option<Output>> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(status.map(|status| Output {
        status,
        stdout,
        stderr,
    }))
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
