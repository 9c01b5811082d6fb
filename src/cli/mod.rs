//! The command line: clap definitions, one file per subcommand, each a thin call into the
//! pipeline. Exit codes follow `kubectl diff`.

pub mod apply;
pub mod common;
pub mod completion;
pub mod controller;
pub mod diff;
pub mod duration;
pub mod get;
pub mod hints;
pub mod install;
pub mod pr;
pub mod reconcile;
pub mod render_limits;
pub mod status;
pub mod sync;
pub mod version;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::cluster::ClusterOptions;
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
  3  apply: applied, but nothing pruned: the plan prunes more than --max-prune allows";

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
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand understands, spelled as kubectl spells them.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: its current-context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// Namespace for objects that do not name one (default: the context's namespace).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// When to color output: auto (a terminal without NO_COLOR), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// How long one request to the API server may go unanswered before it fails (e.g. 30s,
    /// 2m; 0 waits forever). Default: 10s to connect, 60s for an answer.
    #[arg(long, global = true, value_parser = duration::request_timeout, value_name = "DURATION")]
    pub request_timeout: Option<Duration>,

    /// The helm program that renders Helm charts (default: $GITOPS_HELM, then `helm` on
    /// PATH; Helm 3.8 or later).
    #[arg(long, global = true, value_name = "PROGRAM", value_hint = clap::ValueHint::ExecutablePath)]
    pub helm_binary: Option<PathBuf>,

    /// More detail on stderr (repeat for more).
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl GlobalArgs {
    pub fn cluster_options(&self) -> ClusterOptions {
        ClusterOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: self.namespace.clone(),
            request_timeout: self.request_timeout,
            ..ClusterOptions::default()
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
