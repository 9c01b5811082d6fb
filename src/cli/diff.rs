use std::io::Write;

use anyhow::Result;
use clap::Args;

use super::common::{PlanArgs, prepare};
use super::{EXIT_DRIFT, EXIT_ERROR, EXIT_OK, GlobalArgs};
use crate::report::{self, Format};
use crate::ui::Style;

/// Show what applying the manifests under PATH would change in the cluster.
#[derive(Debug, Args)]
#[command(
    long_about = "Reads the git working tree under PATH as you see it (uncommitted edits and \
                  untracked files included, ignored files not), renders it (YAML, JSON, \
                  kustomize) and compares it with the live cluster through a server-side apply \
                  dry-run. Objects applied earlier from PATH that left git show as prunes. \
                  Secret values are masked.",
    after_help = "Examples:
  # What would change if the manifests under deploy/ were applied?
  kubectl gitops diff deploy/

  # Against another context, as a PR comment
  kubectl gitops diff deploy/ --context staging --output markdown

  # For scripts: exit code 0 in sync, 1 drift, 2 error
  kubectl gitops diff deploy/ --output json > plan.json"
)]
pub struct DiffArgs {
    #[command(flatten)]
    pub plan: PlanArgs,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

pub async fn run(
    args: &DiffArgs,
    global: &GlobalArgs,
    style: &Style,
    out: &mut dyn Write,
) -> Result<u8> {
    // Forced like apply (git wins over other field managers), so the diff shows the outcome.
    let prepared = prepare(&args.plan, global, true).await?;
    let plan = &prepared.planned.plan;

    let style = if args.output == Format::Text {
        *style
    } else {
        Style::plain()
    };
    let target = report::Target {
        context: prepared.cluster.context.clone(),
        server: prepared.cluster.server.clone(),
    };
    report::write(plan, args.output, &target, &style, out)?;
    out.flush()?;

    let summary = plan.summary();
    Ok(if summary.errors > 0 {
        EXIT_ERROR
    } else if summary.has_changes() {
        EXIT_DRIFT
    } else {
        EXIT_OK
    })
}
