use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use anyhow::Result;
use clap::{Args, ValueEnum};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::flags::{ClusterArgs, ColorArg, help};
use super::{EXIT_ERROR, EXIT_OK};
use crate::cluster::Cluster;
use crate::controller::crd::GitSync;
use crate::controller::status::READY;
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
                  last apply, and the last result of a reconciler following it, or the GitSync \
                  that owns it with its Ready state (Ready, Suspended or the reason). With \
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
    #[arg(long, value_name = "NAME", help = help::APPLYSET)]
    pub applyset: Option<String>,

    #[arg(long, value_name = "NAMESPACE", help = help::APPLYSET_NAMESPACE)]
    pub applyset_namespace: Option<String>,

    #[arg(short = 'o', long, value_enum, default_value_t = StatusFormat::Text, help = help::OUTPUT)]
    pub output: StatusFormat,

    #[arg(short = 'A', long, help = help::ALL_NAMESPACES, conflicts_with = "applyset")]
    pub all_namespaces: bool,

    #[command(flatten)]
    pub color: ColorArg,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

pub async fn run(
    args: &StatusArgs,
    global: &ClusterArgs,
    style: &Style,
    out: &mut dyn Write,
) -> Result<u8> {
    let cluster = Cluster::connect(&global.cluster_options()).await?;
    let namespace = args
        .applyset_namespace
        .clone()
        .unwrap_or_else(|| cluster.default_namespace.clone());
    let Some(name) = &args.applyset else {
        // -n (or --applyset-namespace) asks about one namespace, whatever else the caller
        // may see; -A, or neither, about all they may see.
        let only = (!args.all_namespaces
            && (global.namespace().is_some() || args.applyset_namespace.is_some()))
        .then_some(namespace.as_str());
        return list(&cluster, &namespace, only, args.output, style, out).await;
    };
    let set = ApplySet::named(name, &namespace);
    let found = match status::read(&cluster.client, &set).await? {
        Some(found) => found,
        None => return applied_without_reconciler(&cluster, &set, args.output, out).await,
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

/// A set no reconciler follows (applied with `kubectl gitops apply`): what its parent says, or
/// an error when there is no such set either.
async fn applied_without_reconciler(
    cluster: &Cluster,
    set: &ApplySet,
    format: StatusFormat,
    out: &mut dyn Write,
) -> Result<u8> {
    let (parents, _) = inventory::list_parents(cluster, &set.namespace).await?;
    let Some(parent) = parents
        .iter()
        .find(|p| p.parent.name == set.name && p.parent.namespace == set.namespace)
    else {
        anyhow::bail!(
            "no ApplySet {set}: neither its parent Secret nor a reconciler's status ConfigMap {} \
             exists (`kubectl gitops status` lists the sets you can see)",
            status::configmap_name(set)
        );
    };
    let members = parent.members.map_or("?".to_string(), |n| n.to_string());
    let applied = parent.applied_at.as_deref().unwrap_or("unknown");
    match format {
        StatusFormat::Json => {
            let item = json!({"applyset": set.name, "namespace": set.namespace,
                "members": parent.members, "appliedAt": parent.applied_at, "status": null});
            serde_json::to_writer_pretty(&mut *out, &vec![item])?;
            writeln!(out)?;
        }
        StatusFormat::Text => {
            writeln!(out, "ApplySet {set}")?;
            if let Some((repository, path, target)) = &parent.identity {
                writeln!(
                    out,
                    "From:         {repository} {path} (namespace {target})"
                )?;
            }
            writeln!(out, "Members:      {members}")?;
            writeln!(out, "Last apply:   {applied}")?;
            writeln!(
                out,
                "Reconciler:   none (applied with `kubectl gitops apply`; no status ConfigMap {})",
                status::configmap_name(set)
            )?;
        }
    }
    Ok(EXIT_OK)
}

/// Every set the caller can see, one line each, with its reconciler's last result.
async fn list(
    cluster: &Cluster,
    namespace: &str,
    only: Option<&str>,
    format: StatusFormat,
    style: &Style,
    out: &mut dyn Write,
) -> Result<u8> {
    let (mut parents, listed_everywhere) = inventory::list_parents(cluster, namespace).await?;
    if let Some(only) = only {
        parents.retain(|p| p.parent.namespace == only);
    }
    let cluster_wide = listed_everywhere && only.is_none();
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
    let gitsyncs = gitsyncs_by_set(cluster, namespace, cluster_wide).await;
    let gitsync_of =
        |p: &ParentSummary| gitsyncs.get(&(p.parent.namespace.clone(), p.parent.name.clone()));
    let failed = parents.iter().any(|p| {
        reconciler_of(p).is_some_and(|s| s.last_result == Some(CycleResult::Failed))
            || gitsync_of(p).is_some_and(|g| g.failed())
    });
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
                        "gitSync": gitsync_of(p).map(SyncOwner::to_json),
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
            let mut failed_rows = Vec::with_capacity(parents.len());
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
                    match (reconciler_of(p).and_then(|s| s.last_result), gitsync_of(p)) {
                        (Some(result), _) => result.as_str().to_string(),
                        (None, Some(sync)) => sync.cell(),
                        (None, None) => "-".into(),
                    },
                    format!("{}/{}", p.parent.namespace, p.parent.name),
                ]);
                failed_rows.push(
                    reconciler_of(p).is_some_and(|s| s.last_result == Some(CycleResult::Failed))
                        || gitsync_of(p).is_some_and(|g| g.failed()),
                );
            }
            let widths: Vec<usize> = (0..7)
                .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
                .collect();
            for (i, row) in rows.iter().enumerate() {
                let line: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .map(|(cell, w)| format!("{cell:<w$}"))
                    .collect();
                let line = line.join("  ").trim_end().to_string();
                if i > 0 && failed_rows[i - 1] {
                    writeln!(out, "{}", style.error(&line))?;
                } else {
                    writeln!(out, "{line}")?;
                }
            }
            if !listed_everywhere {
                writeln!(
                    out,
                    "(only namespace {namespace}: you may not list Secrets cluster-wide)"
                )?;
            }
        }
    }
    Ok(if failed { EXIT_ERROR } else { EXIT_OK })
}

/// The GitSync whose status names a set as its inventory, as `status` shows it.
struct SyncOwner {
    namespace: String,
    name: String,
    suspended: bool,
    /// The Ready condition's status ("True", "False", "Unknown") and reason, when it has one.
    ready: Option<(String, String)>,
}

impl SyncOwner {
    fn of(sync: &GitSync) -> Self {
        SyncOwner {
            namespace: sync.metadata.namespace.clone().unwrap_or_default(),
            name: sync.metadata.name.clone().unwrap_or_default(),
            suspended: sync.spec.suspend,
            ready: sync
                .condition(READY)
                .map(|c| (c.status.clone(), c.reason.clone())),
        }
    }

    /// Not Ready for a reason other than being suspended or still reconciling.
    fn failed(&self) -> bool {
        !self.suspended
            && self
                .ready
                .as_ref()
                .is_some_and(|(status, _)| status == "False")
    }

    fn cell(&self) -> String {
        let state = match (&self.ready, self.suspended) {
            (_, true) => "Suspended",
            (Some((status, _)), false) if status == "True" => "Ready",
            (Some((_, reason)), false) => reason.as_str(),
            (None, false) => "-",
        };
        format!("gitsync/{}/{} {state}", self.namespace, self.name)
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "namespace": self.namespace,
            "name": self.name,
            "suspended": self.suspended,
            "ready": self.ready.as_ref().map(|(status, _)| status == "True"),
            "reason": self.ready.as_ref().map(|(_, reason)| reason),
        })
    }
}

/// The GitSyncs the caller may list (every namespace when `cluster_wide`, else `namespace`),
/// keyed by the ApplySet parent their status names. No CRD, or no right to list them, is no
/// GitSync: `status` still lists the sets.
async fn gitsyncs_by_set(
    cluster: &Cluster,
    namespace: &str,
    cluster_wide: bool,
) -> BTreeMap<(String, String), SyncOwner> {
    let api: kube::Api<GitSync> = if cluster_wide {
        kube::Api::all(cluster.client.clone())
    } else {
        kube::Api::namespaced(cluster.client.clone(), namespace)
    };
    let Ok(list) = api.list(&kube::api::ListParams::default()).await else {
        return BTreeMap::new();
    };
    list.items
        .iter()
        .filter_map(|sync| {
            let inventory = sync.status.as_ref()?.inventory.as_ref()?;
            Some((
                (inventory.namespace.clone(), inventory.name.clone()),
                SyncOwner::of(sync),
            ))
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(ready: Option<(&str, &str)>, suspended: bool) -> SyncOwner {
        SyncOwner {
            namespace: "team-a".into(),
            name: "apps".into(),
            suspended,
            ready: ready.map(|(s, r)| (s.into(), r.into())),
        }
    }

    #[test]
    fn a_gitsync_cell_says_ready_suspended_or_the_reason() {
        let ready = owner(Some(("True", "ReconciliationSucceeded")), false);
        assert_eq!(ready.cell(), "gitsync/team-a/apps Ready");
        assert!(!ready.failed());
        let failing = owner(Some(("False", "PlanFailed")), false);
        assert_eq!(failing.cell(), "gitsync/team-a/apps PlanFailed");
        assert!(failing.failed());
        let suspended = owner(Some(("False", "PlanFailed")), true);
        assert_eq!(suspended.cell(), "gitsync/team-a/apps Suspended");
        assert!(
            !suspended.failed(),
            "a suspended sync is not a failure of status"
        );
        let progressing = owner(Some(("Unknown", "Progressing")), false);
        assert_eq!(progressing.cell(), "gitsync/team-a/apps Progressing");
        assert!(!progressing.failed());
        assert_eq!(owner(None, false).cell(), "gitsync/team-a/apps -");
    }
}
