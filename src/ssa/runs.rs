//! Helm hooks that run on apply (which they are: see `render::helm::hooks::run_of`).
//!
//! Such a hook is an action, not a state: git cannot be compared with an object that is gone
//! once it did its work. So runs are kept out of the plan's changes and out of the ApplySet,
//! and an apply that changes something runs them as `helm upgrade` does: the pre-install and
//! pre-upgrade hooks before anything else is applied, the post-install and post-upgrade hooks
//! after everything was applied and pruned; each stage in Helm's order (weight, name, kind),
//! one hook after another, each waited for (a Job until it completed or failed, a Pod until it
//! succeeded or failed, any other kind once it exists). An earlier copy is deleted first when
//! the policy says `before-hook-creation`; a hook that failed is deleted when it says
//! `hook-failed`; those that say `hook-succeeded` are deleted once every hook of the stage
//! succeeded (last created first), or, as Helm does, once a later one failed. A hook that fails
//! stops the apply where it is, as it stops a Helm upgrade: after a failed pre hook nothing
//! else is applied and nothing is pruned.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicObject, Request, Resource};
use serde::Serialize;
use serde_json::Value;

use super::{Action, Applied, FIELD_MANAGER, SecretValues};
use crate::cluster::{Cluster, describe};
use crate::meta::LABEL_PART_OF;
use crate::object::ObjectRef;
use crate::render::Origin;
use crate::render::helm::hooks;

/// How often a running hook is looked at.
const POLL: Duration = Duration::from_millis(250);

/// A hook to run, resolved against the server: what the plan carries for the apply.
pub struct Run {
    pub object: ObjectRef,
    pub resource: ApiResource,
    /// The body to create: the rendered object with its namespace settled and no ApplySet
    /// label, since a run is never a member.
    pub body: Value,
    pub run: hooks::Run,
    pub origin: Origin,
}

/// What a report shows of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hook {
    pub object: ObjectRef,
    pub origin: Origin,
    #[serde(flatten)]
    pub run: hooks::Run,
}

impl Run {
    /// `body` as resolved for the plan; the ApplySet label the plan put on it comes off.
    pub fn new(
        object: ObjectRef,
        resource: ApiResource,
        mut body: Value,
        run: hooks::Run,
        origin: Origin,
    ) -> Run {
        if let Some(labels) = body
            .pointer_mut("/metadata/labels")
            .and_then(Value::as_object_mut)
        {
            labels.shift_remove(LABEL_PART_OF);
            if labels.is_empty()
                && let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut)
            {
                metadata.shift_remove("labels");
            }
        }
        Run {
            object,
            resource,
            body,
            run,
            origin,
        }
    }

    pub fn hook(&self) -> Hook {
        Hook {
            object: self.object.clone(),
            origin: self.origin.clone(),
            run: self.run,
        }
    }
}

/// Which hooks of an apply run together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// pre-install/pre-upgrade: before anything else is applied.
    Before,
    /// post-install/post-upgrade: after everything was applied and pruned.
    After,
}

impl Side {
    fn holds(self, run: &hooks::Run) -> bool {
        match self {
            Side::Before => run.before,
            Side::After => run.after,
        }
    }
}

/// The runs of one side in the order they run (see [`running_order`]).
pub fn due(runs: &[Run], side: Side) -> Vec<&Run> {
    let mut due: Vec<&Run> = runs.iter().filter(|r| side.holds(&r.run)).collect();
    due.sort_by(|a, b| running_order(&a.run, &a.object).cmp(&running_order(&b.run, &b.object)));
    due
}

/// Hooks of one side run as Helm runs them: by weight, then by name, then in Helm's install
/// order of kinds.
pub fn running_order<'a>(
    run: &hooks::Run,
    object: &'a ObjectRef,
) -> (i64, &'a str, (usize, &'a str)) {
    (
        run.weight,
        object.name.as_str(),
        hooks::install_order(&object.kind),
    )
}

/// Where a hook stands in [`listed`]'s order.
pub fn listing_order(hook: &Hook) -> (bool, (i64, &str, (usize, &str))) {
    (!hook.run.before, running_order(&hook.run, &hook.object))
}

/// Every run once, in the order of its first run: those of the pre side as they run, then the
/// post-only ones as they run.
pub fn listed(runs: &[Run]) -> Vec<&Run> {
    let mut listed = due(runs, Side::Before);
    listed.extend(due(runs, Side::After).into_iter().filter(|r| !r.run.before));
    listed
}

/// Runs the hooks of `side`, one after another; stops at the first that fails. One result per
/// hook that ran (or failed), and one per deletion that failed afterwards.
pub async fn run(
    cluster: &Cluster,
    runs: &[Run],
    side: Side,
    timeout: Duration,
    progress: &(dyn Fn(&Applied) + Sync),
) -> Vec<Applied> {
    let mut results = Vec::new();
    let mut succeeded = Vec::new();
    for hook in due(runs, side) {
        let outcome = run_one(cluster, hook, timeout).await;
        let secrets = SecretValues::from_object(&hook.body);
        let failed = outcome.is_err();
        let mut error = outcome.err().map(|e| secrets.redact(&e.to_string()));
        if failed
            && hook.run.delete_policy.on_failure
            && let Err(e) = delete(cluster, hook, timeout).await
        {
            error = error.map(|first| format!("{first}; deleting it (hook-failed): {e}"));
        }
        let result = Applied {
            object: hook.object.clone(),
            action: Action::Run,
            error,
            not_attempted: None,
        };
        progress(&result);
        results.push(result);
        if failed {
            // As Helm does: those that ran before it are cleaned up as if the stage had passed.
            let cleanup = succeeded.iter().copied();
            results.extend(delete_succeeded(cluster, cleanup, timeout, progress).await);
            return results;
        }
        succeeded.push(hook);
    }
    // Last created, first deleted: a Job goes before the account it ran as.
    let cleanup = succeeded.iter().rev().copied();
    results.extend(delete_succeeded(cluster, cleanup, timeout, progress).await);
    results
}

/// Deletes the hooks whose policy says `hook-succeeded`, in the order given; a result for each
/// deletion that failed.
async fn delete_succeeded<'a>(
    cluster: &Cluster,
    hooks: impl Iterator<Item = &'a Run>,
    timeout: Duration,
    progress: &(dyn Fn(&Applied) + Sync),
) -> Vec<Applied> {
    let mut failed = Vec::new();
    for hook in hooks.filter(|h| h.run.delete_policy.on_success) {
        if let Err(e) = delete(cluster, hook, timeout).await {
            let result = Applied {
                object: hook.object.clone(),
                action: Action::Run,
                error: Some(format!(
                    "it ran, but deleting it (hook-succeeded) failed: {e}"
                )),
                not_attempted: None,
            };
            progress(&result);
            failed.push(result);
        }
    }
    failed
}

/// Creates one hook (replacing an earlier copy when its policy says so) and waits for it.
async fn run_one(cluster: &Cluster, hook: &Run, timeout: Duration) -> Result<(), HookError> {
    // A Job or Pod left from an earlier run has finished: only a new one runs again.
    if hook.run.replaces_earlier_copy() {
        delete(cluster, hook, timeout)
            .await
            .map_err(|e| HookError::EarlierCopy(Box::new(e)))?;
    }
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = true;
    let request =
        Request::new(url(hook)).patch(&hook.object.name, &params, &Patch::Apply(&hook.body))?;
    let created = cluster
        .send::<Value>(request)
        .await
        .map_err(|e| refusal(&e, cluster))?;
    if !hook.run.completes {
        return Ok(());
    }
    let since = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let deadline = Instant::now() + timeout;
    let mut live = Some(created);
    let mut version = since;
    loop {
        let why = match outcome(&hook.object, live.as_ref()) {
            Finished::Succeeded => return Ok(()),
            Finished::Failed(why) => return Err(HookError::Failed(why)),
            Finished::Running(why) => why,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HookError::Unfinished {
                after: timeout,
                state: why,
            });
        }
        live = next_state(cluster, hook, &mut version, left).await?;
    }
}

/// Server-side timeout of one watch request: below the client's read timeout (60s).
const WATCH_SECONDS: u64 = 50;

/// The hook's next state after `version`, watched (so a Job its TTL deletes the moment it
/// finished is still seen finishing: the deletion carries the final state); None once it was
/// deleted while it still ran. Waits at most `left`; an expired version is read again.
async fn next_state(
    cluster: &Cluster,
    hook: &Run,
    version: &mut String,
    left: Duration,
) -> Result<Option<Value>, HookError> {
    let params = WatchParams::default()
        .fields(&format!("metadata.name={}", hook.object.name))
        .timeout(left.as_secs().clamp(1, WATCH_SECONDS) as u32);
    let request = Request::new(url(hook)).watch(&params, version)?;
    let expired = || async {
        let live = read(cluster, hook).await?;
        Ok(live)
    };
    let mut events = match cluster.client.request_events::<Value>(request).await {
        Ok(events) => events.boxed(),
        Err(kube::Error::Api(status)) if status.code == 410 => return expired().await,
        Err(e) => return Err(refusal(&e, cluster)),
    };
    let watched = tokio::time::timeout(left, async {
        while let Some(event) = events.try_next().await.map_err(|e| refusal(&e, cluster))? {
            match event {
                WatchEvent::Added(object) | WatchEvent::Modified(object) => {
                    if let Some(v) = object["metadata"]["resourceVersion"].as_str() {
                        *version = v.to_string();
                    }
                    return Ok(Some(object));
                }
                WatchEvent::Deleted(object) => {
                    // Finished and then deleted (a TTL of 0), or deleted while it ran.
                    return Ok(match outcome(&hook.object, Some(&object)) {
                        Finished::Running(_) => None,
                        _ => Some(object),
                    });
                }
                WatchEvent::Bookmark(bookmark) => {
                    *version = bookmark.metadata.resource_version;
                }
                WatchEvent::Error(e) if e.code == 410 => return expired().await,
                WatchEvent::Error(e) => return Err(HookError::Server(e.message)),
            }
        }
        // The server ended the watch: the state as it is now.
        expired().await
    })
    .await;
    match watched {
        Ok(state) => state,
        // Out of time: the last state seen stands, and the caller reports it.
        Err(_) => read(cluster, hook).await,
    }
}

/// Where a hook stands.
#[derive(Debug, PartialEq)]
enum Finished {
    Succeeded,
    Failed(String),
    Running(String),
}

/// A Job runs until it completed or failed, a Pod until it succeeded or failed (as Helm waits
/// for hooks); any other kind has done its work once it exists.
fn outcome(object: &ObjectRef, live: Option<&Value>) -> Finished {
    let Some(live) = live else {
        return Finished::Failed("it was deleted while it ran".into());
    };
    match (object.group(), object.kind.as_str()) {
        ("batch", "Job") => match super::wait::health(object, live) {
            super::wait::Health::Ready => Finished::Succeeded,
            super::wait::Health::Failed(why) => Finished::Failed(why),
            super::wait::Health::Progressing(why) => Finished::Running(why),
        },
        ("", "Pod") => match live["status"]["phase"].as_str() {
            Some("Succeeded") => Finished::Succeeded,
            Some("Failed") => Finished::Failed("the Pod failed".into()),
            phase => Finished::Running(format!("phase {}", phase.unwrap_or("Pending"))),
        },
        _ => Finished::Succeeded,
    }
}

/// Deletes the hook and waits until it is gone; a hook that is not there is fine.
async fn delete(cluster: &Cluster, hook: &Run, timeout: Duration) -> Result<(), HookError> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    let request = Request::new(url(hook)).delete(&hook.object.name, &params)?;
    match cluster.send::<Value>(request).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(e) => return Err(refusal(&e, cluster)),
    }
    let deadline = Instant::now() + timeout;
    while read(cluster, hook).await?.is_some() {
        if Instant::now() >= deadline {
            return Err(HookError::NotGone { after: timeout });
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// The hook as the server has it; None once it is gone.
async fn read(cluster: &Cluster, hook: &Run) -> Result<Option<Value>, HookError> {
    let namespace = hook.object.namespace.as_deref();
    cluster
        .get_object(&hook.resource, namespace, &hook.object.name)
        .await
        .map_err(|e| refusal(&e, cluster))
}

fn url(hook: &Run) -> String {
    DynamicObject::url_path(&hook.resource, hook.object.namespace.as_deref())
}

/// The server's refusal in its own words, tidied, or what kept the request from it.
fn refusal(error: &kube::Error, cluster: &Cluster) -> HookError {
    HookError::Server(match error {
        kube::Error::Api(status) => crate::cluster::refusal::tidy(&status.message),
        other => describe(other, &cluster.server),
    })
}

/// Why a hook did not run to its end, or could not be cleaned up.
#[derive(Debug, thiserror::Error)]
enum HookError {
    /// The server refused or could not be reached: its message, or ours naming it.
    #[error("{0}")]
    Server(String),
    #[error(transparent)]
    Request(#[from] kube::core::request::Error),
    /// The Job or Pod reports failure (the state it reports).
    #[error("{0}")]
    Failed(String),
    #[error("did not finish within {} ({state})", humantime::format_duration(*.after))]
    Unfinished { after: Duration, state: String },
    #[error("still there {} after it was deleted", humantime::format_duration(*.after))]
    NotGone { after: Duration },
    #[error("deleting the earlier copy (before-hook-creation): {0}")]
    EarlierCopy(Box<HookError>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A run of `kind` named `name`, on the pre side, the post side or both, with `weight`.
    fn run(kind: &str, name: &str, before: bool, after: bool, weight: i64) -> Run {
        let (api_version, namespace) = match kind {
            "Job" => ("batch/v1", Some("ns".to_string())),
            "ClusterRole" => ("rbac.authorization.k8s.io/v1", None),
            _ => ("v1", Some("ns".to_string())),
        };
        let object = ObjectRef::new(api_version, kind, namespace, name);
        let resource = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
        Run::new(
            object,
            resource,
            json!({"metadata": {"name": name, "labels": {LABEL_PART_OF: "applyset-x-v1"}}}),
            hooks::Run {
                before,
                after,
                weight,
                delete_policy: hooks::DeletePolicy::default(),
                completes: kind == "Job",
            },
            Origin {
                file: "chart/Chart.yaml".into(),
                document: 0,
                item: None,
                line: 1,
                remote: None,
            },
        )
    }

    #[test]
    fn hooks_run_by_weight_then_name_and_each_side_on_its_own() {
        let runs = vec![
            run("Job", "b-migrate", true, false, 1),
            run("ServiceAccount", "a-migrate", true, true, 1),
            run("ClusterRole", "a-migrate", true, true, 1),
            run("ConfigMap", "z-first", true, false, -5),
            run("Job", "notify", false, true, 2),
        ];
        let names = |runs: Vec<&Run>| -> Vec<String> {
            runs.iter()
                .map(|r| format!("{}/{}", r.object.kind, r.object.name))
                .collect()
        };
        assert_eq!(
            names(due(&runs, Side::Before)),
            [
                "ConfigMap/z-first",
                "ServiceAccount/a-migrate",
                "ClusterRole/a-migrate",
                "Job/b-migrate"
            ]
        );
        // The RBAC of both sides is created again for the post side.
        assert_eq!(
            names(due(&runs, Side::After)),
            [
                "ServiceAccount/a-migrate",
                "ClusterRole/a-migrate",
                "Job/notify"
            ]
        );
        assert_eq!(
            names(listed(&runs)),
            [
                "ConfigMap/z-first",
                "ServiceAccount/a-migrate",
                "ClusterRole/a-migrate",
                "Job/b-migrate",
                "Job/notify"
            ]
        );
    }

    #[test]
    fn a_run_is_never_a_member_of_the_set() {
        let hook = run("Job", "migrate", true, false, 0);
        assert_eq!(hook.body, json!({"metadata": {"name": "migrate"}}));
    }

    #[test]
    fn jobs_and_pods_are_waited_for_other_kinds_are_done_once_they_exist() {
        let job = ObjectRef::new("batch/v1", "Job", Some("ns".into()), "migrate");
        let done = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        let failed = json!({"status": {"conditions": [{"type": "Failed", "status": "True"}]}});
        assert_eq!(outcome(&job, Some(&done)), Finished::Succeeded);
        assert!(matches!(outcome(&job, Some(&failed)), Finished::Failed(_)));
        assert!(matches!(
            outcome(&job, Some(&json!({}))),
            Finished::Running(_)
        ));
        assert!(matches!(outcome(&job, None), Finished::Failed(_)));

        let pod = ObjectRef::new("v1", "Pod", Some("ns".into()), "check");
        let phase = |p: &str| json!({"status": {"phase": p}});
        assert_eq!(
            outcome(&pod, Some(&phase("Succeeded"))),
            Finished::Succeeded
        );
        assert!(matches!(
            outcome(&pod, Some(&phase("Failed"))),
            Finished::Failed(_)
        ));
        assert!(matches!(
            outcome(&pod, Some(&phase("Running"))),
            Finished::Running(_)
        ));

        let config = ObjectRef::new("v1", "ConfigMap", Some("ns".into()), "settings");
        assert_eq!(outcome(&config, Some(&json!({}))), Finished::Succeeded);
    }
}
