use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use super::reconcile::{LogFormat, init_logging};
use super::{EXIT_OK, GlobalArgs};
use crate::cluster::Cluster;
use crate::controller::{self, ControllerConfig, shard, sync};
use crate::reconcile::Backoff;
use crate::reconcile::lease::{self, LeaseConfig};

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

    /// The ServiceAccount (in the sync's own namespace) a GitSync without
    /// spec.serviceAccountName acts as. Without it such syncs are refused (Stalled), so no
    /// sync ever acts with the controller's own rights.
    #[arg(long, value_name = "NAME")]
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

    /// First retry delay after a failed reconcile; doubles per failure.
    #[arg(long, default_value = "2s", value_parser = super::duration::positive, value_name = "DURATION")]
    pub backoff: Duration,

    /// Longest retry delay after failures.
    #[arg(long, default_value = "5m", value_parser = super::duration::positive, value_name = "DURATION")]
    pub max_backoff: Duration,

    /// Give up a fetch after this long.
    #[arg(long, default_value = "2m", value_parser = super::duration::positive, value_name = "DURATION")]
    pub fetch_timeout: Duration,

    /// Where the git caches live (default: $KUBECTL_GITOPS_CACHE_DIR, else
    /// $XDG_CACHE_HOME/kubectl-gitops, else ~/.cache/kubectl-gitops).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Serve /healthz, /readyz and /metrics on this address.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Let tenants' sources reach this internal address, network (CIDR) or host name
    /// (repeatable). Without it chart repositories and registries at loopback, link-local,
    /// private or cluster-internal addresses, and git remotes at loopback or link-local ones,
    /// are refused after DNS resolution and redirects.
    #[arg(long, value_name = "ADDRESS")]
    pub allow_fetch_to: Vec<String>,

    /// Let GitSyncs name file:// URLs and local paths (never the controller's own caches).
    #[arg(long)]
    pub allow_file_sources: bool,

    /// Do not watch managed objects (drift is then put back at the next interval).
    #[arg(long)]
    pub no_watch: bool,

    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// Run without leader election (only safe with a single replica per shard).
    #[arg(long)]
    pub no_leader_election: bool,

    /// Namespace of the shard's leader Lease (default: -n or the context's namespace).
    #[arg(long, value_name = "NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// How long a leader's claim lasts without renewal.
    #[arg(long, default_value = "15s", value_parser = super::duration::positive, value_name = "DURATION")]
    pub lease_duration: Duration,

    /// This replica's identity in the Lease and Events (default: $POD_NAME, else host-pid).
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,

    /// After SIGTERM, how long reconciles in progress may take to finish.
    #[arg(long, default_value = "20s", value_parser = super::duration::zero_or_more, value_name = "DURATION")]
    pub shutdown_grace: Duration,

    /// Requests in flight at once, all syncs together.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub concurrency: usize,

    // Each render's limits: what a GitSync without spec.renderLimits gets, and the most one
    // with it may ask for.
    #[command(flatten)]
    pub render_limits: super::render_limits::RenderLimitArgs,

    /// A client-side cap on requests per second, all syncs together (bursts may go to twice
    /// this). Without it the pace follows the API server: fewer requests in flight when it
    /// answers 429 Too Many Requests, more while it keeps up, never more than --concurrency.
    /// A first sync of a few objects takes about a dozen requests.
    #[arg(long, value_name = "QPS")]
    pub qps: Option<NonZeroU32>,
}

pub async fn run(args: &ControllerArgs, global: &GlobalArgs) -> Result<u8> {
    init_logging(args.log_format, global.verbose);
    if args.backoff > args.max_backoff {
        bail!(
            "--backoff ({}) is longer than --max-backoff ({})",
            humantime::format_duration(args.backoff),
            humantime::format_duration(args.max_backoff)
        );
    }
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
    let fetch_policy =
        crate::source::address::Policy::parse(&args.allow_fetch_to).map_err(anyhow::Error::msg)?;
    crate::source::address::confine(fetch_policy);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cache_dir = args
        .cache_dir
        .clone()
        .or_else(|| crate::cluster::ClusterOptions::default().cache_dir)
        .unwrap_or_else(|| std::env::temp_dir().join("kubectl-gitops"));
    let mut options = global.cluster_options();
    options.concurrency = args.concurrency;
    options.qps = args.qps;
    options.burst = args
        .qps
        .map(|qps| qps.saturating_mul(NonZeroU32::new(2).expect("non-zero")));
    options.cache_dir = Some(cache_dir.clone());
    let cluster = Cluster::connect(&options).await?;
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(lease::default_identity);
    let lease = (!args.no_leader_election).then(|| {
        LeaseConfig::with_duration(
            shard::lease_name(args.shard.as_deref()),
            args.lease_namespace
                .clone()
                .unwrap_or_else(|| cluster.default_namespace.clone()),
            identity.clone(),
            args.lease_duration,
        )
    });
    let config = ControllerConfig {
        shard: args.shard.clone(),
        watch_namespace: args.watch_namespace.clone(),
        concurrency: args.concurrent_syncs,
        settings: sync::Settings {
            default_service_account: args.default_service_account.clone(),
            dependency_retry: args.dependency_retry,
            backoff: Backoff::new(args.backoff, args.max_backoff),
            fetch_timeout: args.fetch_timeout,
        },
        cache_dir,
        listen: args.listen,
        lease,
        identity,
        shutdown_grace: args.shutdown_grace,
        watch: !args.no_watch,
        allow_file_sources: args.allow_file_sources,
        render_limits: args.render_limits.limits(),
    };
    controller::run(cluster, config).await?;
    Ok(EXIT_OK)
}
