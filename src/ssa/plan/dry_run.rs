//! The server-side apply dry-run: what the server answers for one desired object.

use kube::api::{Patch, PatchParams};
use kube::core::Request;
use serde_json::Value;

use super::PlanOptions;
use super::live::url_path;
use super::targets::Desired;
use crate::cluster::{Cluster, Failure};
use crate::ssa::{FIELD_MANAGER, FieldConflict, conflict};

/// The server's answer to a dry-run.
pub(super) struct Answer {
    /// The object as applying leaves it; with conflicts, as applying with
    /// `--force-conflicts` would.
    pub after: Value,
    /// Fields other managers own that the apply would change. Never any when the plan forces:
    /// then the apply takes them.
    pub conflicts: Vec<FieldConflict>,
    /// The server answered 201 Created: there is no live object to read.
    pub created: bool,
}

impl Answer {
    pub fn clean(after: Value) -> Self {
        Answer {
            after,
            conflicts: Vec::new(),
            created: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(super) enum DryRunError {
    /// The server refused the object; its status carries the reason.
    #[error("{}{}", crate::cluster::refusal::tidy(&.0.message), conflict_hint(.0))]
    Status(Box<kube::core::Status>),
    /// The request failed on the way (or was never sent).
    #[error("{0}")]
    Transport(Failure),
}

/// Dry-runs the apply exactly as apply will send it (forced or not, per `options.force`).
/// A field conflict is no dead end: the answer names the owners and fields, as apply would
/// refuse them, and shows the object as a forced apply would leave it.
pub(super) async fn dry_run(
    cluster: &Cluster,
    target: &Desired<'_>,
    body: &Value,
    options: &PlanOptions,
) -> Result<Answer, DryRunError> {
    if target.unvalidated.is_some() {
        return Ok(Answer::clean(Value::Null));
    }
    match send(cluster, target, body, options.force).await {
        Err(DryRunError::Status(status)) if !options.force => {
            match conflict::from_status(&status) {
                // Only a live object has fields someone else owns.
                Some(conflicts) => Ok(Answer {
                    after: send(cluster, target, body, true).await?.1,
                    conflicts,
                    created: false,
                }),
                None => Err(DryRunError::Status(status)),
            }
        }
        answer => answer.map(|(created, after)| Answer {
            created,
            ..Answer::clean(after)
        }),
    }
}

/// The server's answer, and whether it said 201 Created (the object does not exist yet).
async fn send(
    cluster: &Cluster,
    target: &Desired<'_>,
    body: &Value,
    force: bool,
) -> Result<(bool, Value), DryRunError> {
    let mut params = PatchParams::apply(FIELD_MANAGER).dry_run();
    params.force = force;
    let request = Request::new(url_path(
        &target.resource,
        target.object.namespace.as_deref(),
    ))
    .patch(&target.object.name, &params, &Patch::Apply(body))
    .map_err(|e| DryRunError::Transport(Failure::local(e.to_string())))?;
    match cluster.send_answer::<Value>(request).await {
        Ok((code, after)) => Ok((code == http::StatusCode::CREATED, after)),
        Err(kube::Error::Api(status)) => Err(DryRunError::Status(status)),
        Err(err) => Err(DryRunError::Transport(Failure::of(&err, &cluster.server))),
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
