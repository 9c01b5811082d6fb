//! Runs one child process of a render (helm, kustomize) within the render's budget.
//!
//! The child starts in a process group of its own, so what it starts in turn (kustomize's
//! helm, helm's plugins and git) goes with it: at the render's deadline, or as soon as its
//! output passes what the render may still read, the whole group is killed and the render
//! hears why. Output is read as it comes, so a child that prints without end is stopped after
//! the cap, not after it has filled the memory.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::Duration;

use super::limits::{Budget, Exceeded, Limit};

/// How often the deadline and the child's exit are looked at while its output is quiet.
const POLL: Duration = Duration::from_millis(20);

/// Most of a child's standard error kept for its message; the rest is read and dropped.
const MAX_STDERR: usize = 256 * 1024;

/// Size of one read from a pipe.
const CHUNK: usize = 64 * 1024;

/// Why a child did not run to its end.
#[derive(Debug)]
pub(crate) enum RunError {
    /// It could not be started (or waited for).
    Io(std::io::Error),
    /// It was stopped, with every process it started, at one of the render's limits.
    Stopped(Exceeded),
}

impl RunError {
    /// The reason, for a message that already names the render: `what` is the command
    /// (`helm template`), `program` the file run.
    pub(crate) fn reason(&self, what: &str, program: &Path) -> String {
        match self {
            RunError::Io(error) => format!("could not run `{}`: {error}", program.display()),
            RunError::Stopped(exceeded) => format!("`{what}` was stopped: {exceeded}"),
        }
    }
}

/// What a pipe reader hands over.
enum Chunk {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// One pipe reached its end.
    Closed,
}

/// Runs `command` to its end, with no stdin, within `budget`. Its standard output is charged
/// to the budget as it is read.
pub(crate) fn run(mut command: Command, budget: &Budget) -> Result<Output, RunError> {
    if budget.expired() {
        return Err(RunError::Stopped(budget.hit(Limit::Timeout)));
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(RunError::Io)?;
    // Little is in flight at once: the readers wait while this thread catches up.
    let (sender, chunks) = mpsc::sync_channel(8);
    let mut open = 0;
    if let Some(pipe) = child.stdout.take() {
        open += usize::from(forward(pipe, sender.clone(), Chunk::Stdout));
    }
    if let Some(pipe) = child.stderr.take() {
        open += usize::from(forward(pipe, sender.clone(), Chunk::Stderr));
    }
    drop(sender);

    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut status: Option<ExitStatus> = None;
    loop {
        if open == 0
            && let Some(status) = status
        {
            return Ok(Output {
                status,
                stdout,
                stderr,
            });
        }
        match chunks.recv_timeout(POLL) {
            Ok(Chunk::Stdout(bytes)) => {
                if !budget.charge(bytes.len()) {
                    stop(&mut child);
                    return Err(RunError::Stopped(budget.hit(Limit::Bytes)));
                }
                stdout.extend_from_slice(&bytes);
            }
            Ok(Chunk::Stderr(bytes)) => {
                let room = MAX_STDERR.saturating_sub(stderr.len());
                stderr.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
            }
            Ok(Chunk::Closed) => open = open.saturating_sub(1),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = 0,
        }
        if status.is_none() {
            match child.try_wait() {
                Ok(done) => status = done,
                Err(error) => {
                    stop(&mut child);
                    return Err(RunError::Io(error));
                }
            }
        }
        // Also after the child's exit: something it started may still hold its pipes open.
        if budget.expired() {
            stop(&mut child);
            return Err(RunError::Stopped(budget.hit(Limit::Timeout)));
        }
    }
}

/// Reads `pipe` on a thread of its own, handing each chunk over as `wrap` makes it; false
/// when no thread could be started (the pipe is then dropped, and the child sees it closed).
fn forward(
    mut pipe: impl Read + Send + 'static,
    sender: SyncSender<Chunk>,
    wrap: fn(Vec<u8>) -> Chunk,
) -> bool {
    let read = move || {
        let mut buffer = vec![0; CHUNK];
        loop {
            match pipe.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = buffer.get(..n).unwrap_or_default().to_vec();
                    // The receiver is gone once the child was stopped: nothing to keep.
                    if sender.send(wrap(chunk)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sender.send(Chunk::Closed);
    };
    thread::Builder::new()
        .name("render-output".into())
        .spawn(read)
        .is_ok()
}

/// Kills the child and every process of its group, then reaps the child.
fn stop(child: &mut Child) {
    #[cfg(unix)]
    if let Ok(id) = i32::try_from(child.id())
        && let Some(group) = rustix::process::Pid::from_raw(id)
    {
        // The group is the child's own (see `run`); the child is not reaped yet, so its id
        // cannot have been reused.
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::render::limits::{Limits, RenderLimits};

    fn budget(timeout: Duration, max_bytes: u64) -> Budget {
        Budget::start(RenderLimits::from_flags(Limits {
            timeout,
            max_bytes,
            ..Limits::default()
        }))
    }

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    /// Whether a process with this id is still running (a zombie counts as gone).
    fn running(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let state = stat.rsplit_once(") ")?.1.chars().next()?;
                Some(state != 'Z')
            })
            .unwrap_or(false)
    }

    #[test]
    fn a_child_that_finishes_hands_over_its_output_and_status() {
        let budget = budget(Duration::from_secs(60), 1024);
        let output = run(shell("printf hello; printf oops >&2; exit 3"), &budget).unwrap();
        assert_eq!(output.stdout, b"hello");
        assert_eq!(output.stderr, b"oops");
        assert_eq!(output.status.code(), Some(3));
    }

    #[test]
    fn output_past_the_cap_stops_the_child_and_names_the_limit() {
        let budget = budget(Duration::from_secs(60), 64 * 1024);
        // Without the cap this would print until the disk of memory ran out.
        let error = run(shell("yes kubectl-gitops"), &budget).unwrap_err();
        let RunError::Stopped(exceeded) = error else {
            panic!("expected a stop, got {error:?}");
        };
        assert_eq!(exceeded.limit, Limit::Bytes);
        assert!(exceeded.to_string().contains("64Ki"), "{exceeded}");
    }

    #[test]
    fn at_the_deadline_the_child_and_what_it_started_are_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        // A child that starts a grandchild holding the pipes, and waits on it.
        let script = format!("sleep 300 & echo $$ $! > {}; wait", pids.to_str().unwrap());
        let budget = budget(Duration::from_millis(500), 1024);
        let error = run(shell(&script), &budget).unwrap_err();
        assert!(
            matches!(&error, RunError::Stopped(e) if e.limit == Limit::Timeout),
            "{error:?}"
        );
        let text = std::fs::read_to_string(&pids).unwrap();
        let ids: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(ids.len(), 2, "{text}");
        // The shell was reaped; the grandchild went with the group (init reaps it).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while ids.iter().any(|id| running(id)) && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        for id in ids {
            assert!(!running(id), "process {id} outlived the render's deadline");
        }
    }

    #[test]
    fn a_render_out_of_time_starts_no_more_children() {
        let budget = budget(Duration::ZERO, 1024);
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let error = run(
            shell(&format!("touch {}", marker.to_str().unwrap())),
            &budget,
        )
        .unwrap_err();
        assert!(matches!(error, RunError::Stopped(_)), "{error:?}");
        assert!(!marker.exists());
    }

    #[test]
    fn a_program_that_cannot_start_is_an_io_error() {
        let budget = budget(Duration::from_secs(5), 1024);
        let error = run(Command::new("/nonexistent/kubectl-gitops-test"), &budget).unwrap_err();
        assert!(
            matches!(&error, RunError::Io(e) if e.kind() == std::io::ErrorKind::NotFound),
            "{error:?}"
        );
    }
}
