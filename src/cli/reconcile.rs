use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use super::EXIT_OK;
use super::flags::{ClusterArgs, FollowArgs, LogFormat, RunnerArgs, help};
use crate::cluster::Cluster;
use crate::controller::crd::{self, GitSyncSpec, RepositorySpec};
use crate::controller::spec;
use crate::inventory::identity;
use crate::reconcile::{self, LoopConfig};
use crate::runtime::DriftMode;
use crate::runtime::lease::{self, LeaseConfig};
use crate::source::git::{Credentials, GitSource};
use crate::source::tree;

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
    #[arg(long, value_name = "URL", env = "GITOPS_REPO", help = help::REPO)]
    pub repo: String,

    #[command(flatten)]
    pub follow: FollowArgs,

    #[arg(long, value_name = "NAME", help = help::APPLYSET)]
    pub applyset: Option<String>,

    #[arg(long, value_name = "NAMESPACE", help = help::APPLYSET_NAMESPACE)]
    pub applyset_namespace: Option<String>,

    #[arg(long, help = help::ADOPT)]
    pub adopt: bool,

    #[arg(long, help = help::REWRITE_UNSTABLE)]
    pub rewrite_unstable: bool,

    #[arg(long, help = help::ALLOW_EMPTY)]
    pub allow_empty: bool,

    #[arg(long, help = help::PRUNE_PROTECTED)]
    pub prune_protected: bool,

    /// Keep objects that left git instead of pruning them (a GitSync's `prune: false`).
    #[arg(long, conflicts_with = "prune_protected")]
    pub no_prune: bool,

    #[arg(long, value_name = "N|P%|unlimited", default_value_t = crate::prune_limit::RECONCILER_DEFAULT, help = help::MAX_PRUNE)]
    pub max_prune: crate::prune_limit::PruneLimit,

    /// Read the access token for an http(s) remote from this file (re-read at start only);
    /// $GITOPS_GIT_TOKEN works too. Sent as the password when the server asks; never logged.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    #[arg(long, default_value = "x-access-token", value_name = "NAME", help = help::TOKEN_USERNAME)]
    pub token_username: String,

    /// Quiet time after a drift event before re-planning.
    #[arg(long, default_value = "200ms", value_parser = super::duration::zero_or_more, value_name = "DURATION")]
    pub debounce: Duration,

    #[arg(long, value_enum, default_value_t = DriftMode::Heal, value_name = "MODE", help = help::DRIFT)]
    pub drift: DriftMode,

    /// Name of the leader Lease (default: <applyset>-leader).
    #[arg(long, value_name = "NAME")]
    pub lease_name: Option<String>,

    #[command(flatten)]
    pub runner: RunnerArgs,

    #[command(flatten)]
    pub remote_bases: super::render_limits::RemoteBaseArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

pub async fn run(args: &ReconcileArgs, messages: crate::ui::Messages) -> Result<u8> {
    let runner = &args.runner;
    init_logging(runner.log_format, args.cluster.verbosity(), messages);
    runner.check()?;
    let path = tree::normalize_path(&args.follow.path).map_err(anyhow::Error::msg)?;
    let token = read_token(args)?;
    let cache_dir = runner.cache_dir();
    let credentials = token.map(|token| Credentials {
        username: args.token_username.clone(),
        token,
    });
    let git = GitSource::new(&args.repo, &args.follow.reference, &cache_dir, credentials)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_request_timeout(runner.fetch_timeout);
    // reqwest (gix's https transport) is built without a default TLS crypto provider, so one
    // implementation (ring, which kube uses too) serves the whole process.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let mut options = args.cluster.cluster_options();
    runner
        .pace
        .apply_to(&mut options, super::common::DEFAULT_CONCURRENCY);
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

    let identity = runner
        .identity
        .clone()
        .unwrap_or_else(lease::default_identity);
    let lease = (!runner.no_leader_election).then(|| {
        LeaseConfig::with_duration(
            args.lease_name
                .clone()
                .unwrap_or_else(|| format!("{}-leader", set.name)),
            set.namespace.clone(),
            identity.clone(),
            runner.lease_duration,
        )
    });

    let mut render = crate::render::target::options_for(&cluster).await?;
    render.limits = crate::render::RenderLimits::from_flags(runner.render.limits.limits());
    // Chart dependencies are cached with the rest of the reconciler's state, unless
    // $GITOPS_HELM_CACHE says otherwise.
    if std::env::var_os(crate::render::helm::CACHE_ENV).is_none() {
        render.helm.cache_dir = Some(cache_dir.join("helm"));
    }
    // One sync given on the command line: the flags are a GitSync's spec, checked and turned
    // into the cycle's settings as the controller does with a GitSync.
    let sync = sync_of(args, &cluster.default_namespace);
    let checked = spec::check(&sync, &cluster.default_namespace)
        .map_err(|refusal| anyhow::anyhow!(refusal.message))?;
    let reconciler = spec::reconciler(
        &sync,
        &checked,
        &render,
        spec::Target {
            cluster,
            git,
            set,
            fetch_timeout: runner.fetch_timeout,
            // Seeded from the status ConfigMap by the loop.
            applied: None,
        },
    );
    let config = LoopConfig {
        interval: args.follow.interval,
        backoff_initial: runner.backoff,
        backoff_max: runner.max_backoff,
        debounce: args.debounce,
        listen: runner.listen,
        lease,
        shutdown_grace: runner.shutdown_grace,
        identity,
        watch: !runner.no_watch,
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
            reference: args.follow.reference.clone(),
            secret_ref: None,
        },
        path: args.follow.path.clone(),
        target_namespace: Some(namespace.to_string()),
        interval: humantime::format_duration(args.follow.interval).to_string(),
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
        // The reconciler's status is a ConfigMap of cycles; it follows no rollout.
        wait: false,
        timeout: None,
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

/// Structured logs on the shell's stderr: our events at info, debug with -v (kubectl levels 1
/// to 5), and every crate's from -v=6, where each request is told too.
pub(crate) fn init_logging(format: LogFormat, verbose: u8, messages: crate::ui::Messages) {
    use tracing::level_filters::LevelFilter;
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = match verbose {
        0 => Targets::new().with_target("kubectl_gitops", LevelFilter::INFO),
        1..=5 => Targets::new().with_target("kubectl_gitops", LevelFilter::DEBUG),
        _ => Targets::new().with_default(LevelFilter::DEBUG),
    };
    let layer = tracing_subscriber::fmt::layer()
        // Every line is scrubbed of Secret values and credentials on its way out.
        .with_writer(move || messages.writer())
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
            assert_eq!(checked.interval, args.follow.interval, "{interval}");
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
