//! The server-side apply dry-run: what the server answers for one desired object.

use kube::api::{Patch, PatchParams};
use serde_json::Value;

use super::PlanOptions;
use super::live::url_path;
use super::targets::Desired;
use crate::cluster::{Cluster, describe};
use crate::ssa::FIELD_MANAGER;
use kube::core::Request;

#[derive(Debug, thiserror::Error)]
pub(super) enum DryRunError {
    /// The server refused the object; its status carries the reason.
    #[error("{}{}", .0.message, conflict_hint(.0))]
    Status(Box<kube::core::Status>),
    /// The request failed on the way.
    #[error("{0}")]
    Transport(String),
}

pub(super) async fn dry_run(
    cluster: &Cluster,
    target: &Desired<'_>,
    options: &PlanOptions,
) -> Result<Value, DryRunError> {
    if target.unvalidated.is_some() {
        return Ok(Value::Null);
    }
    let mut params = PatchParams::apply(FIELD_MANAGER).dry_run();
    params.force = options.force;
    let request = Request::new(url_path(
        &target.resource,
        target.object.namespace.as_deref(),
    ))
    .patch(&target.object.name, &params, &Patch::Apply(&target.body))
    .map_err(|e| DryRunError::Transport(e.to_string()))?;
    match cluster.send::<Value>(request).await {
        Ok(after) => Ok(after),
        Err(kube::Error::Api(status)) => Err(DryRunError::Status(status)),
        Err(err) => Err(DryRunError::Transport(describe(&err, &cluster.server))),
    }
}

/// A field conflict is only an error until the user decides who owns the field.
fn conflict_hint(status: &kube::core::Status) -> &'static str {
    if status.code == 409 && status.reason == "Conflict" {
        " (pass --force-conflicts to take ownership of these fields)"
    } else {
        ""
    }
}

/// The namespace the object goes to does not exist (yet).
pub(super) fn is_missing_namespace(status: &kube::core::Status) -> bool {
    status.code == 404
        && status
            .details
            .as_ref()
            .is_some_and(|d| d.kind == "namespaces")
}
