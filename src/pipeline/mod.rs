//! The pipeline after Source, as library functions every entry point shares: `diff` and
//! `apply` on a working tree, the reconciler on a git revision.
//!
//! [`plan`]: inventory -> Plan, the one function every entry point plans with. [`execute`]: parent write, server-side
//! apply in order, prune — with apply's safety rules built in: nothing is pruned when anything
//! failed, and an empty render is refused (see [`refuse_empty`]) unless the caller consents.
//! After a first install of charts whose lookups saw nothing, [`execute`] renders them once
//! more and applies what changed (see `rerender`), for every runner alike.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

pub mod rerender;

use rerender::{Rerender, Rerendered};

use crate::cluster::Cluster;
use crate::inventory::{self, ApplySet, GroupKind, Inventory};
use crate::object::ObjectKey;
use crate::prune_limit::{PruneLimit, PruneLimitExceeded};
use crate::render::{self, LookupNote, Manifest, RenderFailure};
use crate::source::Snapshot;
use crate::ssa::runs::{self, Side};
use crate::ssa::{self, Action, Applied, ApplyOptions, Plan, PlanOptions, Planned, Work, Writes};

/// How a plan is made.
#[derive(Debug, Clone, Default)]
pub struct PlanSettings {
    /// Print Secret values instead of masks (reports only; never set by the reconciler).
    pub show_secrets: bool,
    /// Take ownership of fields other field managers own: git wins. The one setting that
    /// decides force: the plan dry-runs with it and executing the plan applies with it.
    pub force: bool,
    /// Also prune Namespaces, CRDs and PVCs that left git.
    pub prune_protected: bool,
    /// Dry-run every object, even those the live copy proves unchanged.
    pub verify_unchanged: bool,
    /// Consent to move objects from other ApplySets into this one.
    pub adopt: bool,
    /// Keep members that left git instead of pruning them (a GitSync with `prune: false`).
    pub keep_unrendered: bool,
    /// Count what the cluster deletes along with each prune (see `ssa::cascade`), for
    /// reports; costs LISTs only when something is pruned.
    pub cascade: bool,
    pub render: render::RenderOptions,
}

/// A render planned against one ApplySet.
pub struct SetPlan {
    pub manifests: Vec<Manifest>,
    pub set: ApplySet,
    pub inventory: Inventory,
    pub planned: Planned,
    /// Live members of the set that were read (none for a plan of some objects).
    pub members: usize,
    /// The charts to render again once the plan is executed, if it creates their objects
    /// (set by [`plan_snapshot`]; a caller rendering by itself builds it with
    /// [`Rerender::after`]).
    pub rerender: Option<Rerender>,
}

/// Which objects of a render a plan covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every rendered object, and a prune for every member no longer rendered.
    Whole,
    /// Only these objects (a drift correction): nothing is pruned, and the set's members are
    /// not read, so the cost follows the objects and not the set's size.
    Objects(BTreeSet<ObjectKey>),
}

/// Where the pipeline stopped. A render failure happens before anything touches the cluster.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Render(#[from] RenderFailure),
    /// Reading the inventory or planning failed as a whole (cluster unreachable, refused
    /// parent). Per-object problems are in `Plan::errors` instead.
    #[error(transparent)]
    Cluster(anyhow::Error),
}

/// Render -> [`plan`], for callers holding a snapshot (the reconciler).
pub async fn plan_snapshot(
    cluster: &Cluster,
    snapshot: Snapshot,
    set: &ApplySet,
    scope: &Scope,
    settings: &PlanSettings,
) -> Result<SetPlan, PipelineError> {
    let snapshot = Arc::new(snapshot);
    let (manifests, notes) = render_noting_apart(snapshot.clone(), &settings.render).await?;
    let rerender = Rerender::after(snapshot, &manifests, &notes, settings);
    let mut planned = plan(cluster, manifests, set, scope, settings)
        .await
        .map_err(PipelineError::Cluster)?;
    planned.rerender = rerender;
    Ok(planned)
}

/// [`render_apart`], telling what each chart's lookups saw.
async fn render_noting_apart(
    snapshot: Arc<Snapshot>,
    options: &render::RenderOptions,
) -> Result<(Vec<Manifest>, Vec<LookupNote>), RenderFailure> {
    let options = options.clone();
    tokio::task::spawn_blocking(move || {
        let mut notes = Vec::new();
        render::render_noting(&snapshot, &options, &mut notes).map(|manifests| (manifests, notes))
    })
    .await
    .unwrap_or_else(|join| {
        Err(RenderFailure::from(render::RenderError::Incomplete {
            reason: join.to_string(),
        }))
    })
}

/// Renders on a thread of the blocking pool, never on one of the runtime's few workers: a
/// render waits on helm and kustomize for up to its deadline, and meanwhile the other syncs,
/// the probes and the watches must go on. The render's own deadline ends the wait.
pub async fn render_apart(
    snapshot: Snapshot,
    options: &render::RenderOptions,
) -> Result<Vec<Manifest>, RenderFailure> {
    let options = options.clone();
    tokio::task::spawn_blocking(move || render::render(&snapshot, &options))
        .await
        .unwrap_or_else(|join| {
            Err(RenderFailure::from(render::RenderError::Incomplete {
                reason: join.to_string(),
            }))
        })
}

/// The plan: what `diff` shows, `apply` and `pr` act on and the reconciler executes. Reads
/// the ApplySet's inventory (and, for the whole set, its live members), then plans every
/// object in `scope` and every prune.
pub async fn plan(
    cluster: &Cluster,
    manifests: Vec<Manifest>,
    set: &ApplySet,
    scope: &Scope,
    settings: &PlanSettings,
) -> anyhow::Result<SetPlan> {
    let inventory = inventory::read(cluster, set).await?;
    let (manifests, members) = match scope {
        Scope::Whole => {
            let members = inventory::members(cluster, set, &inventory).await?;
            (manifests, members)
        }
        Scope::Objects(keys) => {
            let default_ns = &cluster.default_namespace;
            let subset = manifests
                .into_iter()
                .filter(|m| keys.iter().any(|k| renders(m, k, default_ns)))
                .collect();
            (subset, Vec::new())
        }
    };
    let mut planned = ssa::plan(
        cluster,
        &manifests,
        &members,
        &PlanOptions {
            show_secrets: settings.show_secrets,
            force: settings.force,
            part_of: Some(set.id()),
            prune_protected: settings.prune_protected,
            verify_unchanged: settings.verify_unchanged,
            legacy_ids: inventory.legacy.iter().map(|l| l.parent.id()).collect(),
            adopt: settings.adopt,
            keep_unrendered: settings.keep_unrendered,
        },
    )
    .await?;
    ssa::moves::name_sets(cluster, &mut planned.plan).await;
    if settings.cascade {
        planned.plan.cascades = ssa::cascade::preview(cluster, &planned.plan, &planned.work).await;
    }
    Ok(SetPlan {
        manifests,
        set: set.clone(),
        inventory,
        planned,
        members: members.len(),
        rerender: None,
    })
}

/// Whether `manifest` renders the object `key` names.
fn renders(manifest: &Manifest, key: &ObjectKey, default_namespace: &str) -> bool {
    let object = manifest.object_ref();
    object.group() == key.group
        && object.kind == key.kind
        && object.name == key.name
        && match &key.namespace {
            None => true,
            Some(ns) => manifest.namespace().unwrap_or(default_namespace) == ns,
        }
}

/// An empty render would prune every member: refused unless the caller consents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the render has no objects, and applying it would prune all {prunes} members of the ApplySet"
)]
pub struct EmptyRender {
    pub prunes: usize,
}

/// `Err` when the render is empty, the plan prunes something and `allow_empty` is false.
pub fn refuse_empty(
    manifests: &[Manifest],
    plan: &Plan,
    allow_empty: bool,
) -> Result<(), EmptyRender> {
    let prunes = plan.summary().prune;
    if manifests.is_empty() && prunes > 0 && !allow_empty {
        return Err(EmptyRender { prunes });
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ExecuteOptions {
    /// The plan covers only some of the set's objects (a drift correction): the parent keeps
    /// listing everything it listed, since the plan does not know the rest.
    pub partial: bool,
    /// The most the plan may prune (`--max-prune`); over it, nothing is pruned.
    pub max_prune: PruneLimit,
    /// The set's live members when planned ([`SetPlan::members`]): what a share is of.
    pub members: usize,
    /// Apply each update only to the object version it was planned against (a plan file).
    pub pinned: bool,
    /// How long one Helm hook may run before the apply gives up on it.
    pub hook_timeout: Duration,
    /// Charts to render again and apply once more when this execution creates their objects.
    pub rerender: Option<Rerender>,
}

/// Helm's own default for how long a hook may run.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(300);

impl Default for ExecuteOptions {
    fn default() -> Self {
        ExecuteOptions {
            partial: false,
            max_prune: PruneLimit::default(),
            members: 0,
            pinned: false,
            hook_timeout: HOOK_TIMEOUT,
            rerender: None,
        }
    }
}

/// What executing a plan did.
#[derive(Debug, Clone, Default)]
pub struct Execution {
    /// One entry per write: applies first, then prunes.
    pub results: Vec<Applied>,
    /// Objects that failed to plan, conflict or failed to apply (prunes included).
    pub failed: usize,
    /// Prunes that were planned but not attempted because something failed or the plan was
    /// over `--max-prune`.
    pub prunes_skipped: usize,
    /// Set when the plan prunes more than `ExecuteOptions::max_prune` allows: no prune was
    /// attempted, everything else was applied.
    pub prunes_withheld: Option<PruneLimitExceeded>,
    /// The charts rendered again after the writes (see `rerender`); their writes are among
    /// `results`, a failure of their render or plan counts in `failed`.
    pub rerendered: Option<Rerendered>,
}

impl Execution {
    /// Successful writes of one action.
    pub fn count(&self, action: Action) -> usize {
        self.results
            .iter()
            .filter(|r| r.action == action && r.error.is_none())
            .count()
    }

    pub fn succeeded(&self) -> bool {
        self.failed == 0
    }
}

/// Executes a plan: writes the parent (listing every group-kind and namespace, old and new,
/// before any member carries its label), applies in dependency order, and prunes only when
/// every object planned and applied. After a clean run the parent is narrowed to what the set
/// holds now. `progress` is called once per finished write.
///
/// When everything was written and `options.rerender` names charts whose objects were just
/// created, those charts are rendered once more and what changed is applied the same way (a
/// plan of the objects just written alone: nothing more is pruned, no hook runs again).
///
/// Errors are for the parent write only; per-object failures are in the result.
pub async fn execute(
    cluster: &Cluster,
    set: &ApplySet,
    inventory: &Inventory,
    planned: &Planned,
    options: &ExecuteOptions,
    progress: &(dyn Fn(&Applied) + Sync),
) -> anyhow::Result<Execution> {
    let mut execution = execute_once(cluster, set, inventory, planned, options, progress).await?;
    let Some(rerender) = &options.rerender else {
        return Ok(execution);
    };
    if execution.failed > 0 || crate::cluster::stop::requested() {
        return Ok(execution);
    }
    let Some((rerendered, again)) = rerender.plan(cluster, set, &execution.results).await else {
        return Ok(execution);
    };
    if rerendered.error.is_some() {
        execution.failed += 1;
    }
    if let Some(again) = again
        && again.planned.plan.summary().has_changes()
    {
        let options = ExecuteOptions {
            partial: true,
            members: again.members,
            pinned: false,
            rerender: None,
            ..options.clone()
        };
        let second = execute_once(
            cluster,
            set,
            &again.inventory,
            &again.planned,
            &options,
            progress,
        )
        .await?;
        execution.results.extend(second.results);
        execution.failed += second.failed;
    }
    execution.rerendered = Some(rerendered);
    Ok(execution)
}

/// One pass of [`execute`]: the parent, the writes, the prunes.
async fn execute_once(
    cluster: &Cluster,
    set: &ApplySet,
    inventory: &Inventory,
    planned: &Planned,
    options: &ExecuteOptions,
    progress: &(dyn Fn(&Applied) + Sync),
) -> anyhow::Result<Execution> {
    let work = &planned.work;
    let summary = planned.plan.summary();
    let withheld = options
        .max_prune
        .check(summary.prune, options.members)
        .err();
    let (kinds, namespaces) = contents(work, &planned.plan, Some(inventory));
    let members = if options.partial {
        inventory.recorded_members
    } else {
        let staying = if withheld.is_some() { summary.prune } else { 0 };
        Some(
            work.iter().filter(|w| w.action != Action::Prune).count()
                + planned.plan.kept.len()
                + staying,
        )
    };
    if creates_namespace(work, &set.namespace) {
        inventory::create_parent_namespace(cluster, &set.namespace).await?;
    }
    inventory::write_parent(cluster, set, &kinds, &namespaces, members).await?;

    let (results, prunes_skipped) =
        write(cluster, planned, options, withheld.is_some(), progress).await;
    let failed = failures(&results) + summary.blocked();
    // Withheld prunes are still members: the parent keeps listing them.
    if failed == 0 && !options.partial && withheld.is_none() {
        let (kinds_now, namespaces_now) = contents(work, &planned.plan, None);
        if kinds_now != kinds || namespaces_now != namespaces {
            inventory::write_parent(cluster, set, &kinds_now, &namespaces_now, members).await?;
        }
        inventory::migration::finish(cluster, inventory).await?;
    }
    Ok(Execution {
        results,
        failed,
        prunes_skipped,
        prunes_withheld: withheld,
        rerendered: None,
    })
}

/// The writes of an execution, in Helm's order when the render has hooks: the change's
/// Namespaces and CRDs, the pre hooks, everything else, the prunes (unless something failed or
/// they are `withheld`), the post hooks. What happened to each, and how many prunes were not
/// attempted.
async fn write(
    cluster: &Cluster,
    planned: &Planned,
    options: &ExecuteOptions,
    withheld: bool,
    progress: &(dyn Fn(&Applied) + Sync),
) -> (Vec<Applied>, usize) {
    let summary = planned.plan.summary();
    let apply_options = ApplyOptions {
        pinned: options.pinned,
        ..ApplyOptions::default()
    };
    let apply = |writes| ssa::apply(cluster, planned, &apply_options, writes, progress);
    let hooks = |side| runs::run(cluster, &planned.runs, side, options.hook_timeout, progress);
    // Helm hooks run with an apply that changes something, as with every `helm upgrade`; not
    // with a drift correction, which only puts some objects back.
    let hooks_run = !options.partial && summary.has_changes() && summary.blocked() == 0;
    let pre_hooks = hooks_run && !runs::due(&planned.runs, Side::Before).is_empty();
    // Namespaces and CRDs first, as Helm creates the release namespace and installs crds/
    // before any hook: a pre hook may live in the one or use the other.
    let mut results = apply(Writes::Foundations).await;
    if pre_hooks && failures(&results) == 0 {
        results.extend(hooks(Side::Before).await);
    }
    if pre_hooks && failures(&results) > 0 {
        // Pre hooks that failed, or could not run, stop the apply: nothing else is written.
        return (results, summary.prune);
    }
    results.extend(apply(Writes::Rest).await);
    let mut prunes_skipped = 0;
    if failures(&results) + summary.blocked() > 0 || withheld {
        prunes_skipped = summary.prune;
    } else {
        results.extend(ssa::prune(cluster, &planned.work, progress).await);
    }
    if hooks_run && failures(&results) == 0 {
        results.extend(hooks(Side::After).await);
    }
    (results, prunes_skipped)
}

/// Whether the plan creates the Namespace named `namespace` (the one the parent lives in).
fn creates_namespace(work: &[Work], namespace: &str) -> bool {
    work.iter().any(|w| {
        w.action == Action::Create
            && w.object.kind == "Namespace"
            && w.object.api_version == "v1"
            && w.object.name == namespace
    })
}

fn failures(results: &[Applied]) -> usize {
    results.iter().filter(|r| r.error.is_some()).count()
}

/// The group-kinds and namespaces the parent must list: those of every desired object and
/// every kept member, plus (while an apply is under way) what it listed before.
pub fn contents(
    work: &[Work],
    plan: &Plan,
    previous: Option<&Inventory>,
) -> (BTreeSet<GroupKind>, BTreeSet<String>) {
    let mut kinds = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    let objects = work
        .iter()
        .filter(|w| w.action != Action::Prune)
        .map(|w| &w.object)
        .chain(plan.kept.iter().map(|k| &k.object))
        .chain(plan.errors.iter().map(|e| &e.object));
    for object in objects {
        kinds.insert(GroupKind::of(object));
        if let Some(ns) = &object.namespace {
            namespaces.insert(ns.clone());
        }
    }
    if let Some(previous) = previous {
        kinds.extend(previous.group_kinds.iter().cloned());
        namespaces.extend(previous.namespaces.iter().cloned());
        for legacy in &previous.legacy {
            kinds.extend(legacy.group_kinds.iter().cloned());
        }
        // Members about to be pruned stay findable until they are gone.
        for w in work.iter().filter(|w| w.action == Action::Prune) {
            kinds.insert(GroupKind::of(&w.object));
            if let Some(ns) = &w.object.namespace {
                namespaces.insert(ns.clone());
            }
        }
    }
    (kinds, namespaces)
}

#[cfg(all(test, unix))]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use super::*;
    use crate::render::limits::Limits;
    use crate::render::{KustomizeCommand, RenderLimits, RenderOptions};
    use crate::source::SourceOrigin;

    /// On a runtime of one thread, a render that waits on its kustomize until the deadline
    /// still lets every other task run meanwhile.
    #[tokio::test(flavor = "current_thread")]
    async fn a_render_waiting_on_its_program_leaves_the_runtime_to_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("kustomize");
        std::fs::write(&program, "#!/bin/sh\nexec sleep 300\n").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("apps")).unwrap();
        std::fs::write(tree.join("apps/kustomization.yaml"), "resources: []\n").unwrap();
        let files = BTreeMap::from([(
            PathBuf::from("apps/kustomization.yaml"),
            b"resources: []\n".to_vec(),
        )]);
        let snapshot = Snapshot::new(
            tree.canonicalize().unwrap(),
            PathBuf::new(),
            SourceOrigin::PlainDirectory,
            files,
        );
        let options = RenderOptions {
            kustomize: Some(KustomizeCommand::Kustomize { program }),
            limits: RenderLimits::from_flags(Limits {
                timeout: Duration::from_secs(3),
                ..Limits::default()
            }),
            ..RenderOptions::default()
        };
        let render = render_apart(snapshot, &options);
        tokio::pin!(render);
        // Were the render run on this thread, the other task could not start before it ended.
        let other = tokio::task::spawn(async { "ran" });
        tokio::select! {
            biased;
            rendered = &mut render => panic!("the render ended first: {:?}", rendered.err()),
            ran = other => assert_eq!(ran.unwrap(), "ran"),
        }
        let failure = render.await.unwrap_err().to_string();
        assert!(failure.contains("deadline of 3s"), "{failure}");
    }
}
