//! One GitSync's reconcile: decide whether it is due, resolve its spec, claim its ApplySet,
//! run it (`run`) and record the verdict (`record`); the return value says when to come back.
//! Deletion and the finalizer are `finalize`'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::context::{Context, Holder, Settings};
use super::crd::{DeletionPolicy, FINALIZER, GitSync};
use super::dependencies;
use super::reason::Failure;
use super::resolve::{Resolved, resolve};
use super::rollout::Rollout;
use super::spec::Refusal;
use super::status::{self, Due, Reason, Verdict};
use super::{finalize, record, run};

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

/// The Controller's reconcile.
pub async fn reconcile(sync: Arc<GitSync>, ctx: Arc<Context>) -> Result<Action, Error> {
    if sync.metadata.deletion_timestamp.is_some() {
        return finalize::finalize(&sync, &ctx).await;
    }
    let wants_finalizer = sync.spec.deletion_policy == DeletionPolicy::Delete;
    let has_finalizer = sync.finalizers().iter().any(|f| f == FINALIZER);
    if wants_finalizer != has_finalizer {
        // The update wakes this sync again with the new metadata.
        finalize::set_finalizer(&sync, &ctx, wants_finalizer).await?;
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
    let waiting = sync.waiting_for_dependencies();
    // After a restart, drift is watched from the first sight of a sync, not from its next due
    // cycle: what it last applied is watched until a cycle says otherwise.
    if let (Some(drift), Ok(resolved)) = (&ctx.drift, &resolved)
        && sync.last_applied_commit().is_some()
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
        .is_some_and(|commit| Some(commit) != sync.last_applied_commit());
    let due = match status::due(&sync, interval, retry, now) {
        Due::In(_) if drifted && sync.last_applied_commit().is_some() => Due::Now(Reason::Drift),
        Due::In(_) if news => Due::Now(Reason::Interval),
        // Woken by a dependency that changed: go as soon as all of them are Ready.
        Due::In(_) if waiting && dependencies::unready(&sync, &ctx.store).is_empty() => {
            Due::Now(Reason::Changed)
        }
        due => due,
    };
    // A rollout followed for `spec.wait` is looked at again, unless a changed spec, a request
    // or a new commit asks for a whole cycle (drift is put back first, then looked at).
    if let Some(rollout) = ctx.rollouts.of(&sync) {
        match due {
            _ if news => ctx.rollouts.forget(&sync),
            Due::Now(Reason::Changed | Reason::Requested) => ctx.rollouts.forget(&sync),
            Due::Now(Reason::Drift) => {}
            Due::In(_) | Due::Now(Reason::Interval) => {
                if let Ok(resolved) = &resolved {
                    return follow(&sync, &ctx, resolved, rollout).await;
                }
            }
        }
    }
    let reason = match due {
        Due::In(left) => return Ok(Action::requeue(left)),
        // A stalled spec waits for a change (or a request); our own status write is neither.
        Due::Now(Reason::Interval) if stalled => return Ok(Action::await_change()),
        Due::Now(reason) => reason,
    };
    let started = Instant::now();
    let (verdict, outcome) = match resolved {
        Err(Refusal { reason, message }) => (Verdict::Stalled { reason, message }, None),
        Ok(resolved) => match ctx.claim(&sync, &resolved).await {
            Ok(()) => run::run(&sync, &ctx, &resolved, reason, woken).await,
            Err(Holder { sync: owner }) => (
                Verdict::Failed {
                    revision: None,
                    reason: Failure::ApplySetInUse,
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
    record::record(&sync, &ctx, &verdict, outcome.as_ref(), started.elapsed()).await?;
    Ok(next_action(&sync, &ctx, &verdict, interval))
}

/// When to come back after `verdict`.
fn next_action(sync: &GitSync, ctx: &Context, verdict: &Verdict, interval: Duration) -> Action {
    match verdict {
        Verdict::Applied { .. } => Action::requeue(interval),
        Verdict::Progressing { .. } => Action::requeue(super::rollout::LOOK_EVERY),
        Verdict::Waiting { .. } => Action::requeue(ctx.settings.dependency_retry),
        Verdict::Failed { .. } | Verdict::Unhealthy { .. } => {
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
    }
}

/// One look at the workloads of a rollout being followed; the status is written when the
/// verdict changes what it says.
async fn follow(
    sync: &GitSync,
    ctx: &Context,
    resolved: &Resolved,
    mut rollout: Rollout,
) -> Result<Action, Error> {
    let now = Instant::now();
    if rollout.next_look > now {
        return Ok(Action::requeue(rollout.next_look - now));
    }
    let started = Instant::now();
    let verdict = match ctx.tenant(&resolved.user, &resolved.checked.target_namespace) {
        Ok(tenant) => rollout.look(&tenant).await,
        Err(err) => Verdict::Failed {
            reason: Failure::ImpersonationFailed,
            message: crate::cluster::refusal::one_line(&err),
            revision: None,
        },
    };
    let said = sync.condition(status::READY).map(|c| c.message.as_str());
    match &verdict {
        Verdict::Progressing { message, .. } => {
            ctx.rollouts.follow(sync, rollout);
            if said == Some(message.as_str()) {
                return Ok(Action::requeue(super::rollout::LOOK_EVERY));
            }
        }
        _ => ctx.rollouts.forget(sync),
    }
    record::record(sync, ctx, &verdict, None, started.elapsed()).await?;
    Ok(next_action(sync, ctx, &verdict, resolved.checked.interval))
}

/// How long after a failed or waiting attempt the next one is due.
fn retry_delay(sync: &GitSync, settings: &Settings) -> Duration {
    if sync.waiting_for_dependencies() {
        return settings.dependency_retry;
    }
    let failures = sync.status.as_ref().map_or(0, |s| s.consecutive_failures);
    settings
        .backoff
        .delay(u32::try_from(failures.max(1)).unwrap_or(u32::MAX))
}
