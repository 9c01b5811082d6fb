use std::io::Write;
use std::num::NonZeroU32;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::{EXIT_DRIFT, EXIT_ERROR, EXIT_OK, GlobalArgs};
use crate::cluster::Cluster;
use crate::report::{self, Format};
use crate::ssa::{self, PlanOptions};
use crate::ui::Style;
use crate::{render, source};

/// Show what applying the manifests under PATH would change in the cluster.
#[derive(Debug, Args)]
#[command(
    long_about = "Reads the git working tree under PATH as you see it (uncommitted edits and \
                  untracked files included, ignored files not), renders it (YAML, JSON, \
                  kustomize) and compares it with the live cluster through a server-side apply \
                  dry-run. Secret values are masked.",
    after_help = "Examples:
  # What would change if the manifests under deploy/ were applied?
  kubectl gitops diff deploy/

  # Against another context, as a PR comment
  kubectl gitops diff deploy/ --context staging --output markdown

  # For scripts: exit code 0 in sync, 1 drift, 2 error
  kubectl gitops diff deploy/ --output json > plan.json"
)]
pub struct DiffArgs {
    /// Directory holding the manifests (inside a git repository or not).
    #[arg(default_value = ".")]
    pub path: PathBuf,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub output: Format,

    /// Print Secret values instead of masking them.
    #[arg(long)]
    pub show_secrets: bool,

    /// Requests in flight at once.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub concurrency: usize,

    /// Client-side limit of requests per second (bursts may go to twice this).
    #[arg(long, default_value_t = NonZeroU32::new(500).expect("non-zero"), value_name = "QPS")]
    pub qps: NonZeroU32,
}

pub async fn run(
    args: &DiffArgs,
    global: &GlobalArgs,
    style: &Style,
    out: &mut dyn Write,
) -> Result<u8> {
    let snapshot = source::read_working_tree(&args.path, &source::Limits::default())
        .with_context(|| format!("reading {}", args.path.display()))?;
    if snapshot.origin == source::SourceOrigin::PlainDirectory {
        eprintln!(
            "note: {} is not inside a git repository; reading it as plain files",
            args.path.display()
        );
    }
    let manifests = render::render(&snapshot, &render::RenderOptions::default())?;

    let mut options = global.cluster_options();
    options.concurrency = args.concurrency;
    options.qps = args.qps;
    options.burst = args
        .qps
        .saturating_mul(NonZeroU32::new(2).expect("non-zero"));
    let cluster = Cluster::connect(&options).await?;
    let plan = ssa::plan(
        &cluster,
        &manifests,
        &PlanOptions {
            show_secrets: args.show_secrets,
        },
    )
    .await?;

    let style = if args.output == Format::Text {
        *style
    } else {
        Style::plain()
    };
    let target = report::Target {
        context: cluster.context.clone(),
        server: cluster.server.clone(),
    };
    report::write(&plan, args.output, &target, &style, out)?;
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
