//! What diff and apply share: the flags that decide the plan, and the pipeline up to it.
//! Both commands go through `prepare`, so `apply` executes exactly the plan `diff` shows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;

use super::flags::{ClusterArgs, PaceArgs, RenderArgs, help};
use crate::cluster::Cluster;
use crate::inventory::{self, ApplySet, Inventory};
use crate::pipeline::rerender::Rerender;
use crate::pipeline::{self, PlanSettings, Scope, SetPlan};
use crate::planfile::{self, PlanFile};
use crate::render::{self, Manifest};
use crate::source::{self, Snapshot};
use crate::ssa::Planned;
use crate::ui::Messages;

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    /// Directory holding the manifests (inside a git repository or not).
    #[arg(default_value = ".", value_hint = clap::ValueHint::DirPath, conflicts_with = "filename")]
    pub path: PathBuf,

    /// Manifests as kubectl's -f names them. One directory is the same as PATH: the whole set,
    /// pruning what it no longer renders. diff and apply also take files and several -f: their
    /// objects are planned together and nothing is pruned (their directory's ApplySet tracks
    /// more than they hold; apply the directory to prune). pr takes one directory.
    #[arg(short = 'f', long = "filename", value_name = "PATH", value_hint = clap::ValueHint::AnyPath)]
    pub filename: Vec<PathBuf>,

    /// What `-f` named when it names files or several paths: planned together, never pruned.
    #[arg(skip)]
    pub pieces: Vec<PathBuf>,

    #[arg(long = "ref", value_name = "REV", help = help::REF)]
    pub git_ref: Option<String>,

    #[arg(long, value_name = "NAME", help = help::APPLYSET)]
    pub applyset: Option<String>,

    #[arg(long, value_name = "NAMESPACE", help = help::APPLYSET_NAMESPACE)]
    pub applyset_namespace: Option<String>,

    #[arg(long, help = help::ADOPT)]
    pub adopt: bool,

    #[arg(long, help = help::PRUNE_PROTECTED)]
    pub prune_protected: bool,

    /// Take ownership of fields another field manager owns (server-side apply's force).
    /// Without it, as with kubectl, an object whose apply would change such fields is shown as
    /// a conflict, naming the managers and fields, and apply refuses the plan.
    #[arg(long)]
    pub force_conflicts: bool,

    #[arg(long, help = help::REWRITE_UNSTABLE)]
    pub rewrite_unstable: bool,

    /// Print the fields the server defaults on objects being created (imagePullPolicy,
    /// dnsPolicy, ...) instead of one line counting them. Updates always show every change.
    #[arg(long)]
    pub show_defaults: bool,

    /// Dry-run unchanged objects on the server too. By default an object whose live copy
    /// shows our last apply still in place (every value we send, every field we owned) is
    /// planned as unchanged without a dry-run.
    #[arg(long)]
    pub verify_unchanged: bool,

    #[command(flatten)]
    pub pace: PaceArgs,

    #[command(flatten)]
    pub render: RenderArgs,

    #[command(flatten)]
    pub remote_bases: super::render_limits::RemoteBaseArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `--show-secrets`, for the commands that print to the user's own terminal (never `pr`).
#[derive(Debug, Args, Clone, Default)]
pub struct ShowSecretsArg {
    /// Print Secret values instead of masking them.
    #[arg(long)]
    pub show_secrets: bool,
}

/// A `-f` that clap could not refuse by itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilenameError {
    #[error("-f {}: no such file or directory", .0.display())]
    Missing(PathBuf),
    /// Files or several paths, where the command plans one whole set.
    #[error(
        "-f {}: this command takes one directory, whose manifests make one ApplySet",
        .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" -f ")
    )]
    NotOneDirectory(Vec<PathBuf>),
}

impl PlanArgs {
    /// Takes `-f`: one directory as PATH, files or several paths as pieces of a plan that
    /// prunes nothing. `pieces` is false where a plan must be a whole set (`pr`).
    pub fn resolve_filename(&mut self, pieces: bool) -> Result<(), FilenameError> {
        let Some(first) = self.filename.first() else {
            return Ok(());
        };
        if self.filename.len() == 1 && first.is_dir() {
            self.path = first.clone();
            return Ok(());
        }
        for path in &self.filename {
            if !path.exists() {
                return Err(FilenameError::Missing(path.clone()));
            }
        }
        if !pieces {
            return Err(FilenameError::NotOneDirectory(self.filename.clone()));
        }
        self.path = piece_dir(first).to_path_buf();
        self.pieces = self.filename.clone();
        Ok(())
    }

    /// How a render goes without a cluster to ask: within the limits the flags set.
    pub fn render_options(&self) -> render::RenderOptions {
        render::RenderOptions {
            limits: self.render_limits(),
            unstable: self.unstable_policy(),
            remote_bases: self.remote_bases.remote_bases(),
            ..render::RenderOptions::default()
        }
    }

    /// What apply does with unstable fields that are live already.
    pub fn unstable_policy(&self) -> render::UnstablePolicy {
        if self.rewrite_unstable {
            render::UnstablePolicy::Rewrite
        } else {
            render::UnstablePolicy::Keep
        }
    }

    pub fn render_limits(&self) -> render::RenderLimits {
        render::RenderLimits::from_flags(self.render.limits.limits())
    }

    /// How reports of this plan are shown; Secret values inlined outside Secrets only with
    /// `show_secrets`.
    pub fn report_options(&self, show_secrets: bool) -> crate::report::Options {
        crate::report::Options {
            show_defaults: self.show_defaults,
            show_secrets,
        }
    }
}

/// The directory a `-f` path stands for: itself, or the directory holding the file.
fn piece_dir(path: &Path) -> &Path {
    if path.is_dir() {
        return path;
    }
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The files of one `-f` path: a directory's manifests, or a file alone (read from its
/// directory, so it renders as it would there, minus its neighbours).
fn read_piece(path: &Path, rev: Option<&str>, shell: &Messages) -> Result<Snapshot> {
    let mut snapshot = read_source(piece_dir(path), rev, shell)?;
    if path.is_dir() {
        return Ok(snapshot);
    }
    let name = PathBuf::from(path.file_name().unwrap_or_default());
    snapshot.files.retain(|file, _| *file == name);
    if snapshot.files.is_empty() {
        anyhow::bail!(
            "-f {}: not a manifest file (kubectl gitops reads *.yaml, *.yml and *.json)",
            path.display()
        );
    }
    Ok(snapshot)
}

/// Requests in flight at most for diff, apply and pr, unless --concurrency says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// The files under PATH at revision `rev`, or in the working tree when `None`.
pub fn read_source(path: &Path, rev: Option<&str>, shell: &Messages) -> Result<Snapshot> {
    let limits = source::Limits::default();
    let Some(rev) = rev else {
        let snapshot = source::read_working_tree(path, &limits)
            .with_context(|| format!("reading {}", path.display()))?;
        if snapshot.origin == source::SourceOrigin::PlainDirectory {
            shell.note(format_args!(
                "{} is not inside a git repository; reading it as plain files",
                path.display()
            ));
        }
        return Ok(snapshot);
    };
    source::read_revision(path, rev, &limits)
        .with_context(|| format!("reading {} at revision {rev}", path.display()))
}

/// Renders a snapshot with `options` (a chart's namespace and capabilities).
pub fn render_snapshot_with(
    snapshot: &Snapshot,
    path: &Path,
    rev: Option<&str>,
    options: &render::RenderOptions,
    shell: &Messages,
) -> Result<Vec<Manifest>> {
    let mut notes = Vec::new();
    let rendered = render_snapshot_noting(snapshot, path, rev, options, &mut notes, shell);
    say_lookups(&notes, shell);
    rendered
}

/// [`render_snapshot_with`], telling what each chart's lookups saw in `notes` instead of
/// saying it.
pub fn render_snapshot_noting(
    snapshot: &Snapshot,
    path: &Path,
    rev: Option<&str>,
    options: &render::RenderOptions,
    notes: &mut Vec<render::LookupNote>,
    shell: &Messages,
) -> Result<Vec<Manifest>> {
    if render::has_charts(snapshot)
        && options.helm.capabilities == render::helm::Capabilities::HelmDefaults
    {
        shell.note(render::helm::Capabilities::HelmDefaults);
    }
    let rendered = render::render_noting(snapshot, options, notes);
    with_revision(rendered, path, rev)
}

/// Says once, for every chart whose lookups saw nothing, what that means for the plan.
pub fn say_lookups(notes: &[render::LookupNote], shell: &Messages) {
    if let Some(note) = render::unseen_lookups(notes) {
        shell.note(note);
    }
}

/// A render's result; failures at a revision say which one.
fn with_revision(
    rendered: Result<Vec<Manifest>, render::RenderFailure>,
    path: &Path,
    rev: Option<&str>,
) -> Result<Vec<Manifest>> {
    Ok(match rev {
        None => rendered?,
        Some(rev) => {
            rendered.with_context(|| format!("rendering {} at revision {rev}", path.display()))?
        }
    })
}

/// Everything up to and including the plan.
pub struct Prepared {
    pub snapshot: Arc<Snapshot>,
    pub manifests: Vec<Manifest>,
    pub cluster: Cluster,
    pub set: ApplySet,
    pub inventory: Inventory,
    pub planned: Planned,
    /// The set's live members when planned.
    pub members: usize,
    /// Only some of the set's objects were planned (`-f` naming files): nothing is pruned, and
    /// the parent keeps listing every member it listed.
    pub partial: bool,
    /// The charts an apply renders again once it created their objects.
    pub rerender: Option<Rerender>,
}

/// Source -> Render -> Plan. A render failure stops here, before anything is planned; only a tree
/// holding a Helm chart reads the cluster (its discovery) before rendering.
pub async fn prepare(args: &PlanArgs, show_secrets: bool, shell: &Messages) -> Result<Prepared> {
    let global = &args.cluster;
    let rev = args.git_ref.as_deref();
    let mut options = global.cluster_options();
    args.pace.apply_to(&mut options, DEFAULT_CONCURRENCY);
    let mut cluster = None;
    // Charts whose lookups asked the cluster, and the options they rendered with.
    let mut lookups = None;
    let (snapshot, manifests) = if args.pieces.is_empty() {
        let snapshot = read_source(&args.path, rev, shell)?;
        let (manifests, asked) =
            render_source(args, &snapshot, &args.path, &options, &mut cluster, shell).await?;
        lookups = asked;
        (snapshot, manifests)
    } else {
        // Several snapshots: their charts are not rendered again after an apply.
        let mut first = None;
        let mut manifests = Vec::new();
        for piece in &args.pieces {
            let snapshot = read_piece(piece, rev, shell)?;
            manifests.extend(
                render_source(args, &snapshot, piece, &options, &mut cluster, shell)
                    .await?
                    .0,
            );
            first.get_or_insert(snapshot);
        }
        (first.context("-f named nothing")?, manifests)
    };
    let snapshot = Arc::new(snapshot);
    shell.stage("source", || {
        format!(
            "{} manifest files under {}",
            snapshot.files.len(),
            snapshot.root.display()
        )
    });
    let cluster = match cluster {
        Some(cluster) => cluster,
        None => Cluster::connect(&options).await?,
    };
    shell.stage("render", || format!("{} objects", manifests.len()));
    shell.stage("cluster", || {
        format!("context {:?} at {}", cluster.context, cluster.server)
    });

    let (set, note) = inventory::identity::for_checkout(
        &snapshot,
        &cluster.default_namespace,
        args.applyset.as_deref(),
        args.applyset_namespace.as_deref(),
    );
    if let (Some(note), None) = (note, &args.applyset) {
        shell.note(note);
    }
    // Files of a set, or several sets' paths, are not a whole set: planning them as one would
    // prune every member they do not hold. Only their own objects are planned.
    let scope = if args.pieces.is_empty() {
        Scope::Whole
    } else {
        shell.note(format_args!(
            "-f names files or several paths: their {} objects are planned for ApplySet \
             {set}, and nothing is pruned (give -f one directory to prune)",
            manifests.len()
        ));
        Scope::Objects(
            manifests
                .iter()
                .map(|m| crate::pipeline::rerender::object_key(m, &cluster.default_namespace))
                .collect(),
        )
    };
    let settings = PlanSettings {
        show_secrets,
        force: args.force_conflicts,
        prune_protected: args.prune_protected,
        verify_unchanged: args.verify_unchanged,
        adopt: args.adopt,
        cascade: true,
        render: render::RenderOptions::default(),
        ..PlanSettings::default()
    };
    let rerender = lookups.and_then(|(notes, render)| {
        let settings = PlanSettings {
            render,
            ..settings.clone()
        };
        Rerender::after(snapshot.clone(), &manifests, &notes, &settings)
    });
    let SetPlan {
        manifests,
        set,
        inventory,
        planned,
        members,
        ..
    } = pipeline::plan(&cluster, manifests, &set, &scope, &settings).await?;
    shell.stage("inventory", || {
        format!("ApplySet {set}: {members} live members")
    });
    shell.stage("plan", || {
        format!(
            "{}; {} unchanged from their live copy without a dry-run",
            crate::report::summary_line(&planned.plan),
            planned.proven_unchanged
        )
    });
    Ok(Prepared {
        snapshot,
        manifests,
        cluster,
        set,
        inventory,
        planned,
        members,
        partial: scope != Scope::Whole,
        rerender,
    })
}

/// What each chart calling `lookup` saw, and the options the charts rendered with.
type Lookups = (Vec<render::LookupNote>, render::RenderOptions);

/// Renders one snapshot read from `path`. A tree holding a Helm chart renders for the cluster
/// it goes to (its namespace, version and APIs), so the cluster is asked first, once; what its
/// lookups saw comes back with the objects.
async fn render_source(
    args: &PlanArgs,
    snapshot: &Snapshot,
    path: &Path,
    options: &crate::cluster::ClusterOptions,
    cluster: &mut Option<Cluster>,
    shell: &Messages,
) -> Result<(Vec<Manifest>, Option<Lookups>)> {
    let rev = args.git_ref.as_deref();
    if !render::has_charts(snapshot) {
        let manifests = render_snapshot_with(snapshot, path, rev, &args.render_options(), shell)?;
        return Ok((manifests, None));
    }
    if cluster.is_none() {
        *cluster = Some(Cluster::connect(options).await?);
    }
    let Some(cluster) = cluster.as_ref() else {
        anyhow::bail!("no cluster to render {} for", path.display());
    };
    let mut render_options = render::target::options_for(cluster).await?;
    render_options.limits = args.render_limits();
    render_options.unstable = args.unstable_policy();
    render_options.remote_bases = args.remote_bases.remote_bases();
    shell.verbose(|| format!("render: {}", render_options.helm.capabilities));
    let mut notes = Vec::new();
    let rendered = render::render_noting(snapshot, &render_options, &mut notes);
    say_lookups(&notes, shell);
    let manifests = with_revision(rendered, path, rev)?;
    Ok((manifests, Some((notes, render_options))))
}

/// The plan file of a prepared plan, made with `args`' settings.
pub fn plan_file(prepared: &Prepared, args: &PlanArgs) -> Result<PlanFile, planfile::Unapplicable> {
    PlanFile::of(
        &prepared.planned,
        &planfile::Origin {
            snapshot: &prepared.snapshot,
            manifests: &prepared.manifests,
            set: &prepared.set,
            context: &prepared.cluster.context,
            server: &prepared.cluster.server,
            settings: planfile::Settings {
                force_conflicts: args.force_conflicts,
                prune_protected: args.prune_protected,
                adopt: args.adopt,
            },
        },
    )
}
