//! `kubectl gitops apply` against the real API server: the inventory, prune safety, conflicts,
//! ordering and waiting.

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::support::{self, Workdir, gitops, text};

fn cm(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{value}\"\n")
}

/// A repository with one ConfigMap file per name, and an ApplySet named after the test.
fn repo_with(names: &[&str]) -> Workdir {
    let files: Vec<(String, String)> = names
        .iter()
        .map(|n| (format!("{n}.yaml"), cm(n, "1")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let repo = Workdir::new(&refs);
    repo.git_commit_all();
    repo
}

fn apply(repo: &Workdir, ns: &str, set: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec!["apply", ".", "-n", ns, "--applyset", set];
    args.extend_from_slice(extra);
    let out = gitops(&args, repo.path());
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

pub(crate) async fn configmap_names(client: &kube::Client, ns: &str) -> Vec<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let mut names: Vec<String> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| n != "kube-root-ca.crt")
        .collect();
    names.sort();
    names
}

fn kubectl_json(args: &[&str]) -> Value {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(args)
        .args(["-o", "json"])
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("kubectl json")
}

#[tokio::test]
async fn first_apply_creates_everything_and_a_parent_that_follows_the_applyset_spec() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "apply").await;
    let set = support::unique_name("set");
    let repo = repo_with(&["a", "b"]);

    let (code, stdout, stderr) = apply(&repo, &ns, &set, &["--yes"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("2 created, 0 updated, 0 pruned, 0 failed"),
        "{stdout}"
    );
    assert_eq!(configmap_names(&client, &ns).await, ["a", "b"]);

    // Checked with kubectl, as a user would: the parent and the member labels.
    // The parent sits in the target namespace, as kubectl apply --applyset puts it.
    let parent = kubectl_json(&["get", "secret", &set, "-n", &ns]);
    let id = parent["metadata"]["labels"]["applyset.kubernetes.io/id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(id.starts_with("applyset-") && id.ends_with("-v1"), "{id}");
    let annotations = &parent["metadata"]["annotations"];
    assert!(
        annotations["applyset.kubernetes.io/tooling"]
            .as_str()
            .unwrap()
            .starts_with("kubectl-gitops/v")
    );
    assert_eq!(
        annotations["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap"
    );
    assert_eq!(
        annotations["applyset.kubernetes.io/additional-namespaces"], "",
        "every member is in the parent's namespace"
    );
    let member = kubectl_json(&["get", "configmap", "a", "-n", &ns, "--show-managed-fields"]);
    assert_eq!(
        member["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
        id.as_str()
    );
    let managers: Vec<&str> = member["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["kubectl-gitops"]);

    let (code, stdout, _) = apply(&repo, &ns, &set, &["--yes"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("No changes"),
        "a second apply is a no-op\n{stdout}"
    );
}

#[tokio::test]
async fn removing_a_file_prunes_exactly_that_object_and_nothing_outside_the_set() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "prune").await;
    let other_ns = support::namespace(&client, "bystander").await;
    let set = support::unique_name("set");
    let repo = repo_with(&["keep", "drop"]);
    assert_eq!(apply(&repo, &ns, &set, &["--yes"]).0, Some(0));
    // Same kind and name, not in the set: one unlabelled, one in another set.
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &other_ns);
    for (name, labels) in [
        ("drop", json!({})),
        (
            "other-set",
            json!({"applyset.kubernetes.io/part-of": "applyset-someone-else-v1"}),
        ),
    ] {
        let object: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
        api.create(&PostParams::default(), &object).await.unwrap();
    }

    std::fs::remove_file(repo.path().join("drop.yaml")).unwrap();
    let diff = gitops(&["diff", ".", "-n", &ns, "--applyset", &set], repo.path());
    let (diff_out, _) = text(&diff);
    assert_eq!(diff.status.code(), Some(1));
    assert!(
        diff_out.contains(&format!("- prune ConfigMap/{ns}/drop")),
        "diff shows the prune\n{diff_out}"
    );

    let (code, stdout, stderr) = apply(&repo, &ns, &set, &["--yes"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Will delete 1 objects: 1 ConfigMap"),
        "blast radius before acting\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("pruned ConfigMap/{ns}/drop")),
        "{stdout}"
    );
    assert_eq!(configmap_names(&client, &ns).await, ["keep"]);
    assert_eq!(
        configmap_names(&client, &other_ns).await,
        ["drop", "other-set"]
    );
}

#[tokio::test]
async fn an_empty_render_is_refused_unless_allowed() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "empty").await;
    let set = support::unique_name("set");
    let repo = repo_with(&["a"]);
    assert_eq!(apply(&repo, &ns, &set, &["--yes"]).0, Some(0));
    std::fs::remove_file(repo.path().join("a.yaml")).unwrap();

    let (code, stdout, stderr) = apply(&repo, &ns, &set, &["--yes"]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("rendered no objects") && stderr.contains("--allow-empty"),
        "{stderr}"
    );
    assert_eq!(
        configmap_names(&client, &ns).await,
        ["a"],
        "nothing was deleted"
    );

    let (code, stdout, _) = apply(&repo, &ns, &set, &["--yes", "--allow-empty"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(configmap_names(&client, &ns).await.is_empty());
}

#[tokio::test]
async fn a_refused_apply_records_its_json_document_and_tells_one_error_on_stderr() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "refused-json").await;
    let set = support::unique_name("set");
    let repo = repo_with(&["a"]);
    repo.write(
        "bad.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n  replicas: 1\n",
    );
    let (code, stdout, stderr) = apply(&repo, &ns, &set, &["--yes", "-o", "json"]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    let document: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_eq!(document["applied"]["result"], "refused", "{document:#}");
    assert_eq!(document["applied"]["note"], "objects failed to plan");
    // Told once, the way every error is: `error:` on stderr.
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(
        errors,
        ["error: Nothing was applied: 1 object failed to plan; fix it and run apply again."],
        "{stderr}"
    );
    assert!(
        configmap_names(&client, &ns).await.is_empty(),
        "nothing applied"
    );
}

#[tokio::test]
async fn an_object_the_server_refuses_at_plan_time_stops_the_whole_apply() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "refused").await;
    let set = support::unique_name("set");
    let repo = repo_with(&["a", "b"]);
    assert_eq!(apply(&repo, &ns, &set, &["--yes"]).0, Some(0));

    std::fs::remove_file(repo.path().join("b.yaml")).unwrap();
    repo.write("a.yaml", &cm("a", "2"));
    repo.write(
        "bad.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n  replicas: 1\n",
    );
    let (code, stdout, stderr) = apply(&repo, &ns, &set, &["--yes"]);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(
        stdout.contains(&format!("! error Deployment/{ns}/bad")),
        "{stdout}"
    );
    assert!(stderr.contains("error: Nothing was applied"), "{stderr}");
    assert_eq!(
        configmap_names(&client, &ns).await,
        ["a", "b"],
        "b is not pruned"
    );
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert_eq!(
        api.get("a").await.unwrap().data.unwrap()["v"],
        "1",
        "a is not updated either"
    );

    std::fs::remove_file(repo.path().join("bad.yaml")).unwrap();
    let (code, stdout, _) = apply(&repo, &ns, &set, &["--yes"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(configmap_names(&client, &ns).await, ["a"]);
}

#[tokio::test]
async fn a_failure_during_apply_keeps_going_but_prunes_nothing() {
    // A custom resource whose CRD arrives in the same change can only be validated once the
    // CRD exists, so its rejection happens mid-apply.
    let client = support::admin().await;
    let ns = support::namespace(&client, "midway").await;
    let set = support::unique_name("set");
    let repo = repo_with(&["a", "b"]);
    assert_eq!(apply(&repo, &ns, &set, &["--yes"]).0, Some(0));

    let group = format!("{}.example.com", support::unique_name("strict"));
    std::fs::remove_file(repo.path().join("b.yaml")).unwrap();
    repo.write("c.yaml", &cm("c", "1"));
    repo.write(
        "crd.yaml",
        &format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  \
             name: sizes.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names:\n    \
             kind: Size\n    plural: sizes\n  versions:\n  - name: v1\n    served: true\n    \
             storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        \
             properties:\n          spec:\n            type: object\n            properties:\n              \
             n: {{type: integer}}\n"
        ),
    );
    repo.write(
        "size.yaml",
        &format!(
            "apiVersion: {group}/v1\nkind: Size\nmetadata:\n  name: s\nspec:\n  n: not-a-number\n"
        ),
    );

    let (code, stdout, _) = apply(&repo, &ns, &set, &["--yes"]);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(
        stdout.contains(&format!("! failed Size/{ns}/s")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("created ConfigMap/{ns}/c")),
        "independent objects are applied\n{stdout}"
    );
    assert!(stdout.contains("prunes skipped"), "{stdout}");
    assert_eq!(
        configmap_names(&client, &ns).await,
        ["a", "b", "c"],
        "b is not pruned"
    );

    // The inventory stays consistent: once fixed, a re-run converges and prunes.
    repo.write(
        "size.yaml",
        &format!("apiVersion: {group}/v1\nkind: Size\nmetadata:\n  name: s\nspec:\n  n: 3\n"),
    );
    let (code, stdout, _) = apply(&repo, &ns, &set, &["--yes"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(configmap_names(&client, &ns).await, ["a", "c"]);
}

#[tokio::test]
async fn a_field_conflict_names_the_other_manager_until_forced() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "conflict").await;
    let set = support::unique_name("set");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"v": "theirs"}});
    api.patch(
        "a",
        &PatchParams::apply("helm-like-tool"),
        &Patch::Apply(&theirs),
    )
    .await
    .unwrap();
    let repo = repo_with(&["a"]);

    let (code, stdout, _) = apply(&repo, &ns, &set, &["--yes"]);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(
        stdout.contains("helm-like-tool") && stdout.contains(".data.v"),
        "names manager and field\n{stdout}"
    );
    assert!(stdout.contains("--force-conflicts"), "{stdout}");
    assert_eq!(api.get("a").await.unwrap().data.unwrap()["v"], "theirs");

    let (code, stdout, _) = apply(&repo, &ns, &set, &["--yes", "--force-conflicts"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(api.get("a").await.unwrap().data.unwrap()["v"], "1");
}

#[tokio::test]
async fn a_crd_and_its_custom_resource_apply_in_one_go() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "crd-apply").await;
    let set = support::unique_name("set");
    let group = format!("{}.example.com", support::unique_name("g"));
    let repo = Workdir::new(&[
        (
            "crd.yaml",
            &format!(
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  \
                 name: gadgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names:\n    \
                 kind: Gadget\n    plural: gadgets\n  versions:\n  - name: v1\n    served: true\n    \
                 storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        \
                 x-kubernetes-preserve-unknown-fields: true\n"
            ),
        ),
        (
            "gadget.yaml",
            &format!(
                "apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: g1\nspec:\n  size: 1\n"
            ),
        ),
    ]);
    repo.git_commit_all();

    let (code, stdout, stderr) = apply(&repo, &ns, &set, &["--yes"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("created Gadget/{ns}/g1")),
        "{stdout}"
    );
    let gadget = kubectl_json(&["get", &format!("gadgets.{group}"), "g1", "-n", &ns]);
    assert_eq!(gadget["spec"]["size"], 1);
    let (code, stdout, _) = apply(&repo, &ns, &set, &["--yes"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("No changes"), "{stdout}");
}

#[tokio::test]
async fn without_a_terminal_apply_needs_yes_and_writes_nothing() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "noprompt").await;
    let set = support::unique_name("set");
    let repo = repo_with(&["a"]);
    let (code, _, stderr) = apply(&repo, &ns, &set, &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("pass --yes"), "{stderr}");
    assert!(configmap_names(&client, &ns).await.is_empty());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    assert!(
        secrets.get_opt(&set).await.unwrap().is_none(),
        "not even the parent"
    );
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "dryrun").await;
    let set = support::unique_name("set");
    let repo = repo_with(&["a"]);
    let (code, stdout, _) = apply(&repo, &ns, &set, &["--dry-run"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("+ create ConfigMap") && stdout.contains("Dry run: nothing was written."),
        "{stdout}"
    );
    assert!(configmap_names(&client, &ns).await.is_empty());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    assert!(secrets.get_opt(&set).await.unwrap().is_none());
}

#[tokio::test]
async fn a_namespace_that_left_git_is_kept_unless_protected_prunes_are_allowed() {
    let client = support::admin().await;
    let scratch = support::namespace(&client, "scratch").await;
    let doomed = support::unique_name("doomed");
    let set = support::unique_name("set");
    let repo = Workdir::new(&[(
        "ns.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {doomed}\n"),
    )]);
    repo.git_commit_all();
    repo.write("cm.yaml", &cm("anchor", "1"));
    assert_eq!(apply(&repo, &scratch, &set, &["--yes"]).0, Some(0));

    std::fs::remove_file(repo.path().join("ns.yaml")).unwrap();
    let (code, stdout, _) = apply(&repo, &scratch, &set, &["--yes"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("= kept Namespace/{doomed}: protected kind")),
        "{stdout}"
    );
    let ns = kubectl_json(&["get", "namespace", &doomed]);
    assert!(
        ns["metadata"]["deletionTimestamp"].is_null(),
        "the namespace is not deleted"
    );

    let (code, stdout, _) = apply(&repo, &scratch, &set, &["--yes", "--prune-protected"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("pruned Namespace/{doomed}")),
        "{stdout}"
    );
}

/// The target namespace is one the repository creates: the parent lives in it, so it is
/// created (bare) before the parent, and the Namespace is then a member like the others.
#[tokio::test]
async fn a_target_namespace_the_repository_creates_holds_the_parent_from_the_first_apply() {
    let client = support::admin().await;
    let fresh = support::unique_name("fresh");
    let set = support::unique_name("set");
    let repo = Workdir::new(&[
        (
            "ns.yaml",
            &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {fresh}\n"),
        ),
        ("cm.yaml", &cm("inside", "1")),
    ]);
    repo.git_commit_all();
    let (code, stdout, stderr) = apply(&repo, &fresh, &set, &["--yes"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("created Namespace/{fresh}")),
        "{stdout}"
    );
    assert_eq!(configmap_names(&client, &fresh).await, ["inside"]);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &fresh);
    assert!(secrets.get_opt(&set).await.unwrap().is_some(), "the parent");
    let ns = kubectl_json(&["get", "namespace", &fresh]);
    assert!(
        ns["metadata"]["labels"]["applyset.kubernetes.io/part-of"].is_string(),
        "the Namespace is a member: {ns}"
    );

    let (code, stdout, _) = apply(&repo, &fresh, &set, &["--dry-run"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("0 to create, 0 to update, 0 to prune, 2 unchanged"),
        "{stdout}"
    );
}

#[tokio::test]
async fn wait_follows_a_rollout_until_the_deployment_is_ready() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "wait").await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[(
        "web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    \
         matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      \
         containers:\n      - name: web\n        image: nginx:1.27\n",
    )]);
    let path = repo.path().to_path_buf();
    let ns_for_run = ns.clone();
    let set_for_run = set.clone();
    let run = std::thread::spawn(move || {
        let out = gitops(
            &[
                "apply",
                ".",
                "-n",
                &ns_for_run,
                "--applyset",
                &set_for_run,
                "--yes",
                "--wait",
                "--timeout",
                "60s",
            ],
            &path,
        );
        let (stdout, stderr) = text(&out);
        (out.status.code(), stdout, stderr)
    });

    // No controllers run on the test server: play the Deployment controller's part.
    let api: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let generation = loop {
        if let Some(d) = api.get_opt("web").await.unwrap() {
            break d.metadata.generation.unwrap_or(1);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!run.is_finished(), "apply --wait must wait for the rollout");
    let status = json!({"status": {"observedGeneration": generation, "replicas": 2,
        "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}});
    api.patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();

    let (code, stdout, stderr) = run.join().unwrap();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("ready Deployment/{ns}/web")),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_member_edited_after_the_plan_is_not_pruned_and_a_new_plan_prunes_it() {
    use kubectl_gitops::cluster::{Cluster, ClusterOptions};
    use kubectl_gitops::inventory::ApplySet;
    use kubectl_gitops::pipeline::{self, ExecuteOptions, PlanSettings, Scope};
    use kubectl_gitops::render::{Manifest, Origin};
    use kubectl_gitops::ssa::Action;

    let client = support::admin().await;
    let ns = support::namespace(&client, "stale-prune").await;
    let repo = repo_with(&["kept", "gone"]);
    let (code, stdout, stderr) =
        apply(&repo, &ns, "stale", &["--yes", "--applyset-namespace", &ns]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");

    let cluster = Cluster::connect(&ClusterOptions {
        kubeconfig: Some(support::kubeconfig()),
        namespace: Some(ns.clone()),
        ..ClusterOptions::default()
    })
    .await
    .unwrap();
    let set = ApplySet::named("stale", &ns);
    // What the render makes of kept.yaml.
    let kept = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept"},
        "data": {"v": "1"}})
    .as_object()
    .cloned()
    .unwrap();
    let plan_now = || async {
        let manifests = vec![Manifest::new(
            kept.clone(),
            Origin {
                file: "kept.yaml".into(),
                document: 0,
                item: None,
                line: 1,
                remote: None,
            },
        )];
        pipeline::plan(
            &cluster,
            manifests,
            &set,
            &Scope::Whole,
            &PlanSettings::default(),
        )
        .await
        .unwrap()
    };
    let execute = |plan: pipeline::SetPlan| {
        let cluster = &cluster;
        async move {
            pipeline::execute(
                cluster,
                &plan.set,
                &plan.inventory,
                &plan.planned,
                &ExecuteOptions::default(),
                &|_| {},
            )
            .await
            .unwrap()
        }
    };
    let stale = plan_now().await;
    assert_eq!(stale.planned.plan.summary().prune, 1);

    // While the plan waits (at a prompt, say), someone changes the object it would delete.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    configmaps
        .patch(
            "gone",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"data": {"v": "precious"}})),
        )
        .await
        .unwrap();
    let execution = execute(stale).await;
    let pruned: Vec<_> = execution
        .results
        .iter()
        .filter(|r| r.action == Action::Prune)
        .collect();
    assert_eq!(pruned.len(), 1, "{:?}", execution.results);
    let error = pruned[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("changed or replaced since the plan was made"),
        "{error}"
    );
    assert_eq!(
        configmaps.get("gone").await.unwrap().data.unwrap()["v"],
        "precious",
        "the edited object is still there"
    );

    // A plan made now has seen the edit, and its prune goes ahead.
    let fresh = plan_now().await;
    let execution = execute(fresh).await;
    assert!(execution.succeeded(), "{:?}", execution.results);
    assert!(configmaps.get_opt("gone").await.unwrap().is_none());
}

/// A webhook that refuses every ConfigMap write in `ns` (`failurePolicy: Fail`), served by a
/// Service that never answers: the test server runs no controllers, so it has no endpoints.
fn refusing_webhook(ns: &str, name: &str) -> String {
    refusing_webhook_named(ns, name, &format!("refuse.{name}.example.com"))
}

fn refusing_webhook_named(ns: &str, name: &str, webhook: &str) -> String {
    format!(
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: {name}
webhooks:
- name: {webhook}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 2
  namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {ns}
  rules:
  - apiGroups: [\"\"]
    apiVersions: [v1]
    operations: [CREATE, UPDATE, DELETE]
    resources: [configmaps]
  clientConfig:
    service:
      name: hook
      namespace: {ns}
      path: /validate
      port: 443
"
    )
}

fn yaml(text: &str) -> Value {
    kubectl_gitops::yaml::from_str(text).expect("test manifest")
}

const HOOK_SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: hook
spec:
  selector:
    app: hook
  ports:
  - port: 443
    targetPort: 8443
";

#[tokio::test]
async fn a_failing_webhook_is_applied_after_the_objects_of_its_own_change_and_pruned_before_them() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "webhook").await;
    let set = support::unique_name("set");
    let hook = support::unique_name("refuse");
    let repo = Workdir::new(&[
        ("webhook.yaml", &refusing_webhook(&ns, &hook)),
        ("service.yaml", HOOK_SERVICE),
        ("a.yaml", &cm("a", "1")),
        ("b.yaml", &cm("b", "1")),
    ]);
    repo.git_commit_all();
    let webhooks: Api<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration> =
        Api::all(client.clone());

    let (code, stdout, stderr) = apply(&repo, &ns, &set, &["--yes"]);
    let cleanup = || async {
        let _ = webhooks.delete(&hook, &Default::default()).await;
    };
    if code != Some(0) {
        cleanup().await;
    }
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(configmap_names(&client, &ns).await, ["a", "b"]);
    assert!(webhooks.get_opt(&hook).await.unwrap().is_some());

    // The webhook is live and refuses ConfigMap writes: proof that the order, not luck, let
    // the first apply through.
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let refused = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "other"}})).unwrap(),
        )
        .await;
    if refused.is_ok() {
        cleanup().await;
    }
    assert!(refused.is_err(), "the webhook refuses ConfigMaps");

    // Everything leaves git: the webhook goes first, so the ConfigMaps can be deleted after it.
    for file in ["webhook.yaml", "service.yaml", "a.yaml", "b.yaml"] {
        std::fs::remove_file(repo.path().join(file)).unwrap();
    }
    repo.git_commit_all();
    let (code, stdout, stderr) = apply(&repo, &ns, &set, &["--yes", "--allow-empty"]);
    if code != Some(0) {
        cleanup().await;
    }
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(webhooks.get_opt(&hook).await.unwrap().is_none());
    assert_eq!(configmap_names(&client, &ns).await, Vec::<String>::new());
}

/// The API server goes on calling a deleted webhook until its own watch has seen the delete,
/// so the deletes right after a pruned webhook can be refused by it. Here a second
/// configuration, outside the set and with the same webhook name, plays that lagging server:
/// the prune must ask again, not fail, until it is gone too.
#[tokio::test]
async fn a_delete_refused_by_a_webhook_just_pruned_is_asked_again_until_the_server_lets_go() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "departed").await;
    let set = support::unique_name("set");
    let hook = support::unique_name("refuse");
    let webhook = format!("refuse.{hook}.example.com");
    let repo = Workdir::new(&[
        ("webhook.yaml", &refusing_webhook(&ns, &hook)),
        ("a.yaml", &cm("a", "1")),
    ]);
    repo.git_commit_all();
    let (code, stdout, stderr) = apply(&repo, &ns, &set, &["--yes"]);
    let webhooks: Api<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration> =
        Api::all(client.clone());
    let lagging = format!("{hook}-lagging");
    let cleanup = || async {
        for name in [&hook, &lagging] {
            let _ = webhooks.delete(name, &Default::default()).await;
        }
    };
    if code != Some(0) {
        cleanup().await;
    }
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let echo: k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration =
        serde_json::from_value(yaml(&refusing_webhook_named(&ns, &lagging, &webhook))).unwrap();
    webhooks
        .create(&PostParams::default(), &echo)
        .await
        .unwrap();

    for file in ["webhook.yaml", "a.yaml"] {
        std::fs::remove_file(repo.path().join(file)).unwrap();
    }
    repo.git_commit_all();
    let pruning = support::gitops_spawn(
        &[
            "apply",
            ".",
            "-n",
            &ns,
            "--applyset",
            &set,
            "--yes",
            "--allow-empty",
        ],
        repo.path(),
    );
    // The set's configuration goes first; the ConfigMap's delete is refused by the echo of its
    // webhook meanwhile. Once the echo is gone too, the next try deletes it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while webhooks.get_opt(&hook).await.unwrap().is_some() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    webhooks
        .delete(&lagging, &Default::default())
        .await
        .unwrap();
    let out = pruning.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    if out.status.code() != Some(0) {
        cleanup().await;
    }
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("pruned ConfigMap"), "{stdout}");
    assert_eq!(configmap_names(&client, &ns).await, Vec::<String>::new());
}

/// A refusal by a webhook that is still configured is final: the prune does not wait on it.
#[tokio::test]
async fn a_delete_refused_by_a_webhook_that_stays_fails_at_once_and_names_it() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "stays").await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[("a.yaml", &cm("a", "1"))]);
    repo.git_commit_all();
    let (code, stdout, stderr) = apply(&repo, &ns, &set, &["--yes"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let hook = support::unique_name("refuse");
    let webhooks: Api<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration> =
        Api::all(client.clone());
    let refusing: k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration =
        serde_json::from_value(yaml(&refusing_webhook(&ns, &hook))).unwrap();
    webhooks
        .create(&PostParams::default(), &refusing)
        .await
        .unwrap();

    std::fs::remove_file(repo.path().join("a.yaml")).unwrap();
    repo.git_commit_all();
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = apply(&repo, &ns, &set, &["--yes", "--allow-empty"]);
    let took = started.elapsed();
    let _ = webhooks.delete(&hook, &Default::default()).await;
    assert_ne!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("refuse.{hook}.example.com")),
        "{stdout}"
    );
    assert!(
        took < Duration::from_secs(10),
        "waited {took:?} on a webhook that was never pruned"
    );
    assert_eq!(configmap_names(&client, &ns).await, ["a"]);
}

/// An object that says it must stay (Helm's `resource-policy: keep`, which charts put on
/// Secrets holding generated passwords, or our own annotation) is kept when it leaves git,
/// and said so; the others go as usual.
#[tokio::test]
async fn objects_annotated_to_be_kept_stay_when_they_leave_git() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "keep").await;
    let set = support::unique_name("set");
    let keep = |name: &str, key: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n    \
             {key}: \"{value}\"\n"
        )
    };
    let repo = Workdir::new(&[
        (
            "helm.yaml",
            &keep("generated", "helm.sh/resource-policy", "keep"),
        ),
        (
            "ours.yaml",
            &keep("precious", "kubectl-gitops.io/prune", "false"),
        ),
        ("plain.yaml", &cm("plain", "1")),
        ("stays.yaml", &cm("stays", "1")),
    ]);
    repo.git_commit_all();
    let (code, stdout, stderr) = apply(&repo, &ns, &set, &["--yes"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");

    for file in ["helm.yaml", "ours.yaml", "plain.yaml"] {
        std::fs::remove_file(repo.path().join(file)).unwrap();
    }
    repo.git_commit_all();
    let (code, stdout, stderr) = apply(&repo, &ns, &set, &["--yes", "--prune-protected"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "= kept ConfigMap/{ns}/generated: annotated helm.sh/resource-policy: keep: never pruned"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("= kept ConfigMap/{ns}/precious")),
        "{stdout}"
    );
    assert_eq!(
        configmap_names(&client, &ns).await,
        ["generated", "precious", "stays"]
    );
}
