//! Comparing two renders of the same PATH (say, a pull request's base and head): as a plan of
//! its own without any cluster (`offline_plan`), and to tell which changes of a cluster plan
//! the head brings and which were in the cluster already (`classify`).
//!
//! Objects are matched by identity (API group, kind, namespace as written, name); the version
//! may differ. Nothing is defaulted: an object without a namespace is compared as written.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::plan::{PROTECTED_KINDS, comparable};
use super::{Action, Cause, Change, Kept, Plan, mask_secret_pair};
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
                reason: "protected kind: not pruned without --prune-protected".into(),
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
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::render::Origin;

    fn manifest(file: &str, document: usize, object: Value) -> Manifest {
        Manifest::new(
            object.as_object().expect("an object").clone(),
            Origin {
                file: std::path::PathBuf::from(file),
                document,
                item: None,
                line: 1 + document * 10,
                remote: None,
            },
        )
    }

    fn cm(name: &str, data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": "web"}, "data": data})
    }

    fn actions(plan: &Plan) -> Vec<(String, Action)> {
        plan.changes
            .iter()
            .map(|c| (c.object.to_string(), c.action))
            .collect()
    }

    #[test]
    fn an_object_annotated_to_be_kept_is_kept_when_it_leaves_git() {
        let kept = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "generated", "namespace": "web",
                         "annotations": {"helm.sh/resource-policy": "keep"}}});
        let base = [
            manifest("a.yaml", 0, kept),
            manifest("a.yaml", 1, cm("gone", json!({}))),
        ];
        let plan = offline_plan(&base, &[], &OfflineOptions::default());
        assert_eq!(
            actions(&plan),
            [("ConfigMap/web/gone".to_string(), Action::Prune)]
        );
        assert_eq!(plan.kept.len(), 1);
        assert!(plan.kept[0].reason.contains("helm.sh/resource-policy"));
    }

    #[test]
    fn hooks_deleted_after_they_run_are_listed_and_never_compared() {
        let hook = |image: &str| {
            json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "migrate", "namespace": "web", "annotations": {
                    "helm.sh/hook": "pre-upgrade",
                    "helm.sh/hook-delete-policy": "hook-succeeded"}},
                "spec": {"template": {"spec": {"containers": [{"name": "m", "image": image}]}}}})
        };
        let base = [
            manifest("a.yaml", 0, cm("settings", json!({"v": "1"}))),
            manifest("a.yaml", 1, hook("migrate:1")),
        ];
        let head = [
            manifest("a.yaml", 0, cm("settings", json!({"v": "2"}))),
            manifest("a.yaml", 1, hook("migrate:2")),
        ];
        let plan = offline_plan(&base, &head, &OfflineOptions::default());
        assert_eq!(
            actions(&plan),
            [("ConfigMap/web/settings".to_string(), Action::Update)]
        );
        let hooks: Vec<String> = plan.hooks.iter().map(|h| h.object.to_string()).collect();
        assert_eq!(hooks, ["Job/web/migrate"]);

        // A hook that leaves git is not pruned: it was never a member.
        let plan = offline_plan(&base, &head[..1], &OfflineOptions::default());
        assert_eq!(
            actions(&plan),
            [("ConfigMap/web/settings".to_string(), Action::Update)]
        );
        assert!(plan.hooks.is_empty());
    }

    #[test]
    fn creates_updates_prunes_and_unchanged_between_two_renders() {
        let base = vec![
            manifest("a.yaml", 0, cm("same", json!({"k": "v"}))),
            manifest("a.yaml", 1, cm("changed", json!({"level": "debug"}))),
            manifest("a.yaml", 2, cm("removed", json!({}))),
        ];
        let head = vec![
            manifest("a.yaml", 0, cm("same", json!({"k": "v"}))),
            manifest("a.yaml", 1, cm("changed", json!({"level": "info"}))),
            manifest("b.yaml", 0, cm("added", json!({}))),
        ];

        let plan = offline_plan(&base, &head, &OfflineOptions::default());

        assert_eq!(
            actions(&plan),
            [
                ("ConfigMap/web/same".to_string(), Action::Unchanged),
                ("ConfigMap/web/changed".to_string(), Action::Update),
                ("ConfigMap/web/added".to_string(), Action::Create),
                ("ConfigMap/web/removed".to_string(), Action::Prune),
            ]
        );
        let update = &plan.changes[1];
        assert_eq!(update.origin.as_ref().map(|o| o.line), Some(11));
        assert_eq!(update.before.as_ref().unwrap()["data"]["level"], "debug");
        assert_eq!(update.after.as_ref().unwrap()["data"]["level"], "info");
        assert!(!update.validated);
        assert_eq!(plan.changes[3].origin, None);
        assert_eq!(plan.changes[3].after, None);
        let summary = plan.summary();
        assert_eq!(
            (
                summary.create,
                summary.update,
                summary.prune,
                summary.unchanged
            ),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn identical_renders_have_no_changes() {
        let render = vec![manifest("a.yaml", 0, cm("a", json!({"k": "v"})))];

        let plan = offline_plan(&render, &render, &OfflineOptions::default());

        assert!(!plan.summary().has_changes());
        assert_eq!(plan.summary().unchanged, 1);
    }

    #[test]
    fn namespaces_are_compared_as_written_and_versions_ignored() {
        let unnamespaced = json!({"apiVersion": "apps/v1beta1", "kind": "Deployment",
                                  "metadata": {"name": "api"}});
        let moved = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "api"}, "spec": {"replicas": 2}});
        let base = vec![manifest("d.yaml", 0, unnamespaced)];
        let head = vec![manifest("d.yaml", 0, moved)];

        let plan = offline_plan(&base, &head, &OfflineOptions::default());

        assert_eq!(
            actions(&plan),
            [("Deployment/api".to_string(), Action::Update)]
        );
        assert_eq!(plan.changes[0].object.namespace, None);
        assert_eq!(plan.changes[0].object.api_version, "apps/v1");
    }

    #[test]
    fn server_bookkeeping_in_a_manifest_is_no_difference() {
        let mut with_status = cm("a", json!({"k": "v"}));
        with_status["status"] = json!({"phase": "whatever"});
        with_status["metadata"]["resourceVersion"] = json!("12");
        let base = vec![manifest("a.yaml", 0, cm("a", json!({"k": "v"})))];
        let head = vec![manifest("a.yaml", 0, with_status)];

        let plan = offline_plan(&base, &head, &OfflineOptions::default());

        assert_eq!(plan.changes[0].action, Action::Unchanged);
    }

    #[test]
    fn secret_values_are_masked_on_every_side() {
        let secret = |value: &str| {
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
                   "stringData": {"password": value, "user": "admin-canary"}})
        };
        let base = vec![
            manifest("s.yaml", 0, secret("old-canary-value")),
            manifest(
                "s.yaml",
                1,
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gone"},
                       "data": {"token": "Z29uZS1jYW5hcnk="}}),
            ),
        ];
        let head = vec![
            manifest("s.yaml", 0, secret("new-canary-value")),
            manifest(
                "t.yaml",
                0,
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "new"},
                       "stringData": {"key": "fresh-canary"}}),
            ),
        ];

        let plan = offline_plan(&base, &head, &OfflineOptions::default());

        let text = serde_json::to_string(&plan).expect("json");
        assert!(!text.contains("canary"), "{text}");
        assert!(!text.contains("Z29uZS"), "{text}");
        assert_eq!(plan.changes[0].action, Action::Update);
        assert_eq!(
            plan.changes[0].after.as_ref().unwrap()["stringData"]["password"],
            "*** (changed)"
        );

        let shown = offline_plan(
            &base,
            &head,
            &OfflineOptions {
                show_secrets: true,
                ..OfflineOptions::default()
            },
        );
        assert!(
            serde_json::to_string(&shown)
                .expect("json")
                .contains("new-canary-value")
        );
    }

    #[test]
    fn protected_kinds_that_left_git_are_kept_unless_asked() {
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old"}});
        let base = vec![manifest("ns.yaml", 0, namespace)];

        let plan = offline_plan(&base, &[], &OfflineOptions::default());
        assert!(plan.changes.is_empty());
        assert_eq!(plan.kept.len(), 1);
        assert_eq!(plan.kept[0].object.to_string(), "Namespace/old");

        let plan = offline_plan(
            &base,
            &[],
            &OfflineOptions {
                prune_protected: true,
                ..OfflineOptions::default()
            },
        );
        assert_eq!(
            actions(&plan),
            [("Namespace/old".to_string(), Action::Prune)]
        );
    }

    #[test]
    fn nameless_objects_pair_in_order() {
        let job = |image: &str| {
            json!({"apiVersion": "batch/v1", "kind": "Job",
                   "metadata": {"generateName": "migrate-", "namespace": "web"},
                   "spec": {"image": image}})
        };
        let base = vec![
            manifest("j.yaml", 0, job("a")),
            manifest("j.yaml", 1, job("b")),
        ];
        let head = vec![
            manifest("j.yaml", 0, job("a")),
            manifest("j.yaml", 1, job("c")),
            manifest("j.yaml", 2, job("d")),
        ];

        let plan = offline_plan(&base, &head, &OfflineOptions::default());

        let got: Vec<Action> = plan.changes.iter().map(|c| c.action).collect();
        assert_eq!(got, [Action::Unchanged, Action::Update, Action::Create]);
    }

    fn cluster_change(action: Action, object: ObjectRef, origin: Option<(&str, usize)>) -> Change {
        Change {
            action,
            object,
            origin: origin.map(|(file, document)| Origin {
                file: Path::new(file).to_path_buf(),
                document,
                item: None,
                line: 1,
                remote: None,
            }),
            validated: true,
            note: None,
            conflicts: Vec::new(),
            cause: None,
            handover: None,
            before: None,
            after: None,
        }
    }

    #[test]
    fn classifies_changes_as_introduced_or_drift() {
        let base = vec![
            manifest("a.yaml", 0, cm("edited-in-git", json!({"v": "1"}))),
            manifest("a.yaml", 1, cm("edited-live", json!({"v": "1"}))),
            manifest("a.yaml", 2, cm("deleted-live", json!({}))),
            manifest(
                "a.yaml",
                3,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "removed"}}),
            ),
        ];
        let head = vec![
            manifest("a.yaml", 0, cm("edited-in-git", json!({"v": "2"}))),
            manifest("a.yaml", 1, cm("edited-live", json!({"v": "1"}))),
            manifest("a.yaml", 2, cm("deleted-live", json!({}))),
            manifest("b.yaml", 0, cm("added", json!({}))),
            manifest("b.yaml", 1, cm("in-sync", json!({}))),
        ];
        let object = |ns: Option<&str>, name: &str| {
            ObjectRef::new("v1", "ConfigMap", ns.map(str::to_string), name)
        };
        let mut plan = Plan {
            changes: vec![
                cluster_change(
                    Action::Update,
                    object(Some("web"), "edited-in-git"),
                    Some(("a.yaml", 0)),
                ),
                cluster_change(
                    Action::Update,
                    object(Some("web"), "edited-live"),
                    Some(("a.yaml", 1)),
                ),
                cluster_change(
                    Action::Create,
                    object(Some("web"), "deleted-live"),
                    Some(("a.yaml", 2)),
                ),
                cluster_change(
                    Action::Create,
                    object(Some("web"), "added"),
                    Some(("b.yaml", 0)),
                ),
                cluster_change(
                    Action::Unchanged,
                    object(Some("web"), "in-sync"),
                    Some(("b.yaml", 1)),
                ),
                // Rendered by base without a namespace: the plan put it in the default one.
                cluster_change(Action::Prune, object(Some("default"), "removed"), None),
                cluster_change(Action::Prune, object(Some("web"), "long-gone"), None),
            ],
            ..Plan::default()
        };

        classify(&mut plan, &head, &base, "default");

        let causes: Vec<(String, Option<Cause>)> = plan
            .changes
            .iter()
            .map(|c| (c.object.name.clone(), c.cause))
            .collect();
        assert_eq!(
            causes,
            [
                ("edited-in-git".to_string(), Some(Cause::Introduced)),
                ("edited-live".to_string(), Some(Cause::Drift)),
                ("deleted-live".to_string(), Some(Cause::Drift)),
                ("added".to_string(), Some(Cause::Introduced)),
                ("in-sync".to_string(), None),
                ("removed".to_string(), Some(Cause::Introduced)),
                ("long-gone".to_string(), Some(Cause::Drift)),
            ]
        );
    }

    #[test]
    fn items_of_one_list_are_classified_each_against_its_own_base() {
        let list = |first: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMapList\nitems:\n\
                 - metadata: {{name: first, namespace: web}}\n  data: {{v: '{first}'}}\n\
                 - metadata: {{name: second, namespace: web}}\n  data: {{v: '1'}}\n"
            )
        };
        let load = |text: String| {
            crate::render::load_file(Path::new("lists.yaml"), text.as_bytes()).expect("loads")
        };
        let (base, head) = (load(list("1")), load(list("2")));
        let change = |m: &Manifest| Change {
            origin: Some(m.origin.clone()),
            ..cluster_change(Action::Update, m.object_ref(), None)
        };
        // The first item changed in git; the second only in the cluster.
        let mut plan = Plan {
            changes: head.iter().map(change).collect(),
            ..Plan::default()
        };

        classify(&mut plan, &head, &base, "default");

        let causes: Vec<Option<Cause>> = plan.changes.iter().map(|c| c.cause).collect();
        assert_eq!(causes, [Some(Cause::Introduced), Some(Cause::Drift)]);
    }
}
