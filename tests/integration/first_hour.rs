//! What a newcomer does in the first hour, against the real API server: kubectl's habits
//! (`-f`, `-v=N`, `--dry-run=...`), `apply -o json`, and an apply interrupted mid-way that
//! accounts for what it wrote.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use serde_json::Value;

use crate::apply::configmap_names;
use crate::support::{self, Workdir, gitops, gitops_env, text};

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"1\"\n")
}

#[tokio::test]
async fn kubectl_users_pass_the_directory_with_dash_f() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "habit-f").await;
    let repo = Workdir::new(&[("deploy/app.yaml", &cm("app"))]);
    let set = support::unique_name("habit-f");

    let out = gitops(
        &["diff", "-f", "deploy", "-n", &ns, "--applyset", &set],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("ConfigMap"), "{stdout}");
    assert!(!stderr.contains("to pass '-f' as a value"), "{stderr}");

    let out = gitops(
        &[
            "apply",
            "--filename=deploy",
            "-n",
            &ns,
            "--applyset",
            &set,
            "--yes",
        ],
        repo.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(configmap_names(&client, &ns).await, ["app"]);

    // `pr` proposes a whole set: a file is refused before anything is read.
    let out = gitops(&["pr", "-f", "deploy/app.yaml", "-n", &ns], repo.path());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("takes one directory"), "{stderr}");
}

#[tokio::test]
async fn diff_of_two_files_and_a_directory_shows_exactly_their_objects() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "habit-ff").await;
    let repo = Workdir::new(&[
        ("a/alpha.yaml", &cm("alpha")),
        ("a/bravo.yaml", &cm("bravo")),
        ("a/charlie.yaml", &cm("charlie")),
        ("b/delta.yaml", &cm("delta")),
        ("b/echo.yaml", &cm("echo")),
        ("c/foxtrot.yaml", &cm("foxtrot")),
    ]);
    let set = support::unique_name("habit-ff");
    let out = gitops(
        &[
            "diff",
            "-f",
            "a/alpha.yaml",
            "--filename=a/bravo.yaml",
            "-f",
            "b",
            "-n",
            &ns,
            "--applyset",
            &set,
            "-o",
            "json",
        ],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let mut named: Vec<String> = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
        .into_iter()
        .filter(|name| stdout.contains(&format!("\"{name}\"")))
        .map(str::to_string)
        .collect();
    named.sort();
    assert_eq!(named, ["alpha", "bravo", "delta", "echo"], "{stdout}");
    assert!(stderr.contains("nothing is pruned"), "{stderr}");
}

#[tokio::test]
async fn apply_dash_f_one_file_of_an_applied_directory_prunes_nothing_and_says_so() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "habit-f1").await;
    let repo = Workdir::new(&[
        ("deploy/app.yaml", &cm("app")),
        ("deploy/web.yaml", &cm("web")),
        ("deploy/db.yaml", &cm("db")),
    ]);
    let out = gitops(&["apply", "deploy", "-n", &ns, "--yes"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(configmap_names(&client, &ns).await, ["app", "db", "web"]);

    // Its neighbours gone, one file applied alone: it is written, the others are not pruned.
    std::fs::remove_file(repo.path().join("deploy/web.yaml")).unwrap();
    std::fs::write(
        repo.path().join("deploy/app.yaml"),
        cm("app").replace("\"1\"", "\"2\""),
    )
    .unwrap();
    let out = gitops(
        &["apply", "-f", "deploy/app.yaml", "-n", &ns, "--yes"],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        stderr.matches("nothing is pruned").count(),
        1,
        "said once: {stderr}"
    );
    assert!(
        stdout.contains("0 to prune") && stdout.contains("0 pruned"),
        "{stdout}"
    );
    assert_eq!(configmap_names(&client, &ns).await, ["app", "db", "web"]);
    let app = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("app")
        .await
        .unwrap();
    assert_eq!(app.data.unwrap()["v"], "2");

    // The set still tracks every member: the directory applied prunes what it lost.
    let out = gitops(&["apply", "deploy", "-n", &ns, "--yes"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(configmap_names(&client, &ns).await, ["app", "db"]);
}

#[tokio::test]
async fn verbosity_takes_kubectl_levels_requests_at_six_bodies_at_eight_scrubbed() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "habit-v").await;
    // A live Secret whose value git does not hold: only the structure can mask it.
    let live_only = "bGl2ZS1vbmx5LXBhc3N3b3Jk";
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": ns},
        "data": {"password": live_only}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let repo = Workdir::new(&[
        ("app.yaml", &cm("app")),
        (
            "db.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: from-git\n",
        ),
    ]);
    let set = support::unique_name("habit-v");
    let diff = |level: &str| {
        let out = gitops(
            &["diff", ".", "-n", &ns, "--applyset", &set, level],
            repo.path(),
        );
        assert_eq!(out.status.code(), Some(1), "{level}: {:?}", text(&out));
        text(&out).1
    };
    let request_line = |stderr: &str| {
        stderr.lines().any(|l| {
            (l.starts_with("GET http") || l.starts_with("PATCH http"))
                && l.contains(" 200 OK in ")
                && l.ends_with(" milliseconds")
        })
    };

    for level in ["-v", "-v=2", "--v=5"] {
        let stderr = diff(level);
        assert!(stderr.contains("] plan: "), "{level}: {stderr}");
        assert!(!stderr.contains("Summary {"), "{level}: {stderr}");
        assert!(!request_line(&stderr), "{level} tells requests: {stderr}");
    }
    for level in ["-v=6", "--v=6", "-v=7"] {
        let stderr = diff(level);
        assert!(request_line(&stderr), "{level}: {stderr}");
        assert!(!stderr.contains("Response Body"), "{level}: {stderr}");
    }
    let stderr = diff("-v=8");
    assert!(request_line(&stderr), "{stderr}");
    assert!(stderr.contains("Response Body: {"), "{stderr}");
    assert!(stderr.contains("Request Body: {"), "{stderr}");
    assert!(
        !stderr.contains(live_only),
        "a live Secret value reached stderr"
    );
    assert!(
        !stderr.contains("from-git"),
        "a Secret value from git reached stderr"
    );
}

#[tokio::test]
async fn apply_dry_run_takes_kubectl_strategies() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "habit-dry").await;
    let repo = Workdir::new(&[("app.yaml", &cm("app"))]);
    let set = support::unique_name("habit-dry");
    let apply = |extra: &[&str]| {
        let mut args = vec!["apply", ".", "-n", &ns, "--applyset", &set, "--yes"];
        args.extend_from_slice(extra);
        let out = gitops(&args, repo.path());
        let (stdout, stderr) = text(&out);
        (out.status.code(), stdout, stderr)
    };

    for server in [&["--dry-run"][..], &["--dry-run=server"]] {
        let (code, stdout, stderr) = apply(server);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert!(stdout.contains("Dry run: nothing was written."), "{stdout}");
        assert!(configmap_names(&client, &ns).await.is_empty());
    }

    // client: the render alone, with no cluster to reach.
    let out = gitops_env(
        &["apply", ".", "--dry-run=client"],
        repo.path(),
        &[("KUBECONFIG", "/nonexistent/kubeconfig")],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("ConfigMap/app (dry run: client)"),
        "{stdout}"
    );
    assert!(stdout.contains("the cluster was not contacted"), "{stdout}");
    assert!(configmap_names(&client, &ns).await.is_empty());

    let (code, stdout, stderr) = apply(&["--dry-run=none"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(configmap_names(&client, &ns).await, ["app"]);

    let (code, _, stderr) = apply(&["--dry-run=sometimes"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("[possible values: none, server, client]"),
        "{stderr}"
    );
}

#[tokio::test]
async fn apply_output_json_reports_what_was_done_in_the_schema_of_diff() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "apply-json").await;
    let repo = Workdir::new(&[("a.yaml", &cm("a")), ("b.yaml", &cm("b"))]);
    let set = support::unique_name("apply-json");
    let base = ["-n", ns.as_str(), "--applyset", set.as_str()];

    let diff = gitops(
        &[&["diff", ".", "-o", "json"][..], &base].concat(),
        repo.path(),
    );
    let diff: Value = serde_json::from_slice(&diff.stdout).expect("diff -o json");
    let out = gitops(
        &[&["apply", ".", "-o", "json", "--yes"][..], &base].concat(),
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let applied: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    for key in diff.as_object().unwrap().keys() {
        assert!(applied.get(key).is_some(), "apply -o json lacks {key}");
    }
    assert_eq!(applied["summary"], diff["summary"]);
    assert_eq!(applied["applied"]["result"], "applied");
    assert_eq!(applied["applied"]["created"], 2);
    assert_eq!(applied["applied"]["failed"], 0);
    let written: Vec<&str> = applied["applied"]["writes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["object"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(written.len(), 2, "{written:?}");
    assert!(written.contains(&"a") && written.contains(&"b"));
    // The person reading along still learns the outcome, on stderr.
    assert!(stderr.contains("2 created"), "{stderr}");

    let again = gitops(
        &[&["apply", ".", "-o", "json", "--yes"][..], &base].concat(),
        repo.path(),
    );
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["applied"]["result"], "noChanges");
}

/// Waits until `done` holds, polling; panics with `what` after a minute.
async fn until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_interrupted_apply_stops_between_writes_and_says_what_it_wrote() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "interrupt").await;
    let set = support::unique_name("interrupt");
    let repo = Workdir::new(&[("old.yaml", &cm("old"))]);
    let args = ["apply", ".", "-n", &ns, "--applyset", &set, "--yes"];
    assert_eq!(gitops(&args, repo.path()).status.code(), Some(0));

    // `old` leaves git and 120 objects arrive, written slowly enough to interrupt.
    std::fs::remove_file(repo.path().join("old.yaml")).unwrap();
    for i in 0..120 {
        repo.write(&format!("cm-{i:03}.yaml"), &cm(&format!("cm-{i:03}")));
    }
    let child = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .args(args)
        .args(["--qps", "10", "--kubeconfig"])
        .arg(support::kubeconfig())
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    until("the apply to start writing", || async {
        configmap_names(&client, &ns).await.len() > 1
    })
    .await;
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");

    let live = configmap_names(&client, &ns).await;
    assert!(
        live.contains(&"old".to_string()),
        "pruned after an interrupt"
    );
    let created: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("created ConfigMap/"))
        .map(|l| l.rsplit('/').next().unwrap())
        .collect();
    let written = live.len() - 1;
    assert_eq!(created.len(), written, "{stdout}");
    assert!(
        written < 120,
        "the interrupt came too late to test: {stdout}"
    );
    let line = format!("Interrupted: {written} of 121 writes made (listed above), ");
    assert!(stdout.contains(&line), "{stdout}");
    assert!(stdout.contains("nothing was pruned"), "{stdout}");
    assert!(
        stdout.contains("interrupted before it was sent"),
        "{stdout}"
    );

    // What the message said was written is what the cluster has: diff plans the rest.
    let diff = gitops(&["diff", ".", "-n", &ns, "--applyset", &set], repo.path());
    let (plan, _) = text(&diff);
    let expected = format!(
        "Plan: {} to create, 0 to update, 1 to prune,",
        120 - written
    );
    assert!(plan.contains(&expected), "{expected}\n{plan}");
}

/// Runs `args` in a pseudo-terminal (util-linux `script`), typing `keys` once `prompt` shows.
fn in_terminal(args: &[&str], cwd: &std::path::Path, prompt: &str, keys: &[u8]) -> (i32, String) {
    let mut command = vec![env!("CARGO_BIN_EXE_kubectl-gitops").to_string()];
    command.extend(args.iter().map(|a| format!("'{a}'")));
    let kubeconfig = support::kubeconfig();
    command.push(format!("--kubeconfig '{}'", kubeconfig.display()));
    let mut child = Command::new("script")
        .args(["-qefc", &command.join(" "), "/dev/null"])
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let mut typed = false;
    loop {
        let n = stdout.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buffer[..n]);
        if !typed && String::from_utf8_lossy(&seen).contains(prompt) {
            child.stdin.as_mut().unwrap().write_all(keys).unwrap();
            typed = true;
        }
    }
    let status = child.wait().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&seen).into_owned(),
    )
}

#[tokio::test]
async fn ctrl_c_at_the_prompt_changes_nothing_and_gives_the_cursor_back() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "prompt").await;
    let repo = Workdir::new(&[("app.yaml", &cm("app"))]);
    let set = support::unique_name("prompt");
    let (code, screen) = in_terminal(
        &["apply", ".", "-n", &ns, "--applyset", &set],
        repo.path(),
        "[y/N]",
        b"\x03",
    );
    assert_eq!(code, 130, "{screen}");
    assert!(configmap_names(&client, &ns).await.is_empty());
    assert!(screen.contains("nothing was changed"), "{screen}");
    // The cursor a prompt hides is shown again after it was last hidden.
    let hidden = screen.rfind("\x1b[?25l");
    let shown = screen.rfind("\x1b[?25h");
    assert!(
        hidden.is_none() || shown > hidden,
        "the cursor stays hidden: {screen:?}"
    );
}

#[test]
fn a_mistyped_context_lists_the_contexts_there_are() {
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n\
         - name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {}\n\
         contexts:\n- name: test\n  context: {cluster: c, user: u}\n\
         - name: prod\n  context: {cluster: c, user: u}\n",
    )
    .unwrap();
    std::fs::write(home.path().join("app.yaml"), cm("app")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .args(["diff", ".", "--context", "tset", "--kubeconfig"])
        .arg(&kubeconfig)
        .current_dir(home.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no context named \"tset\""), "{stderr}");
    assert!(stderr.contains("it has: test, prod."), "{stderr}");
    assert!(stderr.contains("Did you mean \"test\"?"), "{stderr}");
}

#[test]
fn a_missing_kubeconfig_is_named_once_and_unquoted() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("app.yaml"), cm("app")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .args(["diff", ".", "--kubeconfig", "nope.yaml"])
        .current_dir(home.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: cannot read the kubeconfig nope.yaml: "),
        "{stderr}"
    );
    assert!(!stderr.contains("'\""), "quoted twice: {stderr}");
    assert_eq!(
        stderr.matches("nope.yaml").count(),
        2,
        "error and hint: {stderr}"
    );
}

#[tokio::test]
async fn status_n_shows_that_namespace_and_status_a_every_one() {
    let client = support::admin().await;
    let mine = support::namespace(&client, "status-mine").await;
    let theirs = support::namespace(&client, "status-theirs").await;
    let repo = Workdir::new(&[("app.yaml", &cm("app"))]);
    let (set_mine, set_theirs) = (
        support::unique_name("status-mine"),
        support::unique_name("status-theirs"),
    );
    for (ns, set) in [(&mine, &set_mine), (&theirs, &set_theirs)] {
        let out = gitops(
            &["apply", ".", "-n", ns, "--applyset", set, "--yes"],
            repo.path(),
        );
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    }

    let out = gitops(&["status", "-n", &mine], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains(&set_mine), "{stdout}");
    assert!(
        !stdout.contains(&set_theirs),
        "another namespace's set: {stdout}"
    );

    let out = gitops(&["status", "-A"], repo.path());
    let (stdout, stderr) = text(&out);
    assert!(out.status.code().is_some(), "{stderr}");
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
    assert!(
        stdout.contains(&set_mine) && stdout.contains(&set_theirs),
        "{stdout}"
    );

    // A set applied from the command line has no reconciler, and says so rather than fail.
    let out = gitops(
        &["status", "--applyset", &set_mine, "-n", &mine],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("Members:      1"), "{stdout}");
    assert!(
        stdout.contains("Reconciler:   none (applied with `kubectl gitops apply`"),
        "{stdout}"
    );
    let out = gitops(
        &["status", "--applyset", "no-such-set", "-n", &mine],
        repo.path(),
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no ApplySet"), "{stderr}");
}

#[test]
fn a_repository_root_with_a_ci_workflow_points_at_the_manifests_directory() {
    let repo = Workdir::new(&[
        (
            ".github/workflows/ci.yml",
            "name: ci\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n",
        ),
        ("deploy/app.yaml", &cm("app")),
    ]);
    repo.git_commit_all();
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .args(["diff", "."])
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", repo.path().join("no-kubeconfig"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("hint: .github/workflows/ci.yml does not look like Kubernetes manifests"),
        "{stderr}"
    );
    assert!(stderr.contains("kubectl gitops diff deploy/"), "{stderr}");
}

#[test]
fn install_asks_for_the_repository_and_binds_per_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let install = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
            .arg("install")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = install(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--repo <URL>"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "a manifest following a placeholder was printed"
    );

    let out = install(&["--repo", "/srv/git/platform"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("which no registry serves"), "{stderr}");

    let binding = |ns: &str| {
        let out = install(&[
            "--repo",
            "/srv/git/platform",
            "-n",
            ns,
            "--image",
            "r.example/g:1",
        ]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let at = text.find("kind: ClusterRoleBinding").expect("a binding");
        text[at..]
            .lines()
            .find_map(|l| l.trim().strip_prefix("name: ").map(str::to_string))
            .unwrap()
    };
    assert_eq!(binding("team-a"), "kubectl-gitops-apply-team-a");
    assert_ne!(binding("team-a"), binding("team-b"));
}

#[tokio::test]
async fn apply_wait_counts_what_did_not_become_ready() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "wait-count").await;
    // The test server runs no controllers: a Deployment never becomes ready.
    let repo = Workdir::new(&[(
        "web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    \
         matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    \
         spec:\n      containers:\n        - name: web\n          image: nginx\n",
    )]);
    let set = support::unique_name("wait-count");
    let out = gitops(
        &[
            "apply",
            ".",
            "-n",
            &ns,
            "--applyset",
            &set,
            "--yes",
            "--wait",
            "--timeout",
            "1",
        ],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stdout.contains("! timeout Deployment/"), "{stdout}");
    assert!(
        stdout.contains("1 created, 0 updated, 0 pruned, 0 failed, 1 not ready."),
        "{stdout}"
    );
}

#[test]
fn the_readme_sample_is_what_the_quickstart_shows_on_a_fresh_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::faults::PrivateServer::start(dir.path());
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(repo.join("examples/quickstart.sh"))
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .arg(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .current_dir(repo)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");

    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let start = readme
        .find("```\n$ kubectl gitops diff ")
        .expect("a sample in the README")
        + "```\n".len();
    let sample = &readme[start..start + readme[start..].find("```").unwrap()];
    assert!(
        stdout.contains(sample),
        "the README's first sample is not what the quickstart shows:\n--- README\n{sample}\n\
         --- quickstart\n{stdout}"
    );

    // What it made is in the namespace it announced, nothing elsewhere.
    assert!(
        stdout.contains("kubectl delete namespace quickstart"),
        "{stdout}"
    );
    let outside = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .args([
            "get",
            "secrets,configmaps",
            "-A",
            "--field-selector",
            "metadata.namespace!=quickstart",
            "-o",
            "custom-columns=NS:.metadata.namespace,NAME:.metadata.name",
            "--no-headers",
        ])
        .output()
        .unwrap();
    let outside = String::from_utf8_lossy(&outside.stdout).into_owned();
    let ours: Vec<&str> = outside
        .lines()
        // The server's own, there before the quickstart ran.
        .filter(|l| !l.starts_with("kube-system ") && !l.contains("kube-root-ca.crt"))
        .collect();
    assert!(
        ours.is_empty(),
        "left outside namespace quickstart: {ours:?}"
    );
}

#[test]
fn a_misspelled_path_is_said_missing_once_with_the_directory_meant() {
    let repo = Workdir::new(&[("deploy/app.yaml", &cm("app"))]);
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .args(["diff", "deplyo"])
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: deplyo does not exist\n"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("does not exist").count(), 1, "{stderr}");
    assert!(!stderr.contains("not a directory"), "{stderr}");
    assert!(stderr.contains("Did you mean deploy?"), "{stderr}");
}
