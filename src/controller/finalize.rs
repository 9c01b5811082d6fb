//! A GitSync's finalizer: held while `deletionPolicy: Delete` asks for it, and, when the
//! sync is deleted, released only once every member of its ApplySet and the parent are gone.

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use serde_json::json;

use super::context::Context;
use super::crd::{FINALIZER, GitSync};
use super::reason::EventReason;
use super::record::publish;
use super::resolve::resolve;
use super::spec::{self, Refusal};
use super::sync::Error;
use crate::pipeline::{self, ExecuteOptions, Scope};
use crate::source::redact;

/// A GitSync being deleted. With `deletionPolicy: Delete` every member of its ApplySet is
/// pruned (as the sync's ServiceAccount, protected kinds kept unless `pruneProtected`), then
/// its parent; the finalizer goes only once that succeeded. `Orphan` syncs hold no finalizer
/// and leave everything in place.
pub(super) async fn finalize(sync: &GitSync, ctx: &Context) -> Result<Action, Error> {
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
        Err(error) => {
            let message = redact::truncate(&crate::scrub::text(&error.to_string()), 4096);
            tracing::warn!(sync = %sync.key(), error = %message, "pruning on delete failed");
            publish(
                ctx,
                sync,
                EventType::Warning,
                EventReason::PruneOnDeleteFailed,
                &message,
            )
            .await;
            Ok(Action::requeue(ctx.settings.backoff.delay(3)))
        }
    }
}

/// Prunes every member of the sync's set and deletes the parent; returns how many were pruned.
async fn prune_all(sync: &GitSync, ctx: &Context) -> Result<usize, PruneError> {
    let resolved = resolve(sync, ctx.settings.default_service_account.as_deref())
        .map_err(PruneError::Unresolved)?;
    let cluster = ctx
        .tenant(&resolved.user, &resolved.checked.target_namespace)
        .map_err(PruneError::Cluster)?;
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
    .map_err(|source| PruneError::Plan {
        set: resolved.set.name.clone(),
        source,
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
    .map_err(PruneError::Cluster)?;
    let errors: Vec<String> = execution
        .results
        .iter()
        .filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.object)))
        .collect();
    if !errors.is_empty() || !execution.succeeded() {
        return Err(PruneError::Failed(errors));
    }
    if plan.planned.plan.kept.is_empty() {
        let parents: Api<Secret> = Api::namespaced(cluster.client.clone(), &resolved.set.namespace);
        match parents
            .delete(&resolved.set.name, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => {
                return Err(PruneError::Parent {
                    parent: format!("{}/{}", resolved.set.namespace, resolved.set.name),
                    source,
                });
            }
        }
    }
    Ok(execution.count(crate::ssa::Action::Prune))
}

/// Why a deleted sync's objects could not all be pruned; the finalizer stays meanwhile.
#[derive(Debug, thiserror::Error)]
enum PruneError {
    #[error("cannot prune on delete: {}", .0.message)]
    Unresolved(Refusal),
    #[error("{}", crate::cluster::refusal::one_line(.0))]
    Cluster(anyhow::Error),
    #[error(
        "planning the prune of {set}: {}",
        crate::cluster::refusal::one_line(source)
    )]
    Plan { set: String, source: anyhow::Error },
    #[error("pruning on delete failed: {}", .0.join("; "))]
    Failed(Vec<String>),
    #[error(
        "deleting the ApplySet parent Secret {parent}: {}",
        crate::cluster::describe_unnamed(source)
    )]
    Parent { parent: String, source: kube::Error },
}

/// Adds or removes the controller's finalizer, without dropping any other added meanwhile.
pub(super) async fn set_finalizer(
    sync: &GitSync,
    ctx: &Context,
    present: bool,
) -> Result<(), Error> {
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
