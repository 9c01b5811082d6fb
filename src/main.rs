//! The edge: parse flags, make the shell, run, and end every way out through one path to an
//! exit code.

use std::process::ExitCode;

use clap::Parser;
use kubectl_gitops::cli::{self, Cli, Command, EXIT_ERROR, EXIT_OK};
use kubectl_gitops::ui::{self, Shell};

fn main() -> ExitCode {
    // kubectl's plugin completion hook (completions/kubectl_complete-gitops) lands here.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args.get(1).map(String::as_str) == Some(cli::completion::COMPLETE_REQUEST) {
        let mut shell = Shell::new(ui::Settings::default());
        let _ = cli::completion::complete(&args[2..]).write(shell.out());
        let _ = shell.flush_out();
        return ExitCode::from(EXIT_OK);
    }

    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let deprecated = cli::flags::deprecated_spellings(&argv);
    let mut cli = match Cli::try_parse_from(cli::flags::kubectl_spellings(argv.clone())) {
        Ok(cli) => cli,
        Err(err) => {
            let shell = Shell::new(ui::Settings::default());
            for note in deprecated {
                shell.note(note);
            }
            let _ = err.print();
            // Help and version go to stdout and succeed; usage errors are errors (2).
            return ExitCode::from(if err.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_OK
            });
        }
    };
    let mut shell = Shell::new(cli.command.shell_settings());
    for note in deprecated {
        shell.note(note);
    }
    if let Err(usage) = cli.command.resolve() {
        return finish(&mut shell, Err(anyhow::Error::msg(usage)));
    }
    if !cli.command.logs() {
        ui::shell::tell_events_of(&shell.messages(), kubectl_gitops::cluster::TRACE_TARGET);
    }
    if let Some(helm) = cli.command.helm_binary() {
        kubectl_gitops::render::helm::choose_program(helm.to_path_buf());
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            let err = anyhow::Error::new(err).context("starting the async runtime");
            return finish(&mut shell, Err(err));
        }
    };
    let result = runtime.block_on(run(&cli.command, &mut shell));
    finish(&mut shell, result)
}

async fn run(command: &Command, shell: &mut Shell) -> anyhow::Result<u8> {
    match command {
        Command::Diff(args) => cli::diff::run(args, shell).await,
        Command::Apply(args) => cli::apply::run(args, shell).await,
        Command::Reconcile(args) => cli::reconcile::run(args, shell.messages()).await,
        Command::Controller(args) => cli::controller::run(args, shell.messages()).await,
        Command::Get(args) => cli::get::run(args, shell.out()).await,
        Command::Sync(args) => cli::sync::run(args, &args.cluster, shell.out()).await,
        Command::Suspend(args) => cli::sync::suspend(args, &args.cluster, shell.out()).await,
        Command::Resume(args) => cli::sync::resume(args, &args.cluster, shell.out()).await,
        Command::Status(args) => {
            let style = shell.style();
            cli::status::run(args, &args.cluster, &style, shell.out()).await
        }
        Command::Install(args) => cli::install::run(args, shell),
        Command::Pr(args) => cli::pr::run(args, shell).await,
        Command::Version(_) => cli::version::run(shell.out())
            .map(|()| EXIT_OK)
            .map_err(Into::into),
        Command::Completion(args) => cli::completion::run(args, shell.out())
            .map(|()| EXIT_OK)
            .map_err(Into::into),
    }
}

/// Every way out: the answer sent, an error told once (with its hint), and the exit code.
fn finish(shell: &mut Shell, result: anyhow::Result<u8>) -> ExitCode {
    let flushed = shell.flush_out().map_err(anyhow::Error::from);
    match result.and_then(|code| flushed.map(|()| code)) {
        Ok(code) => ExitCode::from(code),
        Err(err) if is_broken_pipe(&err) => ExitCode::from(EXIT_OK),
        Err(err) => {
            let hint = cli::hints::hint(&err);
            shell.error(&cli::hints::message(&err), hint.as_deref());
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
