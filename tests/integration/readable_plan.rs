//! A plan a person can read and trust: masking hides Secret values and rewrites nothing else,
//! a refusal from the server is one sentence naming the missing right, an empty render says
//! so, and a long refusal is a list.

use std::collections::BTreeMap;

use base64::Engine;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use crate::controller::{Controller, create_sync, install_crd, service_account, spec, syncs};
use crate::reconcile::{Daemon, Reconciler, Remote, WAIT, cm, eventually, wait_for_status};
use crate::support::{self, Workdir, gitops, text};

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// What no reader should ever see: kube's structures around the server's message.
fn assert_no_structure_dump(what: &str, output: &str) {
    for dump in ["Status {", "Some(", "ListMeta", "ApiError", "ErrorResponse"] {
        assert!(!output.contains(dump), "{what} dumps {dump:?}:\n{output}");
    }
}

/// A Secret holding `admin` (as Grafana's chart and countless others do) and a distinctive
/// canary, beside a RoleBinding `ops-admin` to the ClusterRole `admin` and a ConfigMap saying
/// "ask the administrator". The repository also inlines the canary outside the Secret, as
/// many do: in a ConfigMap's data and in a Deployment's env value.
fn admin_tree(canary: &str) -> Workdir {
    let repo = Workdir::new(&[
        (
            "secret.yaml",
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: grafana\nstringData:\n  \
                 admin-user: admin\n  admin-password: {canary}\n"
            ),
        ),
        (
            "rolebinding.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: ops-admin\n\
             roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: admin\n\
             subjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: ops\n",
        ),
        (
            "notes.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  text: ask the administrator\n",
        ),
        (
            "app-config.yaml",
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  \
                 GF_SECURITY_ADMIN_USER: admin\n  GF_SECURITY_ADMIN_PASSWORD: {canary}\n  \
                 grafana.ini: |\n    [security]\n    admin_password = {canary}\n"
            ),
        ),
        (
            "deployment.yaml",
            &format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: grafana\nspec:\n  \
                 selector:\n    matchLabels: {{app: grafana}}\n  template:\n    metadata:\n      \
                 labels: {{app: grafana}}\n    spec:\n      containers:\n      - name: grafana\n        \
                 image: grafana/grafana:11.0.0\n        env:\n        - name: GF_SECURITY_ADMIN_PASSWORD\n          \
                 value: {canary}\n"
            ),
        ),
    ]);
    repo.git_commit_all();
    repo
}

#[tokio::test]
async fn masking_hides_secret_values_and_never_rewrites_names() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "masking").await;
    let set = support::unique_name("set");
    let canary = support::unique_name("grafana-canary");
    let repo = admin_tree(&canary);
    let run = |format: &str| {
        gitops(
            &["diff", ".", "-n", &ns, "--applyset", &set, "-o", format],
            repo.path(),
        )
    };

    let out = run("text");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    for shown in [
        format!("RoleBinding/{ns}/ops-admin"),
        "name: admin".to_string(),
        "text: ask the administrator".to_string(),
        "admin-user: '***'".to_string(),
        "admin-password: '***'".to_string(),
        format!("Secret/{ns}/grafana"),
        // The canary inlined outside the Secret is scrubbed from those objects' values, and
        // nothing else of them changes.
        format!("ConfigMap/{ns}/app-config"),
        "GF_SECURITY_ADMIN_USER: admin".to_string(),
        "GF_SECURITY_ADMIN_PASSWORD: '***'".to_string(),
        "admin_password = ***".to_string(),
        format!("Deployment/{ns}/grafana"),
        "- name: GF_SECURITY_ADMIN_PASSWORD".to_string(),
        "value: '***'".to_string(),
        "app: grafana".to_string(),
    ] {
        assert!(stdout.contains(&shown), "{shown:?} in\n{stdout}");
    }
    assert!(
        !stdout.contains("ops-***") && !stdout.contains("***istrator"),
        "{stdout}"
    );

    let out = run("markdown");
    let (markdown, stderr_md) = text(&out);
    for shown in [
        format!("RoleBinding/{ns}/ops-admin"),
        "name: admin".to_string(),
        "text: ask the administrator".to_string(),
        "admin-user".to_string(),
        "GF_SECURITY_ADMIN_USER: admin".to_string(),
        "GF_SECURITY_ADMIN_PASSWORD: '***'".to_string(),
        "value: '***'".to_string(),
    ] {
        assert!(markdown.contains(&shown), "{shown:?} in\n{markdown}");
    }

    let out = run("json");
    let (json, stderr_json) = text(&out);
    let report: Value = serde_json::from_str(&json).expect("the JSON report is JSON");
    let changes = report["changes"].as_array().expect("changes");
    let by_name: BTreeMap<String, &Value> = changes
        .iter()
        .map(|c| {
            let (kind, name) = (&c["object"]["kind"], &c["object"]["name"]);
            let (kind, name) = (kind.as_str().unwrap_or_default(), name.as_str());
            (format!("{kind}/{}", name.unwrap_or_default()), c)
        })
        .collect();
    let binding = by_name
        .get("RoleBinding/ops-admin")
        .expect("the RoleBinding, by its name");
    assert_eq!(binding["object"]["namespace"], ns.as_str());
    assert_eq!(binding["after"]["roleRef"]["name"], "admin");
    assert_eq!(
        by_name["ConfigMap/notes"]["after"]["data"]["text"],
        "ask the administrator"
    );
    assert_eq!(
        by_name["ConfigMap/app-config"]["after"]["data"]["GF_SECURITY_ADMIN_PASSWORD"],
        "***"
    );
    assert_eq!(
        by_name["ConfigMap/app-config"]["after"]["data"]["GF_SECURITY_ADMIN_USER"],
        "admin"
    );
    assert_eq!(
        by_name["Deployment/grafana"]["after"]["spec"]["template"]["spec"]["containers"][0]["env"]
            [0],
        json!({"name": "GF_SECURITY_ADMIN_PASSWORD", "value": "***"})
    );
    // The server answers a dry-run with stringData merged into data.
    let secret = &by_name["Secret/grafana"]["after"]["data"];
    assert_eq!(
        secret,
        &json!({"admin-user": "***", "admin-password": "***"}),
        "keys kept, values masked"
    );

    let plans = tempfile::tempdir().unwrap();
    let plan_path = plans.path().join("plan.json");
    let out = gitops(
        &[
            "diff",
            ".",
            "-n",
            &ns,
            "--applyset",
            &set,
            "--out",
            plan_path.to_str().unwrap(),
        ],
        repo.path(),
    );
    let (plan_stdout, plan_stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{plan_stdout}\n{plan_stderr}");
    let plan_file = std::fs::read_to_string(&plan_path).expect("the plan file");

    // No Secret value anywhere: the canary in every spelling, and `admin` where it is the
    // Secret's value.
    let everything = [
        &stdout,
        &stderr,
        &markdown,
        &stderr_md,
        &json,
        &stderr_json,
        &plan_stdout,
        &plan_stderr,
        &plan_file,
    ];
    for output in everything {
        for spelling in [canary.clone(), b64(&canary), b64("admin")] {
            assert!(!output.contains(&spelling), "{spelling} in\n{output}");
        }
        assert!(!output.contains("admin-user: admin"), "{output}");
        assert!(!output.contains("\"admin-user\": \"admin\""), "{output}");
    }
}

/// Lets the test server's restricted user manage ConfigMaps in `ns`, and nothing else: no
/// Secrets, so reading the ApplySet parent (a Secret) is refused.
async fn configmaps_only(admin: &kube::Client, ns: &str) {
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "configmaps-only", "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["configmaps", "events"],
            "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]}]
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "configmaps-only", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps-only"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "restricted"}]
    });
    for (plural, object) in [("roles", role), ("rolebindings", binding)] {
        let name = object["metadata"]["name"].as_str().unwrap();
        let request = http::Request::patch(format!(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/{plural}/{name}?fieldManager=test&force=true"
        ))
        .header("Content-Type", "application/apply-patch+yaml")
        .body(serde_json::to_vec(&object).unwrap())
        .unwrap();
        admin
            .request::<Value>(request)
            .await
            .unwrap_or_else(|e| panic!("granting {plural}: {e}"));
    }
}

/// The refusal read as one sentence: the server's message once, the right it lacks and how
/// `kubectl auth can-i` checks it.
fn assert_one_sentence_naming_the_right(what: &str, output: &str, ns: &str, user: &str) {
    assert_no_structure_dump(what, output);
    assert!(output.contains("is forbidden"), "{what}:\n{output}");
    assert!(
        output.contains(&format!(
            "missing right: {user} may not get secrets in namespace {ns}"
        )),
        "{what}:\n{output}"
    );
    assert!(
        output.contains(&format!(
            "kubectl auth can-i get secrets -n {ns} --as={user}"
        )),
        "{what}:\n{output}"
    );
    assert!(
        output.contains("kubectl create role") && output.contains("kubectl create rolebinding"),
        "{what}:\n{output}"
    );
    for line in output.lines().filter(|l| l.contains("is forbidden")) {
        assert_eq!(
            line.matches("is forbidden").count(),
            1,
            "{what} repeats the server's message:\n{line}"
        );
    }
}

#[tokio::test]
async fn a_403_on_diff_and_apply_is_one_sentence_naming_the_missing_right() {
    let admin = support::admin().await;
    let ns = support::namespace(&admin, "forbidden").await;
    configmaps_only(&admin, &ns).await;
    let repo = Workdir::new(&[("a.yaml", &cm("a", "1"))]);
    repo.git_commit_all();
    for args in [
        vec!["diff", ".", "-n", &ns, "--context", "test-restricted"],
        vec![
            "apply",
            ".",
            "-n",
            &ns,
            "--context",
            "test-restricted",
            "--yes",
        ],
    ] {
        let out = gitops(&args, repo.path());
        let (stdout, stderr) = text(&out);
        let all = format!("{stdout}\n{stderr}");
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert_one_sentence_naming_the_right(args[0], &all, &ns, "restricted");
    }
}

#[tokio::test]
async fn a_403_in_the_reconciler_status_is_one_sentence_naming_the_missing_right() {
    let admin = support::admin().await;
    let ns = support::namespace(&admin, "rec-forbidden").await;
    configmaps_only(&admin, &ns).await;
    let remote = Remote::new(&[("deploy/a.yaml", &cm("a", "1"))]);
    let reconciler = Reconciler::fast(
        &remote,
        &ns,
        "denied",
        &["--context", "test-restricted", "--no-leader-election"],
    );
    let status = wait_for_status(&admin, &ns, "denied", "the refusal", |s| {
        s.get("lastError").is_some_and(|e| !e.is_empty())
    })
    .await;
    assert_one_sentence_naming_the_right("lastError", &status["lastError"], &ns, "restricted");
    assert_no_structure_dump("the reconciler's log", &reconciler.logs());
}

#[tokio::test]
async fn a_403_in_a_gitsync_status_is_one_sentence_naming_the_missing_right() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-forbidden").await;
    let target = support::namespace(&client, "ctl-forbidden-target").await;
    let remote = Remote::new(&[("deploy/a.yaml", &cm("a", "1"))]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "nobody", &[]).await;
    create_sync(
        &client,
        &ns,
        "denied",
        spec(&daemon.url(), "deploy", &target, "nobody"),
        json!({}),
    )
    .await;
    let controller = Controller::start(&ns, &["--no-leader-election"]);
    let status = eventually("the GitSync to fail planning", WAIT, || async {
        let sync = syncs(&client, &ns).get_opt("denied").await.ok()??;
        let status = sync.status?;
        status.last_error.clone().filter(|e| !e.is_empty())?;
        Some(status)
    })
    .await;
    let user = format!("system:serviceaccount:{ns}:nobody");
    let last_error = status.last_error.clone().unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    for (what, said) in [("lastError", &last_error), ("the Ready condition", &ready)] {
        assert_no_structure_dump(what, said);
        assert!(said.contains("is forbidden"), "{what}: {said}");
        assert!(said.contains("missing right"), "{what}: {said}");
        assert!(
            said.contains(&format!("--as={user}")),
            "{what} names the account: {said}"
        );
        assert!(
            said.contains(&format!("--serviceaccount={ns}:nobody")),
            "{what} says how to bind it: {said}"
        );
    }
    assert_no_structure_dump("the controller's log", &controller.logs());
}

#[tokio::test]
async fn a_path_that_renders_nothing_says_so_and_exits_2_unless_it_prunes_a_set() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "empty").await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[("deploy/README.md", "placeholders only\n")]);
    repo.git_commit_all();
    for args in [
        vec!["diff", "deploy", "-n", &ns, "--applyset", &set],
        vec!["apply", "deploy", "-n", &ns, "--applyset", &set, "--yes"],
    ] {
        let verb = args[0];
        let out = gitops(&args, repo.path());
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{verb}: {stdout}\n{stderr}");
        assert!(
            stderr.contains("deploy rendered no objects"),
            "{verb}: {stderr}"
        );
        assert!(!stdout.contains("Plan: 0 to create"), "{verb}: {stdout}");
    }

    // Once the set has members, the empty render prunes them, and the plan says why.
    repo.write("deploy/a.yaml", &cm("a", "1"));
    repo.git_commit_all();
    let out = gitops(
        &["apply", "deploy", "-n", &ns, "--applyset", &set, "--yes"],
        repo.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    std::fs::remove_file(repo.path().join("deploy/a.yaml")).unwrap();
    repo.git_commit_all();
    let out = gitops(
        &["diff", "deploy", "-n", &ns, "--applyset", &set],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("- prune ConfigMap/{ns}/a")),
        "{stdout}"
    );
    assert!(
        stdout.contains("deploy rendered no objects: this plan prunes all 1 members"),
        "{stdout}"
    );
    assert!(stdout.contains("--allow-empty"), "{stdout}");
    let out = gitops(
        &[
            "apply",
            "deploy",
            "-n",
            &ns,
            "--applyset",
            &set,
            "--yes",
            "--allow-empty",
        ],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("deploy rendered no objects: pruning all 1 members"),
        "{stdout}"
    );
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, &ns);
    let left = api
        .list(&ListParams::default().labels("applyset.kubernetes.io/part-of"))
        .await
        .unwrap();
    assert!(left.items.is_empty(), "the member was pruned");
}

#[tokio::test]
async fn a_takeover_refusal_of_23_objects_lists_one_a_line_grouped_by_set() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "takeover").await;
    let files: Vec<(String, String)> = (0..23)
        .map(|i| (format!("cm-{i:02}.yaml"), cm(&format!("cm-{i:02}"), "1")))
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let repo = Workdir::new(&files);
    repo.git_commit_all();
    let first = support::unique_name("first");
    let out = gitops(
        &["apply", ".", "-n", &ns, "--applyset", &first, "--yes"],
        repo.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    let second = support::unique_name("second");
    let out = gitops(
        &["apply", ".", "-n", &ns, "--applyset", &second, "--yes"],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let listed = format!("{stdout}\n{stderr}");
    assert!(
        listed.lines().all(|l| l.chars().count() <= 300),
        "no line runs on:\n{listed}"
    );
    let group = listed
        .lines()
        .position(|l| l.trim_start().starts_with("from ApplySet") && l.ends_with("(23):"))
        .unwrap_or_else(|| panic!("a group of 23 in:\n{listed}"));
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines[group + 1].trim(), format!("ConfigMap/{ns}/cm-00"));
    assert_eq!(lines[group + 10].trim(), format!("ConfigMap/{ns}/cm-09"));
    assert_eq!(lines[group + 11].trim(), "... and 13 more");
    assert!(
        stderr.contains("error: Nothing was applied: 23 objects belong to another ApplySet"),
        "{stderr}"
    );

    let out = gitops(
        &[
            "diff",
            ".",
            "-n",
            &ns,
            "--applyset",
            &second,
            "-o",
            "markdown",
        ],
        repo.path(),
    );
    let (markdown, _) = text(&out);
    assert!(
        markdown.contains(&format!("(23):\n  - `ConfigMap/{ns}/cm-00`\n")),
        "{markdown}"
    );
    assert!(markdown.contains("  - ... and 13 more\n"), "{markdown}");
}
