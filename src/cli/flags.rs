//! The flags several commands share, each defined once so that it means the same wherever it
//! appears. A command flattens the groups it honours and nothing else: `version --help` lists
//! no kubeconfig, `get --help` no Helm binary. A flag's help text lives here, once.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};

use super::duration;
use super::render_limits::RenderLimitArgs;
use crate::cluster::ClusterOptions;
use crate::ui::ColorChoice;

/// The connection to a cluster, spelled as kubectl spells it.
#[derive(Debug, Args, Clone, Default)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: its current-context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    #[command(flatten)]
    pub namespace: NamespaceArg,

    /// How long one request to the API server may go unanswered before it fails (e.g. 30s,
    /// 2m; 0 waits forever). Default: 10s to connect, 60s for an answer.
    #[arg(long, value_parser = duration::zero_or_more, value_name = "DURATION")]
    pub request_timeout: Option<Duration>,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl ClusterArgs {
    pub fn cluster_options(&self) -> ClusterOptions {
        ClusterOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: self.namespace.namespace.clone(),
            request_timeout: self.request_timeout,
            verbosity: self.verbosity.level,
            ..ClusterOptions::default()
        }
    }

    /// The `-n` flag.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.namespace.as_deref()
    }

    pub fn verbosity(&self) -> u8 {
        self.verbosity.level
    }
}

/// `-n`: one meaning for every command that takes it.
#[derive(Debug, Args, Clone, Default)]
pub struct NamespaceArg {
    /// The namespace to work in: where objects that name none go, and where sets, GitSyncs
    /// and what a reconciler keeps are looked for (default: the context's namespace).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// kubectl's `-v=N`. Spelled `-v`, `-vv` (one level per v), `-v=N`, `-v N` or `--v=N`
/// (see [`kubectl_spellings`]).
#[derive(Debug, Args, Clone, Default)]
pub struct Verbosity {
    /// How much to say on stderr, with kubectl's levels: 1 to 5 the stages and their timing
    /// (a reconciler's debug log), 6 every request to the API server, 8 their bodies too
    /// (Secret values and credentials scrubbed). -v is 1, -vv 2.
    #[arg(
        short = 'v',
        long = "v",
        value_name = "LEVEL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "1",
        default_value_t = 0,
        hide_default_value = true,
        value_parser = clap::value_parser!(u8).range(0..=10),
        action = ArgAction::Set
    )]
    pub level: u8,
}

/// `--color`, for the commands whose output has color.
#[derive(Debug, Args, Clone, Default)]
pub struct ColorArg {
    /// When to color output: auto (a terminal without NO_COLOR), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// What every command that renders a repository shares: the Helm program and the bounds.
#[derive(Debug, Args, Clone)]
pub struct RenderArgs {
    /// The helm program that renders Helm charts (default: $GITOPS_HELM, then `helm` on
    /// PATH; Helm 3.8 or later).
    #[arg(long, value_name = "PROGRAM", value_hint = clap::ValueHint::ExecutablePath)]
    pub helm_binary: Option<PathBuf>,

    #[command(flatten)]
    pub limits: RenderLimitArgs,
}

/// How hard a command may press the API server.
#[derive(Debug, Args, Clone, Default)]
pub struct PaceArgs {
    /// Requests in flight at most (default: 32; for the controller, all syncs together: 64).
    /// The window that follows the API server stays below it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,

    /// A client-side cap on requests per second (bursts may go to twice this). Without it
    /// the pace follows the API server: fewer requests in flight when it answers 429 Too Many
    /// Requests, more while it keeps up, never more than --concurrency.
    #[arg(long, value_name = "QPS")]
    pub qps: Option<NonZeroU32>,
}

impl PaceArgs {
    /// Sets the request window and rate of `options`; `default` is the command's concurrency.
    pub fn apply_to(&self, options: &mut ClusterOptions, default: usize) {
        options.concurrency = self.concurrency.map_or(default, |n| n as usize);
        options.qps = self.qps;
        options.burst = self
            .qps
            .map(|qps| qps.saturating_mul(NonZeroU32::new(2).expect("non-zero")));
    }
}

/// What a reconciler follows, as `reconcile` takes it and `install` passes it on: the
/// revision, the path in the repository and how often it is fetched.
#[derive(Debug, Args, Clone)]
pub struct FollowArgs {
    #[arg(long = "ref", value_name = "REV", default_value = "main", help = help::REF)]
    pub reference: String,

    #[arg(long, value_name = "PATH", default_value = ".", help = help::PATH_IN_REPO)]
    pub path: String,

    #[arg(long, default_value = "1m", value_parser = duration::positive, value_name = "DURATION", help = help::INTERVAL)]
    pub interval: Duration,
}

/// Log format on stderr for the long-running commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The flags of the long-running commands (`reconcile`, `controller`): how they fetch, retry,
/// serve probes, elect a leader and stop.
#[derive(Debug, Args, Clone)]
pub struct RunnerArgs {
    /// Where the git caches live (default: $KUBECTL_GITOPS_CACHE_DIR, else
    /// $XDG_CACHE_HOME/kubectl-gitops, else ~/.cache/kubectl-gitops).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Serve /healthz, /readyz and /metrics on this address.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// Do not watch managed objects (drift is then put back at the next interval).
    #[arg(long)]
    pub no_watch: bool,

    /// First retry delay after a failed cycle; doubles per failure.
    #[arg(long, default_value = "2s", value_parser = duration::positive, value_name = "DURATION")]
    pub backoff: Duration,

    /// Longest retry delay after failures.
    #[arg(long, default_value = "5m", value_parser = duration::positive, value_name = "DURATION")]
    pub max_backoff: Duration,

    /// Give up a fetch after this long.
    #[arg(long, default_value = "2m", value_parser = duration::positive, value_name = "DURATION")]
    pub fetch_timeout: Duration,

    /// Run without leader election (only safe with a single replica, per shard for the
    /// controller).
    #[arg(long)]
    pub no_leader_election: bool,

    /// How long a leader's claim lasts without renewal.
    #[arg(long, default_value = "15s", value_parser = duration::positive, value_name = "DURATION")]
    pub lease_duration: Duration,

    /// This replica's identity in the Lease and Events (default: $POD_NAME, else host-pid).
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,

    /// After SIGTERM, how long the cycle in progress may take to finish; past it no further
    /// write is sent, those in flight are answered (each is one request: no object is half
    /// written), and nothing is pruned.
    #[arg(long, default_value = "20s", value_parser = duration::zero_or_more, value_name = "DURATION")]
    pub shutdown_grace: Duration,

    #[command(flatten)]
    pub pace: PaceArgs,

    #[command(flatten)]
    pub render: RenderArgs,
}

impl RunnerArgs {
    /// Checks what clap cannot check flag by flag.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.backoff > self.max_backoff {
            anyhow::bail!(
                "--backoff ({}) is longer than --max-backoff ({})",
                humantime::format_duration(self.backoff),
                humantime::format_duration(self.max_backoff)
            );
        }
        Ok(())
    }

    /// The cache directory: the flag, else the user's cache, else a temporary one.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .or_else(|| ClusterOptions::default().cache_dir)
            .unwrap_or_else(|| std::env::temp_dir().join("kubectl-gitops"))
    }
}

/// Help texts of flags that several commands define with their own defaults.
pub mod help {
    pub const APPLYSET: &str = "Name of the ApplySet recording what one repository path manages \
        (default: derived from the repository's URL, the path and the target namespace, e.g. \
        gitops-platform-deploy-prod-1a2b3c4d; `status` without it lists every set)";
    pub const APPLYSET_NAMESPACE: &str = "Namespace of the ApplySet's parent Secret, which also \
        holds a reconciler's status ConfigMap, Lease and Events (default: the target namespace, \
        -n or the context's)";
    pub const ADOPT: &str = "Move objects that are members of another ApplySet into this one. \
        Without it they are refused (per object: the annotation kubectl-gitops.io/adopt: \"true\" \
        in git)";
    pub const PRUNE_PROTECTED: &str = "Also prune Namespaces, CustomResourceDefinitions and \
        PersistentVolumeClaims that left git (deleting them deletes everything in them)";
    pub const ALLOW_EMPTY: &str = "Allow applying a render with no objects, which prunes every \
        member of the set";
    pub const MAX_PRUNE: &str = "The most objects one apply (or reconcile cycle) may prune: a \
        count (5), a share of the set's members (10%, rounded up) or unlimited. Over it nothing \
        is pruned and everything else is applied; apply exits 3, a reconciler reports the cycle \
        failed (status and a PruneBlocked Event) and retries";
    pub const REF: &str = "The git revision to render: a branch, tag or commit (HEAD~2, ...). \
        diff, apply and pr render the working tree without it; a reconciler fetches it at every \
        interval, following a branch as it moves";
    pub const BASE: &str = "The revision a change is measured against: the pull request's \
        target branch. diff marks each change \"introduced\" (the render differs from REV's) or \
        \"drift\" (REV renders it the same: the cluster changed), or with --offline compares with \
        REV's render; pr opens the pull request into REV (default: the current branch)";
    pub const OUTPUT: &str = "Output format";
    pub const REWRITE_UNSTABLE: &str = "Apply the fields a chart renders differently each time \
        (a random password without `lookup`, a timestamp) even where they are live already. \
        Without it such unstable fields seed new objects only, and the live value is kept";
    pub const ALL_NAMESPACES: &str = "Every namespace the caller may list, not just -n's (or \
        the context's)";
    pub const WAIT: &str = "Wait until what was applied is ready (Deployments, StatefulSets, \
        DaemonSets, Jobs, CRDs), or for sync until the controller has handled the request";
    pub const TIMEOUT: &str = "How long --wait waits (e.g. 90s, 5m); for apply, also how long \
        one Helm hook may run";
    pub const REPO: &str = "The git repository: an https://, git:// or file:// URL, or a local \
        path";
    pub const PATH_IN_REPO: &str = "Directory of the manifests inside the repository";
    pub const INTERVAL: &str = "Time between full cycles (fetch, plan, apply)";
    pub const DRIFT: &str = "What to do with a change made in the cluster outside git: `heal` \
        puts it back; `report` leaves it and records it (status ConfigMap, a DriftDetected \
        Event, the gitops_reconcile_drifted_objects metric). In both modes, what git changes \
        still applies: a new commit's changed, added and removed objects (an object git changes \
        is applied whole, which also puts back its drift)";
    pub const TOKEN_USERNAME: &str = "User name sent with the token (GitLab wants oauth2, \
        Bitbucket x-token-auth)";
    pub const DEFAULT_SERVICE_ACCOUNT: &str = "The ServiceAccount (in the sync's own namespace) \
        a GitSync without spec.serviceAccountName acts as. Without it such syncs are refused \
        (Stalled), so no sync acts as the controller itself";
    pub const DRY_RUN: &str = "server: plan against the cluster and show everything, write \
        nothing (--dry-run alone means this); client: render and list the objects without \
        contacting the cluster; none: apply";
}

/// kubectl's spellings of `-v`, rewritten to the one clap parses (`--v=N`): `-v=6`, `-v 6`
/// and, as many tools count, `-vv` (level 2). Everything after `--` stays as it is.
pub fn kubectl_spellings(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            out.push(arg);
            out.extend(args);
            break;
        }
        if text == "--verbose" {
            // The spelling before kubectl's levels (deprecated; see `deprecated_spellings`).
            out.push("--v=1".into());
        } else if let Some(level) = text.strip_prefix("-v=") {
            out.push(format!("--v={level}").into());
        } else if text == "-v"
            && let Some(level) = args
                .peek()
                .and_then(|next| next.to_str())
                .filter(|next| !next.is_empty() && next.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_string)
        {
            args.next();
            out.push(format!("--v={level}").into());
        } else if text == "--v"
            && let Some(level) = args
                .peek()
                .and_then(|next| next.to_str())
                .filter(|next| !next.is_empty() && next.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_string)
        {
            args.next();
            out.push(format!("--v={level}").into());
        } else if text.len() > 2 && text.starts_with('-') && text[1..].bytes().all(|b| b == b'v') {
            out.push(format!("--v={}", text.len() - 1).into());
        } else {
            out.push(arg);
        }
    }
    out
}

/// Notes for spellings that still work but are on their way out, said once on stderr.
pub fn deprecated_spellings(args: &[OsString]) -> Vec<&'static str> {
    let mut notes = Vec::new();
    if args.iter().any(|a| a == "--verbose") {
        notes.push("--verbose is deprecated: use -v (or kubectl's -v=N)");
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spelled(args: &[&str]) -> Vec<String> {
        kubectl_spellings(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn kubectl_verbosity_spellings_become_one() {
        assert_eq!(spelled(&["diff", "-v=6"]), ["diff", "--v=6"]);
        assert_eq!(spelled(&["diff", "-v", "8", "."]), ["diff", "--v=8", "."]);
        assert_eq!(spelled(&["diff", "--v", "7"]), ["diff", "--v=7"]);
        assert_eq!(spelled(&["diff", "-vvv"]), ["diff", "--v=3"]);
        assert_eq!(spelled(&["diff", "-v", "deploy"]), ["diff", "-v", "deploy"]);
        assert_eq!(spelled(&["diff", "--", "-vv"]), ["diff", "--", "-vv"]);
        assert_eq!(spelled(&["diff", "--verbose"]), ["diff", "--v=1"]);
    }
}
