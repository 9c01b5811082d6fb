//! Which ApplySet a checkout's PATH is: the repository's remote, PATH and the target namespace,
//! wherever and under whatever name it is checked out; the parent in the target namespace, so
//! a user bound to one namespace can work; sets written by earlier versions migrated; objects
//! of another set never taken over without consent.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::support::{self, gitops, text};

fn cm(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{value}\"\n")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A git checkout at `<parent>/<dir>` with `files` committed and, when given, an `origin`.
fn checkout(parent: &Path, dir: &str, origin: Option<&str>, files: &[(&str, String)]) -> PathBuf {
    let root = parent.join(dir);
    std::fs::create_dir_all(&root).unwrap();
    git(&root, &["init", "-q", "-b", "main"]);
    if let Some(origin) = origin {
        git(&root, &["remote", "add", "origin", origin]);
    }
    for (path, content) in files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "init"]);
    root
}

fn run(args: &[&str], cwd: &Path) -> (Option<i32>, String, String) {
    let out = gitops(args, cwd);
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

async fn configmaps(client: &kube::Client, ns: &str) -> Vec<(String, String)> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let mut found: Vec<(String, String)> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|c| c.metadata.name.as_deref() != Some("kube-root-ca.crt"))
        .map(|c| {
            let part_of = c
                .metadata
                .labels
                .unwrap_or_default()
                .get("applyset.kubernetes.io/part-of")
                .cloned()
                .unwrap_or_default();
            (c.metadata.name.unwrap(), part_of)
        })
        .collect();
    found.sort();
    found
}

fn names(found: &[(String, String)]) -> Vec<&str> {
    found.iter().map(|(n, _)| n.as_str()).collect()
}

/// The ApplySet parents (Secrets with the id label) in `ns`, by name.
async fn parents(client: &kube::Client, ns: &str) -> Vec<Secret> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut found = api
        .list(&ListParams::default().labels("applyset.kubernetes.io/id"))
        .await
        .unwrap()
        .items;
    found.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    found
}

fn parent_names(found: &[Secret]) -> Vec<String> {
    found
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect()
}

#[tokio::test]
async fn two_repositories_with_the_same_directory_name_and_path_stay_apart() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "id-twins").await;
    let team_a = tempfile::tempdir().unwrap();
    let team_b = tempfile::tempdir().unwrap();
    let a = checkout(
        team_a.path(),
        "infra",
        Some("https://git.example.com/team-a/infra.git"),
        &[("k8s/a.yaml", cm("a", "1"))],
    );
    let b = checkout(
        team_b.path(),
        "infra",
        Some("git@git.example.com:team-b/infra.git"),
        &[("k8s/b.yaml", cm("b", "1"))],
    );

    for repo in [&a, &b] {
        let (code, stdout, stderr) = run(&["apply", "k8s", "-n", &ns, "--yes"], repo);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("0 pruned"),
            "nothing of the other team is pruned\n{stdout}"
        );
    }
    let live = configmaps(&client, &ns).await;
    assert_eq!(names(&live), ["a", "b"]);
    assert_ne!(live[0].1, live[1].1, "two sets: {live:?}");
    let found = parents(&client, &ns).await;
    let found_names = parent_names(&found);
    assert_eq!(found_names.len(), 2, "{found_names:?}");
    assert!(
        found_names
            .iter()
            .all(|n| n.starts_with("gitops-infra-k8s-")),
        "{found_names:?}"
    );
    let mut repositories: Vec<&str> = found
        .iter()
        .map(|s| s.metadata.annotations.as_ref().unwrap()["kubectl-gitops.io/repository"].as_str())
        .collect();
    repositories.sort();
    assert_eq!(
        repositories,
        [
            "git.example.com/team-a/infra",
            "git.example.com/team-b/infra"
        ]
    );

    // Forced onto one name, the second repository is refused, naming both identities.
    let (code, _, _) = run(
        &[
            "apply",
            "k8s",
            "-n",
            &ns,
            "--applyset",
            "shared",
            "--yes",
            "--adopt",
        ],
        &a,
    );
    assert_eq!(code, Some(0));
    let (code, stdout, stderr) = run(&["diff", "k8s", "-n", &ns, "--applyset", "shared"], &b);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("git.example.com/team-a/infra")
            && stderr.contains("git.example.com/team-b/infra")
            && stderr.contains("belongs to another deployment"),
        "{stderr}"
    );
}

#[tokio::test]
async fn namespace_less_objects_applied_to_staging_then_prod_prune_nothing() {
    let client = support::admin().await;
    let staging = support::namespace(&client, "id-staging").await;
    let prod = support::namespace(&client, "id-prod").await;
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(
        dir.path(),
        "app",
        Some("https://git.example.com/org/app"),
        &[
            ("deploy/a.yaml", cm("a", "1")),
            ("deploy/b.yaml", cm("b", "1")),
        ],
    );
    for ns in [&staging, &prod] {
        let (code, stdout, stderr) = run(&["apply", "deploy", "-n", ns, "--yes"], &repo);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("2 created, 0 updated, 0 pruned"),
            "{stdout}"
        );
    }
    assert_eq!(names(&configmaps(&client, &staging).await), ["a", "b"]);

    // A prune in prod touches prod only.
    std::fs::remove_file(repo.join("deploy/b.yaml")).unwrap();
    let (code, stdout, _) = run(&["apply", "deploy", "-n", &prod, "--yes"], &repo);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("pruned ConfigMap/{prod}/b")),
        "{stdout}"
    );
    assert_eq!(names(&configmaps(&client, &prod).await), ["a"]);
    assert_eq!(names(&configmaps(&client, &staging).await), ["a", "b"]);
}

#[tokio::test]
async fn a_renamed_clone_or_a_git_worktree_keeps_its_set() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "id-rename").await;
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(
        dir.path(),
        "platform",
        Some("https://git.example.com/org/platform.git"),
        &[
            ("deploy/a.yaml", cm("a", "1")),
            ("deploy/b.yaml", cm("b", "1")),
        ],
    );
    let (code, stdout, _) = run(&["apply", "deploy", "-n", &ns, "--yes"], &repo);
    assert_eq!(code, Some(0), "{stdout}");

    let renamed = dir.path().join("platform-old-copy");
    std::fs::rename(&repo, &renamed).unwrap();
    let (code, stdout, stderr) = run(&["diff", "deploy", "-n", &ns], &renamed);
    assert_eq!(
        code,
        Some(0),
        "the renamed clone is in sync with its set\n{stdout}\n{stderr}"
    );

    git(&renamed, &["rm", "-q", "deploy/b.yaml"]);
    git(&renamed, &["commit", "-qm", "drop b"]);
    let worktree = dir.path().join("elsewhere");
    git(
        &renamed,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "side",
            worktree.to_str().unwrap(),
        ],
    );
    let (code, stdout, _) = run(&["apply", "deploy", "-n", &ns, "--yes"], &worktree);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("pruned ConfigMap/{ns}/b")),
        "the worktree prunes what the first checkout applied\n{stdout}"
    );
    assert_eq!(names(&configmaps(&client, &ns).await), ["a"]);
    assert_eq!(parents(&client, &ns).await.len(), 1);
}

#[tokio::test]
async fn a_checkout_without_a_remote_says_how_it_is_identified() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "id-local").await;
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(dir.path(), "scratch", None, &[("a.yaml", cm("a", "1"))]);
    let (code, stdout, stderr) = run(&["diff", ".", "-n", &ns], &repo);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("has no git remote") && stderr.contains("local/scratch"),
        "{stderr}"
    );
}

/// Lets the test server's restricted user manage ConfigMaps and Secrets in `ns`, nothing else.
async fn bind_restricted_to(admin: &kube::Client, ns: &str) {
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "gitops-user"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets"],
                   "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]}]
    }))
    .unwrap();
    Api::<Role>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "gitops-user"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gitops-user"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "restricted"}]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("role binding");
}

#[tokio::test]
async fn a_token_bound_to_one_namespace_diffs_applies_and_prunes_its_own_set() {
    let admin = support::admin().await;
    let ns = support::namespace(&admin, "id-tenant").await;
    bind_restricted_to(&admin, &ns).await;
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(
        dir.path(),
        "tenant",
        Some("https://git.example.com/org/tenant"),
        &[("a.yaml", cm("a", "1")), ("b.yaml", cm("b", "1"))],
    );
    let as_tenant = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-n", &ns, "--context", "test-restricted"]);
        run(&all, &repo)
    };

    let (code, stdout, stderr) = as_tenant(&["diff", "."]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let (code, stdout, stderr) = as_tenant(&["apply", ".", "--yes"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    std::fs::remove_file(repo.join("b.yaml")).unwrap();
    let (code, stdout, _) = as_tenant(&["diff", "."]);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains(&format!("- prune ConfigMap/{ns}/b")),
        "{stdout}"
    );
    let (code, stdout, stderr) = as_tenant(&["apply", ".", "--yes"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("pruned ConfigMap/{ns}/b")),
        "{stdout}"
    );
    assert_eq!(names(&configmaps(&admin, &ns).await), ["a"]);

    // status lists what the tenant can see: its namespace only.
    let (code, stdout, stderr) = as_tenant(&["status"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.contains("git.example.com/org/tenant"))
        .unwrap_or_else(|| panic!("the set is listed\n{stdout}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[1..4], [".", ns.as_str(), "1"], "{stdout}");
    assert!(stdout.contains(&format!("only namespace {ns}")), "{stdout}");
}

#[tokio::test]
async fn status_lists_every_set_with_its_repository_path_namespace_and_members() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "id-status").await;
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(
        dir.path(),
        "fleet",
        Some("https://git.example.com/org/fleet"),
        &[
            ("one/a.yaml", cm("a", "1")),
            ("two/b.yaml", cm("b", "1")),
            ("two/c.yaml", cm("c", "1")),
        ],
    );
    for path in ["one", "two"] {
        assert_eq!(run(&["apply", path, "-n", &ns, "--yes"], &repo).0, Some(0));
    }
    // Cluster-wide: other tests' sets are listed too, and a failed reconciler among them
    // makes the exit code 2.
    let (code, stdout, stderr) = run(&["status", "-o", "json"], &repo);
    assert!(matches!(code, Some(0 | 2)), "{stdout}\n{stderr}");
    let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mine: Vec<(&str, u64)> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["targetNamespace"] == ns.as_str())
        .map(|s| {
            assert_eq!(s["repository"], "git.example.com/org/fleet", "{s}");
            assert!(s["lastApplied"].as_str().unwrap().starts_with("20"), "{s}");
            (s["path"].as_str().unwrap(), s["members"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(mine, [("one", 1), ("two", 2)], "{stdout}");
}

#[tokio::test]
async fn a_set_written_the_old_way_migrates_with_every_member_kept() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "id-migrate").await;
    let dir = tempfile::tempdir().unwrap();
    let name = support::unique_name("legacy");
    let repo = checkout(
        dir.path(),
        &name,
        Some(&format!("https://git.example.com/org/{name}")),
        &[
            ("deploy/a.yaml", cm("a", "1")),
            ("deploy/b.yaml", cm("b", "1")),
            ("deploy/c.yaml", cm("c", "1")),
        ],
    );
    // What an earlier version left: the parent in `default`, named after the directory and
    // PATH, without identity annotations.
    let old_name = format!("gitops-{name}-deploy");
    let old_name = old_name.as_str();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let (code, stdout, stderr) = run(
        &[
            "apply",
            "deploy",
            "-n",
            &ns,
            "--applyset",
            old_name,
            "--applyset-namespace",
            "default",
            "--yes",
        ],
        &repo,
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let status = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(["annotate", "secret", old_name, "-n", "default"])
        .args([
            "kubectl-gitops.io/repository-",
            "kubectl-gitops.io/path-",
            "kubectl-gitops.io/namespace-",
            "applyset.kubernetes.io/tooling=kubectl-gitops/v0.1.0",
            "--overwrite",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let old_labels: Vec<(String, String)> = configmaps(&client, &ns).await;
    assert_eq!(names(&old_labels), ["a", "b", "c"]);

    // c left git since; a and b are kept and move to the new set, c is pruned once.
    std::fs::remove_file(repo.join("deploy/c.yaml")).unwrap();
    let (code, stdout, stderr) = run(&["diff", "deploy", "-n", &ns], &repo);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("- prune ConfigMap/{ns}/c")),
        "{stdout}"
    );
    assert!(
        !stdout.contains("moves from"),
        "our own old set is no other set\n{stdout}"
    );
    let (code, stdout, stderr) = run(&["apply", "deploy", "-n", &ns, "--yes"], &repo);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("0 created, 2 updated, 1 pruned, 0 failed"),
        "{stdout}"
    );

    let live = configmaps(&client, &ns).await;
    assert_eq!(
        names(&live),
        ["a", "b"],
        "every member still in git is kept"
    );
    let new_parents = parents(&client, &ns).await;
    assert_eq!(new_parents.len(), 1);
    let new_id =
        new_parents[0].metadata.labels.as_ref().unwrap()["applyset.kubernetes.io/id"].clone();
    assert!(
        live.iter().all(|(_, part_of)| *part_of == new_id),
        "{live:?}"
    );
    assert!(
        secrets.get_opt(old_name).await.unwrap().is_none(),
        "the old parent is gone once its members moved"
    );
    let (code, stdout, _) = run(&["apply", "deploy", "-n", &ns, "--yes"], &repo);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("No changes"), "{stdout}");
}

#[tokio::test]
async fn an_object_of_another_set_moves_only_with_consent() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "id-move").await;
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(
        dir.path(),
        "platform",
        Some("https://git.example.com/org/platform"),
        &[
            ("one/shared.yaml", cm("shared", "1")),
            ("two/shared.yaml", cm("shared", "2")),
            ("two/own.yaml", cm("own", "2")),
        ],
    );
    assert_eq!(run(&["apply", "one", "-n", &ns, "--yes"], &repo).0, Some(0));
    let owner = configmaps(&client, &ns).await[0].1.clone();
    let one_parent = parent_names(&parents(&client, &ns).await)[0].clone();

    let (code, stdout, _) = run(&["diff", "two", "-n", &ns], &repo);
    assert_eq!(code, Some(1));
    let header = stdout
        .lines()
        .find(|l| l.contains(&format!("ConfigMap/{ns}/shared")))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        header.contains(&format!(
            "moves from ApplySet secret/{one_parent} in namespace {ns}"
        )) && header.contains("apply refuses without --adopt"),
        "{header}"
    );

    let (code, stdout, stderr) = run(&["apply", "two", "-n", &ns, "--yes"], &repo);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Nothing was applied") && stderr.contains("--adopt"),
        "{stderr}"
    );
    assert_eq!(
        configmaps(&client, &ns).await,
        [("shared".to_string(), owner.clone())],
        "nothing changed hands, nothing was created"
    );

    let (code, stdout, stderr) = run(&["apply", "two", "-n", &ns, "--yes", "--adopt"], &repo);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let live = configmaps(&client, &ns).await;
    assert_eq!(names(&live), ["own", "shared"]);
    assert_eq!(live[0].1, live[1].1, "shared moved into the second set");
    assert_ne!(live[1].1, owner);
}

#[tokio::test]
async fn consent_in_git_moves_one_object_and_other_tooling_is_adopted() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "id-adopt").await;
    // Made by Helm: no ApplySet label, written by another manager.
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let helm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "from-helm", "labels": {"app.kubernetes.io/managed-by": "Helm"}},
        "data": {"v": "0"}
    }))
    .unwrap();
    api.create(
        &PostParams {
            field_manager: Some("helm".into()),
            ..Default::default()
        },
        &helm,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let annotated = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  annotations:\n    kubectl-gitops.io/adopt: \"true\"\ndata:\n  v: \"2\"\n";
    let repo = checkout(
        dir.path(),
        "platform",
        Some("https://git.example.com/org/platform"),
        &[
            ("one/shared.yaml", cm("shared", "1")),
            ("two/shared.yaml", annotated.to_string()),
            // The value Helm set: adopting takes the object over without a field conflict.
            ("two/from-helm.yaml", cm("from-helm", "0")),
        ],
    );
    assert_eq!(run(&["apply", "one", "-n", &ns, "--yes"], &repo).0, Some(0));

    let (code, stdout, stderr) = run(&["apply", "two", "-n", &ns, "--yes"], &repo);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let header = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with("~ update") && l.contains(&format!("ConfigMap/{ns}/{name}")))
            .unwrap_or_else(|| panic!("{stdout}"))
            .to_string()
    };
    assert!(
        header("from-helm").contains("[adopted from helm]"),
        "{stdout}"
    );
    let moved = header("shared");
    assert!(
        moved.contains("moves from ApplySet") && !moved.contains("refuses"),
        "{moved}"
    );
    let live = configmaps(&client, &ns).await;
    assert_eq!(names(&live), ["from-helm", "shared"]);
    assert_eq!(
        live[0].1, live[1].1,
        "both are members of the second set now"
    );
}

#[tokio::test]
async fn a_set_spanning_namespaces_records_them_and_prunes_in_each() {
    let client = support::admin().await;
    let home = support::namespace(&client, "id-home").await;
    let other = support::namespace(&client, "id-other").await;
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: far\n  namespace: {other}\ndata:\n  v: \"1\"\n"
    );
    let repo = checkout(
        dir.path(),
        "spread",
        Some("https://git.example.com/org/spread"),
        &[("near.yaml", cm("near", "1")), ("far.yaml", elsewhere)],
    );
    let (code, stdout, stderr) = run(&["apply", ".", "-n", &home, "--yes"], &repo);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let found = parents(&client, &home).await;
    assert_eq!(found.len(), 1, "the parent is in the target namespace");
    let annotations = found[0].metadata.annotations.as_ref().unwrap();
    assert_eq!(
        annotations["applyset.kubernetes.io/additional-namespaces"],
        other
    );
    assert_eq!(annotations["kubectl-gitops.io/namespace"], home);

    std::fs::remove_file(repo.join("far.yaml")).unwrap();
    let (code, stdout, _) = run(&["apply", ".", "-n", &home, "--yes"], &repo);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("pruned ConfigMap/{other}/far")),
        "{stdout}"
    );
    assert!(configmaps(&client, &other).await.is_empty());
    let found = parents(&client, &home).await;
    assert_eq!(
        found[0].metadata.annotations.as_ref().unwrap()["applyset.kubernetes.io/additional-namespaces"],
        "",
        "narrowed once the last member there is gone"
    );
}
