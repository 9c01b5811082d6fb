//! The edge: parse flags, decide color once, run, map the outcome to an exit code.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use kubectl_gitops::cli::{self, Cli, Command, EXIT_ERROR, EXIT_OK};
use kubectl_gitops::scrub;
use kubectl_gitops::ui::{Style, color_enabled};

fn main() -> ExitCode {
    // kubectl's plugin completion hook (completions/kubectl_complete-gitops) lands here.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args.get(1).map(String::as_str) == Some(cli::completion::COMPLETE_REQUEST) {
        let _ = cli::completion::complete(&args[2..]).write(&mut std::io::stdout().lock());
        return ExitCode::from(EXIT_OK);
    }

    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    for note in cli::flags::deprecated_spellings(&argv) {
        eprintln!("note: {note}");
    }
    let mut cli = match Cli::try_parse_from(cli::flags::kubectl_spellings(argv)) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // Help and version go to stdout and succeed; usage errors are errors (2).
            return ExitCode::from(if err.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_OK
            });
        }
    };
    if let Err(usage) = cli.command.resolve() {
        eprintln!("error: {usage}");
        return ExitCode::from(EXIT_ERROR);
    }
    let color = color_enabled(
        cli.command.color(),
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        std::io::stdout().is_terminal(),
    );
    let style = Style::new(color);
    if let Some(helm) = cli.command.helm_binary() {
        kubectl_gitops::render::helm::choose_program(helm.to_path_buf());
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let stdout = std::io::stdout();
    // Everything printed passes the scrubber: no report or message can leak by forgetting to.
    let mut out = scrub::Writer::report(stdout.lock());
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Diff(args) => cli::diff::run(args, &style, &mut out).await,
            Command::Apply(args) => cli::apply::run(args, &style, &mut out).await,
            Command::Reconcile(args) => cli::reconcile::run(args).await,
            Command::Controller(args) => cli::controller::run(args).await,
            Command::Get(args) => cli::get::run(args, &mut out).await,
            Command::Sync(args) => cli::sync::run(args, &args.cluster, &mut out).await,
            Command::Suspend(args) => cli::sync::suspend(args, &args.cluster, &mut out).await,
            Command::Resume(args) => cli::sync::resume(args, &args.cluster, &mut out).await,
            Command::Status(args) => cli::status::run(args, &args.cluster, &style, &mut out).await,
            Command::Install(args) => cli::install::run(args, &mut out),
            Command::Pr(args) => cli::pr::run(args, &mut out).await,
            Command::Version(_) => cli::version::run(&mut out)
                .map(|()| EXIT_OK)
                .map_err(Into::into),
            Command::Completion(args) => cli::completion::run(args, &mut out)
                .map(|()| EXIT_OK)
                .map_err(Into::into),
        }
    });
    let _ = out.flush();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) if is_broken_pipe(&err) => ExitCode::from(EXIT_OK),
        Err(err) => {
            let prefix = style_error(color);
            eprintln!("{prefix} {}", scrub::text(&cli::hints::message(&err)));
            if let Some(hint) = cli::hints::hint(&err) {
                eprintln!("hint: {}", scrub::text(&hint.replace('\n', "\n      ")));
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// `kubectl gitops diff | head` is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn style_error(stdout_color: bool) -> String {
    // Errors go to stderr: color them only if stderr is a terminal too.
    Style::new(stdout_color && std::io::stderr().is_terminal()).error("error:")
}
