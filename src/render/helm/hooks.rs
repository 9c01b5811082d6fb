//! Helm hooks, mapped onto one apply.
//!
//! We apply, we do not `helm install`, so there is one event: the apply. Objects annotated
//! `helm.sh/hook` are treated as follows:
//! - `test` (and `test-success`): never applied; they belong to `helm test`.
//! - `pre-install`/`pre-upgrade`: applied before every other object of the apply,
//!   `post-install`/`post-upgrade` after them, each group in `helm.sh/hook-weight` order.
//! - only `pre-delete`, `post-delete`, `pre-rollback`, `post-rollback`: never applied (nothing
//!   is ever deleted or rolled back as a release).
//!
//! A hook that is an action rather than state is a [`Run`]: a Job or a Pod (what Helm runs
//! again with every upgrade, recreating it under `before-hook-creation`, its default; a Job's
//! template cannot be updated in place anyway), and any hook whose
//! `helm.sh/hook-delete-policy` deletes it after it ran (`hook-succeeded`, `hook-failed`),
//! which is gone once it did its work. Runs are not compared with the cluster and not members
//! of the ApplySet; an apply that changes something runs them as Helm does (see `ssa::runs`).
//! Every other hook (a ConfigMap, a ServiceAccount that stays) is an ordinary member of the
//! ApplySet, applied in its stage and updated in place by later applies, which is what
//! `before-hook-creation` amounts to for an object that stays.

use serde_json::Value;

use super::super::Manifest;
use crate::render::RenderError;

const HOOK: &str = "helm.sh/hook";
const WEIGHT: &str = "helm.sh/hook-weight";
const DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

/// What an object's Helm hook annotations make of it, read once when its manifest is made
/// (`Manifest::hook`): the stage it is applied in, and the run it is if it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hook {
    pub stage: Stage,
    pub run: Option<Run>,
}

impl Hook {
    /// The hook `object` is (no annotation: the main stage, no run).
    pub fn of(object: &Value) -> Hook {
        Hook {
            stage: stage(object),
            run: run_of(object),
        }
    }
}

/// When, within one apply, an object is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Stage {
    /// A pre-install/pre-upgrade hook, with its weight.
    Before(i64),
    /// Everything that is not a hook.
    #[default]
    Main,
    /// A post-install/post-upgrade hook, with its weight.
    After(i64),
}

/// The stage of an object as rendered (its annotations decide).
pub fn stage(object: &Value) -> Stage {
    let Some(events) = annotation(object, HOOK) else {
        return Stage::Main;
    };
    let weight = weight(object);
    let events: Vec<&str> = events.split(',').map(str::trim).collect();
    if events
        .iter()
        .any(|e| matches!(*e, "pre-install" | "pre-upgrade"))
    {
        Stage::Before(weight)
    } else if events
        .iter()
        .any(|e| matches!(*e, "post-install" | "post-upgrade"))
    {
        Stage::After(weight)
    } else {
        Stage::Main
    }
}

/// What `helm.sh/hook-delete-policy` asks of a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletePolicy {
    /// Delete an earlier copy before creating it (Helm's default when no policy is given).
    pub before_creation: bool,
    /// Delete it once every hook of its stage succeeded.
    pub on_success: bool,
    /// Delete it when it failed.
    pub on_failure: bool,
}

impl DeletePolicy {
    pub fn of(object: &Value) -> DeletePolicy {
        let Some(policies) = annotation(object, DELETE_POLICY).filter(|p| !p.trim().is_empty())
        else {
            return DeletePolicy {
                before_creation: true,
                ..DeletePolicy::default()
            };
        };
        let mut policy = DeletePolicy::default();
        for name in policies.split(',').map(str::trim) {
            match name {
                "before-hook-creation" => policy.before_creation = true,
                "hook-succeeded" => policy.on_success = true,
                "hook-failed" => policy.on_failure = true,
                _ => {}
            }
        }
        policy
    }
}

/// A hook that runs on apply: when, and what deletes it. A hook may be declared for both
/// sides (`pre-install,post-install`, as charts do for the RBAC their hook Jobs share): it then
/// runs, and is deleted as its policy says, on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// pre-install/pre-upgrade: before the other objects.
    pub before: bool,
    /// post-install/post-upgrade: after the other objects.
    pub after: bool,
    pub weight: i64,
    pub delete_policy: DeletePolicy,
    /// A Job or Pod: it runs to its end, is waited for, and is never run twice.
    #[serde(skip)]
    pub completes: bool,
}

impl Run {
    /// Whether running it deletes an earlier copy first: when its policy says
    /// `before-hook-creation`, and always for a Job or Pod (a finished one cannot run again).
    pub fn replaces_earlier_copy(&self) -> bool {
        self.delete_policy.before_creation || self.completes
    }
}

/// Whether objects of this kind run to their end (a Job, a Pod), as Helm waits for hooks.
pub fn runs_to_completion(group: &str, kind: &str) -> bool {
    matches!((group, kind), ("batch", "Job") | ("", "Pod"))
}

/// The run this object is, if it is a hook that runs (a Job or a Pod) or is deleted after it
/// ran.
pub fn run_of(object: &Value) -> Option<Run> {
    let events: Vec<&str> = annotation(object, HOOK)?
        .split(',')
        .map(str::trim)
        .collect();
    let before = events
        .iter()
        .any(|e| matches!(*e, "pre-install" | "pre-upgrade"));
    let after = events
        .iter()
        .any(|e| matches!(*e, "post-install" | "post-upgrade"));
    if !before && !after {
        return None;
    }
    let delete_policy = DeletePolicy::of(object);
    let completes = {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        runs_to_completion(group, kind)
    };
    (completes || delete_policy.on_success || delete_policy.on_failure).then_some(Run {
        before,
        after,
        weight: weight(object),
        delete_policy,
        completes,
    })
}

/// The order Helm creates kinds in (its `InstallOrder`), which is how it orders hooks of one
/// weight and name.
const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Where `kind` stands in Helm's install order: known kinds by their place, the others after
/// them by name.
pub fn install_order(kind: &str) -> (usize, &str) {
    match INSTALL_ORDER.iter().position(|k| *k == kind) {
        Some(place) => (place, ""),
        None => (INSTALL_ORDER.len(), kind),
    }
}

fn weight(object: &Value) -> i64 {
    annotation(object, WEIGHT)
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether an apply ever applies this object: not when it is a test or a hook of an event
/// that never happens here.
fn is_applied(object: &Value) -> bool {
    let Some(events) = annotation(object, HOOK) else {
        return true;
    };
    events.split(',').map(str::trim).any(|e| {
        matches!(
            e,
            "pre-install" | "pre-upgrade" | "post-install" | "post-upgrade"
        )
    })
}

/// Hook events Helm knows (`test-success` is the old name of `test`).
const EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-upgrade",
    "post-upgrade",
    "pre-delete",
    "post-delete",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];
const DELETE_POLICIES: &[&str] = &["before-hook-creation", "hook-succeeded", "hook-failed"];

/// A hook annotation word Helm does not know is refused, naming the object: Helm itself would
/// quietly never run such a hook (`pre-instal`) or never delete it (`hook-suceeded`), and a
/// typo must not decide silently what an apply does.
pub(crate) fn unknown_words(manifests: &[Manifest]) -> Vec<RenderError> {
    let mut errors = Vec::new();
    for manifest in manifests {
        let object = Value::Object(manifest.object.clone());
        for (key, known) in [(HOOK, EVENTS), (DELETE_POLICY, DELETE_POLICIES)] {
            let Some(value) = annotation(&object, key) else {
                continue;
            };
            let unknown: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|word| !word.is_empty() && !known.contains(word))
                .collect();
            if !unknown.is_empty() {
                errors.push(RenderError::HelmHookAnnotation {
                    origin: manifest.origin.clone(),
                    object: Box::new(manifest.object_ref()),
                    key,
                    unknown: unknown.join(","),
                    known: known.join(", "),
                });
            }
        }
    }
    errors
}

/// The objects an apply applies or runs: Helm's tests and hooks of events that never happen
/// here are left out.
pub(crate) fn sort_out(manifests: Vec<Manifest>) -> Vec<Manifest> {
    manifests
        .into_iter()
        .filter(|m| is_applied(&Value::Object(m.object.clone())))
        .collect()
}

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .get("metadata")?
        .get("annotations")?
        .get(key)?
        .as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Origin;
    use serde_json::json;

    fn manifest(name: &str, annotations: Value) -> Manifest {
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "annotations": annotations},
        });
        Manifest::new(
            object.as_object().cloned().unwrap(),
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
    fn tests_and_delete_or_rollback_hooks_are_never_applied() {
        let kept = sort_out(vec![
            manifest("plain", json!({})),
            manifest("test", json!({"helm.sh/hook": "test"})),
            manifest("cleanup", json!({"helm.sh/hook": "pre-delete"})),
            manifest("rollback", json!({"helm.sh/hook": "post-rollback"})),
            manifest("migrate", json!({"helm.sh/hook": "pre-install,pre-delete"})),
        ]);
        let names: Vec<&str> = kept.iter().map(Manifest::name).collect();
        assert_eq!(names, ["plain", "migrate"]);
    }

    #[test]
    fn pre_hooks_go_first_and_post_hooks_last_by_weight() {
        let object = |annotations: Value| manifest("x", annotations).object.into();
        let pre = object(json!({"helm.sh/hook": "pre-upgrade", "helm.sh/hook-weight": "-5"}));
        let post = object(json!({"helm.sh/hook": "post-install"}));
        let plain = object(json!({}));
        assert_eq!(stage(&pre), Stage::Before(-5));
        assert_eq!(stage(&plain), Stage::Main);
        assert_eq!(stage(&post), Stage::After(0));
        assert!(Stage::Before(5) < Stage::Main && Stage::Main < Stage::After(-5));
        assert!(Stage::Before(-5) < Stage::Before(0));
    }

    #[test]
    fn hooks_deleted_after_they_run_are_runs_and_the_rest_stay() {
        let object = |annotations: Value| -> Value { manifest("x", annotations).object.into() };
        let job = object(json!({"helm.sh/hook": "pre-install,pre-upgrade",
            "helm.sh/hook-weight": "1",
            "helm.sh/hook-delete-policy": "hook-succeeded, before-hook-creation"}));
        assert_eq!(
            run_of(&job),
            Some(Run {
                before: true,
                after: false,
                weight: 1,
                delete_policy: DeletePolicy {
                    before_creation: true,
                    on_success: true,
                    on_failure: false
                },
                completes: false,
            })
        );
        let on_failure = object(json!({"helm.sh/hook": "post-upgrade",
            "helm.sh/hook-delete-policy": "hook-failed"}));
        let run = run_of(&on_failure).unwrap();
        assert!(run.after && !run.before && run.weight == 0);
        assert!(!run.delete_policy.before_creation);
        for stays in [
            json!({"helm.sh/hook": "pre-install"}),
            json!({"helm.sh/hook": "pre-install", "helm.sh/hook-delete-policy": "before-hook-creation"}),
            json!({"helm.sh/hook-delete-policy": "hook-succeeded"}),
            json!({"helm.sh/hook": "pre-delete", "helm.sh/hook-delete-policy": "hook-succeeded"}),
            json!({}),
        ] {
            assert_eq!(run_of(&object(stays.clone())), None, "{stays}");
        }
    }

    #[test]
    fn a_hook_of_both_sides_runs_on_both() {
        let rbac: Value = manifest(
            "patch",
            json!({"helm.sh/hook": "pre-install,pre-upgrade,post-install,post-upgrade",
                   "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}),
        )
        .object
        .into();
        let run = run_of(&rbac).unwrap();
        assert!(run.before && run.after);
    }

    #[test]
    fn hook_jobs_and_pods_are_runs_whatever_their_policy() {
        for (api_version, kind) in [("batch/v1", "Job"), ("v1", "Pod")] {
            let object = json!({"apiVersion": api_version, "kind": kind,
                "metadata": {"name": "migrate", "annotations": {"helm.sh/hook": "pre-upgrade"}}});
            let run = run_of(&object).unwrap_or_else(|| panic!("{kind} is a run"));
            assert!(run.before && !run.after);
            assert!(run.delete_policy.before_creation, "Helm's default");
            assert!(!run.delete_policy.on_success);
        }
        let plain_job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}});
        assert_eq!(run_of(&plain_job), None, "not a hook");
        let other_group = json!({"apiVersion": "example.com/v1", "kind": "Job",
            "metadata": {"name": "j", "annotations": {"helm.sh/hook": "pre-upgrade"}}});
        assert_eq!(run_of(&other_group), None);
    }

    #[test]
    fn kinds_go_in_helms_install_order_and_unknown_ones_last_by_name() {
        assert!(install_order("ServiceAccount") < install_order("ClusterRole"));
        assert!(install_order("RoleBinding") < install_order("Job"));
        assert!(install_order("ValidatingWebhookConfiguration") < install_order("AWidget"));
        assert!(install_order("AWidget") < install_order("Widget"));
    }

    #[test]
    fn hook_words_helm_does_not_know_are_refused_naming_the_object() {
        let errors = unknown_words(&[
            manifest("typo", json!({"helm.sh/hook": "pre-instal,post-install"})),
            manifest(
                "policy",
                json!({"helm.sh/hook": "pre-install",
                "helm.sh/hook-delete-policy": "before-hook-creation, hook-suceeded"}),
            ),
            manifest(
                "fine",
                json!({"helm.sh/hook": "pre-install, test",
                "helm.sh/hook-delete-policy": "hook-succeeded,hook-failed"}),
            ),
        ]);
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].contains("ConfigMap/typo")
                && messages[0].contains("\"pre-instal\"")
                && messages[0].contains("chart/Chart.yaml"),
            "{}",
            messages[0]
        );
        assert!(messages[1].contains("\"hook-suceeded\""), "{}", messages[1]);
    }

    #[test]
    fn no_delete_policy_means_before_hook_creation() {
        let object: Value = manifest("x", json!({"helm.sh/hook": "pre-install"}))
            .object
            .into();
        assert_eq!(
            DeletePolicy::of(&object),
            DeletePolicy {
                before_creation: true,
                ..DeletePolicy::default()
            }
        );
    }
}
