use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use anyhow::Result;
use clap::{Args, ValueEnum};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::{EXIT_ERROR, EXIT_OK, GlobalArgs};
use crate::cluster::Cluster;
use crate::inventory::{self, ApplySet, ParentSummary};
use crate::reconcile::status::{self, CycleResult, Status};
use crate::ui::Style;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

/// Show the ApplySets you can see, or what the reconciler of one last did.
#[derive(Debug, Args)]
#[command(
    long_about = "Without --applyset, lists the ApplySets kubectl-gitops manages that you may \
                  see (cluster-wide when you may list Secrets everywhere, else in the namespace \
                  of -n or the context): repository, path, target namespace, member count and \
                  last apply, and the last result of a reconciler following it. With \
                  --applyset, shows the status that set's reconciler keeps in the ConfigMap \
                  <applyset>-status: the last attempted and last applied revision and when, the \
                  counts of the last cycle, drift corrections so far and the last error.",
    after_help = "Examples:
  # Every set you can see
  kubectl gitops status

  # One reconciler, in detail
  kubectl gitops status --applyset gitops-platform-deploy-1a2b3c4d -n apps

  # For scripts
  kubectl gitops status -o json

Exit code 2 when a shown reconciler's last cycle failed."
)]
pub struct StatusArgs {
    /// The ApplySet whose reconciler to show in detail (default: list every set).
    #[arg(long, value_name = "NAME")]
    pub applyset: Option<String>,

    /// Namespace of the ApplySet parent and the status ConfigMap (default: -n or the
    /// context's namespace).
    #[arg(long, value_name = "NAMESPACE")]
    pub applyset_namespace: Option<String>,

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
    let namespace = args
        .applyset_namespace
        .clone()
        .unwrap_or_else(|| cluster.default_namespace.clone());
    let Some(name) = &args.applyset else {
        return list(&cluster, &namespace, args.output, style, out).await;
    };
    let set = ApplySet::named(name, &namespace);
    let found = match status::read(&cluster.client, &set).await? {
        Some(found) => found,
        None => anyhow::bail!(
            "no reconciler status for {set}: the ConfigMap {} does not exist (has \
             `kubectl gitops reconcile` run for this ApplySet yet?)",
            status::configmap_name(&set)
        ),
    };
    let failed = found.last_result == Some(CycleResult::Failed);
    match args.output {
        StatusFormat::Json => {
            let item = json!({"applyset": set.name, "namespace": set.namespace, "status": found.to_data()});
            serde_json::to_writer_pretty(&mut *out, &vec![item])?;
            writeln!(out)?;
        }
        StatusFormat::Text => {
            let text = status::format(&set, &found, Timestamp::now());
            if failed {
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
    Ok(if failed { EXIT_ERROR } else { EXIT_OK })
}

/// Every set the caller can see, one line each, with its reconciler's last result.
async fn list(
    cluster: &Cluster,
    namespace: &str,
    format: StatusFormat,
    style: &Style,
    out: &mut dyn Write,
) -> Result<u8> {
    let (parents, cluster_wide) = inventory::list_parents(cluster, namespace).await?;
    // Reconciler statuses, one LIST per namespace holding parents; unreadable ones are left out.
    let mut reconcilers: BTreeMap<(String, String), Status> = BTreeMap::new();
    let namespaces: BTreeSet<&str> = parents
        .iter()
        .map(|p| p.parent.namespace.as_str())
        .collect();
    for ns in namespaces {
        if let Ok(found) = status::list(&cluster.client, ns).await {
            for (set, s) in found {
                reconcilers.insert((set.namespace, set.name), s);
            }
        }
    }
    let reconciler_of =
        |p: &ParentSummary| reconcilers.get(&(p.parent.namespace.clone(), p.parent.name.clone()));
    let failed = parents
        .iter()
        .any(|p| reconciler_of(p).is_some_and(|s| s.last_result == Some(CycleResult::Failed)));
    match format {
        StatusFormat::Json => {
            let items: Vec<_> = parents
                .iter()
                .map(|p| {
                    let (repository, path, target) = p.identity.clone().unzip3();
                    json!({
                        "applyset": p.parent.name,
                        "namespace": p.parent.namespace,
                        "repository": repository,
                        "path": path,
                        "targetNamespace": target,
                        "members": p.members,
                        "lastApplied": p.applied_at,
                        "status": reconciler_of(p).map(Status::to_data),
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &items)?;
            writeln!(out)?;
        }
        StatusFormat::Text => {
            if parents.is_empty() {
                if cluster_wide {
                    writeln!(out, "No ApplySets of kubectl-gitops in the cluster.")?;
                } else {
                    writeln!(
                        out,
                        "No ApplySets of kubectl-gitops in namespace {namespace}."
                    )?;
                }
                return Ok(EXIT_OK);
            }
            let mut rows = vec![[
                "REPOSITORY".to_string(),
                "PATH".into(),
                "NAMESPACE".into(),
                "MEMBERS".into(),
                "LAST APPLY".into(),
                "RECONCILER".into(),
                "APPLYSET".into(),
            ]];
            for p in &parents {
                let (repository, path, target) = match &p.identity {
                    Some((r, p, n)) => (
                        r.clone(),
                        if p.is_empty() { ".".into() } else { p.clone() },
                        n.clone(),
                    ),
                    None => ("(earlier version)".into(), "-".into(), "-".into()),
                };
                rows.push([
                    repository,
                    path,
                    target,
                    p.members
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into()),
                    p.applied_at.clone().unwrap_or_else(|| "-".into()),
                    reconciler_of(p)
                        .and_then(|s| s.last_result)
                        .map(|r| r.as_str().to_string())
                        .unwrap_or_else(|| "-".into()),
                    format!("{}/{}", p.parent.namespace, p.parent.name),
                ]);
            }
            let widths: Vec<usize> = (0..7)
                .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
                .collect();
            for row in &rows {
                let line: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .map(|(cell, w)| format!("{cell:<w$}"))
                    .collect();
                let line = line.join("  ").trim_end().to_string();
                if row[5] == CycleResult::Failed.as_str() {
                    writeln!(out, "{}", style.error(&line))?;
                } else {
                    writeln!(out, "{line}")?;
                }
            }
            if !cluster_wide {
                writeln!(
                    out,
                    "(only namespace {namespace}: you may not list Secrets cluster-wide)"
                )?;
            }
        }
    }
    Ok(if failed { EXIT_ERROR } else { EXIT_OK })
}

/// `Option<(a, b, c)>` as three options.
trait Unzip3<A, B, C> {
    fn unzip3(self) -> (Option<A>, Option<B>, Option<C>);
}

impl<A, B, C> Unzip3<A, B, C> for Option<(A, B, C)> {
    fn unzip3(self) -> (Option<A>, Option<B>, Option<C>) {
        match self {
            Some((a, b, c)) => (Some(a), Some(b), Some(c)),
            None => (None, None, None),
        }
    }
}
