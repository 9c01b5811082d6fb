//! The command line: clap definitions, one file per subcommand, each a thin call into the
//! pipeline. Exit codes follow `kubectl diff`.

pub mod apply;
pub mod common;
pub mod completion;
pub mod controller;
pub mod diff;
pub mod duration;
pub mod flags;
pub mod get;
pub mod hints;
pub mod install;
pub mod pages;
pub mod pr;
pub mod reconcile;
pub mod render_limits;
pub mod status;
pub mod sync;
pub mod version;

use std::path::Path;

use clap::{Parser, Subcommand};

use crate::ui::ColorChoice;

/// Exit code: success, or in sync.
pub const EXIT_OK: u8 = 0;
/// Exit code: differences found (diff) — like `kubectl diff`.
pub const EXIT_DRIFT: u8 = 1;
/// Exit code: an error (bad flags, unreadable input, rejected objects, unreachable cluster).
pub const EXIT_ERROR: u8 = 2;
/// Exit code: `apply` applied the plan but pruned nothing, because it prunes more than
/// `--max-prune` allows.
pub const EXIT_PRUNE_LIMIT: u8 = 3;
/// Exit code: interrupted (Ctrl-C or SIGTERM) during apply, which stopped between writes.
pub use crate::ui::terminal::EXIT_INTERRUPTED;

const AFTER_HELP: &str = "\
Examples:
  # What would applying deploy/ change? (exit code 1 when something would)
  kubectl gitops diff deploy/

  # Apply it: the same plan, a confirmation, then server-side apply and prune
  kubectl gitops apply deploy/

  # Every subcommand explains itself
  kubectl gitops diff --help

Exit codes:
  0  success; for diff: the cluster is in sync
  1  diff found differences
  2  error (bad flags or input, objects rejected by the server, cluster unreachable)
  3  apply: applied, but nothing pruned: the plan prunes more than --max-prune allows
  130  apply: interrupted (Ctrl-C): the writes made are listed, no more were sent, nothing
       was pruned";

/// GitOps from your terminal: preview and apply a git repository against a cluster.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-gitops",
    bin_name = "kubectl gitops",
    version,
    about = "GitOps from your terminal: preview and apply what git says against the cluster",
    long_about = "kubectl gitops renders the manifests of a git repository (plain YAML/JSON or \
                  kustomize) and compares them with the live cluster using server-side dry-run, \
                  so defaulted fields make no noise and Secrets never leak.",
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Diff(diff::DiffArgs),
    Apply(apply::ApplyArgs),
    Reconcile(Box<reconcile::ReconcileArgs>),
    Controller(Box<controller::ControllerArgs>),
    Get(get::GetArgs),
    Sync(sync::SyncArgs),
    Suspend(sync::SuspendArgs),
    Resume(sync::ResumeArgs),
    Status(status::StatusArgs),
    Install(install::InstallArgs),
    Pr(pr::PrArgs),
    Version(version::VersionArgs),
    Completion(completion::CompletionArgs),
}

impl Command {
    /// What clap cannot settle flag by flag (kubectl's `-f` as PATH); a usage error otherwise.
    pub fn resolve(&mut self) -> Result<(), common::FilenameError> {
        match self {
            Command::Diff(args) => args.plan.resolve_filename(true),
            Command::Apply(args) => args.plan.resolve_filename(true),
            Command::Pr(args) => args.plan.resolve_filename(false),
            _ => Ok(()),
        }
    }

    /// `--color`, for the commands that color their output; the others print plain text, and
    /// their errors are colored as `auto` would.
    pub fn color(&self) -> ColorChoice {
        match self {
            Command::Diff(args) => args.color.color,
            Command::Apply(args) => args.color.color,
            Command::Status(args) => args.color.color,
            _ => ColorChoice::Auto,
        }
    }

    /// kubectl's `-v` level, for the commands that talk to a cluster.
    pub fn verbosity(&self) -> u8 {
        let cluster = match self {
            Command::Diff(args) => &args.plan.cluster,
            Command::Apply(args) => &args.plan.cluster,
            Command::Pr(args) => &args.plan.cluster,
            Command::Reconcile(args) => &args.cluster,
            Command::Controller(args) => &args.cluster,
            Command::Get(args) => &args.cluster,
            Command::Sync(args) => &args.cluster,
            Command::Suspend(args) => &args.cluster,
            Command::Resume(args) => &args.cluster,
            Command::Status(args) => &args.cluster,
            _ => return 0,
        };
        cluster.verbosity()
    }

    /// `--show-secrets`: the report on stdout may show Secret values (never `pr`'s).
    pub fn show_secrets(&self) -> bool {
        match self {
            Command::Diff(args) => args.secrets.show_secrets,
            Command::Apply(args) => args.secrets.show_secrets,
            _ => false,
        }
    }

    /// Whether the command logs as a long-running process does (structured, on stderr): its
    /// log subscriber, not the shell's, tells what the steps below it log.
    pub fn logs(&self) -> bool {
        matches!(self, Command::Reconcile(_) | Command::Controller(_))
    }

    /// The shell this command's output wants.
    pub fn shell_settings(&self) -> crate::ui::Settings {
        crate::ui::Settings {
            color: self.color(),
            verbosity: self.verbosity(),
            show_secrets: self.show_secrets(),
        }
    }

    /// `--helm-binary`, for the commands that render.
    pub fn helm_binary(&self) -> Option<&Path> {
        let render = match self {
            Command::Diff(args) => &args.plan.render,
            Command::Apply(args) => &args.plan.render,
            Command::Pr(args) => &args.plan.render,
            Command::Reconcile(args) => &args.runner.render,
            Command::Controller(args) => &args.runner.render,
            _ => return None,
        };
        render.helm_binary.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
