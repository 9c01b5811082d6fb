//! The terminal as every command sees it: one owner of stdout and stderr, deciding color,
//! verbosity, progress and prompts once, scrubbing both streams, and giving every error one
//! way out.
//!
//! stdout carries what a command answers (a report, a manifest, a JSON document) and shows
//! Secret values only when `--show-secrets` asked it to; stderr carries what is said to the
//! person running it (notes, warnings, progress, prompts, `-v` lines, errors) and never shows
//! them. The terminal is probed here and nowhere else.

use std::fmt::Display;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use indicatif::{ProgressBar, WeakProgressBar};

use super::style::{ColorChoice, Style, color_enabled};
use crate::scrub::{self, Reveal};

type Sink = scrub::Writer<Box<dyn Write + Send>>;

/// How the command line asked for output to look.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    /// `--color`.
    pub color: ColorChoice,
    /// kubectl's `-v` level.
    pub verbosity: u8,
    /// `--show-secrets`: the report on stdout may show Secret values.
    pub show_secrets: bool,
}

/// What the process is attached to, probed once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminals {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// `NO_COLOR` is set (and not empty).
    pub no_color: bool,
}

impl Terminals {
    /// The process's own standard streams and environment.
    pub fn probe() -> Self {
        Terminals {
            stdin: io::stdin().is_terminal(),
            stdout: io::stdout().is_terminal(),
            stderr: io::stderr().is_terminal(),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        }
    }
}

/// stdout and stderr, owned. Commands write their answer to [`Shell::out`] and speak to the
/// user through [`Messages`] (which the shell derefs to), whose methods take `&self` so the
/// deepest step can say a note while the answer is being written.
pub struct Shell {
    out: Sink,
    err: Messages,
    style: Style,
}

impl Shell {
    /// The process's stdout and stderr, with `settings`.
    pub fn new(settings: Settings) -> Self {
        Shell::with_streams(
            settings,
            Terminals::probe(),
            Box::new(io::stdout()),
            Box::new(io::stderr()),
        )
    }

    /// Any two streams, as if attached to `terminals` (tests capture output this way).
    pub fn with_streams(
        settings: Settings,
        terminals: Terminals,
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
    ) -> Self {
        let color = color_enabled(settings.color, terminals.no_color, terminals.stdout);
        let reveal = if settings.show_secrets {
            Reveal::SecretValues
        } else {
            Reveal::Nothing
        };
        Shell {
            out: scrub::Writer::report(out, reveal),
            err: Messages {
                inner: Arc::new(Inner {
                    sink: Mutex::new(scrub::Writer::stderr(err)),
                    bar: Mutex::new(None),
                    // Errors and notes go to stderr: colored only if it is a terminal too.
                    style: Style::new(color && terminals.stderr),
                    terminal: terminals.stderr,
                    stdin_is_terminal: terminals.stdin,
                    verbosity: settings.verbosity,
                    started: Instant::now(),
                }),
            },
            style: Style::new(color),
        }
    }

    /// stdout: the command's answer, scrubbed (Secret values shown only with
    /// `--show-secrets`).
    pub fn out(&mut self) -> &mut dyn Write {
        &mut self.out
    }

    /// How stdout is styled: colored only on a terminal that allows it.
    pub fn style(&self) -> Style {
        self.style
    }

    /// stderr, to hold beside a borrow of stdout, or to hand to what outlives the shell's
    /// borrow (a signal handler, a log layer).
    pub fn messages(&self) -> Messages {
        self.err.clone()
    }

    /// The one way an error is told: after whatever the answer holds so far, `error: ...` on
    /// stderr, then a hint if there is one.
    pub fn error(&mut self, message: &str, hint: Option<&str>) {
        let _ = self.flush_out();
        self.err.error(message, hint);
    }

    /// Sends what stdout holds.
    pub fn flush_out(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl std::ops::Deref for Shell {
    type Target = Messages;

    fn deref(&self) -> &Messages {
        &self.err
    }
}

/// stderr, shared: what the shell, a signal handler and a log layer say goes out one line at
/// a time, scrubbed, above a progress bar if one is drawn.
#[derive(Clone)]
pub struct Messages {
    inner: Arc<Inner>,
}

struct Inner {
    sink: Mutex<Sink>,
    /// The bar drawn last; weak, so a bar dropped without being finished is not kept drawing.
    bar: Mutex<Option<WeakProgressBar>>,
    style: Style,
    terminal: bool,
    stdin_is_terminal: bool,
    verbosity: u8,
    started: Instant,
}

impl Messages {
    /// kubectl's `-v` level.
    pub fn verbosity(&self) -> u8 {
        self.inner.verbosity
    }

    /// With `-v`: `[ 0.123s] stage: detail`, timed from the start of the command.
    pub fn stage(&self, stage: &str, detail: impl FnOnce() -> String) {
        if self.verbosity() > 0 {
            let elapsed = self.inner.started.elapsed().as_secs_f64();
            self.say(format!("[{elapsed:>6.3}s] {stage}: {}", detail()));
        }
    }

    /// With `-v`: a line as it is.
    pub fn verbose(&self, line: impl FnOnce() -> String) {
        if self.verbosity() > 0 {
            self.say(line());
        }
    }

    /// A counting bar on stderr (`⠋ applying [12/40] ConfigMap/web/settings`), drawn only on a
    /// terminal; lines said while it runs are printed above it.
    pub fn progress(&self, len: u64, verb: &str) -> ProgressBar {
        let bar = super::progress::counter(len, verb, self.inner.terminal);
        *lock(&self.inner.bar) = Some(bar.downgrade());
        bar
    }

    /// Whether the user can be asked: standard input and stderr (where the prompt is drawn)
    /// are both terminals.
    pub fn can_prompt(&self) -> bool {
        self.inner.stdin_is_terminal && self.inner.terminal
    }

    /// Asks a yes/no question on stderr, `no` by default. Ctrl-C at it answers `no` (and is
    /// remembered: see [`super::terminal::interrupted`]). Ask only where
    /// [`Messages::can_prompt`], after flushing stdout.
    pub fn confirm(&self, question: &str) -> io::Result<bool> {
        let answer = super::terminal::prompt(self, || {
            dialoguer::Confirm::new()
                .with_prompt(question)
                .default(false)
                .interact()
        })?;
        Ok(answer.unwrap_or(false))
    }

    /// A line as it is.
    pub fn say(&self, line: impl Display) {
        self.write(format!("{line}\n").as_bytes());
    }

    /// `note: ...`.
    pub fn note(&self, note: impl Display) {
        self.say(format!("{} {note}", self.inner.style.note("note:")));
    }

    /// `warning: ...`.
    pub fn warn(&self, warning: impl Display) {
        self.say(format!(
            "{} {warning}",
            self.inner.style.warning("warning:")
        ));
    }

    /// `error: ...`, and the hint under it, its lines aligned with the first.
    pub fn error(&self, message: &str, hint: Option<&str>) {
        self.say(format!("{} {message}", self.inner.style.error("error:")));
        if let Some(hint) = hint {
            self.say(format!("hint: {}", hint.replace('\n', "\n      ")));
        }
    }

    /// Shows the cursor again (a prompt or progress bar may have hidden it).
    pub fn restore_cursor(&self) {
        if self.inner.terminal {
            self.write(b"\x1b[?25h");
        }
    }

    /// A writer of whole messages (stderr for a command whose stdout holds one document).
    pub fn writer(&self) -> MessageWriter {
        MessageWriter {
            messages: self.clone(),
            pending: Vec::new(),
        }
    }

    fn write(&self, bytes: &[u8]) {
        let send = || {
            let mut sink = lock(&self.inner.sink);
            // Nowhere left to tell a failure to write to stderr.
            let _ = sink.write_all(bytes).and_then(|()| sink.flush());
        };
        let drawn = lock(&self.inner.bar)
            .as_ref()
            .and_then(WeakProgressBar::upgrade)
            .filter(|bar| !bar.is_finished());
        match drawn {
            Some(bar) => bar.suspend(send),
            None => send(),
        }
    }
}

/// [`Messages`] as a `Write`: whole lines go out as they end, the rest on flush or drop.
pub struct MessageWriter {
    messages: Messages,
    pending: Vec<u8>,
}

impl Write for MessageWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(end) = self.pending.iter().rposition(|b| *b == b'\n') {
            let lines: Vec<u8> = self.pending.drain(..=end).collect();
            self.messages.write(&lines);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.messages.write(&rest);
        }
        Ok(())
    }
}

impl Drop for MessageWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Tells the events a library logs under `target` (a module path) on stderr, their message
/// alone: how a step below the commands (the `-v=6` request trace) speaks to the terminal
/// without printing. For commands that install no log subscriber of their own.
pub fn tell_events_of(messages: &Messages, target: &'static str) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = tracing_subscriber::filter::Targets::new()
        .with_target(target, tracing::level_filters::LevelFilter::INFO);
    let _ = tracing_subscriber::registry()
        .with(Tell(messages.clone()).with_filter(filter))
        .try_init();
}

struct Tell(Messages);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Tell {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.say(message.0);
    }
}

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream a test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&lock(&self.0)).into_owned()
        }
    }

    fn capture(settings: Settings, terminals: Terminals) -> (Shell, Captured, Captured) {
        let (out, err) = (Captured::default(), Captured::default());
        let shell = Shell::with_streams(
            settings,
            terminals,
            Box::new(out.clone()),
            Box::new(err.clone()),
        );
        (shell, out, err)
    }

    fn all_terminals() -> Terminals {
        Terminals {
            stdin: true,
            stdout: true,
            stderr: true,
            no_color: false,
        }
    }

    #[test]
    fn notes_warnings_and_errors_go_to_stderr_and_the_answer_to_stdout() {
        let (mut shell, out, err) = capture(Settings::default(), Terminals::default());
        writeln!(shell.out(), "the report").unwrap();
        shell.note("a note");
        shell.warn("a warning");
        shell.error("it failed", Some("try this\nor that"));
        assert_eq!(out.text(), "the report\n");
        assert_eq!(
            err.text(),
            "note: a note\nwarning: a warning\nerror: it failed\nhint: try this\n      or that\n"
        );
    }

    #[test]
    fn both_streams_are_scrubbed_and_only_stdout_reveals_with_show_secrets() {
        scrub::learn_secret_text("shell-test-secret-value");
        let settings = Settings {
            show_secrets: true,
            ..Settings::default()
        };
        let (mut shell, out, err) = capture(settings, Terminals::default());
        writeln!(shell.out(), "value: shell-test-secret-value").unwrap();
        shell.flush_out().unwrap();
        shell.note("saw shell-test-secret-value");
        shell.error("rejected shell-test-secret-value", None);
        assert_eq!(out.text(), "value: shell-test-secret-value\n");
        assert!(
            !err.text().contains("shell-test-secret-value"),
            "{}",
            err.text()
        );

        let (mut shell, out, _) = capture(Settings::default(), Terminals::default());
        writeln!(shell.out(), "value: shell-test-secret-value").unwrap();
        shell.flush_out().unwrap();
        assert_eq!(out.text(), "value: ***\n");
    }

    #[test]
    fn verbose_lines_show_only_with_v() {
        let (shell, _, err) = capture(Settings::default(), Terminals::default());
        shell.stage("plan", || "3 to create".into());
        shell.verbose(|| "render: detail".into());
        assert_eq!(err.text(), "");

        let verbose = Settings {
            verbosity: 1,
            ..Settings::default()
        };
        let (shell, _, err) = capture(verbose, Terminals::default());
        shell.stage("plan", || "3 to create".into());
        shell.verbose(|| "render: detail".into());
        let text = err.text();
        assert!(
            text.starts_with('[') && text.contains("s] plan: 3 to create\n"),
            "{text}"
        );
        assert!(text.ends_with("render: detail\n"), "{text}");
    }

    #[test]
    fn color_follows_the_flag_no_color_and_each_stream_being_a_terminal() {
        let (shell, _, err) = capture(Settings::default(), all_terminals());
        assert!(shell.style().is_colored());
        shell.note("x");
        assert!(err.text().contains('\u{1b}'), "{}", err.text());

        let no_color = Terminals {
            no_color: true,
            ..all_terminals()
        };
        let (shell, _, err) = capture(Settings::default(), no_color);
        assert!(!shell.style().is_colored());
        shell.note("x");
        assert_eq!(err.text(), "note: x\n");

        // stdout a terminal, stderr a file: the report is colored, the messages are not.
        let piped_err = Terminals {
            stderr: false,
            ..all_terminals()
        };
        let (shell, _, err) = capture(Settings::default(), piped_err);
        assert!(shell.style().is_colored());
        shell.messages().error("plain", None);
        assert_eq!(err.text(), "error: plain\n");

        let never = Settings {
            color: ColorChoice::Never,
            ..Settings::default()
        };
        let (shell, _, _) = capture(never, all_terminals());
        assert!(!shell.style().is_colored());
    }

    #[test]
    fn a_prompt_needs_both_stdin_and_stderr_to_be_terminals() {
        assert!(capture(Settings::default(), all_terminals()).0.can_prompt());
        for terminals in [
            Terminals {
                stdin: false,
                ..all_terminals()
            },
            Terminals {
                stderr: false,
                ..all_terminals()
            },
        ] {
            assert!(!capture(Settings::default(), terminals).0.can_prompt());
        }
    }

    #[test]
    fn an_error_comes_after_everything_the_answer_held() {
        let (out, err) = (Captured::default(), Captured::default());
        // One stream for both, as a terminal shows them.
        let both = Captured(out.0.clone());
        let mut shell = Shell::with_streams(
            Settings::default(),
            Terminals::default(),
            Box::new(out.clone()),
            Box::new(both),
        );
        write!(shell.out(), "partial answer without a newline").unwrap();
        shell.error("then this", None);
        assert_eq!(
            out.text(),
            "partial answer without a newlineerror: then this\n"
        );
        assert_eq!(err.text(), "");
    }

    #[test]
    fn a_message_writer_sends_whole_lines() {
        let (shell, _, err) = capture(Settings::default(), Terminals::default());
        let mut writer = shell.messages().writer();
        write!(writer, "half").unwrap();
        assert_eq!(err.text(), "");
        writeln!(writer, " a line").unwrap();
        assert_eq!(err.text(), "half a line\n");
        write!(writer, "rest").unwrap();
        drop(writer);
        assert_eq!(err.text(), "half a line\nrest");
    }

    #[test]
    fn only_the_shell_touches_the_standard_streams() {
        // A print elsewhere would be neither scrubbed nor styled, and would break a progress
        // bar: every file of the library and the binary speaks through the shell.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let forbidden = [
            "println!",
            "print!(",
            "eprintln!",
            "eprint!(",
            "dbg!(",
            "io::stdout()",
            "io::stderr()",
            "io::stdin()",
        ];
        let mut found = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("ui/shell.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    if forbidden.iter().any(|f| line.contains(f)) {
                        let file = path.strip_prefix(&root).unwrap_or(&path).display();
                        found.push(format!("src/{file}:{}: {}", n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "print outside the shell:\n{}",
            found.join("\n")
        );
    }
}
