//! The unit tests of `compare`.

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
    assert!(
        plan.kept[0]
            .reason
            .to_string()
            .contains("helm.sh/resource-policy")
    );
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
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old"}});
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
