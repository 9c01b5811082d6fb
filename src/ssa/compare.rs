//! Comparing two renders of the same PATH (say, a pull request's base and head): as a plan of
//! its own without any cluster (`offline_plan`), and to tell which changes of a cluster plan
//! the head brings and which were in the cluster already (`classify`).
//!
//! Objects are matched by identity (API group, kind, namespace as written, name); the version
//! may differ. Nothing is defaulted: an object without a namespace is compared as written.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::plan::{PROTECTED_KINDS, comparable};
use super::{Action, Cause, Change, KeepReason, Kept, Plan, mask_secret_pair};
use crate::object::ObjectRef;
use crate::render::Manifest;

#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineOptions {
    /// Show Secret values instead of masks.
    pub show_secrets: bool,
    /// Show Namespaces, CRDs and PersistentVolumeClaims that left git as prunes rather than
    /// as kept, as `apply --prune-protected` would.
    pub prune_protected: bool,
}

/// (group, kind, namespace, name) as written, and which occurrence of it: objects named only by
/// `generateName` may repeat, and are paired in order.
type Key = ((String, String, Option<String>, String), usize);

fn keyed(manifests: &[Manifest]) -> Vec<(Key, &Manifest)> {
    let mut seen: HashMap<_, usize> = HashMap::new();
    manifests
        .iter()
        .map(|m| {
            let identity = identity(m);
            let occurrence = seen.entry(identity.clone()).or_default();
            let key = (identity, *occurrence);
            *occurrence += 1;
            (key, m)
        })
        .collect()
}

/// The identity as written; a nameless object is known by its `generateName`.
fn identity(manifest: &Manifest) -> (String, String, Option<String>, String) {
    let (group, kind, namespace, name) = manifest.object_ref().identity();
    if !name.is_empty() {
        return (group, kind, namespace, name);
    }
    let generate = manifest
        .object
        .get("metadata")
        .and_then(|m| m.get("generateName"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    (group, kind, namespace, format!("{generate}*"))
}

/// The object as plans compare it: normalised, `apiVersion` and `kind` on top.
fn body(manifest: &Manifest) -> Value {
    comparable(
        Value::Object(manifest.object.clone()),
        &manifest.object_ref(),
    )
}

/// What applying `head` would change, compared with `base` instead of a cluster: a create for
/// each object only in `head`, an update or unchanged for each object in both, and a prune for
/// each object only in `base` (it left git); protected kinds are kept unless
/// `prune_protected`. Changes follow `head`'s order, prunes `base`'s. Secrets are masked as in
/// a cluster plan. No server saw these objects, so every change has `validated: false`.
pub fn offline_plan(base: &[Manifest], head: &[Manifest], options: &OfflineOptions) -> Plan {
    // Helm hooks deleted after they run are no state to compare; an apply runs them (as the
    // plan against a cluster lists them).
    let is_run = |m: &Manifest| m.hook.run.is_some();
    let (runs, head): (Vec<Manifest>, Vec<Manifest>) = head.iter().cloned().partition(is_run);
    let base: Vec<Manifest> = base.iter().filter(|m| !is_run(m)).cloned().collect();
    let (base, head) = (base.as_slice(), head.as_slice());
    let base_keyed = keyed(base);
    let by_key: HashMap<&Key, &Manifest> = base_keyed.iter().map(|(k, m)| (k, *m)).collect();
    let mut plan = Plan::default();
    let mut matched = HashSet::new();
    for (key, manifest) in keyed(head) {
        let before = by_key.get(&key).map(|m| body(m));
        if before.is_some() {
            matched.insert(key);
        }
        let mut after = Some(body(manifest));
        let action = match &before {
            None => Action::Create,
            Some(b) if Some(b) == after.as_ref() => Action::Unchanged,
            Some(_) => Action::Update,
        };
        let mut before = before;
        if !options.show_secrets {
            mask_secret_pair(before.as_mut(), after.as_mut());
        }
        plan.changes.push(Change {
            action,
            object: manifest.object_ref(),
            origin: Some(manifest.origin.clone()),
            validated: false,
            note: None,
            conflicts: Vec::new(),
            cause: None,
            handover: None,
            before,
            after,
        });
    }
    for (key, manifest) in &base_keyed {
        if matched.contains(key) {
            continue;
        }
        let object = manifest.object_ref();
        if let Some(reason) =
            super::plan::kept_by_annotation(&Value::Object(manifest.object.clone()))
        {
            plan.kept.push(Kept { object, reason });
            continue;
        }
        if !options.prune_protected && is_protected(&object) {
            plan.kept.push(Kept {
                object,
                reason: KeepReason::ProtectedKind,
            });
            continue;
        }
        let mut before = Some(body(manifest));
        if !options.show_secrets {
            mask_secret_pair(before.as_mut(), None);
        }
        plan.changes.push(Change {
            action: Action::Prune,
            object,
            origin: None,
            validated: false,
            note: None,
            conflicts: Vec::new(),
            cause: None,
            handover: None,
            before,
            after: None,
        });
    }
    plan.hooks = runs
        .iter()
        .filter_map(|m| {
            let run = m.hook.run?;
            Some(super::runs::Hook {
                object: m.object_ref(),
                origin: m.origin.clone(),
                run,
            })
        })
        .collect();
    // As an apply lists them: the pre side's first, each side as it runs.
    plan.hooks
        .sort_by(|a, b| super::runs::listing_order(a).cmp(&super::runs::listing_order(b)));
    plan
}

fn is_protected(object: &ObjectRef) -> bool {
    PROTECTED_KINDS.contains(&(object.group(), object.kind.as_str()))
}

/// Sets `cause` on each change of a cluster plan computed from `head`:
///
/// - `Introduced` when `base` renders the object differently or not at all (for a prune: when
///   `base` still renders it, so `head` is what removes it);
/// - `Drift` when `base` renders it exactly as `head` does, so the difference is between git
///   and the cluster and predates `head`: applying would revert a change made in the cluster
///   (for a prune: the object had already left git in `base`).
///
/// Unchanged objects get no cause. Changes are matched to `head`'s manifests by origin; an
/// object without a namespace in the manifests matches a cluster object in
/// `default_namespace` (the namespace the plan put it in).
pub fn classify(plan: &mut Plan, head: &[Manifest], base: &[Manifest], default_namespace: &str) {
    // Keyed by the whole position: the items of one List share a file and document.
    let head_by_origin: HashMap<Position<'_>, &Manifest> =
        head.iter().map(|m| (m.origin.position(), m)).collect();
    let base_keyed = keyed(base);
    let base_by_key: HashMap<&Key, &Manifest> = base_keyed.iter().map(|(k, m)| (k, *m)).collect();
    let head_keys: HashMap<Position<'_>, Key> = keyed(head)
        .into_iter()
        .map(|(k, m)| (m.origin.position(), k))
        .collect();

    for change in &mut plan.changes {
        change.cause = match (change.action, &change.origin) {
            (Action::Unchanged, _) => None,
            (Action::Prune, _) => {
                let still_in_base = base
                    .iter()
                    .any(|m| same_object(&m.object_ref(), &change.object, default_namespace));
                Some(if still_in_base {
                    Cause::Introduced
                } else {
                    Cause::Drift
                })
            }
            (_, Some(origin)) => {
                let at = origin.position();
                let (Some(manifest), Some(key)) = (head_by_origin.get(&at), head_keys.get(&at))
                else {
                    continue;
                };
                let unchanged_in_git = base_by_key
                    .get(key)
                    .is_some_and(|b| body(b) == body(manifest));
                Some(if unchanged_in_git {
                    Cause::Drift
                } else {
                    Cause::Introduced
                })
            }
            (_, None) => None,
        };
    }
}

/// Where an object was rendered from: file, document and List item.
type Position<'a> = (&'a std::path::Path, usize, Option<usize>);

/// Whether a rendered object (namespace as written) is the cluster object `live` (namespace
/// resolved: the default for namespaced objects written without one, none when
/// cluster-scoped).
fn same_object(rendered: &ObjectRef, live: &ObjectRef, default_namespace: &str) -> bool {
    let namespace_matches = match (&live.namespace, &rendered.namespace) {
        (None, _) => true,
        (Some(live), Some(written)) => live == written,
        (Some(live), None) => live == default_namespace,
    };
    rendered.group() == live.group()
        && rendered.kind == live.kind
        && rendered.name == live.name
        && namespace_matches
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
