use std::io::Write;

use anyhow::Result;
use clap::{Args, ValueEnum};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::{EXIT_ERROR, EXIT_OK, GlobalArgs};
use crate::cluster::Cluster;
use crate::inventory::ApplySet;
use crate::reconcile::status::{self, CycleResult, Status};
use crate::ui::Style;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

/// Show what the in-cluster reconciler last did.
#[derive(Debug, Args)]
#[command(
    long_about = "Reads the status the reconciler keeps in the ConfigMap <applyset>-status: the \
                  last attempted and last applied revision and when, the counts of the last \
                  cycle, drift corrections so far and the last error. Without --applyset, lists \
                  every reconciler's status in --applyset-namespace.",
    after_help = "Examples:
  # One reconciler, in detail
  kubectl gitops status --applyset gitops-platform-deploy --applyset-namespace gitops-system

  # Every reconciler of a namespace, for scripts
  kubectl gitops status --applyset-namespace gitops-system -o json

Exit code 2 when a shown reconciler's last cycle failed."
)]
pub struct StatusArgs {
    /// The ApplySet whose reconciler to show (default: all in the namespace).
    #[arg(long, value_name = "NAME")]
    pub applyset: Option<String>,

    /// Namespace of the ApplySet parent and the status ConfigMap.
    #[arg(long, value_name = "NAMESPACE", default_value = "default")]
    pub applyset_namespace: String,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = StatusFormat::Text)]
    pub output: StatusFormat,
}

pub async fn run(
    args: &StatusArgs,
    global: &GlobalArgs,
    style: &Style,
    out: &mut dyn Write,
) -> Result<u8> {
    let cluster = Cluster::connect(&global.cluster_options()).await?;
    let found: Vec<(ApplySet, Status)> = match &args.applyset {
        Some(name) => {
            let set = ApplySet {
                name: name.clone(),
                namespace: args.applyset_namespace.clone(),
            };
            match status::read(&cluster.client, &set).await? {
                Some(found) => vec![(set, found)],
                None => anyhow::bail!(
                    "no reconciler status for {set}: the ConfigMap {} does not exist (has \
                     `kubectl gitops reconcile` run for this ApplySet yet?)",
                    status::configmap_name(&set)
                ),
            }
        }
        None => status::list(&cluster.client, &args.applyset_namespace).await?,
    };
    let failed = found
        .iter()
        .any(|(_, s)| s.last_result == Some(CycleResult::Failed));
    match args.output {
        StatusFormat::Json => {
            let items: Vec<_> = found
                .iter()
                .map(|(set, s)| {
                    json!({"applyset": set.name, "namespace": set.namespace, "status": s.to_data()})
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &items)?;
            writeln!(out)?;
        }
        StatusFormat::Text => {
            if found.is_empty() {
                writeln!(
                    out,
                    "No reconciler status in namespace {}.",
                    args.applyset_namespace
                )?;
            }
            let now = Timestamp::now();
            for (i, (set, s)) in found.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                let text = status::format(set, s, now);
                if s.last_result == Some(CycleResult::Failed) {
                    // Color the error line only; the rest stays plain for copying.
                    for line in text.lines() {
                        if line.starts_with("Last error:") {
                            writeln!(out, "{}", style.error(line))?;
                        } else {
                            writeln!(out, "{line}")?;
                        }
                    }
                } else {
                    write!(out, "{text}")?;
                }
            }
        }
    }
    Ok(if failed { EXIT_ERROR } else { EXIT_OK })
}
