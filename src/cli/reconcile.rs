use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use super::{EXIT_OK, GlobalArgs};
use crate::cluster::Cluster;
use crate::controller::crd::{self, GitSyncSpec, RepositorySpec};
use crate::controller::spec;
use crate::inventory::identity;
use crate::reconcile::git::{Credentials, GitSource};
use crate::reconcile::lease::{self, LeaseConfig};
use crate::reconcile::{self, DriftMode, LoopConfig, tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Keep the cluster in sync with a git repository, continuously.
#[derive(Debug, Args)]
#[command(
    long_about = "Runs the pipeline of `kubectl gitops apply` in a loop: every --interval it \
                  fetches --ref of --repo, renders --path at that commit (plain YAML/JSON, \
                  kustomize or a Helm chart), plans against the cluster with git winning every \
                  field conflict, applies, and prunes what left git (unless --no-prune). \
                  Managed objects are watched, so a change made outside git is put back within \
                  seconds (with --drift report it is left as it is and recorded in the status, \
                  an Event and a metric, while new commits still apply). A failure (git \
                  unreachable, a bad commit, a rejected object) keeps the last good state, \
                  prunes nothing and is retried with backoff. Status is written to the \
                  ConfigMap <applyset>-status (see `kubectl gitops status`), Events to the \
                  ApplySet parent Secret. Replicas elect a leader with a Lease; SIGTERM ends the \
                  loop cleanly. The flags describe one GitSync (see `kubectl gitops \
                  controller`): they are checked and planned exactly as its spec fields are.",
    after_help = "Examples:
  # Follow main of a repository served by git daemon, apply deploy/ every minute
  kubectl gitops reconcile --repo git://git.example.com/platform.git --path deploy/

  # A local repository, with probes and metrics on port 9090
  kubectl gitops reconcile --repo /srv/git/platform --listen 127.0.0.1:9090

The ApplySet is the one `kubectl gitops diff PATH` resolves in a checkout of the same repository
with the same target namespace: identified by the normalised --repo URL, --path and the namespace
namespace-less objects go to (-n, else the pod's or context's namespace), its parent Secret in
that namespace."
)]
pub struct ReconcileArgs {
    /// The git repository: an https://, git:// or file:// URL, or a local path.
    #[arg(long, value_name = "URL", env = "GITOPS_REPO")]
    pub repo: String,

    /// Branch or tag to follow.
    #[arg(long = "ref", value_name = "REF", default_value = "main")]
    pub reference: String,

    /// Directory of the manifests inside the repository.
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub path: String,

    /// Time between full cycles (fetch, plan, apply).
    #[arg(long, default_value = "1m", value_parser = super::duration::positive, value_name = "DURATION")]
    pub interval: Duration,

    /// Name of the ApplySet (default: derived from --repo, --path and the target namespace,
    /// as `diff` derives it in a checkout).
    #[arg(long, value_name = "NAME")]
    pub applyset: Option<String>,

    /// Namespace of the ApplySet parent, the status ConfigMap, the Lease and the Events
    /// (default: the target namespace).
    #[arg(long, value_name = "NAMESPACE")]
    pub applyset_namespace: Option<String>,

    /// Move objects that are members of another ApplySet into this one; without it a commit
    /// that would take one over fails to apply (per object: kubectl-gitops.io/adopt: "true").
    #[arg(long)]
    pub adopt: bool,

    /// Apply the fields a chart renders differently each time even where they are live
    /// already (by default they seed new objects only, and the live value is kept).
    #[arg(long)]
    pub rewrite_unstable: bool,

    /// Where the repository is cached (default: $KUBECTL_GITOPS_CACHE_DIR, else
    /// $XDG_CACHE_HOME/kubectl-gitops, else ~/.cache/kubectl-gitops).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Serve /healthz, /readyz and /metrics on this address.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// Allow a commit that renders no objects (it prunes every member of the set).
    #[arg(long)]
    pub allow_empty: bool,

    /// Also prune Namespaces, CustomResourceDefinitions and PersistentVolumeClaims.
    #[arg(long)]
    pub prune_protected: bool,

    /// Keep objects that left git instead of pruning them (a GitSync's `prune: false`).
    #[arg(long, conflicts_with = "prune_protected")]
    pub no_prune: bool,

    /// The most one cycle may prune: a count (5), a share of the set's members (10%, rounded
    /// up) or unlimited. Over it the cycle applies everything else, prunes nothing, reports
    /// the cycle failed (status and a PruneBlocked Event) and retries.
    #[arg(long, value_name = "N|P%|unlimited", default_value_t = crate::prune_limit::RECONCILER_DEFAULT)]
    pub max_prune: crate::prune_limit::PruneLimit,

    /// Read the access token for an http(s) remote from this file (re-read at start only);
    /// $GITOPS_GIT_TOKEN works too. Sent as the password when the server asks; never logged.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// User name sent with the token (GitLab wants oauth2, Bitbucket x-token-auth).
    #[arg(long, default_value = "x-access-token", value_name = "NAME")]
    pub token_username: String,

    /// Quiet time after a drift event before re-planning.
    #[arg(long, default_value = "200ms", value_parser = super::duration::zero_or_more, value_name = "DURATION")]
    pub debounce: Duration,

    /// Do not watch managed objects (drift is then corrected at the next interval).
    #[arg(long)]
    pub no_watch: bool,

    /// What to do with a change made in the cluster outside git: `heal` puts it back;
    /// `report` leaves it and records it (status ConfigMap, a DriftDetected Event, the
    /// gitops_reconcile_drifted_objects metric). In both modes, what git changes still
    /// applies: a new commit's changed, added and removed objects (an object git changes is
    /// applied whole, which also puts back its drift).
    #[arg(long, value_enum, default_value_t = DriftMode::Heal, value_name = "MODE")]
    pub drift: DriftMode,

    /// First retry delay after a failed cycle; doubles per failure.
    #[arg(long, default_value = "2s", value_parser = super::duration::positive, value_name = "DURATION")]
    pub backoff: Duration,

    /// Longest retry delay after failures.
    #[arg(long, default_value = "5m", value_parser = super::duration::positive, value_name = "DURATION")]
    pub max_backoff: Duration,

    /// Give up a fetch after this long.
    #[arg(long, default_value = "2m", value_parser = super::duration::positive, value_name = "DURATION")]
    pub fetch_timeout: Duration,

    /// Run without leader election (only safe with a single replica).
    #[arg(long)]
    pub no_leader_election: bool,

    /// Name of the leader Lease (default: <applyset>-leader).
    #[arg(long, value_name = "NAME")]
    pub lease_name: Option<String>,

    /// How long a leader's claim lasts without renewal.
    #[arg(long, default_value = "15s", value_parser = super::duration::positive, value_name = "DURATION")]
    pub lease_duration: Duration,

    /// This replica's identity in the Lease and Events (default: $POD_NAME, else host-pid).
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,

    /// After SIGTERM, how long a cycle in progress may take to finish.
    #[arg(long, default_value = "20s", value_parser = super::duration::zero_or_more, value_name = "DURATION")]
    pub shutdown_grace: Duration,

    /// Requests in flight at most (the window that follows the API server stays below it).
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub concurrency: usize,

    #[command(flatten)]
    pub render_limits: super::render_limits::RenderLimitArgs,

    #[command(flatten)]
    pub remote_bases: super::render_limits::RemoteBaseArgs,

    /// A client-side cap on requests per second (bursts may go to twice this). Without it
    /// the pace follows the API server: fewer requests in flight when it answers 429 Too Many
    /// Requests, more while it keeps up, never more than --concurrency.
    #[arg(long, value_name = "QPS")]
    pub qps: Option<NonZeroU32>,
}

pub async fn run(args: &ReconcileArgs, global: &GlobalArgs) -> Result<u8> {
    init_logging(args.log_format, global.verbose);
    if args.backoff > args.max_backoff {
        bail!(
            "--backoff ({}) is longer than --max-backoff ({})",
            humantime::format_duration(args.backoff),
            humantime::format_duration(args.max_backoff)
        );
    }
    let path = tree::normalize_path(&args.path).map_err(anyhow::Error::msg)?;
    let token = read_token(args)?;
    let cache_dir = args
        .cache_dir
        .clone()
        .or_else(|| crate::cluster::ClusterOptions::default().cache_dir)
        .unwrap_or_else(|| std::env::temp_dir().join("kubectl-gitops"));
    let credentials = token.map(|token| Credentials {
        username: args.token_username.clone(),
        token,
    });
    let git = GitSource::new(&args.repo, &args.reference, &cache_dir, credentials)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_request_timeout(args.fetch_timeout);
    // reqwest (gix's https transport) is built without a default TLS crypto provider, so one
    // implementation (ring, which kube uses too) serves the whole process.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let mut options = global.cluster_options();
    options.concurrency = args.concurrency;
    options.qps = args.qps;
    options.burst = args
        .qps
        .map(|qps| qps.saturating_mul(NonZeroU32::new(2).expect("non-zero")));
    options.cache_dir = Some(cache_dir.clone());
    let cluster = Cluster::connect(&options).await?;
    let set = identity::for_remote(
        &args.repo,
        &path.to_string_lossy(),
        &cluster.default_namespace,
        args.applyset.as_deref(),
        args.applyset_namespace.as_deref(),
    );
    tracing::info!(applyset = %set.name, namespace = %set.namespace, "resolved the ApplySet");

    let identity = args
        .identity
        .clone()
        .unwrap_or_else(lease::default_identity);
    let lease = (!args.no_leader_election).then(|| {
        LeaseConfig::with_duration(
            args.lease_name
                .clone()
                .unwrap_or_else(|| format!("{}-leader", set.name)),
            set.namespace.clone(),
            identity.clone(),
            args.lease_duration,
        )
    });

    let mut render = cluster.render_options().await?;
    render.limits = crate::render::RenderLimits::from_flags(args.render_limits.limits());
    // Chart dependencies are cached with the rest of the reconciler's state, unless
    // $GITOPS_HELM_CACHE says otherwise.
    if std::env::var_os(crate::render::helm::CACHE_ENV).is_none() {
        render.helm.cache_dir = Some(cache_dir.join("helm"));
    }
    // One sync given on the command line: the flags are a GitSync's spec, checked and turned
    // into the cycle's settings as the controller does with a GitSync.
    let sync = sync_of(args, &cluster.default_namespace);
    let checked = spec::check(&sync, &cluster.default_namespace)
        .map_err(|(_, message)| anyhow::anyhow!(message))?;
    let reconciler = spec::reconciler(
        &sync,
        &checked,
        &render,
        spec::Target {
            cluster,
            git,
            set,
            fetch_timeout: args.fetch_timeout,
            // Seeded from the status ConfigMap by the loop.
            applied: None,
        },
    );
    let config = LoopConfig {
        interval: args.interval,
        backoff_initial: args.backoff,
        backoff_max: args.max_backoff,
        debounce: args.debounce,
        listen: args.listen,
        lease,
        shutdown_grace: args.shutdown_grace,
        identity,
        watch: !args.no_watch,
    };
    reconcile::run(reconciler, config).await?;
    Ok(EXIT_OK)
}

/// The GitSync spec these flags stand for. The ApplySet's name and namespace, the Lease, the
/// token and the loop's timings are the process's own and stay flags.
fn sync_of(args: &ReconcileArgs, namespace: &str) -> GitSyncSpec {
    GitSyncSpec {
        repository: RepositorySpec {
            url: args.repo.clone(),
            reference: args.reference.clone(),
            secret_ref: None,
        },
        path: args.path.clone(),
        target_namespace: Some(namespace.to_string()),
        interval: humantime::format_duration(args.interval).to_string(),
        prune: !args.no_prune,
        prune_protected: args.prune_protected,
        allow_empty: args.allow_empty,
        max_prune: Some(args.max_prune.to_string()),
        adopt: args.adopt,
        rewrite_unstable: args.rewrite_unstable,
        suspend: false,
        // Requests go with the process's own credentials (the pod's ServiceAccount).
        service_account_name: None,
        depends_on: Vec::new(),
        drift: Some(match args.drift {
            DriftMode::Heal => crd::DriftMode::Heal,
            DriftMode::Report => crd::DriftMode::Report,
        }),
        deletion_policy: crd::DeletionPolicy::Orphan,
        // The render limits are the flags' own (see `run`), said as the command's.
        render_limits: None,
        allow_remote_bases: args.remote_bases.allow_remote_bases,
    }
}

/// `$GITOPS_GIT_TOKEN` or the contents of `--token-file`, trimmed.
fn read_token(args: &ReconcileArgs) -> Result<Option<String>> {
    if let Some(file) = &args.token_file {
        let token = std::fs::read_to_string(file)
            .with_context(|| format!("reading the token file {}", file.display()))?;
        return Ok(Some(token.trim().to_string()).filter(|t| !t.is_empty()));
    }
    Ok(std::env::var("GITOPS_GIT_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

fn scrubbed_stderr() -> crate::scrub::Writer<std::io::Stderr> {
    crate::scrub::Writer::stderr(std::io::stderr())
}

/// Structured logs on stderr: our events at info (debug with -v, everything with -vv).
pub(crate) fn init_logging(format: LogFormat, verbose: u8) {
    use tracing::level_filters::LevelFilter;
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = match verbose {
        0 => Targets::new().with_target("kubectl_gitops", LevelFilter::INFO),
        1 => Targets::new().with_target("kubectl_gitops", LevelFilter::DEBUG),
        _ => Targets::new().with_default(LevelFilter::DEBUG),
    };
    let layer = tracing_subscriber::fmt::layer()
        // Every line is scrubbed of Secret values and credentials on its way out.
        .with_writer(scrubbed_stderr)
        .with_ansi(false)
        .with_target(false);
    let layer = match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer.json().flatten_event(true).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::RenderOptions;
    use clap::Parser;

    fn flags(extra: &[&str]) -> ReconcileArgs {
        let mut argv = vec![
            "kubectl-gitops",
            "reconcile",
            "--repo",
            "git://git.example.com/platform.git",
            "--path",
            "./deploy/",
        ];
        argv.extend(extra);
        match crate::cli::Cli::try_parse_from(argv)
            .expect("flags")
            .command
        {
            crate::cli::Command::Reconcile(args) => *args,
            other => panic!("not reconcile: {other:?}"),
        }
    }

    #[test]
    fn the_flags_are_a_gitsync_spec_the_controller_would_accept() {
        let args = flags(&[
            "--interval",
            "1m30s",
            "--max-prune",
            "10%",
            "--drift",
            "report",
            "--adopt",
            "--allow-empty",
            "--rewrite-unstable",
        ]);
        let sync = sync_of(&args, "team-a");
        // What a GitSync written with the same values says.
        let written: GitSyncSpec = serde_json::from_value(serde_json::json!({
            "repository": {"url": "git://git.example.com/platform.git", "ref": "main"},
            "path": "./deploy/",
            "targetNamespace": "team-a",
            "interval": "1m30s",
            "maxPrune": "10%",
            "drift": "Report",
            "adopt": true,
            "allowEmpty": true,
            "rewriteUnstable": true,
        }))
        .expect("a GitSync spec");
        let (ours, theirs) = (
            spec::check(&sync, "team-a").expect("flags check"),
            spec::check(&written, "team-a").expect("spec checks"),
        );
        assert_eq!(ours.interval, Duration::from_secs(90));
        assert_eq!(ours.interval, theirs.interval);
        assert_eq!(ours.path, theirs.path);
        assert_eq!(ours.target_namespace, theirs.target_namespace);
        assert_eq!(ours.max_prune, theirs.max_prune);
        assert_eq!(spec::drift_mode(&sync), spec::drift_mode(&written));
        let render = RenderOptions::default();
        let (a, b) = (
            spec::plan_settings(&sync, &render, "team-a"),
            spec::plan_settings(&written, &render, "team-a"),
        );
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert!(a.force, "git wins conflicts in every runner");
        assert!(!a.keep_unrendered);
        assert_eq!(a.render.unstable, crate::render::UnstablePolicy::Rewrite);
    }

    #[test]
    fn every_interval_the_flag_takes_survives_the_spec_text() {
        for interval in ["1s", "250ms", "1m30s", "36h", "365days"] {
            let args = flags(&["--interval", interval]);
            let checked = spec::check(&sync_of(&args, "team-a"), "team-a").expect("checks");
            assert_eq!(checked.interval, args.interval, "{interval}");
        }
    }

    #[test]
    fn no_prune_is_a_gitsync_with_prune_false() {
        let sync = sync_of(&flags(&["--no-prune"]), "team-a");
        assert!(!sync.prune);
        let settings = spec::plan_settings(&sync, &RenderOptions::default(), "team-a");
        assert!(settings.keep_unrendered);
        assert!(
            crate::cli::Cli::try_parse_from([
                "kubectl-gitops",
                "reconcile",
                "--repo",
                "file:///r",
                "--no-prune",
                "--prune-protected",
            ])
            .is_err(),
            "keeping everything and pruning protected kinds contradict"
        );
    }
}
