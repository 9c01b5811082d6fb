//! `kubectl gitops diff` against the real API server: what a user sees for each kind of change.

use base64::Engine;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::support::{self, Workdir, gitops, text};

/// Applies `object` as another tool would (a different field manager).
/// Applies the repository with kubectl-gitops itself, so the cluster starts in sync.
fn seed(repo: &Workdir, ns: &str) {
    let out = gitops(&["apply", ".", "-n", ns, "--yes"], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "seeding: {stdout}\n{stderr}");
}

async fn apply_as_other_tool(client: &kube::Client, object: Value) {
    let api_version = object["apiVersion"].as_str().unwrap().to_string();
    let kind = object["kind"].as_str().unwrap().to_string();
    let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &kind));
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    api.patch(
        &name,
        &PatchParams::apply("someone-else").force(),
        &Patch::Apply(&object),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {kind}/{name}: {e}"));
}

#[tokio::test]
async fn shows_creates_and_updates_and_counts_unchanged_objects() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "diff").await;
    let repo = Workdir::new(&[(
        "app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: same\ndata:\n  k: v\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: changed\ndata:\n  level: debug\n",
    )]);
    repo.git_commit_all();
    seed(&repo, &ns);
    repo.write(
        "app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: same\ndata:\n  k: v\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: changed\ndata:\n  level: info\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: new\ndata:\n  a: b\n",
    );

    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "drift exits 1\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("+ create ConfigMap/{ns}/new (app.yaml:15)")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("~ update ConfigMap/{ns}/changed (app.yaml:8)")),
        "{stdout}"
    );
    assert!(
        stdout.contains("-  level: debug\n+  level: info"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&format!("ConfigMap/{ns}/same")),
        "unchanged objects are not printed\n{stdout}"
    );
    assert!(
        stdout.contains("Plan: 1 to create, 1 to update, 0 to prune, 1 unchanged."),
        "{stdout}"
    );
    // Server bookkeeping never shows up as drift.
    for noise in [
        "managedFields",
        "resourceVersion",
        "uid:",
        "creationTimestamp",
    ] {
        assert!(
            !stdout.contains(noise),
            "{noise} leaked into the diff\n{stdout}"
        );
    }
}

#[tokio::test]
async fn in_sync_exits_zero_and_says_so() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "sync").await;
    let repo = Workdir::new(&[(
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n",
    )]);
    seed(&repo, &ns);

    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("0 to create, 0 to update, 0 to prune, 1 unchanged"),
        "{stdout}"
    );
    assert!(
        stderr.contains("not inside a git repository"),
        "plain directories are announced: {stderr}"
    );
}

#[tokio::test]
async fn defaulted_fields_make_no_noise() {
    // A Deployment applied by another tool gets many server defaults. Adopting the same
    // manifest from git changes exactly one thing: the ApplySet membership label.
    let client = support::admin().await;
    let ns = support::namespace(&client, "defaults").await;
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  \
        selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    \
        spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n";
    let mut object: Value = kubectl_gitops::yaml::from_str(deployment).unwrap();
    object["metadata"]["namespace"] = json!(ns);
    apply_as_other_tool(&client, object).await;
    let repo = Workdir::new(&[("web.yaml", deployment)]);

    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let changed: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            l.starts_with(['+', '-']) && !l.starts_with("+ create") && !l.starts_with("- prune")
        })
        .collect();
    assert_eq!(changed.len(), 2, "only the label is added\n{stdout}");
    assert_eq!(changed[0], "+  labels:");
    assert!(
        changed[1].starts_with("+    applyset.kubernetes.io/part-of: applyset-"),
        "{stdout}"
    );

    seed(&repo, &ns);
    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "in sync after apply\n{}",
        text(&out).0
    );
}

#[tokio::test]
async fn secret_values_never_reach_any_output_format() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "secret").await;
    let live_value = support::unique_name("live-canary");
    let new_value = support::unique_name("git-canary");
    let string_value = support::unique_name("string-canary");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    apply_as_other_tool(
        &client,
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "creds", "namespace": ns},
               "data": {"password": b64(&live_value), "same": b64("unchanged-value")}}),
    )
    .await;
    let repo = Workdir::new(&[(
        "secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ndata:\n  password: {}\n  same: {}\n\
             stringData:\n  token: {string_value}\n",
            b64(&new_value),
            b64("unchanged-value")
        ),
    )]);

    // The other tool owns the password: a conflict unless forced, and masked either way.
    for (format, forced, exit) in [
        ("text", true, 1),
        ("markdown", true, 1),
        ("json", true, 1),
        ("text", false, 2),
        ("markdown", false, 2),
        ("json", false, 2),
    ] {
        let mut args = vec!["diff", ".", "-n", &ns, "-o", format];
        if forced {
            args.push("--force-conflicts");
        }
        let out = gitops(&args, repo.path());
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(exit),
            "{format}: {stdout}\n{stderr}"
        );
        for canary in [&live_value, &new_value, &string_value] {
            for spelling in [canary.clone(), b64(canary)] {
                assert!(
                    !stdout.contains(&spelling),
                    "{format} stdout leaks {spelling}"
                );
                assert!(
                    !stderr.contains(&spelling),
                    "{format} stderr leaks {spelling}"
                );
            }
        }
        assert!(
            stdout.contains("*** (changed)"),
            "{format} shows that the value changed\n{stdout}"
        );
        assert!(
            stdout.contains("token"),
            "{format} names the added key\n{stdout}"
        );
    }
}

#[tokio::test]
async fn show_secrets_shows_secret_values_on_stdout_and_never_on_stderr() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "show-secrets").await;
    let canary = support::unique_name("shown-canary");
    // The value in its Secret, and inlined in a ConfigMap as a repository may do.
    let repo = Workdir::new(&[
        (
            "secret.yaml",
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  token: {canary}\n"
            ),
        ),
        (
            "app.yaml",
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  TOKEN: {canary}\n"
            ),
        ),
    ]);

    let diff = |extra: &[&str]| {
        let mut args = vec!["diff", ".", "-n", &ns, "-v=8"];
        args.extend_from_slice(extra);
        let out = gitops(&args, repo.path());
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        assert!(stderr.contains("Request Body: {"), "{stderr}");
        assert!(
            !stderr.contains(&canary),
            "stderr leaks the value\n{stderr}"
        );
        stdout
    };
    // The server keeps the Secret's value base64-encoded under `data`.
    let encoded = base64::engine::general_purpose::STANDARD.encode(&canary);
    let masked = diff(&[]);
    assert!(!masked.contains(&canary), "{masked}");
    assert!(!masked.contains(&encoded), "{masked}");
    let shown = diff(&["--show-secrets"]);
    assert!(shown.contains(&format!("TOKEN: {canary}")), "{shown}");
    assert!(shown.contains(&format!("token: {encoded}")), "{shown}");
}

#[tokio::test]
async fn a_new_namespace_and_its_objects_plan_as_creates() {
    let client = support::admin().await;
    let ns = support::unique_name("brand-new");
    let repo = Workdir::new(&[(
        "ns.yaml",
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inside\n  namespace: {ns}\ndata:\n  a: b\n"
        ),
    )]);
    let _ = client;

    let out = gitops(&["diff", "."], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("+ create Namespace/{ns}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("+ create ConfigMap/{ns}/inside")),
        "{stdout}"
    );
    assert!(
        stdout.contains("not validated by the server yet: its namespace is created by this change"),
        "{stdout}"
    );
    assert!(stdout.contains("2 to create"), "{stdout}");
}

#[tokio::test]
async fn a_crd_and_its_custom_resource_plan_together() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "crd").await;
    let group = format!("{}.example.com", support::unique_name("g"));
    let repo = Workdir::new(&[
        (
            "crd.yaml",
            &format!(
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  \
                 name: widgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names:\n    \
                 kind: Widget\n    plural: widgets\n    singular: widget\n  versions:\n  - name: v1\n    \
                 served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        \
                 x-kubernetes-preserve-unknown-fields: true\n"
            ),
        ),
        (
            "widget.yaml",
            &format!(
                "apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: sprocket\nspec:\n  size: 3\n"
            ),
        ),
    ]);

    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "+ create CustomResourceDefinition/widgets.{group}"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("+ create Widget/{ns}/sprocket")),
        "{stdout}"
    );
    assert!(
        stdout.contains("its CustomResourceDefinition is created by this change"),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_rejected_object_names_the_server_reason_and_keeps_the_rest_of_the_plan() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "reject").await;
    let repo = Workdir::new(&[
        // A Deployment without a selector or containers is invalid.
        (
            "bad.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\nspec:\n  replicas: 1\n",
        ),
        (
            "good.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\ndata:\n  a: b\n",
        ),
    ]);

    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a rejection is an error\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("! error Deployment/{ns}/broken (bad.yaml:1)")),
        "{stdout}"
    );
    assert!(
        stdout.contains("Invalid value"),
        "the server's reason is shown\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("+ create ConfigMap/{ns}/fine")),
        "the rest is still planned\n{stdout}"
    );
    assert!(stdout.contains("1 error"), "{stdout}");
}

#[tokio::test]
async fn an_unknown_kind_is_an_error_for_that_object() {
    let repo = Workdir::new(&[(
        "x.yaml",
        "apiVersion: nothing.example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n",
    )]);
    let out = gitops(&["diff", "."], repo.path());
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout.contains("the server has no kind Gadget in nothing.example.com/v1"),
        "{stdout}"
    );
}

#[test]
fn malformed_yaml_names_file_and_line() {
    let repo = Workdir::new(&[(
        "broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
    )]);
    let out = gitops(&["diff", "."], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("broken.yaml:"), "{stderr}");
    assert!(
        stdout.is_empty(),
        "nothing is planned from a broken render: {stdout}"
    );
}

#[test]
fn a_duplicate_object_cites_both_origins() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: twice\n  namespace: default\n";
    let repo = Workdir::new(&[("a.yaml", cm), ("b.yaml", cm)]);
    let out = gitops(&["diff", "."], repo.path());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("a.yaml:1") && stderr.contains("b.yaml:1"),
        "{stderr}"
    );
}

#[test]
fn a_symlink_out_of_the_repository_is_refused() {
    let repo = Workdir::new(&[(
        "ok.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n",
    )]);
    repo.git_commit_all();
    std::os::unix::fs::symlink("/etc/passwd", repo.path().join("evil.yaml")).unwrap();
    let out = gitops(&["diff", "."], repo.path());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("evil.yaml"), "{stderr}");
    assert!(
        !stderr.contains("root:x:0"),
        "the target is never read: {stderr}"
    );
}

#[tokio::test]
async fn reads_the_working_tree_with_uncommitted_edits_and_without_ignored_files() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "worktree").await;
    let repo = Workdir::new(&[
        (
            "app.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  v: committed\n",
        ),
        (".gitignore", "scratch/\n"),
    ]);
    repo.git_commit_all();
    repo.write(
        "app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  v: edited\n",
    );
    repo.write(
        "scratch/ignored.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ignored\n",
    );
    repo.write(
        "untracked.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: untracked\n",
    );

    let out = gitops(&["diff", ".", "-n", &ns, "-o", "json"], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("json output");
    let names: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["object"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "untracked"]);
    assert_eq!(report["changes"][0]["after"]["data"]["v"], "edited");
    assert_eq!(report["summary"]["create"], 2);
}

#[tokio::test]
async fn a_kustomize_directory_is_rendered_as_one_unit() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "kustomize").await;
    let repo = Workdir::new(&[
        (
            "app/kustomization.yaml",
            &format!("namespace: {ns}\nnamePrefix: prod-\nresources:\n- cm.yaml\n"),
        ),
        (
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n",
        ),
    ]);
    repo.git_commit_all();

    let out = gitops(&["diff", "."], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "+ create ConfigMap/{ns}/prod-settings (app/cm.yaml:1)"
        )),
        "{stdout}"
    );
    assert!(
        !stdout.contains("ConfigMap/default/settings"),
        "cm.yaml is not loaded again on its own\n{stdout}"
    );
    assert!(stdout.contains("1 to create"), "{stdout}");
}

#[test]
fn a_flag_error_exits_two() {
    let repo = Workdir::new(&[]);
    let out = gitops(&["diff", "--output", "yaml"], repo.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn version_prints_version_commit_and_target() {
    let repo = Workdir::new(&[]);
    let out = gitops(&["version"], repo.path());
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(
        stdout.starts_with(&format!("kubectl-gitops {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    assert!(
        stdout.contains("x86_64") || stdout.contains("aarch64"),
        "{stdout}"
    );
}

/// The plan's verbose line: how many objects were planned unchanged without a dry-run.
fn proven_unchanged(stderr: &str) -> usize {
    let line = stderr
        .lines()
        .find(|l| l.contains("unchanged from their live copy without a dry-run"))
        .unwrap_or_else(|| panic!("no plan line with -v\n{stderr}"));
    let count = line.split("; ").nth(1).unwrap().split(' ').next().unwrap();
    count.parse().unwrap()
}

/// Runs `diff -v` twice, with and without `--verify-unchanged`: both plans must be the same.
/// Returns the exit code, stdout and how many objects skipped their dry-run.
/// Forced, as the reconciler plans: the edits below are by other managers, and git wins them.
fn diff_both_ways(repo: &Workdir, ns: &str) -> (Option<i32>, String, usize) {
    let out = gitops(
        &["diff", ".", "-n", ns, "-v", "--force-conflicts"],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    let verified = gitops(
        &[
            "diff",
            ".",
            "-n",
            ns,
            "-v",
            "--verify-unchanged",
            "--force-conflicts",
        ],
        repo.path(),
    );
    let (verified_stdout, verified_stderr) = text(&verified);
    assert_eq!(
        stdout, verified_stdout,
        "the plan is the same with every object dry-run\n{stderr}\n{verified_stderr}"
    );
    assert_eq!(out.status.code(), verified.status.code());
    assert_eq!(proven_unchanged(&verified_stderr), 0);
    (out.status.code(), stdout, proven_unchanged(&stderr))
}

#[tokio::test]
async fn unchanged_objects_skip_their_dry_run_and_every_kind_of_drift_is_still_seen() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "proof").await;
    let deployment = |name: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  \
             selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      \
             labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: web\n        \
             image: nginx:1.27\n        ports:\n        - containerPort: 80\n"
        )
    };
    let service = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  \
             selector: {{app: {name}}}\n  ports:\n  - port: 80\n"
        )
    };
    let configs = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  level: info\n\
         ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  x: '1'\n  z: '2'\n";
    let repo = Workdir::new(&[
        ("web.yaml", &deployment("web")),
        ("api.yaml", &deployment("api")),
        ("web-svc.yaml", &service("web")),
        ("api-svc.yaml", &service("api")),
        ("config.yaml", configs),
    ]);
    seed(&repo, &ns);

    // In sync: nothing needed a dry-run (server defaults and all).
    let (code, stdout, proven) = diff_both_ways(&repo, &ns);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(proven, 6, "{stdout}");

    // Someone else's label on an object of ours: applying would not touch it.
    let deployments: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment")),
    );
    deployments
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("kubectl-label".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"metadata": {"labels": {"team": "blue"}}})),
        )
        .await
        .unwrap();
    let (code, stdout, proven) = diff_both_ways(&repo, &ns);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(proven, 6, "{stdout}");

    // `kubectl edit` of a value we own, and a scale by hand: both drift, both shown.
    let configmaps: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap")),
    );
    configmaps
        .patch(
            "a",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"data": {"level": "debug"}})),
        )
        .await
        .unwrap();
    deployments
        .patch(
            "api",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1.28", "ports": [{"containerPort": 80}]}
            ]}}}})),
        )
        .await
        .unwrap();
    let (code, stdout, proven) = diff_both_ways(&repo, &ns);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("-  level: debug\n+  level: info"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("~ update Deployment/{ns}/api")),
        "{stdout}"
    );
    assert!(stdout.contains("+        image: nginx:1.27"), "{stdout}");
    assert_eq!(proven, 4, "{stdout}");

    // A key that left git is removed by the apply: an update, not "unchanged".
    repo.write(
        "config.yaml",
        &configs.replace("  x: '1'\n  z: '2'\n", "  x: '1'\n"),
    );
    let (code, stdout, proven) = diff_both_ways(&repo, &ns);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("~ update ConfigMap/{ns}/b")),
        "{stdout}"
    );
    assert!(stdout.contains("-  z: '2'"), "{stdout}");
    assert_eq!(proven, 3, "{stdout}");

    // Without the ApplySet's parent there are no members to start from: the objects are read
    // with a LIST per kind and namespace instead, and the proof holds the same.
    let id = configmaps.get("a").await.unwrap().metadata.labels.unwrap()
        ["applyset.kubernetes.io/part-of"]
        .clone();
    let secrets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Secret")),
    );
    secrets
        .delete_collection(
            &Default::default(),
            &kube::api::ListParams::default().labels(&format!("applyset.kubernetes.io/id={id}")),
        )
        .await
        .unwrap();
    let (code, stdout, proven) = diff_both_ways(&repo, &ns);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("3 to update, 0 to prune, 3 unchanged"),
        "{stdout}"
    );
    assert_eq!(proven, 3, "{stdout}");
}

#[tokio::test]
async fn objects_named_only_by_generate_name_get_one_error_each_and_the_rest_is_planned() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "genname").await;
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\nspec:\n  \
               template:\n    spec:\n      restartPolicy: Never\n      containers:\n      \
               - name: m\n        image: busybox\n";
    let repo = Workdir::new(&[
        ("jobs.yaml", &format!("{job}---\n{job}")),
        (
            "config.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\ndata:\n  a: b\n",
        ),
    ]);
    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let all = format!("{stdout}{stderr}");
    assert_eq!(
        all.matches("metadata.generateName (\"migrate-\") is not supported: server-side apply needs metadata.name")
            .count(),
        2,
        "one error per object\n{all}"
    );
    for origin in ["jobs.yaml:1", "jobs.yaml:13"] {
        assert!(
            all.contains(&format!("error Job/{ns}/migrate-* ({origin})")),
            "{all}"
        );
    }
    assert!(!all.contains("defined twice"), "{all}");
    assert!(
        stdout.contains(&format!("+ create ConfigMap/{ns}/fine")),
        "{stdout}"
    );

    // apply refuses the whole plan, as for any object the plan could not compute.
    let out = gitops(&["apply", ".", "-n", &ns, "--yes"], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let configmaps: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap")),
    );
    assert!(configmaps.get_opt("fine").await.unwrap().is_none());
}

#[tokio::test]
async fn an_immutable_field_refusal_names_the_rule_without_the_whole_value() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "immutable").await;
    let job = |image: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  template:\n    \
             spec:\n      restartPolicy: Never\n      containers:\n      - name: m\n        \
             image: {image}\n"
        )
    };
    let repo = Workdir::new(&[("deploy/job.yaml", &job("busybox:1.36"))]);
    let out = gitops(&["apply", "deploy", "-n", &ns, "--yes"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    // A migration Job whose image follows the app's: the server refuses the new template.
    repo.write("deploy/job.yaml", &job("busybox:1.37"));
    let out = gitops(&["diff", "deploy", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("! error Job/{ns}/migrate")))
        .unwrap_or_else(|| panic!("no error line\n{stdout}"));
    assert!(
        line.contains("spec.template: Invalid value: {…}: field is immutable")
            && line.contains("delete the Job so the next apply creates it anew"),
        "{line}"
    );
    assert!(
        line.len() < 400,
        "the refused value is not quoted whole: {line}"
    );
}
