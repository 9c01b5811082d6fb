//! Plan files (`diff --out`, `apply --plan`), the prune limit (`--max-prune`) and the cascade
//! preview of prunes, against the real API server.

use std::path::Path;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::support::{self, Workdir, gitops, text};

fn cm(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{value}\"\n")
}

/// `kubectl gitops ARGS -n NS --applyset SET` in `cwd`: exit code, stdout, stderr.
fn run(args: &[&str], ns: &str, set: &str, cwd: &Path) -> (Option<i32>, String, String) {
    let args: Vec<&str> = args
        .iter()
        .copied()
        .chain(["-n", ns, "--applyset", set])
        .collect();
    let out = gitops(&args, cwd);
    let (stdout, stderr) = text(&out);
    eprintln!("{args:?}:\n{stdout}\n{stderr}");
    (out.status.code(), stdout, stderr)
}

async fn value(api: &Api<ConfigMap>, name: &str) -> Option<String> {
    api.get_opt(name)
        .await
        .unwrap()
        .map(|c| c.data.unwrap_or_default()["v"].clone())
}

async fn version(api: &Api<ConfigMap>, name: &str) -> String {
    api.get(name)
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap()
}

fn read_plan(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("plan file")).expect("plan JSON")
}

fn entry<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["object"]["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in the plan: {plan:#}"))
}

/// A set applied with b, c and d; then git updates b, drops c and adds a, and d stays.
async fn applied_then_changed(prefix: &str) -> (String, String, Workdir, Api<ConfigMap>) {
    let client = support::admin().await;
    let ns = support::namespace(&client, prefix).await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[
        ("b.yaml", &cm("b", "1")),
        ("c.yaml", &cm("c", "1")),
        ("d.yaml", &cm("d", "1")),
    ]);
    repo.git_commit_all();
    let (code, _, _) = run(&["apply", ".", "--yes"], &ns, &set, repo.path());
    assert_eq!(code, Some(0));
    repo.write("a.yaml", &cm("a", "1"));
    repo.write("b.yaml", &cm("b", "2"));
    std::fs::remove_file(repo.path().join("c.yaml")).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    (ns, set, repo, api)
}

#[tokio::test]
async fn a_plan_applied_unchanged_does_exactly_what_it_said() {
    let (ns, set, repo, api) = applied_then_changed("plan-exact").await;
    let plans = tempfile::tempdir().unwrap();
    let plan_path = plans.path().join("plan-exact.json");
    let plan_arg = plan_path.to_str().unwrap();

    let (code, shown, stderr) = run(&["diff", ".", "--out", plan_arg], &ns, &set, repo.path());
    assert_eq!(code, Some(1), "changes to apply");
    assert!(stderr.contains("Plan written to"), "{stderr}");
    let plan = read_plan(&plan_path);
    assert_eq!(plan["kind"], "kubectl-gitops/Plan");
    assert_eq!(plan["formatVersion"], 1);
    assert_eq!(
        plan["summary"],
        json!({"create": 1, "update": 1, "prune": 1, "unchanged": 1})
    );
    assert_eq!(plan["applySet"]["name"], set.as_str());
    assert!(
        plan["source"]["revision"]
            .as_str()
            .is_some_and(|r| r.len() == 40),
        "the commit the working tree is on: {plan:#}"
    );
    let (a, b, c, d) = (
        entry(&plan, "a"),
        entry(&plan, "b"),
        entry(&plan, "c"),
        entry(&plan, "d"),
    );
    assert_eq!(a["action"], "create");
    assert_eq!(a["uid"], Value::Null);
    assert_eq!(b["action"], "update");
    assert_eq!(b["resourceVersion"], version(&api, "b").await.as_str());
    assert!(b["bodyDigest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(c["action"], "prune");
    assert_eq!(c["resourceVersion"], version(&api, "c").await.as_str());
    assert_eq!(c["bodyDigest"], Value::Null);
    assert_eq!(d["action"], "unchanged");
    let digest = plan["digest"].as_str().unwrap().to_string();

    // Every preview of this plan carries its digest.
    let (_, markdown, _) = run(&["diff", ".", "-o", "markdown"], &ns, &set, repo.path());
    assert!(
        markdown.contains(&format!("Plan digest: `{digest}`")),
        "{markdown}"
    );
    let (_, json_report, _) = run(&["diff", ".", "-o", "json"], &ns, &set, repo.path());
    let report: Value = serde_json::from_str(&json_report).unwrap();
    assert_eq!(report["planDigest"], digest.as_str());
    assert!(shown.contains(&format!("~ update ConfigMap/{ns}/b")));

    // A digest that is not the file's is refused before anything is planned.
    let (code, _, stderr) = run(
        &[
            "apply",
            ".",
            "--plan",
            plan_arg,
            "--expect-digest",
            "sha256:0000",
            "--yes",
        ],
        &ns,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("is not the expected plan"), "{stderr}");
    assert_eq!(value(&api, "b").await.as_deref(), Some("1"));

    let d_version = version(&api, "d").await;
    let (code, applied, _) = run(
        &[
            "apply",
            ".",
            "--plan",
            plan_arg,
            "--expect-digest",
            &digest,
            "--yes",
        ],
        &ns,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(0), "{applied}");
    assert!(
        applied.contains("1 created, 1 updated, 1 pruned, 0 failed"),
        "{applied}"
    );
    assert_eq!(value(&api, "a").await.as_deref(), Some("1"));
    assert_eq!(value(&api, "b").await.as_deref(), Some("2"));
    assert_eq!(value(&api, "c").await, None, "pruned");
    assert_eq!(value(&api, "d").await.as_deref(), Some("1"));
    assert_eq!(version(&api, "d").await, d_version, "nothing written to d");

    // Applied once, the plan no longer holds: b is at another version and a exists now.
    let (code, _, again) = run(
        &["apply", ".", "--plan", plan_arg, "--yes"],
        &ns,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(2), "{again}");
    assert!(
        again.contains(&format!(
            "ConfigMap/{ns}/a: planned to create it, but now it would leave it unchanged"
        )),
        "{again}"
    );
}

#[tokio::test]
async fn a_plan_applied_after_a_live_edit_is_refused_and_names_the_object() {
    let (ns, set, repo, api) = applied_then_changed("plan-moved").await;
    let plans = tempfile::tempdir().unwrap();
    let plan_path = plans.path().join("plan-moved.json");
    let plan_arg = plan_path.to_str().unwrap();
    let (code, _, _) = run(&["diff", ".", "--out", plan_arg], &ns, &set, repo.path());
    assert_eq!(code, Some(1));

    // Someone edits b (to be updated) and c (to be pruned) after the plan was reviewed.
    for name in ["b", "c"] {
        let edit = json!({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": name}, "data": {"edited": "live"}});
        api.patch(
            name,
            &PatchParams::apply("kubectl-edit"),
            &Patch::Apply(&edit),
        )
        .await
        .unwrap();
    }
    // Refused as kubectl refuses an apply: an error on stderr.
    let (code, _, refused) = run(
        &["apply", ".", "--plan", plan_arg, "--yes"],
        &ns,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(2), "{refused}");
    assert!(refused.contains("error: Nothing was applied"), "{refused}");
    for name in ["b", "c"] {
        assert!(
            refused.contains(&format!(
                "ConfigMap/{ns}/{name}: it was changed in the cluster since the plan was made"
            )),
            "{name} is named\n{refused}"
        );
    }
    assert!(
        !refused.contains(&format!("ConfigMap/{ns}/a:")),
        "a did not move\n{refused}"
    );
    assert_eq!(value(&api, "a").await, None, "nothing applied");
    assert_eq!(value(&api, "b").await.as_deref(), Some("1"));
    assert!(value(&api, "c").await.is_some(), "nothing pruned");

    // A new plan takes the edits into account and applies.
    let (code, _, _) = run(&["diff", ".", "--out", plan_arg], &ns, &set, repo.path());
    assert_eq!(code, Some(1));
    let (code, applied, _) = run(
        &["apply", ".", "--plan", plan_arg, "--yes"],
        &ns,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(0), "{applied}");
    assert_eq!(value(&api, "b").await.as_deref(), Some("2"));
    assert_eq!(value(&api, "c").await, None);
}

#[tokio::test]
async fn a_plan_whose_render_changed_is_refused() {
    let (ns, set, repo, api) = applied_then_changed("plan-render").await;
    let plans = tempfile::tempdir().unwrap();
    let plan_path = plans.path().join("plan-render.json");
    let plan_arg = plan_path.to_str().unwrap();
    let (code, _, _) = run(&["diff", ".", "--out", plan_arg], &ns, &set, repo.path());
    assert_eq!(code, Some(1));

    repo.write("b.yaml", &cm("b", "3"));
    repo.write("e.yaml", &cm("e", "1"));
    let (code, _, refused) = run(
        &["apply", ".", "--plan", plan_arg, "--yes"],
        &ns,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(2), "{refused}");
    assert!(
        refused.contains(&format!(
            "ConfigMap/{ns}/b: its render changed since the plan was made"
        )),
        "{refused}"
    );
    assert!(
        refused.contains(&format!(
            "ConfigMap/{ns}/e: it would now create it, but the plan does not have it"
        )),
        "{refused}"
    );
    assert_eq!(value(&api, "b").await.as_deref(), Some("1"));
    assert_eq!(value(&api, "a").await, None);
    assert_eq!(value(&api, "e").await, None);

    // A hand-edited plan file is refused as a whole.
    let mut plan = read_plan(&plan_path);
    plan["objects"][0]["action"] = json!("unchanged");
    std::fs::write(&plan_path, serde_json::to_vec(&plan).unwrap()).unwrap();
    let (code, _, stderr) = run(
        &["apply", ".", "--plan", plan_arg, "--yes"],
        &ns,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("was changed after it was written"),
        "{stderr}"
    );
}

#[tokio::test]
async fn no_secret_value_is_in_the_plan_file_and_a_changed_value_is_refused() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "plan-secret").await;
    let set = support::unique_name("set");
    let secret = |password: &str, token_b64: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: \
             {password}\ndata:\n  token: {token_b64}\n"
        )
    };
    // "s3cr3t-token-value" in base64.
    let token = "czNjcjN0LXRva2VuLXZhbHVl";
    let repo = Workdir::new(&[("secret.yaml", &secret("hunter2-plan-value", token))]);
    repo.git_commit_all();
    let plans = tempfile::tempdir().unwrap();
    let plan_path = plans.path().join("plan-secret.json");
    let plan_arg = plan_path.to_str().unwrap();
    for extra in [&[][..], &["--show-secrets"]] {
        let args: Vec<&str> = ["diff", ".", "--out", plan_arg]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        let (code, _, _) = run(&args, &ns, &set, repo.path());
        assert_eq!(code, Some(1));
        let written = std::fs::read_to_string(&plan_path).unwrap();
        for value in [
            "hunter2-plan-value",
            "aHVudGVyMi1wbGFuLXZhbHVl",
            token,
            "s3cr3t-token-value",
        ] {
            assert!(!written.contains(value), "{value} in the plan: {written}");
        }
        let plan = read_plan(&plan_path);
        assert!(
            entry(&plan, "db")["bodyDigest"]
                .as_str()
                .unwrap()
                .starts_with("secret-sha256:"),
            "{plan:#}"
        );
    }

    // The digest still covers the values: a new password is a changed render.
    repo.write("secret.yaml", &secret("another-plan-value", token));
    let (code, _, refused) = run(
        &["apply", ".", "--plan", plan_arg, "--yes"],
        &ns,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(2), "{refused}");
    assert!(
        refused.contains(&format!("Secret/{ns}/db: its render changed")),
        "{refused}"
    );
    assert!(!refused.contains("another-plan-value"), "{refused}");
    let secrets: Api<Secret> = Api::namespaced(client, &ns);
    assert!(secrets.get_opt("db").await.unwrap().is_none());
}

#[tokio::test]
async fn max_prune_1_blocks_a_two_object_prune_in_apply() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "max-prune").await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[
        ("a.yaml", &cm("a", "1")),
        ("b.yaml", &cm("b", "1")),
        ("c.yaml", &cm("c", "1")),
    ]);
    repo.git_commit_all();
    let (code, _, _) = run(&["apply", ".", "--yes"], &ns, &set, repo.path());
    assert_eq!(code, Some(0));
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);

    std::fs::remove_file(repo.path().join("b.yaml")).unwrap();
    std::fs::remove_file(repo.path().join("c.yaml")).unwrap();
    repo.write("a.yaml", &cm("a", "2"));
    let (code, out, _) = run(
        &["apply", ".", "--yes", "--max-prune", "1"],
        &ns,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(3), "the prune limit's own exit code\n{out}");
    assert!(
        out.contains("the plan prunes 2 of the set's 3 members, more than --max-prune 1 allows"),
        "{out}"
    );
    assert!(out.contains("Nothing will be pruned"), "{out}");
    assert_eq!(value(&api, "a").await.as_deref(), Some("2"), "applied");
    assert!(value(&api, "b").await.is_some(), "not pruned");
    assert!(value(&api, "c").await.is_some(), "not pruned");

    // A share of the set counts the same way: 33% of 3 members allows 1 (rounded up).
    let (code, out, _) = run(
        &["apply", ".", "--yes", "--max-prune", "33%"],
        &ns,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(3), "{out}");
    assert!(value(&api, "b").await.is_some());

    let (code, _, stderr) = run(
        &["apply", ".", "--yes", "--max-prune", "lots"],
        &ns,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("unlimited"), "{stderr}");

    let (code, out, _) = run(
        &["apply", ".", "--yes", "--max-prune", "50%"],
        &ns,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(value(&api, "b").await, None);
    assert_eq!(value(&api, "c").await, None);
}

#[tokio::test]
async fn the_cascade_preview_of_a_namespace_counts_its_objects_per_kind() {
    let client = support::admin().await;
    let set = support::unique_name("set");
    let home = support::namespace(&client, "cascade-home").await;
    let doomed = support::unique_name("cascade-doomed");
    let namespace = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {doomed}\n");
    let repo = Workdir::new(&[("ns.yaml", &namespace), ("keep.yaml", &cm("keep", "1"))]);
    repo.git_commit_all();
    let (code, _, _) = run(&["apply", ".", "--yes"], &home, &set, repo.path());
    assert_eq!(code, Some(0));

    // Objects no ApplySet knows, made in the namespace by others.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &doomed);
    for name in ["one", "two"] {
        let object = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        configmaps
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &doomed);
    let secret = serde_json::from_value(json!({"metadata": {"name": "creds"},
        "stringData": {"password": "cascade-secret-value"}}))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    std::fs::remove_file(repo.path().join("ns.yaml")).unwrap();
    let expected =
        "deletes with it every object in it: 2 ConfigMap, 1 Secret (3 objects)".to_string();
    let (code, kept, _) = run(&["diff", "."], &home, &set, repo.path());
    assert_eq!(code, Some(0), "protected: kept, not pruned\n{kept}");
    assert!(!kept.contains("deletes with it"), "{kept}");

    let (code, shown, _) = run(
        &["diff", ".", "--prune-protected"],
        &home,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(1));
    assert!(
        shown.contains(&format!("- prune Namespace/{doomed}\n  {expected}")),
        "{shown}"
    );
    assert!(!shown.contains("cascade-secret-value"), "{shown}");

    let (_, markdown, _) = run(
        &["diff", ".", "--prune-protected", "-o", "markdown"],
        &home,
        &set,
        repo.path(),
    );
    assert!(
        markdown.contains(&format!("<strong>{expected}</strong>")),
        "{markdown}"
    );

    let (_, json_report, _) = run(
        &["diff", ".", "--prune-protected", "-o", "json"],
        &home,
        &set,
        repo.path(),
    );
    let report: Value = serde_json::from_str(&json_report).unwrap();
    let prune = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == "prune")
        .unwrap();
    assert_eq!(
        prune["cascade"],
        json!({
            "object": {"apiVersion": "v1", "kind": "Namespace", "name": doomed},
            "via": "namespace",
            "deletes": [
                {"group": "", "kind": "ConfigMap", "count": 2},
                {"group": "", "kind": "Secret", "count": 1},
            ],
        })
    );

    let (code, dry, _) = run(
        &["apply", ".", "--dry-run", "--prune-protected"],
        &home,
        &set,
        repo.path(),
    );
    assert_eq!(code, Some(0), "{dry}");
    assert!(
        dry.contains("Will delete 1 objects: 1 Namespace, and with them 3 more"),
        "{dry}"
    );
    let namespaces: Api<Namespace> = Api::all(client);
    assert!(namespaces.get_opt(&doomed).await.unwrap().is_some());
}

#[tokio::test]
async fn the_cascade_preview_of_an_owner_counts_its_dependents_through_owner_references() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "cascade-owner").await;
    let set = support::unique_name("set");
    let owner = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owner\ndata:\n  v: \"1\"\n";
    let repo = Workdir::new(&[("owner.yaml", owner), ("keep.yaml", &cm("keep", "1"))]);
    repo.git_commit_all();
    let (code, _, _) = run(&["apply", ".", "--yes"], &ns, &set, repo.path());
    assert_eq!(code, Some(0));
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let owner_uid = configmaps.get("owner").await.unwrap().metadata.uid.unwrap();

    // Two ReplicaSets the owner owns, and a third nobody owns.
    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
    for (name, owned) in [("rs-1", true), ("rs-2", true), ("stray", false)] {
        let references = if owned {
            json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}])
        } else {
            json!([])
        };
        let rs = serde_json::from_value(json!({
            "metadata": {"name": name, "ownerReferences": references},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
        }))
        .unwrap();
        replicasets
            .create(&PostParams::default(), &rs)
            .await
            .unwrap();
    }

    std::fs::remove_file(repo.path().join("owner.yaml")).unwrap();
    let (code, shown, _) = run(&["diff", "."], &ns, &set, repo.path());
    assert_eq!(code, Some(1));
    assert!(
        shown.contains(&format!(
            "- prune ConfigMap/{ns}/owner\n  deletes with it its dependents: 2 ReplicaSet.apps \
             (2 objects)"
        )),
        "{shown}"
    );
}

#[tokio::test]
async fn the_cascade_preview_of_a_crd_counts_its_resources_in_every_namespace() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "cascade-crd").await;
    let other = support::namespace(&client, "cascade-crd-other").await;
    let set = support::unique_name("set");
    let group = format!("{}.example.com", support::unique_name("cascade"));
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  \
         name: widgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names:\n    \
         kind: Widget\n    plural: widgets\n  versions:\n  - name: v1\n    served: true\n    \
         storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        \
         x-kubernetes-preserve-unknown-fields: true\n"
    );
    let repo = Workdir::new(&[("crd.yaml", &crd), ("keep.yaml", &cm("keep", "1"))]);
    repo.git_commit_all();
    let (code, _, _) = run(&["apply", ".", "--yes"], &ns, &set, repo.path());
    assert_eq!(code, Some(0));

    let resource = kube::core::ApiResource {
        group: group.clone(),
        version: "v1".into(),
        api_version: format!("{group}/v1"),
        kind: "Widget".into(),
        plural: "widgets".into(),
    };
    for (namespace, name) in [(&ns, "w1"), (&ns, "w2"), (&other, "w3")] {
        let api: Api<kube::core::DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &resource);
        let widget = kube::core::DynamicObject::new(name, &resource);
        api.create(&PostParams::default(), &widget).await.unwrap();
    }

    std::fs::remove_file(repo.path().join("crd.yaml")).unwrap();
    let (code, shown, _) = run(&["diff", ".", "--prune-protected"], &ns, &set, repo.path());
    assert_eq!(code, Some(1));
    assert!(
        shown.contains(&format!(
            "- prune CustomResourceDefinition/widgets.{group}\n  deletes with it every \
             resource of its kind: 3 Widget.{group} (3 objects)"
        )),
        "{shown}"
    );
}
