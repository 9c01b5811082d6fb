//! Apply: executes a plan's writes with server-side apply, in dependency order, then prunes.
//!
//! Results are values; the caller prints them. A failure never stops independent objects, and
//! any failure means no prune at all.

use std::time::{Duration, Instant};

use futures::future::join_all;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions, PropagationPolicy};
use kube::core::{DynamicObject, Request, Resource};
use serde::Serialize;
use serde_json::Value;

use super::departed::{self, Departed};
use super::order::{PHASES, phase};
use super::{Action, FIELD_MANAGER, Planned, SecretValues, Work};
use crate::cluster::{Cluster, NotAttempted, describe};
use crate::object::ObjectRef;
use crate::render::helm::hooks::Stage;

/// How to apply. Whether to force is not here: it is the plan's ([`Planned::force`]), so the
/// apply is exactly the one the plan dry-ran.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// How long a new CustomResourceDefinition may take to become Established.
    pub crd_timeout: Duration,
    /// Write each update only to the object as it was planned (a plan file): its uid and
    /// resourceVersion go with the apply, and the server refuses it if the object changed.
    pub pinned: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            crd_timeout: Duration::from_secs(60),
            pinned: false,
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applied {
    pub object: ObjectRef,
    /// The planned action (create, update or prune).
    pub action: Action,
    /// None on success, else the server's (redacted) reason.
    pub error: Option<String>,
    /// Not sent: the server had stopped answering (see the cluster's breaker).
    #[serde(skip)]
    pub not_attempted: Option<NotAttempted>,
}

/// Which of a plan's creates and updates one call applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// Namespaces and CRDs, which everything else (Helm's pre hooks too) may need first.
    Foundations,
    /// Everything else.
    Rest,
}

impl Writes {
    fn holds(self, work: &Work) -> bool {
        (phase(&work.object) == 0) == (self == Writes::Foundations)
    }
}

/// Applies the plan's creates and updates of `writes`, Helm hook stage by stage and phase by
/// phase, forced exactly when the plan was. Objects planned with conflicts are not applied.
/// `progress` is called once per finished object.
pub async fn apply(
    cluster: &Cluster,
    planned: &Planned,
    options: &ApplyOptions,
    writes: Writes,
    progress: &(dyn Fn(&Applied) + Sync),
) -> Vec<Applied> {
    let work = &planned.work;
    let force = planned.force;
    let mut results = Vec::new();
    let applied = || {
        work.iter()
            .filter(|w| matches!(w.action, Action::Create | Action::Update) && writes.holds(w))
    };
    // Helm's pre-install/pre-upgrade hooks go before everything else, post-* hooks after.
    let mut stages: Vec<Stage> = applied().map(stage_of).collect();
    stages.sort();
    stages.dedup();
    for (stage, current) in stages
        .into_iter()
        .flat_map(|stage| PHASES.map(|phase| (stage, phase)))
    {
        let batch: Vec<&Work> = applied()
            .filter(|w| stage_of(w) == stage && phase(&w.object) == current)
            .collect();
        if batch.is_empty() {
            continue;
        }
        let mut done = join_all(batch.iter().map(|w| async {
            let result = apply_one(cluster, w, force, options.pinned).await;
            progress(&result);
            result
        }))
        .await;
        // Custom resources of a CRD created in this phase can only be applied once the server
        // serves the new kind.
        for crd in done.iter_mut().filter(|r| {
            r.error.is_none()
                && r.object.kind == "CustomResourceDefinition"
                && r.object.group() == "apiextensions.k8s.io"
        }) {
            if let Err(error) =
                wait_established(cluster, &crd.object.name, options.crd_timeout).await
            {
                crd.error = Some(error.to_string());
            }
        }
        results.extend(done);
    }
    results
}

fn stage_of(work: &Work) -> Stage {
    work.stage
}

async fn apply_one(cluster: &Cluster, work: &Work, force: bool, pinned: bool) -> Applied {
    let body = work.body.as_ref().unwrap_or(&Value::Null);
    let pinned_body;
    let body = match (&work.resource_version, work.action) {
        (Some(version), Action::Update) if pinned => {
            pinned_body = with_preconditions(body, work.uid.as_deref(), version);
            &pinned_body
        }
        _ => body,
    };
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = force;
    let mut not_attempted = None;
    let error = match Request::new(DynamicObject::url_path(
        &work.resource,
        work.object.namespace.as_deref(),
    ))
    .patch(&work.object.name, &params, &Patch::Apply(body))
    {
        Err(err) => Some(err.to_string()),
        Ok(request) => match cluster.send::<Value>(request).await {
            Ok(_) => None,
            Err(kube::Error::Api(status)) if status.code == 409 && pinned && moved(&status) => {
                Some(format!(
                    "not applied: it was changed in the cluster since the plan was made; plan \
                     again to review it ({})",
                    status.message
                ))
            }
            Err(kube::Error::Api(status)) if status.code == 409 && status.reason == "Conflict" => {
                Some(format!(
                    "{} (pass --force-conflicts to take ownership of these fields)",
                    status.message
                ))
            }
            Err(kube::Error::Api(status)) => Some(crate::cluster::refusal::tidy(&status.message)),
            Err(err) => {
                not_attempted = crate::cluster::not_attempted(&err);
                Some(describe(&err, &cluster.server))
            }
        },
    };
    let secrets = SecretValues::from_object(body);
    Applied {
        object: work.object.clone(),
        action: work.action,
        error: error.map(|e| secrets.redact(&e)),
        not_attempted,
    }
}

/// The body with the planned object's uid and resourceVersion: the server applies it only to
/// that object in that version (a changed one answers 409, a replaced one 422).
fn with_preconditions(body: &Value, uid: Option<&str>, resource_version: &str) -> Value {
    let mut body = body.clone();
    if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert(
            "resourceVersion".into(),
            Value::String(resource_version.to_string()),
        );
        if let Some(uid) = uid {
            metadata.insert("uid".into(), Value::String(uid.to_string()));
        }
    }
    body
}

/// A 409 for a stale resourceVersion rather than for another manager's fields.
fn moved(status: &kube::core::Status) -> bool {
    status.message.contains("has been modified")
}

/// Deletes every prune in `work`, phases in reverse, each only if it is still the very object
/// that was planned, as it was planned (same uid and resourceVersion): an object changed since
/// the plan is reported and kept. A delete refused by a webhook this prune already removed is
/// asked again until the server stops calling it (see [`departed`]).
pub async fn prune(
    cluster: &Cluster,
    work: &[Work],
    progress: &(dyn Fn(&Applied) + Sync),
) -> Vec<Applied> {
    let mut results = Vec::new();
    let mut departed = Departed::default();
    for current in PHASES.iter().rev() {
        let batch: Vec<&Work> = work
            .iter()
            .filter(|w| w.action == Action::Prune && phase(&w.object) == *current)
            .collect();
        let departed_so_far = &departed;
        let done = join_all(batch.iter().map(|w| async move {
            let (result, deleted) = prune_one(cluster, w, departed_so_far).await;
            progress(&result);
            (result, deleted)
        }))
        .await;
        for (result, deleted) in done {
            if let Some(deleted) = deleted {
                departed.record(&result.object, &deleted);
            }
            results.push(result);
        }
    }
    results
}

/// Deletes one object; for a webhook configuration, also the object as it was deleted.
async fn prune_one(
    cluster: &Cluster,
    work: &Work,
    departed: &Departed,
) -> (Applied, Option<Value>) {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: Some(Preconditions {
            uid: work.uid.clone(),
            resource_version: work.resource_version.clone(),
        }),
        ..DeleteParams::default()
    };
    // Which webhooks stop being called is only in the object: read it first.
    let seen = if departed::is_webhook_configuration(&work.object) {
        let namespace = work.object.namespace.as_deref();
        cluster
            .get_object(&work.resource, namespace, &work.object.name)
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    let mut not_attempted = None;
    let mut deleted = None;
    let patience = Instant::now() + departed::PATIENCE;
    let mut retry = 0;
    let error = loop {
        let request = match Request::new(DynamicObject::url_path(
            &work.resource,
            work.object.namespace.as_deref(),
        ))
        .delete(&work.object.name, &params)
        {
            Err(err) => break Some(err.to_string()),
            Ok(request) => request,
        };
        break match cluster.send::<Value>(request).await {
            // Gone, by this request or already: the goal is reached.
            Ok(_) => {
                deleted = seen.clone();
                None
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                deleted = seen.clone();
                None
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Some(format!(
                "not deleted: it was changed or replaced since the plan was made; plan again to \
                 review it ({})",
                status.message
            )),
            Err(kube::Error::Api(status))
                if departed.refused(&status.message) && Instant::now() < patience =>
            {
                tokio::time::sleep(departed::wait(retry)).await;
                retry += 1;
                continue;
            }
            Err(kube::Error::Api(status)) => Some(crate::cluster::refusal::tidy(&status.message)),
            Err(err) => {
                not_attempted = crate::cluster::not_attempted(&err);
                Some(describe(&err, &cluster.server))
            }
        };
    };
    let applied = Applied {
        object: work.object.clone(),
        action: Action::Prune,
        error,
        not_attempted,
    };
    (applied, deleted)
}

/// Why objects of a CRD applied with them were not applied.
#[derive(Debug, thiserror::Error)]
enum NotEstablished {
    #[error("not Established after {}s", .0.as_secs())]
    After(Duration),
    #[error(transparent)]
    Request(#[from] http::Error),
}

/// Waits until the CRD reports Established, so its kind can be applied.
async fn wait_established(
    cluster: &Cluster,
    name: &str,
    timeout: Duration,
) -> Result<(), NotEstablished> {
    let path = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
    let deadline = Instant::now() + timeout;
    loop {
        let request = http::Request::get(&path).body(Vec::new())?;
        let answer = cluster.send::<Value>(request).await;
        if let Ok(crd) = answer
            && super::wait::condition_true(&crd, "Established")
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(NotEstablished::After(timeout));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
