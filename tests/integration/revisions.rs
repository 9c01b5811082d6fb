//! Git revisions: `--ref` (render a commit instead of the working tree), `--base --offline`
//! (two renders compared without a cluster) and `--base` against the real API server (each
//! change marked as introduced by git or as drift in the cluster).

use std::path::Path;
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::{self, Workdir, gitops, text};

/// Runs `git` in `dir` with a fixed identity and none of the user's configuration.
fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn commit_all(repo: &Workdir, message: &str) {
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", message]);
}

/// Runs the binary with no usable cluster configuration at all: an offline diff must not need
/// one.
fn offline(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .args(args)
        .current_dir(cwd)
        .env("KUBECONFIG", cwd.join("no-such-kubeconfig"))
        .env("HOME", cwd.join("no-such-home"))
        .env("NO_COLOR", "1")
        .output()
        .expect("running kubectl-gitops")
}

/// Someone sets the live ConfigMap's `level` to `hotfix`, outside git.
async fn edit_live(client: &kube::Client, ns: &str, name: &str) {
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    configmaps
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"level": "hotfix"}})),
        )
        .await
        .expect("editing live");
}

fn configmap(name: &str, data: &[(&str, &str)]) -> String {
    let mut yaml = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n");
    for (key, value) in data {
        yaml.push_str(&format!("  {key}: {value}\n"));
    }
    yaml
}

fn secret(name: &str, password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n\
         stringData:\n  password: {password}\n"
    )
}

/// A repository with two commits: `HEAD~1` (tagged `v1`) and `HEAD`, and uncommitted edits on
/// top that no revision contains.
fn two_commits() -> Workdir {
    let repo = Workdir::new(&[
        (
            "app/settings.yaml",
            &*configmap("settings", &[("level", "debug")]),
        ),
        ("app/old.yaml", &*configmap("old", &[("k", "v")])),
        ("app/same.yaml", &*configmap("same", &[("k", "v")])),
        ("app/secret.yaml", &*secret("creds", "first-canary-value")),
        ("README.md", "not a manifest\n"),
    ]);
    repo.git_commit_all();
    git(repo.path(), &["tag", "v1"]);
    std::fs::remove_file(repo.path().join("app/old.yaml")).expect("rm");
    repo.write(
        "app/settings.yaml",
        &configmap("settings", &[("level", "info")]),
    );
    repo.write("app/new.yaml", &configmap("new", &[("k", "v")]));
    repo.write("app/secret.yaml", &secret("creds", "second-canary-value"));
    commit_all(&repo, "two");
    repo.write(
        "app/settings.yaml",
        &configmap("settings", &[("level", "uncommitted")]),
    );
    repo.write("app/untracked.yaml", &configmap("untracked", &[]));
    repo
}

#[test]
fn offline_diff_between_two_commits_shows_what_the_second_changes() {
    let repo = two_commits();

    let out = offline(
        &[
            "diff",
            "app",
            "--base",
            "HEAD~1",
            "--ref",
            "HEAD",
            "--offline",
        ],
        repo.path(),
    );

    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    for header in [
        "~ update ConfigMap/settings (app/settings.yaml:1)",
        "+ create ConfigMap/new (app/new.yaml:1)",
        "- prune ConfigMap/old\n",
        "~ update Secret/creds (app/secret.yaml:1)",
    ] {
        assert!(stdout.contains(header), "missing {header:?}\n{stdout}");
    }
    assert!(
        stdout.contains("-  level: debug\n+  level: info"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("uncommitted") && !stdout.contains("untracked"),
        "the working tree plays no part\n{stdout}"
    );
    assert!(!stdout.contains("ConfigMap/same"), "{stdout}");
    assert!(
        stdout.contains("Plan: 1 to create, 2 to update, 1 to prune, 1 unchanged."),
        "{stdout}"
    );
}

#[test]
fn offline_diff_json_is_the_plan_schema_without_a_cluster() {
    let repo = two_commits();

    let out = offline(
        &[
            "diff",
            "app",
            "--base",
            "v1",
            "--ref",
            "main",
            "--offline",
            "-o",
            "json",
        ],
        repo.path(),
    );

    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(report["schemaVersion"], 1);
    assert_eq!(report["context"], "");
    assert_eq!(
        report["summary"],
        json!({"create": 1, "update": 2, "prune": 1, "unchanged": 1, "conflicts": 0, "errors": 0})
    );
    let changes = report["changes"].as_array().expect("changes");
    let settings = changes
        .iter()
        .find(|c| c["object"]["name"] == "settings")
        .expect("settings");
    assert_eq!(settings["action"], "update");
    assert_eq!(settings["before"]["data"]["level"], "debug");
    assert_eq!(settings["after"]["data"]["level"], "info");
    assert_eq!(settings["origin"]["file"], "app/settings.yaml");
    assert!(settings.get("cause").is_none(), "{settings}");
    let old = changes
        .iter()
        .find(|c| c["object"]["name"] == "old")
        .expect("old");
    assert_eq!(old["action"], "prune");
    assert!(old["after"].is_null());
}

#[test]
fn offline_diff_of_the_working_tree_against_a_revision_without_changes_exits_zero() {
    let repo = two_commits();
    // The working tree as committed: nothing left to compare.
    git(repo.path(), &["checkout", "-q", "--", "."]);
    std::fs::remove_file(repo.path().join("app/untracked.yaml")).expect("rm");

    let out = offline(&["diff", "app", "--base", "HEAD", "--offline"], repo.path());

    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Plan: 0 to create, 0 to update, 0 to prune, 4 unchanged."),
        "{stdout}"
    );
}

#[test]
fn offline_diff_never_prints_secret_values_in_any_format() {
    let repo = two_commits();

    for format in ["text", "markdown", "json"] {
        let out = offline(
            &["diff", "app", "--base", "HEAD~1", "--offline", "-o", format],
            repo.path(),
        );
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{format}: {stdout}\n{stderr}");
        assert!(
            !stdout.contains("canary") && !stderr.contains("canary"),
            "{format} leaked a secret value\n{stdout}\n{stderr}"
        );
        assert!(stdout.contains("*** (changed)"), "{format}: {stdout}");
    }
}

#[test]
fn offline_diff_renders_kustomize_overlays_at_each_revision() {
    let repo = Workdir::new(&[
        ("base/kustomization.yaml", "resources:\n- settings.yaml\n"),
        (
            "base/settings.yaml",
            &*configmap("settings", &[("level", "debug")]),
        ),
        (
            "overlays/prod/kustomization.yaml",
            "resources:\n- ../../base\nnamespace: prod\n",
        ),
    ]);
    repo.git_commit_all();
    repo.write(
        "base/settings.yaml",
        &configmap("settings", &[("level", "info")]),
    );
    commit_all(&repo, "two");

    let out = offline(
        &[
            "diff",
            "overlays/prod",
            "--base",
            "HEAD~1",
            "--ref",
            "HEAD",
            "--offline",
        ],
        repo.path(),
    );

    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("~ update ConfigMap/prod/settings (base/settings.yaml:1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-  level: debug\n+  level: info"),
        "{stdout}"
    );
}

#[test]
fn a_path_the_base_does_not_have_yet_compares_with_an_empty_base() {
    let repo = two_commits();
    repo.write("newapp/a.yaml", &configmap("a", &[("k", "v")]));
    commit_all(&repo, "a new directory");

    let out = offline(
        &["diff", "newapp", "--base", "v1", "--offline"],
        repo.path(),
    );

    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("not a directory at v1"), "{stderr}");
    assert!(
        stdout.contains("+ create ConfigMap/a (newapp/a.yaml:1)"),
        "{stdout}"
    );

    // At the head, a missing PATH is an error like for the working tree.
    let out = offline(
        &[
            "diff",
            "newapp",
            "--base",
            "HEAD",
            "--ref",
            "v1",
            "--offline",
        ],
        repo.path(),
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a directory"), "{stderr}");
}

#[test]
fn an_unknown_revision_is_an_error_naming_it() {
    let repo = two_commits();

    let out = offline(
        &["diff", "app", "--base", "no-such-branch", "--offline"],
        repo.path(),
    );

    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("unknown revision `no-such-branch`"),
        "{stderr}"
    );
}

#[test]
fn offline_requires_a_base() {
    let repo = two_commits();

    let out = offline(&["diff", "app", "--offline"], repo.path());

    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--base"), "{stderr}");
}

/// Applies `revision` of the repository with kubectl-gitops itself.
fn apply_at(repo: &Workdir, path: &str, revision: &str, ns: &str) {
    let out = gitops(
        &["apply", path, "--ref", revision, "-n", ns, "--yes"],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "applying {revision}: {stdout}\n{stderr}"
    );
}

#[tokio::test]
async fn apply_and_diff_at_a_revision_ignore_the_working_tree() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rev-ref").await;
    let repo = two_commits();

    apply_at(&repo, "app", "v1", &ns);

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let settings = configmaps.get("settings").await.expect("applied");
    assert_eq!(
        settings
            .data
            .unwrap_or_default()
            .get("level")
            .map(String::as_str),
        Some("debug"),
        "v1 was applied, not the working tree"
    );
    assert!(
        configmaps
            .get_opt("untracked")
            .await
            .expect("get")
            .is_none()
    );

    let out = gitops(&["diff", "app", "--ref", "v1", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");

    let out = gitops(&["diff", "app", "--ref", "HEAD", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "~ update ConfigMap/{ns}/settings (app/settings.yaml:1)"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("+  level: info"), "{stdout}");
    assert!(!stdout.contains("uncommitted"), "{stdout}");
}

#[tokio::test]
async fn against_a_base_each_change_is_introduced_or_drift() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rev-3way").await;
    let repo = Workdir::new(&[
        (
            "app/changed.yaml",
            &*configmap("changed", &[("level", "debug")]),
        ),
        (
            "app/drifted.yaml",
            &*configmap("drifted", &[("level", "debug")]),
        ),
        ("app/deleted.yaml", &*configmap("deleted", &[("k", "v")])),
        ("app/removed.yaml", &*configmap("removed", &[("k", "v")])),
        ("app/same.yaml", &*configmap("same", &[("k", "v")])),
    ]);
    repo.git_commit_all();
    git(repo.path(), &["branch", "base"]);
    apply_at(&repo, "app", "base", &ns);

    // The pull request: one object edited, one added, one removed from git.
    repo.write(
        "app/changed.yaml",
        &configmap("changed", &[("level", "info")]),
    );
    repo.write("app/added.yaml", &configmap("added", &[("k", "v")]));
    std::fs::remove_file(repo.path().join("app/removed.yaml")).expect("rm");
    commit_all(&repo, "pull request");

    // Meanwhile, in the cluster: someone edits one object and deletes another.
    edit_live(&client, &ns, "drifted").await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    configmaps
        .delete("deleted", &Default::default())
        .await
        .expect("deleting live");

    let out = gitops(
        // Forced: git wins the live edit, which another manager now owns.
        &[
            "diff",
            "app",
            "--base",
            "base",
            "--ref",
            "HEAD",
            "-n",
            &ns,
            "--force-conflicts",
        ],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    for header in [
        format!("~ update ConfigMap/{ns}/changed (app/changed.yaml:1) [introduced]"),
        format!("+ create ConfigMap/{ns}/added (app/added.yaml:1) [introduced]"),
        format!("- prune ConfigMap/{ns}/removed [introduced]"),
        format!(
            "~ update ConfigMap/{ns}/drifted (app/drifted.yaml:1) [drift: reverts a live change]"
        ),
        format!(
            "+ create ConfigMap/{ns}/deleted (app/deleted.yaml:1) \
             [drift: recreates an object deleted from the cluster]"
        ),
    ] {
        assert!(stdout.contains(&header), "missing {header:?}\n{stdout}");
    }
    assert!(
        stdout.contains("-  level: hotfix\n+  level: debug"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Plan: 2 to create, 2 to update, 1 to prune, 1 unchanged."),
        "{stdout}"
    );

    let out = gitops(
        &[
            "diff",
            "app",
            "--base",
            "base",
            "-n",
            &ns,
            "-o",
            "json",
            "--force-conflicts",
        ],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("json");
    let causes: std::collections::BTreeMap<String, Value> = report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["object"]["name"].as_str().unwrap_or_default().to_string(),
                c.get("cause").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    assert_eq!(
        Value::Object(causes.into_iter().collect()),
        json!({"added": "introduced", "changed": "introduced", "deleted": "drift",
               "drifted": "drift", "removed": "introduced", "same": null})
    );
}

/// A chart whose objects go to `.Release.Namespace`, one value per object.
fn chart(settings: &str, other: &str) -> Vec<(&'static str, String)> {
    let template = |name: &str, key: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  \
             namespace: {{{{ .Release.Namespace }}}}\ndata:\n  level: {{{{ .Values.{key} }}}}\n"
        )
    };
    vec![
        (
            "web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.0.0\n".to_string(),
        ),
        (
            "web/values.yaml",
            format!("settings: {settings}\nother: {other}\n"),
        ),
        (
            "web/templates/settings.yaml",
            template("settings", "settings"),
        ),
        ("web/templates/other.yaml", template("other", "other")),
    ]
}

#[tokio::test]
async fn against_a_base_a_chart_renders_for_the_cluster_at_both_revisions() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rev-chart").await;
    let files = chart("debug", "debug");
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let repo = Workdir::new(&files);
    repo.git_commit_all();
    let out = gitops(&["apply", "web", "-n", &ns, "--yes"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    // The pull request changes one value; someone edits the other object live.
    for (path, text) in chart("debug", "info") {
        repo.write(path, &text);
    }
    commit_all(&repo, "pull request");
    edit_live(&client, &ns, "settings").await;

    let out = gitops(
        &[
            "diff",
            "web",
            "--base",
            "HEAD~1",
            "--ref",
            "HEAD",
            "-n",
            &ns,
            "--force-conflicts",
        ],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    // Both revisions render in the target namespace: the live edit is drift, the value the
    // pull request changes is its own.
    let header = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("~ update ConfigMap/{ns}/{name} ")))
            .unwrap_or_else(|| panic!("no update of {name}\n{stdout}"))
            .to_string()
    };
    assert!(
        header("settings").ends_with("[drift: reverts a live change]"),
        "{stdout}"
    );
    assert!(header("other").ends_with("[introduced]"), "{stdout}");

    // Offline, `-n` is the chart's namespace at both revisions too.
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .args([
            "diff",
            "web",
            "--base",
            "HEAD~1",
            "--offline",
            "-n",
            &ns,
            "-o",
            "json",
        ])
        .current_dir(repo.path())
        .env("KUBECONFIG", repo.path().join("no-such-kubeconfig"))
        .env("GITOPS_HELM", support::helm())
        .output()
        .expect("running kubectl-gitops");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let plan: Value = serde_json::from_str(&stdout).expect("json");
    let changed: Vec<String> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "unchanged")
        .map(|c| {
            format!(
                "{}/{}",
                c["object"]["namespace"].as_str().unwrap_or("-"),
                c["object"]["name"].as_str().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(changed, [format!("{ns}/other")], "{stdout}");
}

#[test]
fn a_kustomization_read_at_a_revision_builds_with_its_parent_references_and_cites_their_files() {
    use kubectl_gitops::render::{self, KustomizeCommand, RenderOptions};
    use kubectl_gitops::source::{self, Limits};

    let repo = Workdir::new(&[
        (
            "base/kustomization.yaml",
            "resources:\n- cm.yaml\nconfigMapGenerator:\n- name: env\n  envs:\n  - app.env\n",
        ),
        (
            "base/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: debug\n",
        ),
        ("base/app.env", "MODE=committed\n"),
        (
            "overlays/prod/kustomization.yaml",
            "resources:\n- ../../base\nnamespace: prod\n",
        ),
    ]);
    repo.git_commit_all();
    repo.write("base/app.env", "MODE=edited\n");
    repo.write(
        "base/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: edited\n",
    );
    let snapshot = source::read_revision(
        &repo.path().join("overlays/prod"),
        "HEAD",
        &Limits::default(),
    )
    .expect("read");

    let options = RenderOptions {
        kustomize: Some(KustomizeCommand::kubectl()),
        ..Default::default()
    };
    let manifests = render::render(&snapshot, &options).expect("render");
    let rendered: Vec<String> = manifests
        .iter()
        .map(|m| m.object_ref().to_string())
        .collect();
    assert_eq!(rendered.len(), 2, "{rendered:?}");
    assert!(rendered.contains(&"ConfigMap/prod/settings".to_string()));
    let settings = manifests
        .iter()
        .find(|m| m.name() == "settings")
        .expect("settings");
    assert_eq!(settings.object["data"]["level"], "debug");
    let env = manifests
        .iter()
        .find(|m| m.name().starts_with("env-"))
        .expect("generated");
    assert_eq!(env.object["data"]["MODE"], "committed");
    // Built from a revision too, each object cites the file in the tree that defined it.
    assert_eq!(settings.origin.file, Path::new("base/cm.yaml"));
    assert_eq!(env.origin.file, Path::new("base/kustomization.yaml"));
}
