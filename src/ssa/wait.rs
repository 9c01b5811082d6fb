//! Health: whether an applied object has become what it asked for. Rules for the kinds whose
//! readiness a controller reports in status; every other kind is ready once applied.

use std::time::{Duration, Instant};

use futures::future::join_all;
use kube::core::{ApiResource, DynamicObject, Request, Resource};
use serde_json::Value;

use super::Work;
use crate::cluster::Cluster;
use crate::object::ObjectRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// Not there yet; the text says what is missing.
    Progressing(String),
    /// Will not get there by waiting (a failed Job).
    Failed(String),
}

/// True when `object.status.conditions` has `type` with status "True".
pub fn condition_true(object: &Value, kind: &str) -> bool {
    condition(object, kind) == Some("True")
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a str> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"].as_str() == Some(kind))?["status"]
        .as_str()
}

/// The status and reason of condition `kind`.
fn condition_reason<'a>(object: &'a Value, kind: &str) -> Option<(&'a str, &'a str)> {
    let found = object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"].as_str() == Some(kind))?;
    Some((
        found["status"].as_str().unwrap_or_default(),
        found["reason"].as_str().unwrap_or_default(),
    ))
}

fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

/// Does `kind` have a health rule (so it is worth waiting for)?
pub fn has_rule(object: &ObjectRef) -> bool {
    matches!(
        (object.group(), object.kind.as_str()),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet")
            | ("batch", "Job")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
    )
}

/// The health of a live object.
pub fn health(object: &ObjectRef, live: &Value) -> Health {
    let generation = int(&live["metadata"]["generation"]);
    let status = &live["status"];
    let observed = int(&status["observedGeneration"]);
    let behind = || {
        Health::Progressing(format!(
            "controller has not observed generation {generation} yet"
        ))
    };
    match (object.group(), object.kind.as_str()) {
        ("apps", "Deployment") => {
            // The controller gave up: waiting longer will not help (kubectl rollout status
            // fails the same way).
            if let Some(reason) = condition_reason(live, "Progressing")
                && reason.0 == "False"
                && reason.1 == "ProgressDeadlineExceeded"
            {
                return Health::Failed("the rollout exceeded its progress deadline".into());
            }
            if observed < generation {
                return behind();
            }
            let want = live["spec"]["replicas"].as_i64().unwrap_or(1);
            let updated = int(&status["updatedReplicas"]);
            let total = int(&status["replicas"]);
            let available = int(&status["availableReplicas"]);
            let terminating = int(&status["terminatingReplicas"]);
            if updated < want {
                Health::Progressing(format!("{updated}/{want} replicas updated"))
            } else if total > updated {
                // Old replicas still running count neither as updated nor as done.
                Health::Progressing(format!(
                    "{} old replicas are pending termination",
                    total - updated
                ))
            } else if terminating > 0 {
                Health::Progressing(format!("{terminating} replicas are terminating"))
            } else if available < updated {
                Health::Progressing(format!("{available}/{want} replicas available"))
            } else {
                Health::Ready
            }
        }
        ("apps", "StatefulSet") => {
            if observed < generation {
                return behind();
            }
            let want = live["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = int(&status["readyReplicas"]);
            let strategy = &live["spec"]["updateStrategy"];
            if ready < want {
                return Health::Progressing(format!("{ready}/{want} replicas ready"));
            }
            // OnDelete: pods are replaced only when someone deletes them, so the new revision
            // is never rolled out by waiting; ready replicas are all there is to wait for.
            if strategy["type"].as_str() == Some("OnDelete") {
                return Health::Ready;
            }
            // A partition keeps the pods below it at the old revision on purpose.
            let partition = strategy["rollingUpdate"]["partition"].as_i64().unwrap_or(0);
            let expected = (want - partition).max(0);
            let updated = int(&status["updatedReplicas"]);
            if updated < expected {
                return Health::Progressing(format!("{updated}/{expected} replicas updated"));
            }
            if partition == 0 {
                let current = status["currentRevision"].as_str();
                let update = status["updateRevision"].as_str();
                if current.is_some() && update.is_some() && current != update {
                    return Health::Progressing("the update revision is not current yet".into());
                }
            }
            Health::Ready
        }
        ("apps", "DaemonSet") => {
            if observed < generation {
                return behind();
            }
            let want = int(&status["desiredNumberScheduled"]);
            // OnDelete: pods update only when deleted; waiting cannot bring that about.
            let updated = if live["spec"]["updateStrategy"]["type"].as_str() == Some("OnDelete") {
                want
            } else {
                int(&status["updatedNumberScheduled"])
            };
            let ready = int(&status["numberReady"]);
            if updated < want || ready < want {
                Health::Progressing(format!(
                    "{ready}/{want} pods ready, {updated}/{want} updated"
                ))
            } else {
                Health::Ready
            }
        }
        ("batch", "Job") => {
            if condition_true(live, "Failed") {
                Health::Failed("the Job failed".into())
            } else if condition_true(live, "Complete") {
                Health::Ready
            } else {
                Health::Progressing("not complete".into())
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if condition_true(live, "Established") {
                Health::Ready
            } else {
                Health::Progressing("not Established".into())
            }
        }
        _ => Health::Ready,
    }
}

/// The health of each object, read once. An object that cannot be read is progressing (the
/// server may answer next time); a request that cannot be built has failed.
pub async fn check<'a>(
    cluster: &Cluster,
    objects: impl IntoIterator<Item = (&'a ObjectRef, &'a ApiResource)>,
) -> Vec<(ObjectRef, Health)> {
    join_all(objects.into_iter().map(|(object, resource)| async move {
        let request = Request::new(DynamicObject::url_path(
            resource,
            object.namespace.as_deref(),
        ))
        .get(&object.name, &Default::default());
        let state = match request {
            Err(err) => Health::Failed(err.to_string()),
            Ok(request) => match cluster.send::<Value>(request).await {
                Ok(live) => health(object, &live),
                Err(err) => Health::Progressing(format!(
                    "cannot read it: {}",
                    crate::cluster::describe_unnamed(&err)
                )),
            },
        };
        (object.clone(), state)
    }))
    .await
}

/// Where a set of objects stands as a whole: the first failure (named), else the first
/// object still progressing (named, with how many are ready), else ready.
pub fn overall(states: &[(ObjectRef, Health)]) -> Health {
    if let Some((object, why)) = states.iter().find_map(|(o, h)| match h {
        Health::Failed(why) => Some((o, why)),
        _ => None,
    }) {
        return Health::Failed(format!("{object}: {why}"));
    }
    let ready = states.iter().filter(|(_, h)| *h == Health::Ready).count();
    match states.iter().find_map(|(o, h)| match h {
        Health::Progressing(why) => Some((o, why)),
        _ => None,
    }) {
        Some((object, why)) => {
            Health::Progressing(format!("{ready}/{} ready; {object}: {why}", states.len()))
        }
        None => Health::Ready,
    }
}

/// Polls the objects of `work` that have a health rule until all are ready, one fails, or
/// `timeout` passes. `progress(ready, total, waiting_for)` is called after each round.
pub async fn wait(
    cluster: &Cluster,
    work: &[&Work],
    timeout: Duration,
    progress: &(dyn Fn(usize, usize, &str) + Sync),
) -> Vec<(ObjectRef, Health)> {
    let watched: Vec<&Work> = work
        .iter()
        .copied()
        .filter(|w| has_rule(&w.object))
        .collect();
    let deadline = Instant::now() + timeout;
    loop {
        let states = check(cluster, watched.iter().map(|w| (&w.object, &w.resource))).await;
        let ready = states.iter().filter(|(_, h)| *h == Health::Ready).count();
        let first_waiting = states
            .iter()
            .find_map(|(o, h)| match h {
                Health::Progressing(why) => Some(format!("{o}: {why}")),
                _ => None,
            })
            .unwrap_or_default();
        progress(ready, states.len(), &first_waiting);
        let settled = states
            .iter()
            .all(|(_, h)| !matches!(h, Health::Progressing(_)));
        if settled || Instant::now() >= deadline {
            return states;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> ObjectRef {
        ObjectRef::new("apps/v1", "Deployment", Some("n".into()), "web")
    }

    #[test]
    fn a_deployment_is_ready_when_observed_updated_and_ready() {
        let live = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
                       "readyReplicas": 3, "availableReplicas": 3}});
        assert_eq!(health(&deployment(), &live), Health::Ready);
    }

    #[test]
    fn a_deployment_whose_generation_is_not_observed_is_progressing() {
        let live = json!({"metadata": {"generation": 3}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 2, "updatedReplicas": 1, "readyReplicas": 1}});
        assert!(matches!(
            health(&deployment(), &live),
            Health::Progressing(_)
        ));
    }

    #[test]
    fn a_deployment_with_too_few_ready_replicas_is_progressing() {
        let live = json!({"metadata": {"generation": 1}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                       "readyReplicas": 1, "availableReplicas": 1}});
        assert_eq!(
            health(&deployment(), &live),
            Health::Progressing("1/2 replicas available".into())
        );
    }

    #[test]
    fn jobs_are_ready_when_complete_and_failed_when_failed() {
        let job = ObjectRef::new("batch/v1", "Job", Some("n".into()), "j");
        let done = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        let failed = json!({"status": {"conditions": [{"type": "Failed", "status": "True"}]}});
        assert_eq!(health(&job, &done), Health::Ready);
        assert!(matches!(health(&job, &failed), Health::Failed(_)));
        assert!(matches!(health(&job, &json!({})), Health::Progressing(_)));
    }

    #[test]
    fn a_set_is_failed_by_its_first_failure_and_progressing_by_its_first_laggard() {
        let web = deployment();
        let job = ObjectRef::new("batch/v1", "Job", Some("n".into()), "migrate");
        let waiting = [
            (
                web.clone(),
                Health::Progressing("0/1 replicas available".into()),
            ),
            (job.clone(), Health::Ready),
        ];
        assert_eq!(
            overall(&waiting),
            Health::Progressing("1/2 ready; Deployment/n/web: 0/1 replicas available".into())
        );
        let failed = [
            (
                web.clone(),
                Health::Progressing("0/1 replicas available".into()),
            ),
            (job.clone(), Health::Failed("the Job failed".into())),
        ];
        assert_eq!(
            overall(&failed),
            Health::Failed("Job/n/migrate: the Job failed".into())
        );
        assert_eq!(
            overall(&[(web, Health::Ready), (job, Health::Ready)]),
            Health::Ready
        );
        assert_eq!(overall(&[]), Health::Ready);
    }

    #[test]
    fn kinds_without_a_rule_are_ready_once_applied() {
        let cm = ObjectRef::new("v1", "ConfigMap", Some("n".into()), "c");
        assert!(!has_rule(&cm));
        assert_eq!(health(&cm, &json!({})), Health::Ready);
    }

    #[test]
    fn a_deployment_past_its_progress_deadline_fails_at_once() {
        let live = json!({"metadata": {"generation": 2}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1,
                "conditions": [{"type": "Progressing", "status": "False",
                                "reason": "ProgressDeadlineExceeded"}]}});
        assert_eq!(
            health(&deployment(), &live),
            Health::Failed("the rollout exceeded its progress deadline".into())
        );
    }

    #[test]
    fn old_or_terminating_replicas_keep_a_deployment_progressing() {
        // All updated and ready, but an old replica still runs.
        let old = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2,
                       "readyReplicas": 3, "availableReplicas": 3}});
        assert_eq!(
            health(&deployment(), &old),
            Health::Progressing("1 old replicas are pending termination".into())
        );
        let terminating = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
                       "readyReplicas": 2, "availableReplicas": 2, "terminatingReplicas": 1}});
        assert_eq!(
            health(&deployment(), &terminating),
            Health::Progressing("1 replicas are terminating".into())
        );
    }

    fn statefulset() -> ObjectRef {
        ObjectRef::new("apps/v1", "StatefulSet", Some("n".into()), "db")
    }

    #[test]
    fn an_on_delete_statefulset_is_ready_when_its_replicas_are() {
        // Nothing updates its pods until they are deleted: updatedReplicas stays 0.
        let live = json!({"metadata": {"generation": 2},
            "spec": {"replicas": 2, "updateStrategy": {"type": "OnDelete"}},
            "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 0,
                       "currentRevision": "a", "updateRevision": "b"}});
        assert_eq!(health(&statefulset(), &live), Health::Ready);
        let rolling = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 0}});
        assert_eq!(
            health(&statefulset(), &rolling),
            Health::Progressing("0/2 replicas updated".into())
        );
    }

    #[test]
    fn a_partitioned_statefulset_waits_only_for_the_pods_above_the_partition() {
        let live = json!({"metadata": {"generation": 2},
            "spec": {"replicas": 3, "updateStrategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"partition": 2}}},
            "status": {"observedGeneration": 2, "readyReplicas": 3, "updatedReplicas": 1,
                       "currentRevision": "a", "updateRevision": "b"}});
        assert_eq!(health(&statefulset(), &live), Health::Ready);
    }
}
