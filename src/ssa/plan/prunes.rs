//! Prunes: members of the set that are no longer desired, unless their kind is protected.

use std::collections::BTreeSet;

use super::{PROTECTED_KINDS, PlanOptions, Work, comparable};
use crate::inventory::Member;
use crate::render::helm::hooks::Stage;
use crate::ssa::{Action, Change, KeepReason, Kept, mask_secret_pair};

/// Members no longer desired: pruned, or kept when their kind is protected.
pub(super) fn prunes(
    members: &[Member],
    desired: &BTreeSet<(String, String, String, String)>,
    options: &PlanOptions,
) -> (Vec<(Change, Work)>, Vec<Kept>) {
    let mut prunes = Vec::new();
    let mut kept = Vec::new();
    for member in members {
        let (group, kind, namespace, name) = member.object.identity();
        if desired.contains(&(
            group.clone(),
            kind.clone(),
            name,
            namespace.unwrap_or_default(),
        )) {
            continue;
        }
        if options.keep_unrendered {
            kept.push(Kept {
                object: member.object.clone(),
                reason: KeepReason::PruningOff,
            });
            continue;
        }
        if let Some(reason) = kept_by_annotation(&member.live) {
            kept.push(Kept {
                object: member.object.clone(),
                reason,
            });
            continue;
        }
        if !options.prune_protected && PROTECTED_KINDS.contains(&(group.as_str(), kind.as_str())) {
            kept.push(Kept {
                object: member.object.clone(),
                reason: KeepReason::ProtectedKind,
            });
            continue;
        }
        let mut before = Some(comparable(member.live.clone(), &member.object));
        if !options.show_secrets {
            mask_secret_pair(before.as_mut(), None);
        }
        let uid = member.live["metadata"]["uid"].as_str().map(str::to_string);
        let resource_version = member.live["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_string);
        prunes.push((
            Change {
                action: Action::Prune,
                object: member.object.clone(),
                origin: None,
                validated: true,
                note: None,
                conflicts: Vec::new(),
                cause: None,
                handover: None,
                before,
                after: None,
            },
            Work {
                object: member.object.clone(),
                resource: member.resource.clone(),
                action: Action::Prune,
                stage: Stage::Main,
                body: None,
                uid,
                resource_version,
            },
        ));
    }
    (prunes, kept)
}

/// Why an object that left git is never pruned, if it says so itself: kubectl-gitops' own
/// annotation, or the one of the tool that wrote the manifest (Helm's `resource-policy: keep`,
/// which charts put on Secrets holding generated passwords; Flux's and Argo CD's per-object
/// prune switches, so a repository moved over from them keeps its promises). Not even
/// `--prune-protected` prunes such an object: delete it by hand when it is no longer needed.
pub(in crate::ssa) fn kept_by_annotation(object: &serde_json::Value) -> Option<KeepReason> {
    let annotations = object.pointer("/metadata/annotations")?.as_object()?;
    let says = |key: &str, wants: &dyn Fn(&str) -> bool| {
        annotations
            .get(key)
            .and_then(serde_json::Value::as_str)
            .filter(|v| wants(v.trim()))
            .map(|v| KeepReason::Annotated {
                key: key.to_string(),
                value: v.trim().to_string(),
            })
    };
    says("kubectl-gitops.io/prune", &|v| v == "false")
        .or_else(|| says("helm.sh/resource-policy", &|v| v == "keep"))
        .or_else(|| says("kustomize.toolkit.fluxcd.io/prune", &|v| v == "disabled"))
        .or_else(|| {
            says("argocd.argoproj.io/sync-options", &|v| {
                v.split(',').any(|o| o.trim() == "Prune=false")
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn annotated(key: &str, value: &str) -> serde_json::Value {
        json!({"metadata": {"name": "x", "annotations": {key: value}}})
    }

    #[test]
    fn objects_that_ask_to_be_kept_are_kept_whoever_wrote_the_annotation() {
        for (key, value) in [
            ("kubectl-gitops.io/prune", "false"),
            ("helm.sh/resource-policy", "keep"),
            ("kustomize.toolkit.fluxcd.io/prune", "disabled"),
            (
                "argocd.argoproj.io/sync-options",
                "ServerSideApply=true, Prune=false",
            ),
        ] {
            let reason = kept_by_annotation(&annotated(key, value));
            assert!(
                reason
                    .as_ref()
                    .is_some_and(|r| matches!(r, KeepReason::Annotated { key: k, .. } if k == key)),
                "{key}: {reason:?}"
            );
        }
    }

    #[test]
    fn other_values_and_unannotated_objects_are_pruned_as_usual() {
        for (key, value) in [
            ("kubectl-gitops.io/prune", "true"),
            ("helm.sh/resource-policy", "delete"),
            ("kustomize.toolkit.fluxcd.io/prune", "enabled"),
            (
                "argocd.argoproj.io/sync-options",
                "Prune=true,Replace=false",
            ),
            ("example.com/prune", "false"),
        ] {
            assert_eq!(kept_by_annotation(&annotated(key, value)), None, "{key}");
        }
        assert_eq!(
            kept_by_annotation(&json!({"metadata": {"name": "x"}})),
            None
        );
    }
}
