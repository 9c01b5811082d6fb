use std::io::Write;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use kube::api::{Api, ListParams};

use super::flags::{ClusterArgs, help};
use super::{EXIT_ERROR, EXIT_OK};
use crate::cluster::Cluster;
use crate::controller::crd::GitSync;
use crate::controller::status::READY;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GetFormat {
    Text,
    Json,
}

/// List GitSyncs: which are out of sync, and why.
#[derive(Debug, Args)]
#[command(
    long_about = "Lists the GitSyncs of a namespace (-n, else the context's) or of every \
                  namespace (-A): whether each is Ready, the revision it applied last, whether it \
                  is suspended, and for those not Ready the reason and message of their Ready \
                  condition.",
    after_help = "Examples:
  kubectl gitops get -A
  kubectl gitops get -n team-a -o json

Exit code 2 when a listed sync is not Ready."
)]
pub struct GetArgs {
    #[arg(short = 'A', long, help = help::ALL_NAMESPACES)]
    pub all_namespaces: bool,

    #[arg(short = 'o', long, value_enum, default_value_t = GetFormat::Text, help = help::OUTPUT)]
    pub output: GetFormat,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

pub async fn run(args: &GetArgs, out: &mut dyn Write) -> Result<u8> {
    let cluster = Cluster::connect(&args.cluster.cluster_options()).await?;
    let api: Api<GitSync> = if args.all_namespaces {
        Api::all(cluster.client.clone())
    } else {
        Api::namespaced(cluster.client.clone(), &cluster.default_namespace)
    };
    let syncs = api
        .list(&ListParams::default())
        .await
        .map_err(|e| anyhow::anyhow!(crate::cluster::describe_unnamed(&e)))
        .context("listing GitSyncs (is the CRD installed? `kubectl gitops install --controller`)")?
        .items;
    let all_ready = syncs.iter().all(|s| s.spec.suspend || s.is_ready());
    match args.output {
        GetFormat::Json => {
            let rows: Vec<serde_json::Value> = syncs.iter().map(row_json).collect();
            serde_json::to_writer_pretty(&mut *out, &rows)?;
            writeln!(out)?;
        }
        GetFormat::Text => write!(out, "{}", table(&syncs))?,
    }
    Ok(if all_ready { EXIT_OK } else { EXIT_ERROR })
}

fn row_json(sync: &GitSync) -> serde_json::Value {
    let ready = sync.condition(READY);
    serde_json::json!({
        "namespace": sync.metadata.namespace,
        "name": sync.metadata.name,
        "ready": sync.is_ready(),
        "suspended": sync.spec.suspend,
        "repository": crate::scrub::url(&sync.spec.repository.url),
        "ref": sync.spec.repository.reference,
        "path": sync.spec.path,
        "revision": sync.status.as_ref().and_then(|s| s.last_applied_revision.clone()),
        "reason": ready.map(|c| c.reason.clone()),
        "message": ready.map(|c| c.message.clone()),
    })
}

/// Columns as `kubectl get` aligns them; the message only for syncs that are not Ready.
fn table(syncs: &[GitSync]) -> String {
    let mut rows = vec![[
        "NAMESPACE".to_string(),
        "NAME".into(),
        "READY".into(),
        "REVISION".into(),
        "SUSPENDED".into(),
        "MESSAGE".into(),
    ]];
    for sync in syncs {
        let ready = sync.condition(READY);
        let state = match ready {
            _ if sync.is_ready() => "True".to_string(),
            Some(c) if c.observed_generation != sync.metadata.generation => "Unknown".into(),
            Some(c) => c.status.clone(),
            None => "Unknown".into(),
        };
        let revision = sync
            .status
            .as_ref()
            .and_then(|s| s.last_applied_revision.clone())
            .map(|r| match r.split_once("@sha1:") {
                Some((reference, commit)) => {
                    format!("{reference}@{}", &commit[..commit.len().min(12)])
                }
                None => r,
            })
            .unwrap_or_else(|| "-".into());
        let message = match ready {
            Some(c) if !sync.is_ready() => {
                let first = c.message.lines().next().unwrap_or_default();
                format!("{}: {}", c.reason, first)
            }
            None => "not reconciled yet".into(),
            _ => String::new(),
        };
        rows.push([
            sync.metadata.namespace.clone().unwrap_or_default(),
            sync.metadata.name.clone().unwrap_or_default(),
            state,
            revision,
            sync.spec.suspend.to_string(),
            message,
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::crd::{GitSyncSpec, GitSyncStatus};
    use crate::controller::reason::Failure;
    use crate::controller::status::{Verdict, next, revision};

    #[test]
    fn the_table_says_what_is_out_of_sync_and_why() {
        let mut good = GitSync::new("apps", GitSyncSpec::default());
        good.metadata.namespace = Some("team-a".into());
        good.metadata.generation = Some(1);
        good.status = Some(next(
            &good,
            &Verdict::Applied {
                revision: revision("main", "0123456789abcdef0123"),
                counts: Default::default(),
            },
            "2026-01-01T00:00:00Z",
        ));
        let mut bad = GitSync::new("db", GitSyncSpec::default());
        bad.metadata.namespace = Some("team-b".into());
        bad.metadata.generation = Some(1);
        bad.status = Some(next(
            &bad,
            &Verdict::Failed {
                reason: Failure::ApplyFailed,
                message: "apply: ConfigMap/team-b/x: forbidden".into(),
                revision: None,
            },
            "2026-01-01T00:00:00Z",
        ));
        let fresh = {
            let mut s = GitSync::new("new", GitSyncSpec::default());
            s.status = Some(GitSyncStatus::default());
            s.status = None;
            s
        };
        let text = table(&[good, bad, fresh]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAMESPACE"), "{text}");
        assert!(
            lines[1].contains("True") && lines[1].contains("main@0123456789ab"),
            "{text}"
        );
        assert!(
            lines[2].contains("False")
                && lines[2].contains("ApplyFailed: apply: ConfigMap/team-b/x: forbidden"),
            "{text}"
        );
        assert!(lines[3].contains("not reconciled yet"), "{text}");
    }
}
