use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::flags::{ClusterArgs, help};
use super::{EXIT_ERROR, EXIT_OK};
use crate::cluster::Cluster;
use crate::controller::crd::{GitSync, REQUESTED_AT};
use crate::controller::status::{READY, RECONCILING};

/// Ask the controller to reconcile a GitSync now (fetch included).
#[derive(Debug, Args)]
#[command(
    long_about = "Sets the kubectl-gitops.io/requested-at annotation of the GitSync NAME (in -n, \
                  else the context's namespace) to the current time. The controller watches it: \
                  the sync is reconciled at once, with a fresh fetch, and the value is recorded in \
                  status.lastHandledReconcileAt. With --wait, waits for that, and while the sync \
                  is Reconciling (a rollout followed for spec.wait, a dependency not Ready) for \
                  it to end, and reports the result.",
    after_help = "Examples:
  kubectl gitops sync apps -n team-a
  kubectl gitops sync apps -n team-a --wait --timeout 2m

Exit code 2 when --wait finds the sync not Ready (or the controller did not answer in time)."
)]
pub struct SyncArgs {
    /// The GitSync.
    pub name: String,

    #[arg(long, help = help::WAIT)]
    pub wait: bool,

    #[arg(long, default_value = "5m", value_parser = super::duration::positive, value_name = "DURATION", help = help::TIMEOUT)]
    pub timeout: Duration,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Stop reconciling a GitSync; its objects stay as they are.
#[derive(Debug, Args)]
#[command(
    long_about = "Sets spec.suspend of the GitSync NAME (in -n, else the context's namespace): \
                  the controller leaves it alone, and its objects stay as they are, until \
                  `kubectl gitops resume`.",
    after_help = "Examples:\n  kubectl gitops suspend apps -n team-a"
)]
pub struct SuspendArgs {
    /// The GitSync.
    pub name: String,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Reconcile a suspended GitSync again.
#[derive(Debug, Args)]
#[command(
    long_about = "Clears spec.suspend of the GitSync NAME (in -n, else the context's namespace) \
                  and requests a reconcile, with a fresh fetch, as `kubectl gitops sync` does.",
    after_help = "Examples:\n  kubectl gitops resume apps -n team-a"
)]
pub struct ResumeArgs {
    /// The GitSync.
    pub name: String,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

async fn api(global: &ClusterArgs) -> Result<(Api<GitSync>, String)> {
    let cluster = Cluster::connect(&global.cluster_options()).await?;
    let namespace = cluster.default_namespace.clone();
    Ok((Api::namespaced(cluster.client, &namespace), namespace))
}

async fn patch(
    api: &Api<GitSync>,
    namespace: &str,
    name: &str,
    body: serde_json::Value,
) -> Result<GitSync> {
    api.patch(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .map_err(|e| anyhow::anyhow!(crate::cluster::describe_unnamed(&e)))
        .with_context(|| format!("updating GitSync {namespace}/{name}"))
}

pub async fn run(args: &SyncArgs, global: &ClusterArgs, out: &mut dyn Write) -> Result<u8> {
    let (api, namespace) = api(global).await?;
    // Full precision: two requests within a second are two requests.
    let requested = k8s_openapi::jiff::Timestamp::now().to_string();
    let sync = patch(
        &api,
        &namespace,
        &args.name,
        json!({"metadata": {"annotations": {REQUESTED_AT: requested}}}),
    )
    .await?;
    if sync.spec.suspend {
        writeln!(
            out,
            "GitSync {namespace}/{} is suspended: the request waits until `kubectl gitops resume {}`",
            args.name, args.name
        )?;
    } else {
        writeln!(
            out,
            "requested a reconcile of GitSync {namespace}/{}",
            args.name
        )?;
    }
    if !args.wait {
        return Ok(EXIT_OK);
    }
    if sync.spec.suspend {
        bail!("cannot wait for a suspended GitSync");
    }
    let deadline = Instant::now() + args.timeout;
    loop {
        let sync = api
            .get(&args.name)
            .await
            .map_err(|e| anyhow::anyhow!(crate::cluster::describe_unnamed(&e)))?;
        let handled = sync
            .status
            .as_ref()
            .and_then(|s| s.last_handled_reconcile_at.as_deref())
            == Some(requested.as_str());
        // Reconciling (a rollout followed for `spec.wait`, a dependency not Ready yet) is
        // kstatus's InProgress: waited for like the request itself.
        let in_progress = sync.condition(RECONCILING).is_some_and(|c| {
            c.status == "True" && c.observed_generation == sync.metadata.generation
        });
        if handled && (!in_progress || Instant::now() >= deadline) {
            let ready = sync.condition(READY);
            let message = ready.map(|c| c.message.as_str()).unwrap_or_default();
            if sync.is_ready() {
                writeln!(out, "Ready: {message}")?;
                return Ok(EXIT_OK);
            }
            let reason = ready.map(|c| c.reason.as_str()).unwrap_or("Unknown");
            writeln!(out, "not Ready ({reason}): {message}")?;
            return Ok(EXIT_ERROR);
        }
        if Instant::now() >= deadline {
            writeln!(
                out,
                "the controller has not handled the request after {} (is one running for this \
                 sync's shard?)",
                humantime::format_duration(args.timeout)
            )?;
            return Ok(EXIT_ERROR);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn suspend(args: &SuspendArgs, global: &ClusterArgs, out: &mut dyn Write) -> Result<u8> {
    set_suspend(&args.name, true, global, out).await
}

pub async fn resume(args: &ResumeArgs, global: &ClusterArgs, out: &mut dyn Write) -> Result<u8> {
    set_suspend(&args.name, false, global, out).await
}

async fn set_suspend(
    name: &str,
    suspend: bool,
    global: &ClusterArgs,
    out: &mut dyn Write,
) -> Result<u8> {
    let (api, namespace) = api(global).await?;
    let mut body = json!({"spec": {"suspend": suspend}});
    if !suspend {
        // Resuming asks for a reconcile with a fresh fetch, as `sync` does.
        body["metadata"] = json!({"annotations": {
            REQUESTED_AT: k8s_openapi::jiff::Timestamp::now().to_string()
        }});
    }
    patch(&api, &namespace, name, body).await?;
    let verb = if suspend { "suspended" } else { "resumed" };
    writeln!(out, "GitSync {namespace}/{name} {verb}")?;
    Ok(EXIT_OK)
}
