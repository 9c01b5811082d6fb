use std::io::Write;

use clap::Args;

/// Print the version, git commit and build target.
#[derive(Debug, Args)]
#[command(
    long_about = "Prints the version, the git commit it was built from and the target it was \
                  built for, on one line. Include that line in bug reports.",
    after_help = "Examples:\n  kubectl gitops version"
)]
pub struct VersionArgs {}

pub fn run(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "kubectl-gitops {} (commit {}, {})",
        env!("CARGO_PKG_VERSION"),
        env!("KUBECTL_GITOPS_COMMIT"),
        env!("KUBECTL_GITOPS_TARGET"),
    )
}
