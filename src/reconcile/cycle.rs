//! One reconcile: fetch -> read the commit under PATH -> render -> plan (forced: git wins)
//! -> apply -> prune, through the same pipeline functions `kubectl gitops apply` uses, with its
//! safety rules: nothing is pruned when anything failed, an empty render is refused unless
//! allowed, protected kinds are kept.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gix::ObjectId;

use super::drift::WatchKey;
use super::git::{Fetched, GitSource};
use super::tree;
use crate::cluster::Cluster;
use crate::inventory::ApplySet;
use crate::object::ObjectRef;
use crate::pipeline::{self, ExecuteOptions, PipelineError, PlanSettings};
use crate::source::Limits;
use crate::ssa::Action;

/// Which revision a cycle works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Fetch, then the commit the ref points to.
    Latest,
    /// A commit already fetched (drift corrections work on what is deployed, without git).
    Revision(ObjectId),
}

/// The stage a cycle failed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Fetch,
    Source,
    Render,
    Plan,
    Apply,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Fetch => "fetch",
            Stage::Source => "source",
            Stage::Render => "render",
            Stage::Plan => "plan",
            Stage::Apply => "apply",
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
    pub created: Vec<ObjectRef>,
    pub updated: Vec<ObjectRef>,
    pub pruned: Vec<ObjectRef>,
    pub unchanged: usize,
    /// Objects the render asks for (the set's size once applied).
    pub managed: usize,
    /// What to watch for drift: every desired or kept object's resource and namespace.
    pub watch: BTreeSet<WatchKey>,
    pub error: Option<CycleError>,
    pub duration: Duration,
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
    pub limits: Limits,
    /// Where revisions are written out for kustomize.
    pub scratch: PathBuf,
    pub fetch_timeout: Duration,
}

impl Reconciler {
    pub async fn run(self: &Arc<Self>, target: Target) -> Outcome {
        let started = Instant::now();
        let mut outcome = Outcome::default();
        if let Err(error) = self.cycle(target, &mut outcome).await {
            outcome.error = Some(error);
        }
        outcome.duration = started.elapsed();
        outcome
    }

    async fn cycle(
        self: &Arc<Self>,
        target: Target,
        outcome: &mut Outcome,
    ) -> Result<(), CycleError> {
        let commit = match target {
            Target::Revision(commit) => commit,
            Target::Latest => self.fetch().await?.commit,
        };
        outcome.revision = Some(commit);

        let this = self.clone();
        let read = tokio::task::spawn_blocking(move || {
            let repo = this.git.open().map_err(|e| e.0)?;
            tree::read(&repo, commit, &this.path, &this.limits, &this.scratch)
                .map_err(|e| this.git.scrub(&e.to_string()))
        })
        .await
        .map_err(|e| fail(Stage::Source, e))?;
        let revision = read.map_err(|message| CycleError {
            stage: Stage::Source,
            message,
        })?;

        let planned =
            pipeline::plan_snapshot(&self.cluster, &revision.snapshot, &self.set, &self.settings)
                .await;
        drop(revision);
        let plan = match planned {
            Ok(plan) => plan,
            Err(PipelineError::Render(failure)) => return Err(fail(Stage::Render, failure)),
            Err(PipelineError::Cluster(err)) => return Err(fail(Stage::Plan, format!("{err:#}"))),
        };
        pipeline::refuse_empty(&plan.manifests, &plan.planned.plan, self.allow_empty).map_err(|e| {
            fail(
                Stage::Plan,
                format!("{e}; refusing to apply it (start the reconciler with --allow-empty if that is intended)"),
            )
        })?;

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
        }
        let summary = plan.planned.plan.summary();
        outcome.unchanged = summary.unchanged;
        outcome.executed = true;

        let mut failures: Vec<String> = plan
            .planned
            .plan
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.object, e.message))
            .collect();
        if summary.has_changes() {
            let execution = pipeline::execute(
                &self.cluster,
                &plan.set,
                &plan.inventory,
                &plan.planned,
                &ExecuteOptions {
                    force_conflicts: true,
                },
                &|_| {},
            )
            .await
            .map_err(|e| fail(Stage::Apply, format!("{e:#}")))?;
            for result in &execution.results {
                match (&result.error, result.action) {
                    (Some(error), _) => failures.push(format!("{}: {error}", result.object)),
                    (None, Action::Create) => outcome.created.push(result.object.clone()),
                    (None, Action::Update) => outcome.updated.push(result.object.clone()),
                    (None, Action::Prune) => outcome.pruned.push(result.object.clone()),
                    (None, Action::Unchanged) => {}
                }
            }
            if execution.prunes_skipped > 0 {
                failures.push(format!(
                    "{} prunes skipped because something failed",
                    execution.prunes_skipped
                ));
            }
        }
        if !failures.is_empty() {
            let count = failures.len();
            let shown: Vec<&str> = failures.iter().take(5).map(String::as_str).collect();
            let more = if count > 5 {
                format!(" (and {} more)", count - 5)
            } else {
                String::new()
            };
            return Err(fail(Stage::Apply, format!("{}{more}", shown.join("; "))));
        }
        Ok(())
    }

    /// Fetches on a blocking thread, bounded by the fetch timeout.
    async fn fetch(self: &Arc<Self>) -> Result<Fetched, CycleError> {
        let interrupt = Arc::new(AtomicBool::new(false));
        let this = self.clone();
        let flag = interrupt.clone();
        let task = tokio::task::spawn_blocking(move || this.git.fetch(&flag));
        match tokio::time::timeout(self.fetch_timeout, task).await {
            Ok(Ok(result)) => result.map_err(|e| fail(Stage::Fetch, e)),
            Ok(Err(join)) => Err(fail(Stage::Fetch, join)),
            Err(_) => {
                interrupt.store(true, Ordering::Relaxed);
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
