//! Hostile input: repositories are untrusted. Every bad input gets a clear error naming the
//! file, in bounded time, without a panic, and never a partial apply or prune. Secret values
//! never reach any output.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;

use crate::support::{self, Workdir, text};

/// Generous: only a hang (a bomb that explodes, a loop that never ends) can reach it.
const HANG: Duration = Duration::from_secs(90);

/// Runs the binary, killing it if it hangs.
fn gitops_bounded(args: &[&str], cwd: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"));
    command.args(args);
    // install contacts no cluster and takes no --kubeconfig.
    if args.first() != Some(&"install") {
        command.arg("--kubeconfig").arg(support::kubeconfig());
    }
    let mut child = command
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubectl-gitops");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if started.elapsed() > HANG {
            let _ = child.kill();
            panic!("kubectl-gitops {args:?} still running after {HANG:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Applied {
    repo: Workdir,
    ns: String,
    set: String,
}

/// A repository already applied: one ConfigMap, so a partial apply or prune would show.
async fn applied_repo(client: &kube::Client, prefix: &str) -> Applied {
    let ns = support::namespace(client, prefix).await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[(
        "keep.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\ndata:\n  v: \"1\"\n",
    )]);
    repo.git_commit_all();
    let out = gitops_bounded(
        &["apply", ".", "-n", &ns, "--applyset", &set, "--yes"],
        repo.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    Applied { repo, ns, set }
}

/// Applies with the bad input in place and checks the promises: exit 2, the file named, no
/// panic, nothing written.
async fn assert_refused(client: &kube::Client, case: &Applied, expect_in_output: &[&str]) {
    // Dropping keep.yaml means a prune would happen if anything got that far.
    let keep = case.repo.path().join("keep.yaml");
    let keep_text = std::fs::read(&keep).unwrap();
    std::fs::remove_file(&keep).unwrap();
    let out = gitops_bounded(
        &[
            "apply",
            ".",
            "-n",
            &case.ns,
            "--applyset",
            &case.set,
            "--yes",
            "--allow-empty",
        ],
        case.repo.path(),
    );
    std::fs::write(&keep, keep_text).unwrap();
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}\n{stderr}");
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(!all.contains("panicked"), "{all}");
    for expected in expect_in_output {
        assert!(all.contains(expected), "expected {expected:?} in:\n{all}");
    }
    assert!(
        !stdout.contains("pruned") && !stdout.contains("created"),
        "{all}"
    );
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &case.ns);
    let keep = api.get_opt("keep").await.unwrap();
    assert!(
        keep.is_some(),
        "the applied object survives bad input\n{all}"
    );
}

#[tokio::test]
async fn bad_files_are_refused_with_the_file_named_and_nothing_written() {
    let client = support::admin().await;
    let bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n\
                b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n\
                d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n\
                f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n\
                h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    let deep = "[".repeat(200_000);
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "malformed.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n".to_vec(),
            vec!["malformed.yaml:"],
        ),
        ("bomb.yaml", bomb.as_bytes().to_vec(), vec!["bomb.yaml:"]),
        ("deep.yaml", deep.into_bytes(), vec!["deep.yaml:"]),
        (
            "deep.json",
            "[".repeat(200_000).into_bytes(),
            vec!["deep.json:"],
        ),
        (
            "dupkeys.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata:\n  name: d\n".to_vec(),
            vec!["dupkeys.yaml:"],
        ),
        (
            "binary.yaml",
            vec![0x61, 0x3a, 0x20, 0xff, 0xfe, 0x0a],
            vec!["binary.yaml:", "UTF-8"],
        ),
        (
            "nested-list.yaml",
            b"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n"
                .to_vec(),
            vec!["nested-list.yaml:"],
        ),
        (
            "noname.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n".to_vec(),
            vec!["noname.yaml:1", "metadata.name"],
        ),
    ];
    for (file, bytes, expected) in cases {
        let case = applied_repo(&client, "bad-file").await;
        std::fs::write(case.repo.path().join(file), &bytes).unwrap();
        assert_refused(&client, &case, &expected).await;
    }
}

#[tokio::test]
async fn a_huge_file_is_refused_without_being_read() {
    let client = support::admin().await;
    let case = applied_repo(&client, "huge").await;
    // 100 MB, sparse: refused from its size alone.
    let file = std::fs::File::create(case.repo.path().join("huge.yaml")).unwrap();
    file.set_len(100 * 1024 * 1024).unwrap();
    assert_refused(&client, &case, &["huge.yaml", "limit"]).await;
}

#[tokio::test]
async fn thousands_of_tiny_files_are_read_and_one_bad_one_is_named() {
    let client = support::admin().await;
    let case = applied_repo(&client, "tiny").await;
    for i in 0..3000 {
        case.repo
            .write(&format!("tiny/{i:04}.yaml"), "# nothing here\n");
    }
    case.repo.write("tiny/2999-bad.yaml", "kind: [\n");
    assert_refused(&client, &case, &["tiny/2999-bad.yaml:"]).await;
}

#[tokio::test]
async fn symlinks_out_of_the_repository_are_refused() {
    let client = support::admin().await;
    for (name, target) in [("etc.yaml", "/etc/passwd"), ("up.yaml", "../../x.yaml")] {
        let case = applied_repo(&client, "symlink").await;
        std::os::unix::fs::symlink(target, case.repo.path().join(name)).unwrap();
        assert_refused(&client, &case, &[name, "outside the repository"]).await;
    }
}

#[tokio::test]
async fn kustomizations_reaching_outside_or_to_the_network_are_refused() {
    let client = support::admin().await;
    let cases = [
        (
            "resources:\n- https://github.com/example/repo//deploy?ref=v1\n",
            "remote bases are fetched only when allowed",
        ),
        (
            "resources:\n- ../../../../../etc\n",
            "points outside the repository",
        ),
        (
            "configMapGenerator:\n- name: x\n  files:\n  - /etc/passwd\n",
            "absolute paths are refused",
        ),
    ];
    for (kustomization, reason) in cases {
        let case = applied_repo(&client, "kustomize").await;
        case.repo.write("app/kustomization.yaml", kustomization);
        assert_refused(&client, &case, &["app/kustomization.yaml", reason]).await;
    }
}

#[tokio::test]
async fn objects_the_server_refuses_are_named_and_nothing_is_applied() {
    let client = support::admin().await;
    let cases = [
        (
            "bad-name.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Valid_Name\n",
            "Not_A_Valid_Name",
        ),
        (
            "unknown.yaml",
            "apiVersion: nowhere.example.com/v1\nkind: Ghost\nmetadata:\n  name: g\n",
            "no kind Ghost",
        ),
    ];
    for (file, body, expected) in cases {
        let case = applied_repo(&client, "refused").await;
        case.repo.write(file, body);
        case.repo.write(
            "also.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: also\n",
        );
        assert_refused(&client, &case, &[file, expected]).await;
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &case.ns);
        assert!(
            api.get_opt("also").await.unwrap().is_none(),
            "no partial apply"
        );
    }
}

#[tokio::test]
async fn secret_canaries_never_reach_any_output() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "canary").await;
    let set = support::unique_name("set");
    let canaries: Vec<String> = (0..4)
        .map(|i| support::unique_name(&format!("canary{i}")))
        .collect();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);

    // Live: a Secret applied client-side by kubectl, so its last-applied annotation holds a
    // canary in clear text.
    let mut kubectl = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(["apply", "-n", &ns, "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    kubectl
        .stdin
        .take()
        .unwrap()
        .write_all(
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: {}\n",
                canaries[0]
            )
            .as_bytes(),
        )
        .unwrap();
    assert!(kubectl.wait().unwrap().success());

    // Desired: new values in data and stringData, and a Secret the server rejects (its type
    // requires a key it lacks) carrying a canary too.
    let repo = Workdir::new(&[
        (
            "creds.yaml",
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ndata:\n  password: {}\n\
                 stringData:\n  token: {}\n",
                b64(&canaries[1]),
                canaries[2]
            ),
        ),
        (
            "tls.yaml",
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: broken-tls\ntype: kubernetes.io/tls\n\
                 stringData:\n  tls.key: {}\n",
                canaries[3]
            ),
        ),
    ]);
    repo.git_commit_all();

    let mut outputs = Vec::new();
    for format in ["text", "markdown", "json"] {
        outputs.push(gitops_bounded(
            &["diff", ".", "-n", &ns, "--applyset", &set, "-o", format],
            repo.path(),
        ));
    }
    outputs.push(gitops_bounded(
        &[
            "apply",
            ".",
            "-n",
            &ns,
            "--applyset",
            &set,
            "--yes",
            "--force-conflicts",
        ],
        repo.path(),
    ));
    std::fs::remove_file(repo.path().join("tls.yaml")).unwrap();
    outputs.push(gitops_bounded(
        &[
            "apply",
            ".",
            "-n",
            &ns,
            "--applyset",
            &set,
            "--yes",
            "--force-conflicts",
            "-v",
        ],
        repo.path(),
    ));

    for (i, out) in outputs.iter().enumerate() {
        let (stdout, stderr) = text(out);
        for canary in &canaries {
            for spelling in [canary.clone(), b64(canary)] {
                assert!(
                    !stdout.contains(&spelling),
                    "run {i} stdout leaks a canary:\n{stdout}"
                );
                assert!(
                    !stderr.contains(&spelling),
                    "run {i} stderr leaks a canary:\n{stderr}"
                );
            }
        }
    }
    let (stdout, _) = text(&outputs[0]);
    assert!(
        stdout.contains("broken-tls") && stdout.contains("tls.crt"),
        "the rejection is reported\n{stdout}"
    );
    assert_eq!(outputs[4].status.code(), Some(0), "{:?}", text(&outputs[4]));
}

/// Every spelling of `canary` a leak could take: as written and base64-encoded.
fn assert_no_canary(what: &str, output: &str, canary: &str) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(canary);
    for spelling in [canary, b64.as_str()] {
        assert!(
            !output.contains(spelling),
            "{what} leaks the canary {spelling:?}:\n{output}"
        );
    }
}

#[tokio::test]
async fn a_secret_generator_line_without_equals_is_reported_without_its_value() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "canary-env").await;
    let set = support::unique_name("set");
    let canary = support::unique_name("hunter");
    // kustomize turns the line into a key holding the value; the server quotes that key
    // back in its refusal.
    let repo = Workdir::new(&[
        (
            "kustomization.yaml",
            "secretGenerator:\n- name: db\n  envs: [db.env]\n",
        ),
        ("db.env", &format!("DB_PASSWORD {canary}\nDB_USER=admin\n")),
    ]);
    repo.git_commit_all();
    for format in ["text", "markdown", "json"] {
        let out = gitops_bounded(
            &["diff", ".", "-n", &ns, "--applyset", &set, "-o", format],
            repo.path(),
        );
        let (stdout, stderr) = text(&out);
        let all = format!("{stdout}\n{stderr}");
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert_no_canary(&format!("diff -o {format}"), &all, &canary);
        assert!(
            all.contains("DB_PASSWORD ***"),
            "the refusal still names the key\n{all}"
        );
        if format == "json" {
            serde_json::from_str::<serde_json::Value>(&stdout).expect("still JSON");
        }
    }
    let out = gitops_bounded(
        &["apply", ".", "-n", &ns, "--applyset", &set, "--yes", "-v"],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert_no_canary("apply", &format!("{stdout}\n{stderr}"), &canary);
}

#[test]
fn install_refuses_credentials_in_the_repository_url() {
    let canary = support::unique_name("tok");
    let dir = tempfile::tempdir().unwrap();
    let out = gitops_bounded(
        &[
            "install",
            "--repo",
            &format!("https://user:{canary}@git.example.com/org/platform.git"),
        ],
        dir.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "no manifests are printed\n{stdout}");
    assert!(stderr.contains("--credentials-secret"), "{stderr}");
    assert_no_canary("install", &format!("{stdout}\n{stderr}"), &canary);
}

#[tokio::test]
async fn kubeconfig_credentials_never_reach_any_output() {
    // A kubeconfig whose server does not answer, with a token and userinfo in its URL.
    let canary = support::unique_name("kubetoken");
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://admin:{canary}@127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: {canary}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    let repo = Workdir::new(&[(
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    )]);
    for args in [&["diff", "."][..], &["apply", ".", "--yes", "-v"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
            .args(args)
            .args(["-n", "default", "--request-timeout", "2s", "--kubeconfig"])
            .arg(&kubeconfig)
            .current_dir(repo.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
        assert_no_canary(
            &format!("{args:?}"),
            &format!("{stdout}\n{stderr}"),
            &canary,
        );
    }
}

#[test]
fn a_kustomize_failure_quoting_a_generator_literal_does_not_leak_it() {
    let canary = support::unique_name("literal");
    // kustomize refuses the literal and quotes it whole in its error.
    let repo = Workdir::new(&[(
        "kustomization.yaml",
        &format!("secretGenerator:\n- name: db\n  literals: [\"PASSWORD {canary}\"]\n"),
    )]);
    repo.git_commit_all();
    for args in [
        &["diff", ".", "-n", "default"][..],
        &["diff", ".", "-o", "json"][..],
    ] {
        let out = gitops_bounded(args, repo.path());
        let (stdout, stderr) = text(&out);
        let all = format!("{stdout}\n{stderr}");
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert!(
            all.contains("invalid literal source"),
            "the failure is told\n{all}"
        );
        assert_no_canary(&format!("{args:?}"), &all, &canary);
    }
}
