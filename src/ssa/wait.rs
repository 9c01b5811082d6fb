//! Health: whether an applied object has become what it asked for. Rules for the kinds whose
//! readiness a controller reports in status; every other kind is ready once applied.

use std::time::{Duration, Instant};

use futures::future::join_all;
use kube::core::{DynamicObject, Request, Resource};
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
        ("apps", "Deployment") | ("apps", "StatefulSet") => {
            if observed < generation {
                return behind();
            }
            let want = live["spec"]["replicas"].as_i64().unwrap_or(1);
            let updated = int(&status["updatedReplicas"]);
            let ready = int(&status["readyReplicas"]);
            if updated < want {
                Health::Progressing(format!("{updated}/{want} replicas updated"))
            } else if ready < want {
                Health::Progressing(format!("{ready}/{want} replicas ready"))
            } else {
                Health::Ready
            }
        }
        ("apps", "DaemonSet") => {
            if observed < generation {
                return behind();
            }
            let want = int(&status["desiredNumberScheduled"]);
            let updated = int(&status["updatedNumberScheduled"]);
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
        let states = join_all(watched.iter().map(|w| async move {
            let request = Request::new(DynamicObject::url_path(
                &w.resource,
                w.object.namespace.as_deref(),
            ))
            .get(&w.object.name, &Default::default());
            let state = match request {
                Err(err) => Health::Failed(err.to_string()),
                Ok(request) => match cluster.send::<Value>(request).await {
                    Ok(live) => health(&w.object, &live),
                    Err(err) => Health::Progressing(format!("cannot read it: {err}")),
                },
            };
            (w.object.clone(), state)
        }))
        .await;
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
            "status": {"observedGeneration": 2, "updatedReplicas": 3, "readyReplicas": 3}});
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
            "status": {"observedGeneration": 1, "updatedReplicas": 2, "readyReplicas": 1}});
        assert_eq!(
            health(&deployment(), &live),
            Health::Progressing("1/2 replicas ready".into())
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
    fn kinds_without_a_rule_are_ready_once_applied() {
        let cm = ObjectRef::new("v1", "ConfigMap", Some("n".into()), "c");
        assert!(!has_rule(&cm));
        assert_eq!(health(&cm, &json!({})), Health::Ready);
    }
}
