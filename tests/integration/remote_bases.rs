//! Remote kustomize bases, served by an https git server the test starts (`git http-backend`
//! behind TLS with a throwaway CA): with `--allow-remote-bases` a kustomization building on a
//! pinned tag, a commit, a subdirectory and a remote base that itself builds on another renders
//! exactly as `kubectl kustomize` renders it from the same server, and its objects' origins
//! name the repository and the commit fetched; without the flag it is refused naming the file
//! and the URL; a remote base whose tree links or climbs out of itself, or that builds on
//! itself, is refused. Over ssh, the same against `kubectl kustomize` through a stand-in `ssh`
//! program; in the controller, within the fetch rules.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::reconcile::{HttpsGit, git};
use crate::support;

/// A bare repository `<base>/<name>.git` holding `files`, committed on `main` and tagged
/// `v1`, then `later` committed on top (so the tag and the branch differ). Returns the tag's
/// commit.
fn serve_repository(
    base: &Path,
    name: &str,
    files: &[(&str, &str)],
    later: &[(&str, &str)],
) -> String {
    let work = tempfile::tempdir().unwrap();
    let checkout = work.path();
    let write = |files: &[(&str, &str)]| {
        for (path, text) in files {
            let full = checkout.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            match text.strip_prefix("symlink:") {
                Some(target) => std::os::unix::fs::symlink(target, &full).unwrap(),
                None => std::fs::write(&full, text).unwrap(),
            }
        }
    };
    git(checkout, &["init", "-q", "-b", "main"]);
    write(files);
    git(checkout, &["add", "-A"]);
    git(checkout, &["commit", "-qm", "v1"]);
    git(checkout, &["tag", "v1"]);
    let tagged = git(checkout, &["rev-parse", "HEAD"]);
    if !later.is_empty() {
        write(later);
        git(checkout, &["add", "-A"]);
        git(checkout, &["commit", "-qm", "later"]);
    }
    let bare = base.join(format!("{name}.git"));
    git(
        base,
        &[
            "clone",
            "-q",
            "--bare",
            checkout.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    tagged
}

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

/// The server's CA, for both clients: ours (rustls reads `SSL_CERT_FILE`) and kubectl's git.
fn tls_env(server: &HttpsGit) -> Vec<(&'static str, String)> {
    let ca = server.ca.to_string_lossy().into_owned();
    vec![
        ("SSL_CERT_FILE", ca.clone()),
        ("GIT_SSL_CAINFO", ca),
        ("GIT_TERMINAL_PROMPT", "0".into()),
    ]
}

/// `kubectl kustomize dir`'s objects, fetching from the same server.
fn kubectl_kustomize(dir: &Path, env: &[(&'static str, String)]) -> Vec<Value> {
    let home = tempfile::tempdir().unwrap();
    let output = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .env("HOME", home.path())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("kubectl, whose kustomize is the oracle");
    assert!(
        output.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    text.split("\n---\n")
        .filter(|doc| !doc.trim().is_empty())
        .map(|doc| kubectl_gitops::yaml::from_str(doc).expect("kustomize's YAML"))
        .collect()
}

/// `kind/name` and data of objects, sorted: what a render means, without server fields.
fn meaning(objects: &[Value]) -> Vec<(String, Value)> {
    let mut meant: Vec<(String, Value)> = objects
        .iter()
        .map(|o| {
            (
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap_or("")
                ),
                o["data"].clone(),
            )
        })
        .collect();
    meant.sort_by(|a, b| a.0.cmp(&b.0));
    meant
}

async fn gitops(
    args: Vec<String>,
    cwd: PathBuf,
    env: Vec<(&'static str, String)>,
) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let output = support::gitops_env(&args, &cwd, &env);
        let (stdout, stderr) = support::text(&output);
        (output.status.code().unwrap_or(-1), stdout, stderr)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_bases_allowed_render_as_kubectl_kustomize_renders_them_and_refused_otherwise() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "remote-bases").await;
    let served = tempfile::tempdir().unwrap();
    let server = HttpsGit::start(served.path(), "").await;
    let root = server.root_url();
    let inner_tag = serve_repository(
        served.path(),
        "inner",
        &[
            (
                "deep/kustomization.yaml",
                "resources: [cm.yaml]\nnameSuffix: -deep\n",
            ),
            ("deep/cm.yaml", &cm("inner", "from the nested base")),
        ],
        &[],
    );
    let bases_tag = serve_repository(
        served.path(),
        "bases",
        &[
            (
                "team/kustomization.yaml",
                "resources: [cm.yaml, ../shared]\ncommonLabels: {team: web}\n",
            ),
            ("team/cm.yaml", &cm("team", "pinned at v1")),
            ("shared/kustomization.yaml", "resources: [cm.yaml]\n"),
            ("extra/kustomization.yaml", "resources: [cm.yaml]\n"),
            (
                "extra/cm.yaml",
                &cm("extra", "another directory at the same revision"),
            ),
            (
                "shared/cm.yaml",
                &cm("shared", "a sibling directory of the base"),
            ),
            (
                "nested/kustomization.yaml",
                &format!("resources:\n- {root}/inner.git//deep?ref=v1\nnamePrefix: nested-\n"),
            ),
        ],
        &[("team/cm.yaml", &cm("team", "moved on after v1"))],
    );
    assert_ne!(inner_tag, bases_tag);
    let team_url = format!("{root}/bases.git//team?ref=v1");
    let repo = support::Workdir::new(&[
        (
            "app/kustomization.yaml",
            &format!(
                "resources:\n- {team_url}\n- {root}/bases.git//nested?ref={bases_tag}\n- cm.yaml\n- {root}/bases.git//extra?ref=v1\nnamePrefix: app-\n"
            ),
        ),
        ("app/cm.yaml", &cm("local", "in the repository")),
    ]);
    repo.git_commit_all();
    let env = tls_env(&server);

    // The oracle: kubectl kustomize, fetching from the same server with its own git.
    let expected = kubectl_kustomize(&repo.path().join("app"), &env);
    assert_eq!(expected.len(), 5, "{expected:#?}");

    let args = |extra: &[&str]| -> Vec<String> {
        ["diff", "app", "-n", &ns, "-o", "json"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let (code, stdout, stderr) = gitops(
        args(&["--allow-remote-bases"]),
        repo.path().to_path_buf(),
        env.clone(),
    )
    .await;
    assert_eq!(code, 1, "changes to show:\n{stderr}\n{stdout}");
    let report: Value = serde_json::from_str(&stdout).expect("the JSON report");
    let changes = report["changes"].as_array().unwrap();
    let rendered: Vec<Value> = changes.iter().map(|c| c["after"].clone()).collect();
    assert_eq!(
        meaning(&rendered),
        meaning(&expected),
        "our render against kubectl kustomize's"
    );

    // Origins: which repository, which ref, which commit; the local file as before.
    let origin_of = |name: &str| -> Value {
        changes
            .iter()
            .find(|c| c["object"]["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {stdout}"))["origin"]
            .clone()
    };
    let team = origin_of("app-team");
    assert_eq!(team["file"], "team/cm.yaml", "{team}");
    assert_eq!(team["remote"]["repository"], format!("{root}/bases.git"));
    assert_eq!(team["remote"]["ref"], "v1");
    assert_eq!(team["remote"]["commit"], bases_tag.as_str());
    let shared = origin_of("app-shared");
    assert_eq!(shared["file"], "shared/cm.yaml", "{shared}");
    let inner = origin_of("app-nested-inner-deep");
    assert_eq!(inner["file"], "deep/cm.yaml", "{inner}");
    assert_eq!(inner["remote"]["repository"], format!("{root}/inner.git"));
    assert_eq!(inner["remote"]["commit"], inner_tag.as_str());
    let local = origin_of("app-local");
    assert_eq!(local["file"], "app/cm.yaml", "{local}");
    assert!(local.get("remote").is_none(), "{local}");

    // The text report cites the file in its repository with the commit.
    let (_, text, stderr) = gitops(
        vec![
            "diff".into(),
            "app".into(),
            "-n".into(),
            ns.clone(),
            "--allow-remote-bases".into(),
        ],
        repo.path().to_path_buf(),
        env.clone(),
    )
    .await;
    let cited = format!(
        "{root}/bases.git//team/cm.yaml:1 (v1 at commit {})",
        &bases_tag[..12]
    );
    assert!(text.contains(&cited), "{cited} in:\n{text}\n{stderr}");

    // Not allowed: refused, naming the file and the URL.
    let (code, stdout, stderr) = gitops(args(&[]), repo.path().to_path_buf(), env.clone()).await;
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    let refusal = format!(
        "app/kustomization.yaml: refusing to build: resources[0] \"{team_url}\" is a remote base"
    );
    assert!(stderr.contains(&refusal), "{refusal} in:\n{stderr}");
    assert!(stderr.contains("--allow-remote-bases"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_base_linking_or_climbing_out_of_its_tree_or_building_on_itself_is_refused() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "remote-hostile").await;
    let served = tempfile::tempdir().unwrap();
    let server = HttpsGit::start(served.path(), "").await;
    let root = server.root_url();
    let outside = tempfile::tempdir().unwrap();
    let canary = "canary-remote-base-7d1e";
    std::fs::write(outside.path().join("leak.yaml"), cm("leak", canary)).unwrap();
    let link_target = outside.path().join("leak.yaml");
    serve_repository(
        served.path(),
        "links",
        &[
            ("team/kustomization.yaml", "resources: [leak.yaml]\n"),
            (
                "team/leak.yaml",
                &format!("symlink:{}", link_target.display()),
            ),
        ],
        &[],
    );
    let climb = format!(
        "resources: [\"../../../../../../../../../../../../..{}\"]\n",
        outside.path().display()
    );
    serve_repository(
        served.path(),
        "climbs-far",
        &[("team/kustomization.yaml", &climb)],
        &[],
    );
    serve_repository(
        served.path(),
        "cycle",
        &[
            (
                "team/kustomization.yaml",
                &format!("resources:\n- {root}/cycle.git//other?ref=v1\n"),
            ),
            (
                "other/kustomization.yaml",
                &format!("resources:\n- {root}/cycle.git//team?ref=v1\n"),
            ),
        ],
        &[],
    );
    let env = tls_env(&server);
    for (repository, reason) in [
        ("links", "its tree is refused"),
        ("climbs-far", "points outside the repository"),
        ("cycle", "the bases form a cycle"),
    ] {
        let url = format!("{root}/{repository}.git//team");
        let repo =
            support::Workdir::new(&[("app/kustomization.yaml", &format!("resources:\n- {url}\n"))]);
        repo.git_commit_all();
        let (code, stdout, stderr) = gitops(
            ["diff", "app", "-n", &ns, "--allow-remote-bases"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            repo.path().to_path_buf(),
            env.clone(),
        )
        .await;
        assert_eq!(code, 2, "{repository}: {stdout}\n{stderr}");
        assert!(
            stderr.contains(reason),
            "{repository}: {reason} in:\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("{root}/{repository}.git")),
            "{repository}: the base named in:\n{stderr}"
        );
        assert!(
            !stdout.contains(canary) && !stderr.contains(canary),
            "{repository}: the file outside reached the output"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_controller_a_remote_base_is_fetched_only_when_the_sync_allows_it_and_the_address_is_allowed()
 {
    use crate::controller::{
        Controller, config_maps, create_sync, install_crd, service_account, spec, wait_for_ready,
    };
    use crate::reconcile::Remote;

    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-remote-bases").await;
    service_account(&client, &ns, "deployer", &[&ns]).await;
    let served = tempfile::tempdir().unwrap();
    let server = HttpsGit::start(served.path(), "").await;
    let root = server.root_url();
    serve_repository(
        served.path(),
        "bases",
        &[
            ("team/kustomization.yaml", "resources: [cm.yaml]\n"),
            ("team/cm.yaml", &cm("team", "from the remote base")),
        ],
        &[],
    );
    let kustomization = format!("resources:\n- {root}/bases.git//team?ref=v1\n");
    let remote = Remote::new(&[
        ("allowed/kustomization.yaml", &kustomization),
        ("refused/kustomization.yaml", &kustomization),
    ]);
    let url = format!("file://{}", remote.base.join("platform.git").display());
    let mut allowing = spec(&url, "allowed", &ns, "deployer");
    allowing["allowRemoteBases"] = Value::Bool(true);
    create_sync(&client, &ns, "allowed", allowing, serde_json::json!({})).await;
    create_sync(
        &client,
        &ns,
        "refused",
        spec(&url, "refused", &ns, "deployer"),
        serde_json::json!({}),
    )
    .await;
    let ca = server.ca.clone();
    let env: &[(&str, &Path)] = &[("SSL_CERT_FILE", &ca)];
    let watch = ["--watch-namespace", &ns, "--lease-namespace", &ns];

    // The base is on loopback, which a tree may not make the controller fetch from.
    let strict = Controller::start_with(&[&watch[..], &["--allow-file-sources"]].concat(), env);
    let refused = wait_for_ready(&client, &ns, "allowed", "False", "RenderFailed").await;
    assert!(
        refused.contains("loopback") && refused.contains("--allow-fetch-to"),
        "{refused}"
    );
    let not_allowed = wait_for_ready(&client, &ns, "refused", "False", "RenderFailed").await;
    assert!(
        not_allowed.contains("refused/kustomization.yaml")
            && not_allowed.contains(&format!("{root}/bases.git//team?ref=v1"))
            && not_allowed.contains("is a remote base"),
        "{not_allowed}"
    );
    assert_eq!(
        server.authorized.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the base's server was asked"
    );
    drop(strict);

    // The operator allows the address: the sync that allows remote bases builds its base;
    // the other is still refused.
    let _allowed = Controller::start_with(
        &[
            &watch[..],
            &["--allow-file-sources", "--allow-fetch-to", "127.0.0.1"],
        ]
        .concat(),
        env,
    );
    let cwd = tempfile::tempdir().unwrap();
    for name in ["allowed", "refused"] {
        let _ = support::gitops(
            &["sync", name, "-n", &ns, "--wait", "--timeout", "30s"],
            cwd.path(),
        );
    }
    wait_for_ready(&client, &ns, "allowed", "True", "ReconciliationSucceeded").await;
    assert_eq!(config_maps(&client, &ns).await, ["team"]);
    let still = wait_for_ready(&client, &ns, "refused", "False", "RenderFailed").await;
    assert!(still.contains("is a remote base"), "{still}");
}

/// A stand-in for the `ssh` program, as git's own tests use: it runs the command it is asked to
/// run on the far host (the arguments after the host, joined as ssh joins them) here, in
/// `root`, with the real `git-upload-pack`. The machine has no ssh server to start.
fn fake_ssh(dir: &Path, root: &Path) -> PathBuf {
    let program = dir.join("ssh");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n  case \"$1\" in\n  -o | -p) shift 2 ;;\n  -*) shift ;;\n  *) break ;;\n  esac\ndone\nshift\ncd '{}' || exit 1\nexec sh -c \"$(printf '%s' \"$*\" | sed \"s#'/#'#\")\"\n",
            root.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    program
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_bases_over_ssh_render_as_kubectl_kustomize_renders_them() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "remote-ssh").await;
    let served = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(served.path().join("org")).unwrap();
    let tag = serve_repository(
        &served.path().join("org"),
        "bases",
        &[
            ("team/kustomization.yaml", "resources: [cm.yaml]\n"),
            ("team/cm.yaml", &cm("team", "over ssh")),
            ("other/kustomization.yaml", "resources: [cm.yaml]\n"),
            ("other/cm.yaml", &cm("other", "the ssh:// spelling")),
        ],
        &[("team/cm.yaml", &cm("team", "moved on"))],
    );
    let bin = tempfile::tempdir().unwrap();
    let ssh = fake_ssh(bin.path(), served.path());
    let repo = support::Workdir::new(&[(
        "app/kustomization.yaml",
        "resources:\n- git@git.example.invalid:org/bases.git//team?ref=v1\n\
         - ssh://git@git.example.invalid/org/bases.git//other?ref=v1\nnamePrefix: app-\n",
    )]);
    repo.git_commit_all();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = vec![
        ("PATH", path),
        ("GIT_SSH_COMMAND", ssh.to_string_lossy().into_owned()),
    ];
    let expected = kubectl_kustomize(&repo.path().join("app"), &env);
    assert_eq!(expected.len(), 2, "{expected:#?}");
    let (code, stdout, stderr) = gitops(
        [
            "diff",
            "app",
            "-n",
            &ns,
            "-o",
            "json",
            "--allow-remote-bases",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        repo.path().to_path_buf(),
        env,
    )
    .await;
    assert_eq!(code, 1, "changes to show:\n{stderr}\n{stdout}");
    let report: Value = serde_json::from_str(&stdout).expect("the JSON report");
    let changes = report["changes"].as_array().unwrap();
    let rendered: Vec<Value> = changes.iter().map(|c| c["after"].clone()).collect();
    assert_eq!(meaning(&rendered), meaning(&expected));
    for change in changes {
        assert_eq!(
            change["origin"]["remote"]["commit"],
            tag.as_str(),
            "{change}"
        );
    }
}
