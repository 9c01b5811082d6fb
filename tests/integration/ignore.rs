//! Ignore rules against the real API server: fields git seeds on create and leaves alone
//! afterwards (`kubectl-gitops.io/ignore-fields`, `.gitops-ignore.yaml`), through `diff` and
//! `apply` as a user runs them.

use std::process::Command;

use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::{self, Workdir, gitops, text};

fn deployment(name: &str, replicas: u32, image: &str, annotation: Option<&str>) -> String {
    let annotations = annotation
        .map(|a| format!("  annotations:\n    kubectl-gitops.io/ignore-fields: \"{a}\"\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n{annotations}spec:\n  \
         replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    \
         metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      \
         - name: web\n        image: {image}\n"
    )
}

fn run(repo: &Workdir, args: &[&str]) -> (Option<i32>, String, String) {
    let out = gitops(args, repo.path());
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

fn kubectl(args: &[&str]) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(args)
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn live(client: &kube::Client, ns: &str, name: &str) -> Value {
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), ns);
    serde_json::to_value(api.get(name).await.unwrap()).unwrap()
}

#[tokio::test]
async fn an_ignored_replica_count_is_seeded_on_create_then_left_to_kubectl_scale() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "ignore").await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[(
        "web.yaml",
        &deployment("web", 2, "nginx:1.27", Some("/spec/replicas")),
    )]);
    repo.git_commit_all();
    let common = ["-n", ns.as_str(), "--applyset", set.as_str()];

    // The create says it seeds the field, and does.
    let (code, stdout, stderr) = run(&repo, &[&["diff", "."][..], &common].concat());
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "# /spec/replicas set on create only, then ignored (kubectl-gitops.io/ignore-fields)"
        ),
        "{stdout}"
    );
    let (code, stdout, stderr) = run(&repo, &[&["apply", ".", "--yes"][..], &common].concat());
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(live(&client, &ns, "web").await["spec"]["replicas"], 2);

    // Applying again while the field is still ours keeps it: leaving it out of the apply
    // would let the server drop it to its default of 1.
    let (code, stdout, stderr) = run(&repo, &[&["apply", ".", "--yes"][..], &common].concat());
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(live(&client, &ns, "web").await["spec"]["replicas"], 2);
    let (code, stdout, _) = run(&repo, &[&["diff", "."][..], &common].concat());
    assert_eq!(code, Some(0), "{stdout}");
    assert!(!stdout.contains("Deployment/"), "nothing to say: {stdout}");

    // kubectl scale (a write to /scale by another manager) takes the field.
    kubectl(&["scale", "deployment/web", "-n", &ns, "--replicas=5"]);
    let (code, stdout, stderr) = run(&repo, &[&["diff", "."][..], &common].concat());
    assert_eq!(code, Some(0), "only ignored drift: {stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("= unchanged Deployment/{ns}/web (web.yaml:1)")),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "# /spec/replicas ignored (kubectl-gitops.io/ignore-fields): the cluster's value \
             differs from git and is kept"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("0 to update"), "{stdout}");
    let (code, markdown, _) = run(
        &repo,
        &[&["diff", ".", "-o", "markdown"][..], &common].concat(),
    );
    assert_eq!(code, Some(0), "{markdown}");
    assert!(
        markdown
            .contains("# /spec/replicas ignored (kubectl-gitops.io/ignore-fields): the cluster"),
        "{markdown}"
    );
    let (code, json, _) = run(&repo, &[&["diff", ".", "-o", "json"][..], &common].concat());
    assert_eq!(code, Some(0), "{json}");
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        report["changes"][0]["ignored"],
        json!([{"pointer": "/spec/replicas", "source": "kubectl-gitops.io/ignore-fields", "state": "liveDiffers"}]),
        "{json}"
    );

    // A new image in git is applied; the scaled count stays, and nobody claims it back.
    repo.write(
        "web.yaml",
        &deployment("web", 2, "nginx:1.28", Some("/spec/replicas")),
    );
    let (code, stdout, stderr) = run(&repo, &[&["diff", "."][..], &common].concat());
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("+        image: nginx:1.28"), "{stdout}");
    assert!(!stdout.contains("-  replicas: 5"), "{stdout}");
    let (code, stdout, stderr) = run(&repo, &[&["apply", ".", "--yes"][..], &common].concat());
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let after = live(&client, &ns, "web").await;
    assert_eq!(after["spec"]["replicas"], 5);
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    let ours = after["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "kubectl-gitops" && e["operation"] == "Apply")
        .unwrap();
    assert!(
        ours["fieldsV1"]["f:spec"].get("f:replicas").is_none(),
        "our apply does not claim the ignored field: {ours}"
    );
}

#[tokio::test]
async fn an_autoscaler_like_apply_by_another_manager_survives_our_apply() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "ignore-hpa").await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[(
        "web.yaml",
        &deployment("web", 2, "nginx:1.27", Some("/spec/replicas")),
    )]);
    repo.git_commit_all();
    let common = ["-n", ns.as_str(), "--applyset", set.as_str()];
    let (code, stdout, stderr) = run(&repo, &[&["apply", ".", "--yes"][..], &common].concat());
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");

    // An autoscaler that server-side applies the replica count as its own manager: while we
    // co-own the field it must force, as it would against any other owner.
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), &ns);
    let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "web"}, "spec": {"replicas": 7}});
    api.patch(
        "web",
        &PatchParams::apply("autoscaler").force(),
        &Patch::Apply(&scale),
    )
    .await
    .unwrap();
    let (code, stdout, stderr) = run(&repo, &[&["apply", ".", "--yes"][..], &common].concat());
    assert_eq!(
        code,
        Some(0),
        "no conflict with the autoscaler: {stdout}\n{stderr}"
    );
    assert_eq!(live(&client, &ns, "web").await["spec"]["replicas"], 7);
    // And it can keep scaling without forcing: we own nothing there any more.
    let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "web"}, "spec": {"replicas": 3}});
    api.patch(
        "web",
        &PatchParams::apply("autoscaler"),
        &Patch::Apply(&scale),
    )
    .await
    .unwrap();
    let (code, stdout, _) = run(&repo, &[&["diff", "."][..], &common].concat());
    assert_eq!(code, Some(0), "{stdout}");
}

#[tokio::test]
async fn the_path_wide_ignore_file_selects_objects_and_is_named_in_the_diff() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "ignore-file").await;
    let set = support::unique_name("set");
    let rules =
        "rules:\n- group: apps\n  kind: Deployment\n  name: web\n  fields:\n  - /spec/replicas\n";
    let repo = Workdir::new(&[
        (".gitops-ignore.yaml", rules),
        ("web.yaml", &deployment("web", 2, "nginx:1.27", None)),
        ("api.yaml", &deployment("api", 2, "nginx:1.27", None)),
    ]);
    repo.git_commit_all();
    let common = ["-n", ns.as_str(), "--applyset", set.as_str()];
    let (code, stdout, stderr) = run(&repo, &[&["apply", ".", "--yes"][..], &common].concat());
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains(".gitops-ignore.yaml:"),
        "the rules file is not a manifest: {stdout}"
    );
    kubectl(&["scale", "deployment/web", "-n", &ns, "--replicas=4"]);
    kubectl(&["scale", "deployment/api", "-n", &ns, "--replicas=4"]);
    let (code, stdout, stderr) = run(&repo, &[&["diff", "."][..], &common].concat());
    // kubectl scale took api's count, which git still owns: a conflict, as without rules.
    assert_eq!(
        code,
        Some(2),
        "api's count is not ignored: {stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("# /spec/replicas ignored (.gitops-ignore.yaml): the cluster's value differs from git and is kept"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("! conflict Deployment/{ns}/api")),
        "{stdout}"
    );
    assert!(stdout.contains("1 unchanged, 1 conflict"), "{stdout}");
    let (code, stdout, stderr) = run(
        &repo,
        &[&["apply", ".", "--yes", "--force-conflicts"][..], &common].concat(),
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(live(&client, &ns, "web").await["spec"]["replicas"], 4);
    assert_eq!(live(&client, &ns, "api").await["spec"]["replicas"], 2);

    // A rules file that does not read is an error naming it; nothing is planned.
    repo.write(
        ".gitops-ignore.yaml",
        "rules:\n- kind: Deployment\n  field: [/spec/replicas]\n",
    );
    let (code, stdout, stderr) = run(&repo, &[&["diff", "."][..], &common].concat());
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains(".gitops-ignore.yaml: "), "{stderr}");
    assert!(stderr.contains("field"), "{stderr}");
}
