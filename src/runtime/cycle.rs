//! One reconcile: fetch -> read the commit under PATH -> render -> plan (forced: git wins, see
//! `PlanSettings::force` as `kubectl gitops reconcile` sets it)
//! -> apply -> prune, through the same pipeline functions `kubectl gitops apply` uses, with its
//! safety rules: nothing is pruned when anything failed, an empty render is refused unless
//! allowed, protected kinds are kept.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gix::ObjectId;
use kube::core::ApiResource;

use super::drift::{ObjectKey, WatchKey};
use super::drift_mode::DriftMode;
use super::drift_report::{self, Drifted};
use crate::cluster::Cluster;
use crate::inventory::ApplySet;
use crate::object::ObjectRef;
use crate::pipeline::{self, ExecuteOptions, PipelineError, PlanSettings, Scope};
use crate::prune_limit::PruneLimit;
use crate::source::Limits;
use crate::source::git::{Fetched, GitSource};
use crate::source::tree;
use crate::ssa::Action;

/// Which revision a cycle works on, and how much of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cycle {
    /// Fetch, then the commit the ref points to; the whole set.
    Latest,
    /// A commit already fetched, the whole set (drift corrections after a watch restarted).
    Revision(ObjectId),
    /// The commit the ref points to, fetched by the caller (the controller's shared git
    /// cache): the whole set, as `Latest` after its fetch.
    Fetched(ObjectId),
    /// Only these objects of a fetched commit: a drift correction that re-plans what changed
    /// and nothing else, so it takes the same time with ten objects as with ten thousand.
    /// Never prunes.
    Objects(ObjectId, BTreeSet<ObjectKey>),
}

/// Why a cycle runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The interval elapsed: fetch and reconcile the whole set.
    Interval,
    /// A watch saw a managed object change outside git.
    Drift,
}

impl Trigger {
    /// The name in logs and the `trigger` label of the cycle metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Interval => "interval",
            Trigger::Drift => "drift",
        }
    }
}

/// The stage a cycle failed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Fetch,
    Source,
    Render,
    Plan,
    Apply,
    /// Applied, but the prunes were withheld: more than `--max-prune` allows.
    Prune,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Fetch => "fetch",
            Stage::Source => "source",
            Stage::Render => "render",
            Stage::Plan => "plan",
            Stage::Apply => "apply",
            Stage::Prune => "prune",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleError {
    pub stage: Stage,
    /// Free of credentials and Secret values.
    pub message: String,
}

impl std::fmt::Display for CycleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.stage.as_str(), self.message)
    }
}

/// What a cycle did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The commit worked on, once known.
    pub revision: Option<ObjectId>,
    /// True when the revision was rendered and planned, so the cluster was (at least partly)
    /// brought to it.
    pub executed: bool,
    /// Only some objects were planned (a targeted drift correction): `managed` and `watch`
    /// are not meaningful.
    pub partial: bool,
    pub created: Vec<ObjectRef>,
    pub updated: Vec<ObjectRef>,
    pub pruned: Vec<ObjectRef>,
    /// Helm hooks that ran (see `ssa::runs`), each once.
    pub hooks: Vec<ObjectRef>,
    pub unchanged: usize,
    /// Objects the render asks for (the set's size once applied).
    pub managed: usize,
    /// What to watch for drift: every desired or kept object's resource and namespace.
    pub watch: BTreeSet<WatchKey>,
    /// The desired objects with a health rule (`ssa::wait`): what a sync with `wait` follows
    /// to Current after the apply. Empty for a partial cycle.
    pub workloads: Vec<(ObjectRef, ApiResource)>,
    pub error: Option<CycleError>,
    pub duration: Duration,
    /// With `DriftMode::Report`: the objects that differ from git and were left as they are.
    pub drifted: Vec<Drifted>,
    /// With `DriftMode::Report`: every object the cycle planned (drifted or not), so a partial
    /// cycle can say which earlier reports it settles.
    pub checked: Vec<ObjectRef>,
}

/// Everything a cycle needs; cheap to share.
pub struct Reconciler {
    pub cluster: Cluster,
    pub git: GitSource,
    pub set: ApplySet,
    /// Repository-relative directory of the manifests ("" for the root).
    pub path: PathBuf,
    pub settings: PlanSettings,
    pub allow_empty: bool,
    /// The most one cycle may prune (`--max-prune`); over it the cycle applies and prunes
    /// nothing, and fails at the prune stage until the limit or the commit changes.
    pub max_prune: PruneLimit,
    pub limits: Limits,
    pub fetch_timeout: Duration,
    /// Put drift back, or only report it.
    pub drift: DriftMode,
    /// The last revision applied whole without errors: with `DriftMode::Report`, what a new
    /// commit is compared with to tell its changes from drift. Seed it from the status.
    pub applied: std::sync::Mutex<Option<ObjectId>>,
}

impl Reconciler {
    pub async fn run(self: &Arc<Self>, cycle: Cycle) -> Outcome {
        let started = Instant::now();
        let mut outcome = Outcome::default();
        if let Err(error) = self.cycle(cycle, &mut outcome).await {
            outcome.error = Some(error);
        }
        outcome.duration = started.elapsed();
        outcome
    }

    async fn cycle(
        self: &Arc<Self>,
        cycle: Cycle,
        outcome: &mut Outcome,
    ) -> Result<(), CycleError> {
        let (commit, scope, latest) = match cycle {
            Cycle::Latest => (self.fetch().await?.commit, Scope::Whole, true),
            Cycle::Revision(commit) => (commit, Scope::Whole, false),
            Cycle::Fetched(commit) => (commit, Scope::Whole, true),
            Cycle::Objects(commit, keys) => (commit, Scope::Objects(keys), false),
        };
        outcome.revision = Some(commit);
        outcome.partial = scope != Scope::Whole;

        let this = self.clone();
        let read = tokio::task::spawn_blocking(move || {
            this.git.open().map_err(|e| e.0)?;
            tree::read(this.git.repo_dir(), commit, &this.path, &this.limits)
                .map_err(|e| this.git.scrub(&e.to_string()))
        })
        .await
        .map_err(|e| fail(Stage::Source, e))?;
        let snapshot = read.map_err(|message| CycleError {
            stage: Stage::Source,
            message,
        })?;

        // Charts see the cluster as it is now: a CRD installed since the start changes
        // `.Capabilities.APIVersions` once the last reading has expired.
        let mut settings = self.settings.clone();
        if crate::render::has_charts(&snapshot) {
            settings.render.helm.capabilities =
                crate::render::target::capabilities_of(&self.cluster)
                    .await
                    .map_err(|e| fail(Stage::Render, crate::cluster::refusal::one_line(&e)))?;
            // Lookups are answered as the cycle's own connection: under a controller, the
            // sync's ServiceAccount.
            settings.render.helm.lookup = Some(crate::render::target::lookup_by(&self.cluster));
        }
        let plan =
            pipeline::plan_snapshot(&self.cluster, snapshot, &self.set, &scope, &settings).await;
        let mut plan = match plan {
            Ok(plan) => plan,
            Err(PipelineError::Render(failure)) => return Err(fail(Stage::Render, failure)),
            Err(PipelineError::Cluster(err)) => {
                return Err(fail(Stage::Plan, crate::cluster::refusal::one_line(&err)));
            }
        };
        if scope == Scope::Whole {
            pipeline::refuse_empty(&plan.manifests, &plan.planned.plan, self.allow_empty).map_err(
                |e| {
                    fail(
                        Stage::Plan,
                        format!(
                            "{e}; refusing to apply it (start the reconciler with \
                             --allow-empty if that is intended)"
                        ),
                    )
                },
            )?;
            outcome.managed = plan.manifests.len();
            for w in plan
                .planned
                .work
                .iter()
                .filter(|w| w.action != Action::Prune)
            {
                outcome
                    .watch
                    .insert(WatchKey::new(&w.resource, w.object.namespace.clone()));
                if crate::ssa::wait::has_rule(&w.object) {
                    outcome
                        .workloads
                        .push((w.object.clone(), w.resource.clone()));
                }
            }
        }
        if self.drift == DriftMode::Report {
            // Drift corrections re-plan the revision already applied, so all they find is
            // drift; a new commit's changes are told from it against the last one applied.
            let applied = *self.applied.lock().unwrap_or_else(|e| e.into_inner());
            let all_drift = !latest || applied == Some(commit);
            if !all_drift && let Some(base) = applied {
                self.classify_against(base, &settings.render, &mut plan)
                    .await;
            }
            outcome.checked = plan
                .planned
                .plan
                .changes
                .iter()
                .map(|c| c.object.clone())
                .collect();
            outcome.drifted = drift_report::hold_back(&mut plan.planned, all_drift);
        }
        let summary = plan.planned.plan.summary();
        outcome.unchanged = summary.unchanged;

        // Like `kubectl gitops apply`: a plan the server refused in part is not applied in
        // part; the cluster stays at the last good state until the commit is fixed.
        // The reconciler plans forced (git wins), so conflicts cannot arise; were it ever to
        // plan without force, a conflict would block the plan like an error.
        if summary.blocked() > 0 {
            let conflicts = plan
                .planned
                .plan
                .changes
                .iter()
                .filter(|c| c.action == Action::Conflict)
                .map(|c| {
                    let owners: Vec<String> = c.conflicts.iter().map(ToString::to_string).collect();
                    format!("{}: {}", c.object, owners.join("; "))
                });
            let failures: Vec<String> = plan
                .planned
                .plan
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.object, e.message))
                .chain(conflicts)
                .collect();
            return Err(fail(
                Stage::Plan,
                format!(
                    "nothing was applied: {} {} failed to plan: {}",
                    failures.len(),
                    if failures.len() == 1 {
                        "object"
                    } else {
                        "objects"
                    },
                    summarize(&failures)
                ),
            ));
        }
        crate::ssa::moves::refuse_moves(&plan.planned.plan)
            .map_err(|refused| fail(Stage::Plan, format!("nothing was applied: {refused}")))?;
        outcome.executed = true;
        if !summary.has_changes() {
            self.applied_whole(commit, &scope);
            return Ok(());
        }
        let execution = pipeline::execute(
            &self.cluster,
            &plan.set,
            &plan.inventory,
            &plan.planned,
            &ExecuteOptions {
                partial: outcome.partial,
                max_prune: self.max_prune,
                members: plan.members,
                pinned: false,
                hook_timeout: pipeline::HOOK_TIMEOUT,
                rerender: plan.rerender.take(),
            },
            &|_| {},
        )
        .await
        .map_err(|e| fail(Stage::Apply, crate::cluster::refusal::one_line(&e)))?;
        let mut failures = Vec::new();
        if let Some(rerendered) = &execution.rerendered {
            match &rerendered.error {
                Some(_) => failures.push(rerendered.line()),
                None => tracing::info!(set = %self.set, "{}", rerendered.line()),
            }
        }
        for result in &execution.results {
            match (&result.error, result.action) {
                (Some(error), _) => failures.push(format!("{}: {error}", result.object)),
                (None, Action::Create) => outcome.created.push(result.object.clone()),
                (None, Action::Update) => outcome.updated.push(result.object.clone()),
                (None, Action::Prune) => outcome.pruned.push(result.object.clone()),
                (None, Action::Run) if !outcome.hooks.contains(&result.object) => {
                    outcome.hooks.push(result.object.clone())
                }
                (None, Action::Unchanged | Action::Conflict | Action::Run) => {}
            }
        }
        if execution.prunes_skipped > 0 && execution.prunes_withheld.is_none() {
            failures.push(format!(
                "{} prunes skipped because something failed",
                execution.prunes_skipped
            ));
        }
        if !failures.is_empty() {
            return Err(fail(Stage::Apply, summarize(&failures)));
        }
        if let Some(withheld) = &execution.prunes_withheld {
            return Err(fail(
                Stage::Prune,
                format!(
                    "nothing was pruned: {withheld}; everything else was applied. Start the \
                     reconciler with a higher --max-prune (or --max-prune unlimited) to prune \
                     them"
                ),
            ));
        }
        self.applied_whole(commit, &scope);
        Ok(())
    }

    /// Records that `commit` is applied, when the cycle covered the whole set.
    fn applied_whole(&self, commit: ObjectId, scope: &Scope) {
        if *scope == Scope::Whole {
            *self.applied.lock().unwrap_or_else(|e| e.into_inner()) = Some(commit);
        }
    }

    /// Marks each change of `plan` as introduced by git since `base` or as drift, by rendering
    /// `base` with the options the head rendered with (a chart sees the same cluster at both).
    /// When `base` cannot be read or rendered any more, every change counts as git's:
    /// applying a commit is never held back for want of its predecessor.
    async fn classify_against(
        self: &Arc<Self>,
        base: ObjectId,
        render: &crate::render::RenderOptions,
        plan: &mut pipeline::SetPlan,
    ) {
        let this = self.clone();
        let render = render.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            let snapshot = tree::read(this.git.repo_dir(), base, &this.path, &this.limits)
                .map_err(|e| e.to_string())?;
            crate::render::render(&snapshot, &render)
                .map_err(|failure| this.git.scrub(&failure.to_string()))
        })
        .await;
        match rendered {
            Ok(Ok(base_manifests)) => crate::ssa::classify(
                &mut plan.planned.plan,
                &plan.manifests,
                &base_manifests,
                &self.cluster.default_namespace,
            ),
            Ok(Err(message)) => tracing::info!(
                base = %base,
                error = %message,
                "cannot render the last applied revision; applying the new commit whole"
            ),
            Err(join) => {
                tracing::info!(base = %base, error = %join, "rendering the last applied revision")
            }
        }
    }

    /// Fetches on a blocking thread, bounded by the fetch timeout.
    async fn fetch(self: &Arc<Self>) -> Result<Fetched, CycleError> {
        let interrupt = Arc::new(crate::source::git::Interrupt::default());
        let this = self.clone();
        let flag = interrupt.clone();
        let task = tokio::task::spawn_blocking(move || this.git.fetch(&flag));
        match tokio::time::timeout(self.fetch_timeout, task).await {
            Ok(Ok(result)) => result.map_err(|e| fail(Stage::Fetch, e)),
            Ok(Err(join)) => Err(fail(Stage::Fetch, join)),
            Err(_) => {
                interrupt.trigger();
                Err(fail(
                    Stage::Fetch,
                    format!(
                        "fetching {} timed out after {}",
                        self.git.display_url(),
                        humantime::format_duration(self.fetch_timeout)
                    ),
                ))
            }
        }
    }
}

/// The first few failures, and how many more there are.
fn summarize(failures: &[String]) -> String {
    let shown: Vec<&str> = failures.iter().take(5).map(String::as_str).collect();
    let more = failures.len().saturating_sub(5);
    if more > 0 {
        format!("{} (and {more} more)", shown.join("; "))
    } else {
        shown.join("; ")
    }
}

fn fail(stage: Stage, message: impl std::fmt::Display) -> CycleError {
    CycleError {
        stage,
        message: message.to_string(),
    }
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    /// Objects written (created, updated or pruned).
    pub fn writes(&self) -> usize {
        self.created.len() + self.updated.len() + self.pruned.len()
    }
}
