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
//! Applied hooks are ordinary members of the ApplySet: they stay in the cluster and are
//! updated in place by later applies. `helm.sh/hook-delete-policy: before-hook-creation`
//! (Helm's default) is met by that update; `hook-succeeded` and `hook-failed` ask for a
//! deletion we do not perform, so they are refused with an error naming the object.

use serde_json::Value;

use super::super::Manifest;
use crate::render::RenderError;

const HOOK: &str = "helm.sh/hook";
const WEIGHT: &str = "helm.sh/hook-weight";
const DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

/// When, within one apply, an object is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// A pre-install/pre-upgrade hook, with its weight.
    Before(i64),
    /// Everything that is not a hook.
    Main,
    /// A post-install/post-upgrade hook, with its weight.
    After(i64),
}

/// The stage of an object as rendered (its annotations decide).
pub fn stage(object: &Value) -> Stage {
    let Some(events) = annotation(object, HOOK) else {
        return Stage::Main;
    };
    let weight = annotation(object, WEIGHT)
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0);
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

/// The chart's objects an apply applies; hooks asking to be deleted are refused.
pub(crate) fn sort_out(manifests: Vec<Manifest>, errors: &mut Vec<RenderError>) -> Vec<Manifest> {
    let mut kept = Vec::new();
    for manifest in manifests {
        let object = Value::Object(manifest.object.clone());
        if !is_applied(&object) {
            continue;
        }
        if annotation(&object, HOOK).is_some()
            && let Some(policies) = annotation(&object, DELETE_POLICY)
        {
            let refused: Vec<&str> = policies
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty() && *p != "before-hook-creation")
                .collect();
            if !refused.is_empty() {
                errors.push(RenderError::HelmHookDeletePolicy {
                    origin: manifest.origin.clone(),
                    object: Box::new(manifest.object_ref()),
                    policy: refused.join(","),
                });
                continue;
            }
        }
        kept.push(manifest);
    }
    kept
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
        Manifest {
            object: object.as_object().cloned().unwrap(),
            origin: Origin {
                file: "chart/Chart.yaml".into(),
                document: 0,
                item: None,
                line: 1,
            },
            ignored: Vec::new(),
        }
    }

    #[test]
    fn tests_and_delete_or_rollback_hooks_are_never_applied() {
        let mut errors = Vec::new();
        let kept = sort_out(
            vec![
                manifest("plain", json!({})),
                manifest("test", json!({"helm.sh/hook": "test"})),
                manifest("cleanup", json!({"helm.sh/hook": "pre-delete"})),
                manifest("rollback", json!({"helm.sh/hook": "post-rollback"})),
                manifest("migrate", json!({"helm.sh/hook": "pre-install,pre-delete"})),
            ],
            &mut errors,
        );
        let names: Vec<&str> = kept.iter().map(Manifest::name).collect();
        assert_eq!(names, ["plain", "migrate"]);
        assert!(errors.is_empty());
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
    fn deleting_hooks_are_refused_naming_the_object_and_policy() {
        let mut errors = Vec::new();
        let kept = sort_out(
            vec![
                manifest(
                    "kept",
                    json!({"helm.sh/hook": "pre-install",
                           "helm.sh/hook-delete-policy": "before-hook-creation"}),
                ),
                manifest(
                    "job",
                    json!({"helm.sh/hook": "post-install",
                           "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}),
                ),
            ],
            &mut errors,
        );
        assert_eq!(kept.len(), 1);
        let message = errors[0].to_string();
        assert!(message.contains("job"), "{message}");
        assert!(message.contains("\"hook-succeeded\""), "{message}");
    }
}
