//! One GitSync's reconcile: decide whether it is due, check its spec and dependencies, act as
//! its ServiceAccount, take the commit from the shared git cache, and run the reconciler's
//! cycle (`runtime::cycle`, the pipeline `kubectl gitops apply` runs) against the ApplySet
//! `kubectl gitops diff -n TARGET` resolves for the same repository, path and namespace. The
//! verdict goes to the GitSync's status, Events and metrics; the return value says when to
//! come back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::access;
use super::crd::{Counts, DeletionPolicy, FINALIZER, GitSync, GitSyncStatus, InventoryRef};
use super::drift::{SharedWatches, Woken};
use super::events::Recorder;
use super::metrics::ControllerMetrics;
use super::sources::{SourceKey, Sources};
use super::spec::{self, Refusal};
use super::status::{self, Due, Reason, Verdict};
use crate::cluster::Cluster;
use crate::inventory::{ApplySet, identity};
use crate::pipeline::{self, ExecuteOptions, Scope};
use crate::render::RenderOptions;
use crate::runtime::cycle::{Cycle, Outcome, Stage};
use crate::runtime::events::{hooks_ran, object_list};
use crate::runtime::{Backoff, DriftMode};
use crate::source::git::Credentials;
use crate::source::redact;

/// The field manager of the GitSync status the controller writes.
pub const STATUS_MANAGER: &str = "kubectl-gitops-controller";

/// How the controller treats every sync.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The ServiceAccount (in the sync's namespace) a sync naming none acts as; None refuses
    /// such syncs.
    pub default_service_account: Option<String>,
    /// How soon a sync waiting for a dependency looks again (a dependency turning Ready also
    /// wakes it at once).
    pub dependency_retry: Duration,
    /// Retry delays after failures.
    pub backoff: Backoff,
    pub fetch_timeout: Duration,
}

/// What every reconcile shares.
pub struct Context {
    /// The controller's own connection: status, Events, finalizers.
    pub cluster: Cluster,
    pub sources: Sources,
    pub settings: Settings,
    pub render: RenderOptions,
    /// Every GitSync the controller sees, for `dependsOn`.
    pub store: Store<GitSync>,
    pub recorder: Recorder,
    pub metrics: Arc<ControllerMetrics>,
    /// Drift watches shared by the syncs (None: drift is corrected at the interval only).
    pub drift: Option<Arc<SharedWatches>>,
    /// One impersonating client (and so one connection pool) per account, whatever number
    /// of syncs and target namespaces it serves.
    tenants: Mutex<HashMap<String, Cluster>>,
}

impl Context {
    pub fn new(
        cluster: Cluster,
        sources: Sources,
        settings: Settings,
        render: RenderOptions,
        store: Store<GitSync>,
        recorder: Recorder,
        metrics: Arc<ControllerMetrics>,
        drift: Option<Arc<SharedWatches>>,
    ) -> Self {
        Context {
            cluster,
            sources,
            settings,
            render,
            store,
            recorder,
            metrics,
            drift,
            tenants: Mutex::default(),
        }
    }

    /// The connection acting as `user` with namespace-less objects going to `namespace`.
    fn tenant(&self, user: &str, namespace: &str) -> anyhow::Result<Cluster> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let mut cluster = match tenants.get(user) {
            Some(cluster) => cluster.clone(),
            None => {
                let cluster = self.cluster.impersonating(user, namespace)?;
                tenants.insert(user.to_string(), cluster.clone());
                cluster
            }
        };
        cluster.default_namespace = namespace.to_string();
        Ok(cluster)
    }

    /// Claims the set `resolved` names for `sync`; Err names the sync that holds it. Two syncs
    /// of one repository, path and target namespace (another ref, another tenant) would take
    /// turns applying their revisions and pruning each other's objects, so one holds the set:
    /// of the syncs resolving to it (and not being deleted) whose ServiceAccount may write its
    /// parent in its namespace, the one created first (then by namespace and name). It is
    /// decided from the GitSyncs alone, so a restart decides the same; and a sync naming a
    /// namespace its account may not write never takes a set from one that may.
    async fn claim(&self, sync: &GitSync, resolved: &Resolved) -> Result<(), String> {
        let me = sync.key();
        let default = self.settings.default_service_account.as_deref();
        let same_set = |r: &Resolved| {
            r.set.name == resolved.set.name && r.set.namespace == resolved.set.namespace
        };
        let mut contenders: Vec<(Option<Timestamp>, String, Resolved)> = self
            .store
            .state()
            .iter()
            .filter(|other| other.key() != me && other.metadata.deletion_timestamp.is_none())
            .filter_map(|other| {
                let theirs = resolve(other, default).ok().filter(same_set)?;
                let created = other.metadata.creation_timestamp.as_ref().map(|t| t.0);
                Some((created, other.key(), theirs))
            })
            .collect();
        if contenders.is_empty() {
            // Uncontested: the server's RBAC decides when the sync applies.
            return Ok(());
        }
        let created = sync.metadata.creation_timestamp.as_ref().map(|t| t.0);
        contenders.push((created, me.clone(), resolved.clone()));
        contenders.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let namespace = &resolved.set.namespace;
        for (_, key, contender) in &contenders {
            let Ok(tenant) = self.tenant(&contender.user, namespace) else {
                continue;
            };
            if access::may(&tenant, access::write_parent(namespace)).await {
                return if *key == me { Ok(()) } else { Err(key.clone()) };
            }
        }
        // No contender's account may write there: whoever tries is refused by the server.
        Ok(())
    }
}

/// What can stop a reconcile from recording its verdict; retried by the error policy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The status subresource could not be written.
    #[error(
        "writing the status of {sync}: {}",
        crate::cluster::describe_unnamed(source)
    )]
    Status { sync: String, source: kube::Error },
    /// The finalizer could not be added or removed.
    #[error(
        "updating the finalizer of {sync}: {}",
        crate::cluster::describe_unnamed(source)
    )]
    Finalizer { sync: String, source: kube::Error },
}

/// The Controller's error policy: try again shortly.
pub fn error_policy(sync: Arc<GitSync>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(sync = %sync.key(), error = %error, "reconcile could not finish; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// A sync's spec, checked: what its reconcile needs.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The fields every runner of a sync checks alike.
    pub checked: spec::Checked,
    /// `system:serviceaccount:NS:NAME`.
    pub user: String,
    pub set: ApplySet,
}

/// Checks the spec; `default_service_account` is the controller's `--default-service-account`.
pub fn resolve(sync: &GitSync, default_service_account: Option<&str>) -> Result<Resolved, Refusal> {
    let spec = &sync.spec;
    let namespace = sync.namespace().unwrap_or_default();
    let checked = spec::check(spec, &namespace)?;
    if crate::scrub::strip_userinfo(&spec.repository.url) != spec.repository.url {
        return Err((
            "InvalidSpec",
            format!(
                "spec.repository.url {} carries credentials, readable by anyone who may read \
                 GitSyncs: put the token in a Secret and name it in spec.repository.secretRef",
                crate::scrub::url(&spec.repository.url)
            ),
        ));
    }
    let account = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(default_service_account)
        .ok_or_else(|| {
            (
                "NoServiceAccount",
                "spec.serviceAccountName is not set and the controller has no \
                 --default-service-account: a sync acts with the rights of a ServiceAccount \
                 of its namespace, never the controller's own"
                    .to_string(),
            )
        })?;
    let set = identity::for_remote(
        &spec.repository.url,
        &checked.path.to_string_lossy(),
        &checked.target_namespace,
        None,
        None,
    );
    Ok(Resolved {
        user: format!("system:serviceaccount:{namespace}:{account}"),
        set,
        checked,
    })
}

/// The Controller's reconcile.
pub async fn reconcile(sync: Arc<GitSync>, ctx: Arc<Context>) -> Result<Action, Error> {
    if sync.metadata.deletion_timestamp.is_some() {
        return finalize(&sync, &ctx).await;
    }
    let wants_finalizer = sync.spec.deletion_policy == DeletionPolicy::Delete;
    let has_finalizer = sync.finalizers().iter().any(|f| f == FINALIZER);
    if wants_finalizer != has_finalizer {
        // The update wakes this sync again with the new metadata.
        set_finalizer(&sync, &ctx, wants_finalizer).await?;
        return Ok(Action::await_change());
    }
    if sync.spec.suspend {
        return Ok(Action::await_change());
    }
    let now = Timestamp::now();
    let stalled = sync
        .condition(status::STALLED)
        .is_some_and(|c| c.observed_generation == sync.metadata.generation);
    let resolved = resolve(&sync, ctx.settings.default_service_account.as_deref());
    let interval = resolved
        .as_ref()
        .map(|r| r.checked.interval)
        .unwrap_or(Duration::from_secs(300));
    let retry = retry_delay(&sync, &ctx.settings);
    let waiting = sync
        .condition(status::READY)
        .is_some_and(|c| c.reason == "DependencyNotReady");
    // After a restart, drift is watched from the first sight of a sync, not from its next due
    // cycle: what it last applied is watched until a cycle says otherwise.
    if let (Some(drift), Ok(resolved)) = (&ctx.drift, &resolved)
        && last_applied_commit(&sync).is_some()
        && drift.first_sight(&sync.key())
        && let Ok(tenant) = ctx.tenant(&resolved.user, &resolved.checked.target_namespace)
    {
        super::rewatch::resume(drift, &sync, &tenant, resolved).await;
    }
    let woken = ctx.drift.as_ref().and_then(|d| d.take_drifted(&sync.key()));
    let drifted = woken.is_some();
    // Another sync of the same cache fetched a commit this one has not applied.
    let news = ctx
        .sources
        .take_news(&sync.key())
        .is_some_and(|commit| Some(commit) != last_applied_commit(&sync));
    let due = match status::due(&sync, interval, retry, now) {
        Due::In(_) if drifted && last_applied_commit(&sync).is_some() => Due::Now(Reason::Drift),
        Due::In(_) if news => Due::Now(Reason::Interval),
        // Woken by a dependency that changed: go as soon as all of them are Ready.
        Due::In(_) if waiting && unready_dependencies(&sync, &ctx.store).is_empty() => {
            Due::Now(Reason::Changed)
        }
        due => due,
    };
    let reason = match due {
        Due::In(left) => return Ok(Action::requeue(left)),
        // A stalled spec waits for a change (or a request); our own status write is neither.
        Due::Now(Reason::Interval) if stalled => return Ok(Action::await_change()),
        Due::Now(reason) => reason,
    };
    let started = Instant::now();
    let (verdict, outcome) = match resolved {
        Err((reason, message)) => (Verdict::Stalled { reason, message }, None),
        Ok(resolved) => match ctx.claim(&sync, &resolved).await {
            Ok(()) => run(&sync, &ctx, &resolved, reason, woken).await,
            Err(owner) => (
                Verdict::Failed {
                    revision: None,
                    reason: "ApplySetInUse",
                    message: format!(
                        "GitSync {owner} already syncs {} to namespace {} (ApplySet {}): two \
                         syncs of one set would undo each other; change the path or \
                         targetNamespace, or delete one",
                        crate::scrub::url(&sync.spec.repository.url),
                        resolved.checked.target_namespace,
                        resolved.set.name
                    ),
                },
                None,
            ),
        },
    };
    record(&sync, &ctx, &verdict, outcome.as_ref(), started.elapsed()).await?;
    Ok(match &verdict {
        Verdict::Applied { .. } => Action::requeue(interval),
        Verdict::Waiting { .. } => Action::requeue(ctx.settings.dependency_retry),
        Verdict::Failed { .. } => {
            let failures = sync
                .status
                .as_ref()
                .map_or(0, |s| s.consecutive_failures)
                .saturating_add(1);
            Action::requeue(
                ctx.settings
                    .backoff
                    .delay(u32::try_from(failures).unwrap_or(u32::MAX)),
            )
        }
        Verdict::Stalled { .. } => Action::await_change(),
    })
}

/// How long after a failed or waiting attempt the next one is due.
fn retry_delay(sync: &GitSync, settings: &Settings) -> Duration {
    let waiting = sync
        .condition(status::READY)
        .is_some_and(|c| c.reason == "DependencyNotReady");
    if waiting {
        return settings.dependency_retry;
    }
    let failures = sync.status.as_ref().map_or(0, |s| s.consecutive_failures);
    settings
        .backoff
        .delay(u32::try_from(failures.max(1)).unwrap_or(u32::MAX))
}

/// The commit of `status.lastAppliedRevision` (`REF@sha1:COMMIT`).
fn last_applied_commit(sync: &GitSync) -> Option<gix::ObjectId> {
    let revision = sync.status.as_ref()?.last_applied_revision.as_deref()?;
    let (_, hex) = revision.rsplit_once("@sha1:")?;
    gix::ObjectId::from_hex(hex.as_bytes()).ok()
}

/// The dependencies that are not Ready, named `namespace/name`.
fn unready_dependencies(sync: &GitSync, store: &Store<GitSync>) -> Vec<String> {
    let own = sync.namespace().unwrap_or_default();
    sync.spec
        .depends_on
        .iter()
        .filter_map(|dep| {
            let namespace = dep.namespace.clone().unwrap_or_else(|| own.clone());
            let reference = kube::runtime::reflector::ObjectRef::new(&dep.name).within(&namespace);
            let ready = store.get(&reference).is_some_and(|d| d.is_ready());
            (!ready).then(|| format!("{namespace}/{}", dep.name))
        })
        .collect()
}

/// The dependencies (`namespace/name`) in other namespaces whose GitSyncs the sync's account,
/// which `tenant` acts as, may not read.
async fn forbidden_dependencies(sync: &GitSync, tenant: &Cluster) -> Vec<String> {
    let own = sync.namespace().unwrap_or_default();
    let mut forbidden = Vec::new();
    for dep in &sync.spec.depends_on {
        let namespace = dep
            .namespace
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(&own);
        if namespace != own && !access::may(tenant, access::read_syncs(namespace)).await {
            forbidden.push(format!("{namespace}/{}", dep.name));
        }
    }
    forbidden
}

/// The pipeline for one sync.
async fn run(
    sync: &GitSync,
    ctx: &Context,
    resolved: &Resolved,
    reason: Reason,
    woken: Option<Woken>,
) -> (Verdict, Option<Outcome>) {
    let failed =
        |reason: &'static str, message: String, revision: Option<String>| Verdict::Failed {
            reason,
            message: redact::truncate(&crate::scrub::text(&message), 4096),
            revision,
        };
    let cluster = match ctx.tenant(&resolved.user, &resolved.checked.target_namespace) {
        Ok(cluster) => cluster,
        Err(err) => {
            return (
                failed(
                    "ImpersonationFailed",
                    crate::cluster::refusal::one_line(&err),
                    None,
                ),
                None,
            );
        }
    };
    let forbidden = forbidden_dependencies(sync, &cluster).await;
    if !forbidden.is_empty() {
        // Said alike whether each exists or not: the account may not know.
        let message = format!(
            "spec.dependsOn names {}, in a namespace where {} may not get GitSyncs: grant it \
             `get` on gitsyncs.gitops.kubectl-gitops.io there, or depend on syncs of its own \
             namespace",
            forbidden.join(", "),
            resolved.user
        );
        return (failed("DependencyForbidden", message, None), None);
    }
    let waiting = unready_dependencies(sync, &ctx.store);
    if !waiting.is_empty() {
        return (
            Verdict::Waiting {
                message: format!(
                    "waiting for {} to be Ready: {}",
                    if waiting.len() == 1 {
                        "a dependency"
                    } else {
                        "dependencies"
                    },
                    waiting.join(", ")
                ),
            },
            None,
        );
    }
    if let Err(message) = ctx.sources.admit(&sync.spec.repository.url) {
        return (failed("SourceRefused", message, None), None);
    }
    let spec = &sync.spec;
    let namespace = sync.namespace().unwrap_or_default();
    let credentials = match &spec.repository.secret_ref {
        None => None,
        Some(secret) => match read_credentials(&cluster, &namespace, &secret.name).await {
            Ok(credentials) => Some(credentials),
            Err(message) => return (failed("CredentialsFailed", message, None), None),
        },
    };
    let key = SourceKey {
        url: spec.repository.url.clone(),
        reference: spec.repository.reference.clone(),
        credentials: spec
            .repository
            .secret_ref
            .as_ref()
            .map(|s| format!("{namespace}/{}", s.name)),
    };
    let source = match ctx.sources.get(&key, credentials) {
        Ok(source) => source,
        Err(message) => return (failed("FetchFailed", message, None), None),
    };
    ctx.sources.follow(&key, sync);
    // A request (`kubectl gitops sync`, `resume`) always fetches afresh, whatever else made
    // the sync due.
    let requested = reason == Reason::Requested
        || sync.annotations_requested_at()
            != sync
                .status
                .as_ref()
                .and_then(|s| s.last_handled_reconcile_at.as_deref());
    // Drift is put back at the revision last applied: a newer commit that failed never
    // replaces the last good state that way.
    let commit = match last_applied_commit(sync).filter(|_| reason == Reason::Drift) {
        // The first correction after a restart: the cache may not hold the commit yet.
        Some(commit) if !ctx.sources.fetched(&source).await => {
            let fetched = ctx
                .sources
                .fetch(&source, resolved.checked.interval, None, &sync.key())
                .await;
            ctx.metrics.set_fetches(ctx.sources.fetches());
            if let Err(message) = fetched {
                return (failed("FetchFailed", message, None), None);
            }
            commit
        }
        Some(commit) => commit,
        None => {
            let not_before = requested.then(Instant::now);
            let fetched = ctx
                .sources
                .fetch(&source, resolved.checked.interval, not_before, &sync.key())
                .await;
            ctx.metrics.set_fetches(ctx.sources.fetches());
            match fetched {
                Ok(fetched) => fetched.commit,
                Err(message) => return (failed("FetchFailed", message, None), None),
            }
        }
    };
    let revision = status::revision(&spec.repository.reference, &commit.to_string());
    let reconciler = Arc::new(spec::reconciler(
        spec,
        &resolved.checked,
        &ctx.render,
        spec::Target {
            cluster,
            git: source.git.clone(),
            set: resolved.set.clone(),
            fetch_timeout: ctx.settings.fetch_timeout,
            applied: last_applied_commit(sync),
        },
    ));
    let cycle = match (reason, woken) {
        // Only what changed is re-planned (and nothing pruned), as `kubectl gitops reconcile`
        // does: a correction then takes as long in a sync of ten thousand objects as in one of
        // ten. With drift: Report the revision is re-planned whole, so the list of what
        // differs from git stays whole too.
        (Reason::Drift, Some(Woken::Objects(objects)))
            if !objects.is_empty() && spec::drift_mode(spec) == DriftMode::Heal =>
        {
            Cycle::Objects(commit, objects)
        }
        (Reason::Drift, _) => Cycle::Revision(commit),
        _ => Cycle::Fetched(commit),
    };
    let outcome = reconciler.run(cycle).await;
    if let Some(drift) = &ctx.drift
        && outcome.executed
        && !outcome.partial
    {
        let client = reconciler.cluster.client.clone();
        let namespaces = outcome
            .watch
            .iter()
            .filter_map(|k| k.namespace.clone())
            .chain([resolved.checked.target_namespace.clone()])
            .collect();
        let keys = drift
            .widen(&resolved.user, &client, outcome.watch.clone())
            .await;
        drift.want(
            sync,
            &resolved.user,
            client,
            resolved.set.id(),
            keys,
            namespaces,
        );
    }
    let verdict = match &outcome.error {
        None => Verdict::Applied {
            revision,
            counts: Counts {
                // A partial cycle planned some members only: the set is as large as before.
                managed: if outcome.partial {
                    sync.status
                        .as_ref()
                        .and_then(|s| s.counts.as_ref())
                        .map_or(0, |c| c.managed)
                } else {
                    outcome.managed as i64
                },
                created: outcome.created.len() as i64,
                updated: outcome.updated.len() as i64,
                pruned: outcome.pruned.len() as i64,
                unchanged: outcome.unchanged as i64,
                drifted: outcome.drifted.len() as i64,
            },
        },
        Some(error) => failed(
            match error.stage {
                Stage::Fetch => "FetchFailed",
                Stage::Source => "SourceFailed",
                Stage::Render => "RenderFailed",
                Stage::Plan => "PlanFailed",
                Stage::Apply => "ApplyFailed",
                Stage::Prune => "PruneLimitExceeded",
            },
            error.to_string(),
            Some(revision),
        ),
    };
    (verdict, Some(outcome))
}

/// The token (and user name) in the sync's own namespace, read with the sync's own rights.
async fn read_credentials(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
) -> Result<Credentials, String> {
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), namespace);
    let secret = secrets.get(name).await.map_err(|e| {
        format!(
            "reading the credentials Secret {namespace}/{name}: {}",
            crate::cluster::describe_unnamed(&e)
        )
    })?;
    let data = secret.data.unwrap_or_default();
    let text = |key: &str| {
        data.get(key)
            .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let token = text("token")
        .ok_or_else(|| format!("the credentials Secret {namespace}/{name} has no key `token`"))?;
    crate::scrub::learn_credential(&token);
    Ok(Credentials {
        username: text("username").unwrap_or_else(|| "x-access-token".into()),
        token,
    })
}

/// Writes the status, Events and metrics of a finished reconcile.
async fn record(
    sync: &GitSync,
    ctx: &Context,
    verdict: &Verdict,
    outcome: Option<&Outcome>,
    took: Duration,
) -> Result<(), Error> {
    let now = status::now();
    let mut next = status::next(sync, verdict, &now);
    // A sync refused the set does not name it: `kubectl gitops status` shows the holder.
    let refused_set =
        matches!(verdict, Verdict::Failed { reason, .. } if *reason == "ApplySetInUse");
    if let Ok(resolved) = resolve(sync, ctx.settings.default_service_account.as_deref())
        && !refused_set
    {
        next.inventory = Some(InventoryRef {
            name: resolved.set.name.clone(),
            namespace: resolved.set.namespace.clone(),
            id: resolved.set.id(),
        });
    }
    write_status(sync, ctx, &next).await?;
    let key = sync.key();
    let stage = match verdict {
        Verdict::Failed { reason, .. } => Some(*reason),
        Verdict::Stalled { reason, .. } => Some(*reason),
        _ => None,
    };
    ctx.metrics.observe(
        &key,
        matches!(verdict, Verdict::Applied { .. }),
        took.as_secs_f64(),
        stage,
    );
    let previous_error = sync.status.as_ref().and_then(|s| s.last_error.clone());
    let previously_applied = sync
        .status
        .as_ref()
        .and_then(|s| s.last_applied_revision.clone());
    match verdict {
        Verdict::Applied { revision, .. } => {
            let outcome = outcome.cloned().unwrap_or_default();
            if outcome.writes() > 0 {
                let drift = previously_applied.as_deref() == Some(revision.as_str());
                let (reason, verb) = if drift {
                    ("DriftCorrected", "Put back objects changed outside git at")
                } else {
                    ("Applied", "Applied")
                };
                let message = format!(
                    "{verb} {revision}: {} created, {} updated, {} pruned ({}){}",
                    outcome.created.len(),
                    outcome.updated.len(),
                    outcome.pruned.len(),
                    object_list(
                        outcome
                            .created
                            .iter()
                            .chain(&outcome.updated)
                            .chain(&outcome.pruned)
                    ),
                    hooks_ran(&outcome.hooks)
                );
                tracing::info!(sync = %key, %revision, writes = outcome.writes(), "{reason}");
                publish(ctx, sync, EventType::Normal, reason, &message).await;
            }
        }
        Verdict::Failed { message, .. } | Verdict::Stalled { message, .. } => {
            tracing::warn!(sync = %key, error = %message, "reconcile failed");
            // One Event per distinct failure, not one per retry.
            if previous_error.as_deref() != Some(message.as_str()) {
                let reason = match verdict {
                    Verdict::Stalled { reason, .. } => reason,
                    _ => "ReconcileFailed",
                };
                let text = match verdict {
                    Verdict::Stalled { .. } => message.clone(),
                    _ => format!("{message} (the last good state is kept; nothing was pruned)"),
                };
                publish(ctx, sync, EventType::Warning, reason, &text).await;
            }
        }
        Verdict::Waiting { message } => {
            tracing::info!(sync = %key, "{message}");
        }
    }
    Ok(())
}

async fn publish(ctx: &Context, sync: &GitSync, type_: EventType, reason: &str, message: &str) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(redact::truncate(&crate::scrub::text(message), 1024)),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&event, &sync.object_ref(&())).await {
        tracing::warn!(sync = %sync.key(), reason, error = %crate::cluster::describe_unnamed(&err), "could not record an Event");
    }
}

/// Server-side applies the whole status: fields the controller no longer sets disappear.
async fn write_status(sync: &GitSync, ctx: &Context, status: &GitSyncStatus) -> Result<(), Error> {
    let api: Api<GitSync> = Api::namespaced(
        ctx.cluster.client.clone(),
        &sync.namespace().unwrap_or_default(),
    );
    let body = json!({
        "apiVersion": GitSync::api_version(&()),
        "kind": GitSync::kind(&()),
        "status": status,
    });
    api.patch_status(
        &sync.name_any(),
        &PatchParams::apply(STATUS_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
    .map_err(|source| Error::Status {
        sync: sync.key(),
        source,
    })
}

async fn set_finalizer(sync: &GitSync, ctx: &Context, present: bool) -> Result<(), Error> {
    let mut finalizers: Vec<String> = sync
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    if present {
        finalizers.push(FINALIZER.to_string());
    }
    let api: Api<GitSync> = Api::namespaced(
        ctx.cluster.client.clone(),
        &sync.namespace().unwrap_or_default(),
    );
    // The resourceVersion makes this a compare-and-swap: another finalizer added meanwhile is
    // never dropped.
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": sync.resource_version(),
    }});
    match api
        .patch(
            &sync.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Gone already: nothing to hold.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(Error::Finalizer {
            sync: sync.key(),
            source,
        }),
    }
}

/// A GitSync being deleted. With `deletionPolicy: Delete` every member of its ApplySet is
/// pruned (as the sync's ServiceAccount, protected kinds kept unless `pruneProtected`), then
/// its parent; the finalizer goes only once that succeeded. `Orphan` syncs hold no finalizer
/// and leave everything in place.
async fn finalize(sync: &GitSync, ctx: &Context) -> Result<Action, Error> {
    ctx.metrics.forget(&sync.key());
    if !sync.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    match prune_all(sync, ctx).await {
        Ok(pruned) => {
            tracing::info!(sync = %sync.key(), pruned, "deleted with its objects");
            set_finalizer(sync, ctx, false).await?;
            Ok(Action::await_change())
        }
        Err(message) => {
            let message = redact::truncate(&crate::scrub::text(&message), 4096);
            tracing::warn!(sync = %sync.key(), error = %message, "pruning on delete failed");
            publish(
                ctx,
                sync,
                EventType::Warning,
                "PruneOnDeleteFailed",
                &message,
            )
            .await;
            Ok(Action::requeue(ctx.settings.backoff.delay(3)))
        }
    }
}

/// Prunes every member of the sync's set and deletes the parent; returns how many were pruned.
async fn prune_all(sync: &GitSync, ctx: &Context) -> Result<usize, String> {
    let resolved = resolve(sync, ctx.settings.default_service_account.as_deref())
        .map_err(|(_, message)| format!("cannot prune on delete: {message}"))?;
    let cluster = ctx
        .tenant(&resolved.user, &resolved.checked.target_namespace)
        .map_err(|e| crate::cluster::refusal::one_line(&e))?;
    let mut settings =
        spec::plan_settings(&sync.spec, &ctx.render, &resolved.checked.target_namespace);
    settings.keep_unrendered = false;
    let plan = pipeline::plan(
        &cluster,
        Vec::new(),
        &resolved.set,
        &Scope::Whole,
        &settings,
    )
    .await
    .map_err(|e| {
        format!(
            "planning the prune of {}: {}",
            resolved.set.name,
            crate::cluster::refusal::one_line(&e)
        )
    })?;
    let execution = pipeline::execute(
        &cluster,
        &plan.set,
        &plan.inventory,
        &plan.planned,
        &ExecuteOptions::default(),
        &|_| {},
    )
    .await
    .map_err(|e| crate::cluster::refusal::one_line(&e))?;
    let errors: Vec<String> = execution
        .results
        .iter()
        .filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.object)))
        .collect();
    if !errors.is_empty() || !execution.succeeded() {
        return Err(format!("pruning on delete failed: {}", errors.join("; ")));
    }
    if plan.planned.plan.kept.is_empty() {
        let parents: Api<Secret> = Api::namespaced(cluster.client.clone(), &resolved.set.namespace);
        match parents
            .delete(&resolved.set.name, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => {
                return Err(format!(
                    "deleting the ApplySet parent Secret {}/{}: {}",
                    resolved.set.namespace,
                    resolved.set.name,
                    crate::cluster::describe_unnamed(&e)
                ));
            }
        }
    }
    Ok(execution.count(crate::ssa::Action::Prune))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::crd::GitSyncSpec;

    fn sync(spec: GitSyncSpec) -> GitSync {
        let mut sync = GitSync::new("apps", spec);
        sync.metadata.namespace = Some("team-a".into());
        sync
    }

    fn spec() -> GitSyncSpec {
        GitSyncSpec {
            service_account_name: Some("deployer".into()),
            ..spec::tests::spec()
        }
    }

    #[test]
    fn a_sync_resolves_the_applyset_diff_resolves_and_acts_as_its_service_account() {
        let resolved = resolve(&sync(spec()), None).unwrap();
        assert_eq!(resolved.user, "system:serviceaccount:team-a:deployer");
        assert_eq!(resolved.checked.target_namespace, "team-a");
        let expected = identity::for_remote(
            "git://git.example.com/platform.git",
            "deploy",
            "team-a",
            None,
            None,
        );
        assert_eq!(resolved.set.name, expected.name);
        assert_eq!(resolved.set.namespace, "team-a");
    }

    #[test]
    fn a_sync_without_a_service_account_is_refused_unless_there_is_a_default() {
        let mut spec = spec();
        spec.service_account_name = None;
        let (reason, message) = resolve(&sync(spec.clone()), None).unwrap_err();
        assert_eq!(reason, "NoServiceAccount");
        assert!(message.contains("--default-service-account"), "{message}");
        let resolved = resolve(&sync(spec), Some("gitops")).unwrap();
        assert_eq!(resolved.user, "system:serviceaccount:team-a:gitops");
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_being_quoted() {
        let mut credentials = spec();
        credentials.repository.url = "https://user:hunter2@git.example.com/p.git".into();
        let (reason, message) = resolve(&sync(credentials), None).unwrap_err();
        assert_eq!(reason, "InvalidSpec");
        assert!(message.contains("spec.repository.url"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn a_bad_field_stalls_the_sync_by_name() {
        let mut bad_interval = spec();
        bad_interval.interval = "soon".into();
        let (reason, message) = resolve(&sync(bad_interval), None).unwrap_err();
        assert_eq!(reason, "InvalidSpec");
        assert!(message.contains("spec.interval"), "{message}");
    }
}
