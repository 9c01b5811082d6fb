//! The terminal, owned in one place: what an interrupt (Ctrl-C) does while a command writes to
//! the cluster, and putting the terminal back as it was (the cursor a prompt or a progress bar
//! hid) on every way out.

use std::sync::atomic::{AtomicBool, Ordering};

/// The exit code of an interrupted command, as a shell gives one killed by SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static PROMPTING: AtomicBool = AtomicBool::new(false);

/// From now on, Ctrl-C (and SIGTERM) no longer kill the process: the first one calls `stop`
/// and lets the command finish what it has in flight and account for the rest; at a prompt,
/// or the second time, the terminal is put back and the process exits with
/// [`EXIT_INTERRUPTED`]. What it says goes to `messages`. Call it within the async runtime.
pub fn stop_on_interrupt(stop: fn(), messages: super::Messages) {
    tokio::spawn(async move {
        loop {
            interrupt().await;
            let again = INTERRUPTED.swap(true, Ordering::SeqCst);
            stop();
            if PROMPTING.load(Ordering::SeqCst) {
                messages.restore_cursor();
                messages.say("\nInterrupted at the prompt: nothing was changed.");
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
            if again {
                messages.restore_cursor();
                messages.say(
                    "\nInterrupted again: stopped at once; `kubectl gitops diff` shows what was written.",
                );
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
            messages.say(
                "\nInterrupted: finishing the writes in flight, sending no more \
                 (Ctrl-C again to stop at once).",
            );
        }
    });
}

async fn interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Whether the user interrupted.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Runs a prompt. Ctrl-C at it (a signal, or the key read in raw mode) puts the terminal back
/// and is answered `None`: the user did not agree.
pub(super) fn prompt<T>(
    messages: &super::Messages,
    ask: impl FnOnce() -> dialoguer::Result<T>,
) -> std::io::Result<Option<T>> {
    PROMPTING.store(true, Ordering::SeqCst);
    let answer = ask();
    PROMPTING.store(false, Ordering::SeqCst);
    match answer {
        Ok(answer) => Ok(Some(answer)),
        Err(dialoguer::Error::IO(err)) if err.kind() == std::io::ErrorKind::Interrupted => {
            INTERRUPTED.store(true, Ordering::SeqCst);
            messages.restore_cursor();
            Ok(None)
        }
        Err(dialoguer::Error::IO(err)) => {
            messages.restore_cursor();
            Err(err)
        }
    }
}
