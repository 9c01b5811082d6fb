use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use super::EXIT_OK;
use super::flags::{ClusterArgs, RunnerArgs, help};
use super::reconcile::init_logging;
use crate::cluster::Cluster;
use crate::controller::{self, ControllerConfig, context, shard};
use crate::runtime::Backoff;
use crate::runtime::lease::{self, LeaseConfig};

/// Requests in flight at most, all syncs together, unless --concurrency says otherwise.
const DEFAULT_CONCURRENCY: usize = 64;

/// Reconcile every GitSync of a shard: many repositories and paths, one process.
#[derive(Debug, Args)]
#[command(
    long_about = "Watches GitSync objects (gitops.kubectl-gitops.io/v1alpha1; print the CRD \
                  with `kubectl gitops install --controller`) and keeps each one applied: every \
                  spec.interval it takes the commit of spec.repository from a git cache shared by \
                  every sync of that repository and ref, and runs the pipeline of `kubectl \
                  gitops apply` as the sync's ServiceAccount (impersonation) against the \
                  ApplySet `kubectl gitops diff -n TARGET` resolves for the same repository, path \
                  and namespace. Status goes to each GitSync (`kubectl get gitsyncs`), Events to \
                  it, metrics labelled by sync to --listen. Replicas of a shard elect a leader \
                  with a Lease; --shard splits the syncs between controllers.",
    after_help = "Examples:
  # Every GitSync without a shard label, in every namespace
  kubectl gitops controller --listen 0.0.0.0:9090

  # The syncs labelled kubectl-gitops.io/shard: shard-1
  kubectl gitops controller --shard shard-1

  # Let syncs that name no ServiceAccount act as `gitops` of their namespace
  kubectl gitops controller --default-service-account gitops"
)]
pub struct ControllerArgs {
    /// Own the GitSyncs labelled kubectl-gitops.io/shard=NAME (default: those without the
    /// label).
    #[arg(long, value_name = "NAME")]
    pub shard: Option<String>,

    /// Watch GitSyncs in this namespace only (default: every namespace).
    #[arg(long, value_name = "NAMESPACE")]
    pub watch_namespace: Option<String>,

    #[arg(long, value_name = "NAME", help = help::DEFAULT_SERVICE_ACCOUNT)]
    pub default_service_account: Option<String>,

    /// Syncs reconciled at once, shared fairly between namespaces.
    ///
    /// A tenant is a GitSync's namespace: with T namespaces holding GitSyncs, one holds at
    /// most N/T of these slots (at least one) even while others are free, one slot is kept for
    /// a namespace holding none, and a freed slot goes to the waiting namespace holding the
    /// fewest. A namespace whose renders hang so holds its share until their deadline, no
    /// more.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrent_syncs: u16,

    /// How soon a sync waiting for a dependency looks again (a dependency turning Ready
    /// wakes it at once anyway).
    #[arg(long, default_value = "30s", value_parser = super::duration::positive, value_name = "DURATION")]
    pub dependency_retry: Duration,

    /// Let tenants' sources reach this internal address, network (CIDR) or host name
    /// (repeatable). Without it chart repositories and registries at loopback, link-local,
    /// private or cluster-internal addresses, and git remotes at loopback or link-local ones,
    /// are refused after DNS resolution and redirects.
    #[arg(long, value_name = "ADDRESS")]
    pub allow_fetch_to: Vec<String>,

    /// Let GitSyncs name file:// URLs and local paths (never the controller's own caches).
    #[arg(long)]
    pub allow_file_sources: bool,

    /// Namespace of the shard's leader Lease (default: -n or the context's namespace).
    #[arg(long, value_name = "NAMESPACE")]
    pub lease_namespace: Option<String>,

    #[command(flatten)]
    pub runner: RunnerArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

pub async fn run(args: &ControllerArgs, messages: crate::ui::Messages) -> Result<u8> {
    let runner = &args.runner;
    init_logging(runner.log_format, args.cluster.verbosity(), messages);
    runner.check()?;
    if let Some(name) = &args.shard
        && !shard::valid_name(name)
    {
        bail!(
            "--shard {name:?} is not a label value (up to 63 letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit)"
        );
    }
    if args.concurrent_syncs == 0 {
        bail!("--concurrent-syncs must be at least 1");
    }
    let fetch_policy = crate::source::address::Policy::parse(&args.allow_fetch_to)?;
    crate::source::address::confine(fetch_policy);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cache_dir = runner.cache_dir();
    let mut options = args.cluster.cluster_options();
    runner.pace.apply_to(&mut options, DEFAULT_CONCURRENCY);
    options.cache_dir = Some(cache_dir.clone());
    let cluster = Cluster::connect(&options).await?;
    let identity = runner
        .identity
        .clone()
        .unwrap_or_else(lease::default_identity);
    let lease = (!runner.no_leader_election).then(|| {
        LeaseConfig::with_duration(
            shard::lease_name(args.shard.as_deref()),
            args.lease_namespace
                .clone()
                .unwrap_or_else(|| cluster.default_namespace.clone()),
            identity.clone(),
            runner.lease_duration,
        )
    });
    let config = ControllerConfig {
        shard: args.shard.clone(),
        watch_namespace: args.watch_namespace.clone(),
        concurrency: args.concurrent_syncs,
        settings: context::Settings {
            default_service_account: args.default_service_account.clone(),
            dependency_retry: args.dependency_retry,
            backoff: Backoff::new(runner.backoff, runner.max_backoff),
            fetch_timeout: runner.fetch_timeout,
        },
        cache_dir,
        listen: runner.listen,
        lease,
        identity,
        shutdown_grace: runner.shutdown_grace,
        watch: !runner.no_watch,
        allow_file_sources: args.allow_file_sources,
        render_limits: runner.render.limits.limits(),
    };
    controller::run(cluster, config).await?;
    Ok(EXIT_OK)
}
