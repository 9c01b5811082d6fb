//! Prunes: members of the set that are no longer desired, unless their kind is protected.

use std::collections::BTreeSet;

use super::{PROTECTED_KINDS, PlanOptions, Work, comparable};
use crate::inventory::Member;
use crate::ssa::{Action, Change, Kept, mask_secret_pair};

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
                reason: "pruning is off for this set (prune: false)".into(),
            });
            continue;
        }
        if !options.prune_protected && PROTECTED_KINDS.contains(&(group.as_str(), kind.as_str())) {
            kept.push(Kept {
                object: member.object.clone(),
                reason: "protected kind: not pruned without --prune-protected".into(),
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
                body: None,
                uid,
                resource_version,
            },
        ));
    }
    (prunes, kept)
}
