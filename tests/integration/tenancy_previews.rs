//! A pull request's preview is a stranger's tree rendered and planned with CI's credentials,
//! then posted where everyone who reads the repository reads it. These tests are the attacks
//! such a tree can make through `kubectl gitops pr --comment` (GitHub stood in for at the HTTP
//! level): naming another team's object to have its live copy printed as the "before" of an
//! update, and reaching files outside the repository through kustomize or a chart.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{self, Workdir, text};

/// The pull request the stand-in serves.
const PULL_REQUEST: &str = "5";

/// GitHub as CI's token sees it: pull request 5 has no comment yet, and a new one is accepted.
async fn github() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"login": "ci-bot"})))
        .mount(&server)
        .await;
    let comments = format!("/repos/acme/platform/issues/{PULL_REQUEST}/comments");
    Mock::given(method("GET"))
        .and(path(comments.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(comments.as_str()))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": 11, "html_url": "https://github.com/c/11"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    server
}

/// `kubectl gitops pr deploy --comment 5` in `repo`, as CI runs it on every push.
async fn preview(repo: &Path, server: &MockServer, ns: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"));
    command
        .args([
            "pr",
            "deploy",
            "--comment",
            PULL_REQUEST,
            "--github-repo",
            "acme/platform",
            "--api-url",
            &server.uri(),
            "-n",
            ns,
        ])
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .current_dir(repo)
        .env("GITOPS_HELM", support::helm())
        .env("NO_COLOR", "1")
        .env("GITHUB_TOKEN", "t")
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_ACTIONS");
    tokio::task::spawn_blocking(move || command.output().expect("run kubectl-gitops"))
        .await
        .unwrap()
}

/// The comment the run posted on the stand-in.
async fn posted(server: &MockServer) -> String {
    let requests = server.received_requests().await.unwrap_or_default();
    let post = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .expect("a comment was posted");
    let body: Value = serde_json::from_slice(&post.body).unwrap();
    body["body"].as_str().unwrap().to_string()
}

fn configmap(name: &str, namespace: Option<&str>, data: &str) -> String {
    let namespace = namespace
        .map(|ns| format!("  namespace: {ns}\n"))
        .unwrap_or_default();
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{namespace}data:\n{data}")
}

/// Where a canary must not be: the comment, stdout and stderr.
fn assert_absent(canary: &str, comment: &str, out: &Output) {
    let (stdout, stderr) = text(out);
    for (what, text) in [
        ("the comment", comment),
        ("stdout", &stdout),
        ("stderr", &stderr),
    ] {
        assert!(!text.contains(canary), "the canary reached {what}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preview_never_prints_the_live_body_of_an_object_outside_the_namespaces_the_set_manages()
{
    let client = support::admin().await;
    let ns = support::namespace(&client, "preview-own").await;
    let other = support::namespace(&client, "preview-other").await;
    let canary = support::unique_name("other-teams-canary");
    // Another team's configuration, which CI's credentials happen to be able to read.
    let theirs: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "other-teams-config"},
        "data": {"token": canary},
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), &other)
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    // The set as merged: one ConfigMap in its own namespace.
    let repo = Workdir::new(&[("deploy/web.yaml", &configmap("web", None, "  v: \"1\"\n"))]);
    repo.git_commit_all();
    let apply = support::gitops(&["apply", "deploy", "--yes", "-n", &ns], repo.path());
    assert_eq!(apply.status.code(), Some(0), "{:?}", text(&apply));

    // The pull request: a real change to the set's own object, and a name from elsewhere.
    repo.write("deploy/web.yaml", &configmap("web", None, "  v: \"2\"\n"));
    repo.write(
        "deploy/lure.yaml",
        &configmap("other-teams-config", Some(&other), "  note: hello\n"),
    );
    let server = github().await;
    let out = preview(repo.path(), &server, &ns).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let comment = posted(&server).await;

    assert_absent(&canary, &comment, &out);
    assert!(
        comment.contains(&format!(
            "Not shown: `ConfigMap/{other}/other-teams-config` is outside the namespaces this \
             set manages ({ns}); review it with credentials of your own."
        )),
        "the comment says why it is not shown:\n{comment}"
    );
    // It still counts: two updates, its header kept.
    assert!(comment.contains("| 0 | 2 | 0 |"), "{comment}");
    assert!(
        comment.contains(&format!("~ update ConfigMap/{other}/other-teams-config")),
        "{comment}"
    );
    // The set's own object shows its diff as before.
    assert!(
        comment.contains(&format!("~ update ConfigMap/{ns}/web")),
        "{comment}"
    );
    assert!(
        comment.contains("-  v: '1'") && comment.contains("+  v: '2'"),
        "the set's own object shows its diff:\n{comment}"
    );

    // On the user's own terminal, with their own credentials, `diff` shows everything.
    let diff = support::gitops(&["diff", "deploy", "-n", &ns], repo.path());
    assert_eq!(diff.status.code(), Some(1), "{:?}", text(&diff));
    assert!(text(&diff).0.contains(&canary), "{:?}", text(&diff));
}

/// A file beside the repository, as a runner's credentials would be: a kustomization that
/// builds a ConfigMap carrying the canary, and the relative path from anywhere to it.
fn outside(dir: &Path, canary: &str) -> String {
    let base = dir.join("outside");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(base.join("kustomization.yaml"), "resources: [cm.yaml]\n").unwrap();
    std::fs::write(
        base.join("cm.yaml"),
        configmap("outside", None, &format!("  secret: {canary}\n")),
    )
    .unwrap();
    let inside = base.canonicalize().unwrap();
    let inside = inside.strip_prefix("/").unwrap().display().to_string();
    format!("{}{inside}", "../".repeat(40))
}

/// A chart whose ConfigMap carries what its file `sa` holds, `sa` being a link to `target`.
fn chart_linking_to(repo: &Path, target: &Path) {
    let chart = repo.join("deploy/leak");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: leak\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  \
         sa: {{ .Files.Get \"sa\" | quote }}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(target, chart.join("sa")).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_reaching_outside_the_repository_gets_a_named_refusal_in_its_preview() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "preview-hostile").await;
    let outer = tempfile::tempdir().unwrap();
    let canary = support::unique_name("CANARY-runner-file");
    let climb = outside(outer.path(), &canary);
    let canary_file = outer.path().join("canary-secret");
    std::fs::write(&canary_file, &canary).unwrap();
    let canary_file = canary_file.canonicalize().unwrap();

    type Attack = Box<dyn Fn(&Path)>;
    let attacks: Vec<(&str, Attack, &str)> = vec![
        (
            "a repeated resources key",
            Box::new(move |repo: &Path| {
                std::fs::create_dir_all(repo.join("deploy")).unwrap();
                std::fs::write(
                    repo.join("deploy/cm.yaml"),
                    configmap("cm", None, "  v: \"1\"\n"),
                )
                .unwrap();
                std::fs::write(
                    repo.join("deploy/kustomization.yaml"),
                    format!("resources: [cm.yaml]\nresources: [{climb}]\n"),
                )
                .unwrap();
            }),
            "deploy/kustomization.yaml: refusing to build: resources[0]",
        ),
        (
            "a chart link to an absolute path",
            Box::new({
                let canary_file = canary_file.clone();
                move |repo: &Path| chart_linking_to(repo, &canary_file)
            }),
            "deploy/leak/sa: refusing to render the chart deploy/leak",
        ),
        (
            "a chart link climbing out",
            Box::new(|repo: &Path| {
                chart_linking_to(repo, &PathBuf::from("../../../canary-secret"))
            }),
            "deploy/leak/sa: refusing to render the chart deploy/leak",
        ),
    ];
    for (attack, write, named) in attacks {
        let repo = outer.path().join(attack.replace(' ', "-"));
        std::fs::create_dir_all(&repo).unwrap();
        write(&repo);
        commit(&repo);
        let server = github().await;
        let out = preview(&repo, &server, &ns).await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{attack}:\n{stdout}\n{stderr}");
        let comment = posted(&server).await;
        assert_absent(&canary, &comment, &out);
        assert!(
            comment.contains("No preview: the change does not render") && comment.contains(named),
            "{attack}: the comment names the refusal:\n{comment}"
        );
        assert!(
            stderr.contains(named),
            "{attack}: the log names it:\n{stderr}"
        );
    }
}

fn commit(repo: &Path) {
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "the pull request",
        ],
    ] {
        let status = Command::new("git")
            .args(args)
            .current_dir(repo)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }
}
