//! `kubectl gitops pr` with real git (a bare repository as the remote) and GitHub stood in for
//! at the HTTP level: the exact requests, and what happens when things fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{self, text};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct Repos {
    _dir: tempfile::TempDir,
    work: PathBuf,
    remote: PathBuf,
}

/// A clone with deploy/ committed and pushed, then edited: one changed file, one new file.
fn repos(secret_value: &str) -> Repos {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote.git");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(
        dir.path(),
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            remote.to_str().unwrap(),
        ],
    );
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["config", "user.name", "Dev"]);
    git(&work, &["config", "user.email", "dev@example.com"]);
    std::fs::create_dir_all(work.join("deploy")).unwrap();
    std::fs::write(
        work.join("deploy/a.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  v: \"1\"\n",
    )
    .unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "init"]);
    git(
        &work,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    git(&work, &["push", "-q", "origin", "main"]);
    std::fs::write(
        work.join("deploy/a.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  v: \"2\"\n",
    )
    .unwrap();
    std::fs::write(
        work.join("deploy/b.yaml"),
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: b\nstringData:\n  token: {secret_value}\n"),
    )
    .unwrap();
    Repos {
        _dir: dir,
        work,
        remote,
    }
}

async fn gitops_pr(
    work: &Path,
    server: &MockServer,
    ns: &str,
    token: Option<&str>,
    extra: &[&str],
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"));
    command
        .args([
            "pr",
            "deploy",
            "--github-repo",
            "acme/platform",
            "--api-url",
            &server.uri(),
            "-n",
            ns,
        ])
        .args(extra)
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .current_dir(work)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_ACTIONS");
    if let Some(token) = token {
        command.env("GITHUB_TOKEN", token);
    }
    tokio::task::spawn_blocking(move || command.output().expect("run kubectl-gitops"))
        .await
        .unwrap()
}

async fn request_bodies(server: &MockServer) -> Vec<(String, String, Value)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            (r.method.to_string(), r.url.path().to_string(), body)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn opens_a_pull_request_with_the_preview_and_leaves_the_working_tree_alone() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "pr").await;
    let canary = support::unique_name("pr-canary");
    let repos = repos(&canary);
    let status_before = git(&repos.work, &["status", "--porcelain"]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/platform/pulls"))
        .and(header("authorization", "Bearer test-token"))
        .and(body_partial_json(
            json!({"title": "Scale web", "head": "gitops/scale", "base": "main"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"number": 7, "html_url": "https://github.com/acme/platform/pull/7"}),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let out = gitops_pr(
        &repos.work,
        &server,
        &ns,
        Some("test-token"),
        &["-m", "Scale web", "--branch", "gitops/scale"],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Opened pull request #7: https://github.com/acme/platform/pull/7"),
        "{stdout}"
    );

    // The push landed with exactly PATH's changes.
    let remote = repos.remote.to_str().unwrap();
    let show = |spec: &str| git(Path::new("."), &["--git-dir", remote, "show", spec]);
    assert!(show("gitops/scale:deploy/a.yaml").contains("v: \"2\""));
    assert!(show("gitops/scale:deploy/b.yaml").contains("kind: Secret"));
    assert_eq!(
        git(
            Path::new("."),
            &[
                "--git-dir",
                remote,
                "log",
                "-1",
                "--format=%s",
                "gitops/scale"
            ]
        ),
        "Scale web"
    );
    // The user is where they were.
    assert_eq!(
        git(&repos.work, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "main"
    );
    assert_eq!(git(&repos.work, &["status", "--porcelain"]), status_before);

    let requests = request_bodies(&server).await;
    let (_, _, body) = &requests[0];
    let pr_body = body["body"].as_str().unwrap();
    assert!(pr_body.contains("### kubectl gitops plan"), "{pr_body}");
    assert!(
        pr_body.contains(&format!("~ update ConfigMap/{ns}/a"))
            || pr_body.contains(&format!("+ create ConfigMap/{ns}/a")),
        "{pr_body}"
    );
    assert!(
        pr_body.contains(&format!("+ create Secret/{ns}/b")),
        "{pr_body}"
    );
    assert!(
        !pr_body.contains(&canary),
        "the Secret value never reaches the pull request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ci_preview_comment_is_created_once_then_updated_in_place() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "comment").await;
    let repos = repos("irrelevant");
    let server = MockServer::start().await;
    // The token acts as ci-bot: only ci-bot's marked comment is ever ours.
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"login": "ci-bot"})))
        .mount(&server)
        .await;
    let marker = "<!-- kubectl-gitops preview path=deploy -->";
    Mock::given(method("GET"))
        .and(path("/repos/acme/platform/issues/12/comments"))
        .and(query_param("per_page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "body": "LGTM", "user": {"login": "reviewer"}},
            // Someone else's comment with our first line is not ours to overwrite.
            {"id": 7, "body": format!("{marker}\nnot a preview"), "user": {"login": "mallory"}}
        ])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/platform/issues/12/comments"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": 99, "html_url": "https://github.com/c/99"})),
        )
        .expect(1)
        .mount(&server)
        .await;

    let out = gitops_pr(&repos.work, &server, &ns, Some("t"), &["--comment", "12"]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Created the preview comment on acme/platform#12"),
        "{stdout}"
    );
    let requests = request_bodies(&server).await;
    let posted = requests.iter().find(|(m, _, _)| m == "POST").unwrap().2["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        posted.starts_with("<!-- kubectl-gitops preview path=deploy -->"),
        "{posted}"
    );
    // The preview is the plan `diff` shows, made by the same function from the same tree.
    let diff = support::gitops(
        &["diff", "deploy", "-n", &ns, "-o", "markdown"],
        &repos.work,
    );
    let (plan, _) = text(&diff);
    assert_eq!(diff.status.code(), Some(1), "{plan}");
    assert_eq!(
        posted,
        format!("<!-- kubectl-gitops preview path=deploy -->\n{plan}")
    );

    // The second run finds its own comment by the marker and its author, and edits it.
    Mock::given(method("GET"))
        .and(path("/repos/acme/platform/issues/12/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "body": "LGTM", "user": {"login": "reviewer"}},
            {"id": 7, "body": format!("{marker}\nnot a preview"), "user": {"login": "mallory"}},
            {"id": 99, "body": posted, "user": {"login": "ci-bot"}}
        ])))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/platform/issues/comments/99"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 99, "html_url": "https://github.com/c/99"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let out = gitops_pr(&repos.work, &server, &ns, Some("t"), &["--comment", "12"]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("Updated the preview comment"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_error_shows_status_and_message_and_says_the_branch_was_pushed() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "pr-error").await;
    let repos = repos("x");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/platform/pulls"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Validation Failed",
            "errors": [{"message": "A pull request already exists for acme:gitops/dup."}]
        })))
        .mount(&server)
        .await;

    let out = gitops_pr(
        &repos.work,
        &server,
        &ns,
        Some("t"),
        &["--branch", "gitops/dup"],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("GitHub API error 422: Validation Failed: A pull request already exists"),
        "{stderr}"
    );
    assert!(
        stderr.contains("branch gitops/dup was pushed to origin"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_before_the_api_lose_nothing() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "pr-fail").await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;

    // No token: nothing happens at all.
    let repos_a = repos("x");
    let out = gitops_pr(&repos_a.work, &server, &ns, None, &["--branch", "gitops/a"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no GitHub token"), "{}", text(&out).1);
    assert_eq!(git(&repos_a.work, &["branch", "--list", "gitops/a"]), "");

    // Push rejected: the branch we created is removed again, the working tree is intact.
    let repos_b = repos("x");
    git(
        &repos_b.work,
        &["remote", "set-url", "origin", "/nonexistent/remote.git"],
    );
    let out = gitops_pr(
        &repos_b.work,
        &server,
        &ns,
        Some("t"),
        &["--branch", "gitops/b"],
    )
    .await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("git push to origin was rejected"),
        "{stderr}"
    );
    assert_eq!(git(&repos_b.work, &["branch", "--list", "gitops/b"]), "");
    assert!(git(&repos_b.work, &["status", "--porcelain"]).contains("deploy/b.yaml"));

    // Nothing to commit.
    let repos_c = repos("x");
    git(&repos_c.work, &["add", "-A"]);
    git(&repos_c.work, &["commit", "-qm", "everything"]);
    let out = gitops_pr(&repos_c.work, &server, &ns, Some("t"), &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("nothing to commit under deploy"),
        "{}",
        text(&out).1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn show_secrets_is_refused_before_anything_is_sent() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "pr-show").await;
    let canary = support::unique_name("pr-show-canary");
    let repos = repos(&canary);
    let server = MockServer::start().await;
    let out = gitops_pr(&repos.work, &server, &ns, Some("t"), &["--show-secrets"]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("--show-secrets does not apply to pr"),
        "{stderr}"
    );
    assert!(!format!("{stdout}{stderr}").contains(&canary));
    assert!(
        request_bodies(&server).await.is_empty(),
        "nothing reached GitHub"
    );
    assert_eq!(git(&repos.work, &["branch", "--list", "gitops/*"]), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_preview_says_why_in_short_without_what_the_error_quoted() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "pr-nopreview").await;
    let canary = support::unique_name("pr-kube-canary");
    let repos = repos(&canary);
    // A cluster that does not answer, reached with a token and userinfo in the URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = repos._dir.path().join("unreachable-kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://admin:{canary}@127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: {canary}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/platform/pulls"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"number": 8, "html_url": "https://github.com/p/8"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"));
    command
        .args([
            "pr",
            "deploy",
            "--github-repo",
            "acme/platform",
            "--api-url",
        ])
        .arg(server.uri())
        .args(["-n", &ns, "--request-timeout", "2s", "--kubeconfig"])
        .arg(&kubeconfig)
        .current_dir(&repos.work)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env("GITHUB_TOKEN", "t");
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        !format!("{stdout}{stderr}").contains(&canary),
        "{stdout}\n{stderr}"
    );
    let requests = request_bodies(&server).await;
    let body = requests[0].2["body"].as_str().unwrap().to_string();
    assert!(!body.contains(&canary), "{body}");
    assert!(
        !body.contains(&format!("127.0.0.1:{port}")),
        "no server address\n{body}"
    );
    let reason = body
        .lines()
        .find(|l| l.starts_with("No preview: "))
        .unwrap_or_else(|| panic!("a reason\n{body}"));
    assert!(
        reason.contains("the cluster could not be asked"),
        "{reason}"
    );
    assert!(reason.len() < 200, "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_urls_lose_their_credentials_in_every_message() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "pr-userinfo").await;
    let canary = support::unique_name("pushtoken");
    let server = MockServer::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // git push quotes the remote's URL when it fails.
    let repos = repos("x");
    let url = format!("http://user:{canary}@127.0.0.1:{port}/platform.git");
    git(&repos.work, &["remote", "set-url", "origin", &url]);
    let out = gitops_pr(
        &repos.work,
        &server,
        &ns,
        Some("t"),
        &["--branch", "gitops/u"],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("git push to origin was rejected"),
        "{stderr}"
    );
    assert!(!format!("{stdout}{stderr}").contains(&canary), "{stderr}");

    // `git remote get-url` names it when the repository cannot be inferred.
    let url = format!("https://user:{canary}@gitlab.example.com/acme/platform.git");
    git(&repos.work, &["remote", "set-url", "origin", &url]);
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .args(["pr", "deploy", "--api-url"])
        .arg(server.uri())
        .current_dir(&repos.work)
        .env("GITHUB_TOKEN", "t")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("https://***@gitlab.example.com"),
        "{stderr}"
    );
    assert!(!format!("{stdout}{stderr}").contains(&canary), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_quoting_a_secret_reaches_the_preview_comment_scrubbed() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "pr-refused").await;
    let canary = support::unique_name("pr-env-canary");
    let repos = repos("x");
    // deploy/ becomes a kustomization whose env line lacks `=`: the server refuses the
    // Secret and quotes the line.
    std::fs::write(
        repos.work.join("deploy/kustomization.yaml"),
        "resources: [a.yaml]\nsecretGenerator:\n- name: db\n  envs: [db.env]\n",
    )
    .unwrap();
    std::fs::write(
        repos.work.join("deploy/db.env"),
        format!("DB_PASSWORD {canary}\n"),
    )
    .unwrap();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"login": "ci-bot"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/platform/issues/3/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/platform/issues/3/comments"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": 5, "html_url": "https://github.com/c/5"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let out = gitops_pr(&repos.work, &server, &ns, Some("t"), &["--comment", "3"]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        !format!("{stdout}{stderr}").contains(&canary),
        "{stdout}\n{stderr}"
    );
    let requests = request_bodies(&server).await;
    let posted = requests
        .iter()
        .find(|(m, _, _)| m == "POST")
        .map(|(_, _, b)| b["body"].as_str().unwrap().to_string())
        .unwrap();
    assert!(
        posted.contains("DB_PASSWORD ***"),
        "the refusal is shown\n{posted}"
    );
    assert!(!posted.contains(&canary), "{posted}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pr_that_failed_after_its_push_is_finished_by_running_it_again() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "pr-retry").await;
    let repos = repos("x");
    let remote = repos.remote.to_str().unwrap().to_string();
    let branches = || {
        git(
            Path::new("."),
            &["--git-dir", &remote, "branch", "--list", "gitops/*"],
        )
    };

    // GitHub unreachable: a port nothing listens on any more.
    let unreachable = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"));
    command
        .args(["pr", "deploy", "--github-repo", "acme/platform", "-n", &ns])
        .args(["--api-url", &unreachable, "-m", "Scale web", "--kubeconfig"])
        .arg(support::kubeconfig())
        .current_dir(&repos.work)
        .env("NO_COLOR", "1")
        .env("GITHUB_TOKEN", "t")
        .env_remove("GITHUB_ACTIONS");
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let host = unreachable.trim_start_matches("http://");
    assert!(
        stderr.contains(host) && stderr.contains("did not answer"),
        "the error names the API: {stderr}"
    );
    assert!(stderr.contains("check --api-url"), "{stderr}");
    assert!(stderr.contains("run the same command again"), "{stderr}");
    let pushed = branches();
    assert_eq!(pushed.lines().count(), 1, "{pushed}");

    // The same command against GitHub: the pushed branch is reused, one pull request opened.
    let server = MockServer::start().await;
    let branch = pushed.trim().trim_start_matches("* ").to_string();
    Mock::given(method("POST"))
        .and(path("/repos/acme/platform/pulls"))
        .and(body_partial_json(json!({"head": branch, "base": "main"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"number": 8, "html_url": "https://github.com/acme/platform/pull/8"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let out = gitops_pr(&repos.work, &server, &ns, Some("t"), &["-m", "Scale web"]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("Opened pull request #8"), "{stdout}");
    assert!(stdout.contains("a previous run made"), "{stdout}");
    assert_eq!(branches(), pushed, "one branch");

    // Once more, after it was opened: GitHub refuses a second one, the open one is named.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/platform/pulls"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Validation Failed",
            "errors": [{"message": format!("A pull request already exists for acme:{branch}.")}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/platform/pulls"))
        .and(query_param("head", format!("acme:{branch}")))
        .and(query_param("state", "open"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!([{"number": 8, "html_url": "https://github.com/acme/platform/pull/8"}]),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let out = gitops_pr(&repos.work, &server, &ns, Some("t"), &["-m", "Scale web"]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("Pull request #8 for {branch} is open already")),
        "{stdout}"
    );
    assert_eq!(branches(), pushed, "still one branch");

    // Naming the pushed branch with --branch works as well; other content under it is refused.
    std::fs::write(
        repos.work.join("deploy/c.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    )
    .unwrap();
    let out = gitops_pr(&repos.work, &server, &ns, Some("t"), &["--branch", &branch]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("already exists with other changes"),
        "{stderr}"
    );
}
