//! Records a finished reconcile: the GitSync's status (server-side applied whole), an Event
//! per write or per distinct failure, and the sync's metrics.

use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::context::Context;
use super::crd::{GitSync, GitSyncStatus, InventoryRef};
use super::reason::{EventReason, Failure};
use super::resolve::resolve;
use super::status::{self, Verdict};
use super::sync::Error;
use crate::runtime::cycle::Outcome;
use crate::runtime::events::{hooks_ran, object_list};
use crate::source::redact;

/// The field manager of the GitSync status the controller writes.
pub const STATUS_MANAGER: &str = "kubectl-gitops-controller";

/// Writes the status, Events and metrics of a finished reconcile.
pub(super) async fn record(
    sync: &GitSync,
    ctx: &Context,
    verdict: &Verdict,
    outcome: Option<&Outcome>,
    took: Duration,
) -> Result<(), Error> {
    let now = status::now();
    let mut next = status::next(sync, verdict, &now);
    // A sync refused the set does not name it: `kubectl gitops status` shows the holder.
    let refused_set = matches!(
        verdict,
        Verdict::Failed {
            reason: Failure::ApplySetInUse,
            ..
        }
    );
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
        Verdict::Failed { reason, .. } => Some(reason.as_str()),
        Verdict::Stalled { reason, .. } => Some(reason.as_str()),
        Verdict::Unhealthy { .. } => Some(EventReason::HealthCheckFailed.as_str()),
        _ => None,
    };
    ctx.metrics.observe(
        &key,
        matches!(
            verdict,
            Verdict::Applied { .. } | Verdict::Progressing { .. }
        ),
        took.as_secs_f64(),
        stage,
    );
    let previous_error = sync.status.as_ref().and_then(|s| s.last_error.clone());
    let previously_applied = sync
        .status
        .as_ref()
        .and_then(|s| s.last_applied_revision.clone());
    match verdict {
        Verdict::Applied { revision, .. } | Verdict::Progressing { revision, .. } => {
            let outcome = outcome.cloned().unwrap_or_default();
            if outcome.writes() > 0 {
                let drift = previously_applied.as_deref() == Some(revision.as_str());
                let (reason, verb) = if drift {
                    (
                        EventReason::DriftCorrected,
                        "Put back objects changed outside git at",
                    )
                } else {
                    (EventReason::Applied, "Applied")
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
                    Verdict::Stalled { reason, .. } => EventReason::Stalled(*reason),
                    _ => EventReason::ReconcileFailed,
                };
                let text = match verdict {
                    Verdict::Stalled { .. } => message.clone(),
                    _ => format!("{message} (the last good state is kept; nothing was pruned)"),
                };
                publish(ctx, sync, EventType::Warning, reason, &text).await;
            }
        }
        Verdict::Unhealthy { message } => {
            tracing::warn!(sync = %key, error = %message, "workloads not Current");
            if previous_error.as_deref() != Some(message.as_str()) {
                publish(
                    ctx,
                    sync,
                    EventType::Warning,
                    EventReason::HealthCheckFailed,
                    message,
                )
                .await;
            }
        }
        Verdict::Waiting { message } => {
            tracing::info!(sync = %key, "{message}");
        }
    }
    Ok(())
}

pub(super) async fn publish(
    ctx: &Context,
    sync: &GitSync,
    type_: EventType,
    reason: EventReason,
    message: &str,
) {
    let event = Event {
        type_,
        reason: reason.as_str().to_string(),
        note: Some(redact::truncate(&crate::scrub::text(message), 1024)),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&event, &sync.object_ref(&())).await {
        tracing::warn!(sync = %sync.key(), reason = reason.as_str(), error = %crate::cluster::describe_unnamed(&err), "could not record an Event");
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
