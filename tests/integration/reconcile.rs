//! `kubectl gitops reconcile` as a process against the real API server, following a git
//! repository served by `git daemon` on 127.0.0.1 (git://) or read through file://.
//!
//! Every wait is bounded; reconciler and daemon processes are killed by Drop guards when a
//! test fails.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::support::{self, gitops, text};

pub(crate) const WAIT: Duration = Duration::from_secs(30);

pub(crate) fn cm(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{value}\"\n")
}

/// Runs `program` in `dir`, fails the test unless it succeeds, returns its trimmed stdout.
fn run_ok(program: &str, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"];
    run_ok("git", dir, &[&identity[..], args].concat())
}

/// A bare repository `<base>/platform.git` (what the reconciler fetches) and a checkout
/// `<work>/platform` that commits and pushes to it.
pub(crate) struct Remote {
    _dir: tempfile::TempDir,
    pub(crate) base: PathBuf,
    pub(crate) checkout: PathBuf,
}

impl Remote {
    pub(crate) fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("srv");
        let bare = base.join("platform.git");
        fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "-q", "--bare", "-b", "main"]);
        let checkout = dir.path().join("work").join("platform");
        fs::create_dir_all(&checkout).unwrap();
        git(&checkout, &["init", "-q", "-b", "main"]);
        git(
            &checkout,
            &["remote", "add", "origin", bare.to_str().unwrap()],
        );
        let remote = Remote {
            _dir: dir,
            base,
            checkout,
        };
        remote.commit(files, &[], "init");
        remote
    }

    fn bare(&self) -> PathBuf {
        self.base.join("platform.git")
    }

    /// A repository whose deploy/ holds, per pair, the ConfigMap NAME with `value: VALUE`.
    pub(crate) fn of_configmaps(pairs: &[(&str, &str)]) -> Self {
        let files: Vec<(String, String)> = pairs
            .iter()
            .map(|(name, value)| (format!("deploy/{name}.yaml"), cm(name, value)))
            .collect();
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_str()))
            .collect();
        Remote::new(&files)
    }

    pub(crate) fn file_url(&self) -> String {
        format!("file://{}", self.bare().display())
    }

    /// Writes `files`, deletes `removed`, commits and pushes; returns the commit id.
    pub(crate) fn commit(&self, files: &[(&str, &str)], removed: &[&str], message: &str) -> String {
        for (path, content) in files {
            let full = self.checkout.join(path);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, content).unwrap();
        }
        for path in removed {
            fs::remove_file(self.checkout.join(path)).unwrap();
        }
        git(&self.checkout, &["add", "-A"]);
        git(
            &self.checkout,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        git(&self.checkout, &["push", "-q", "origin", "main"]);
        git(&self.checkout, &["rev-parse", "HEAD"])
    }
}

/// `git daemon` serving a base path on a fixed port; stopped on drop.
pub(crate) struct Daemon {
    child: Option<Child>,
    base: PathBuf,
    port: u16,
}

impl Daemon {
    pub(crate) fn start(base: &Path) -> Self {
        let port = free_port();
        let mut daemon = Daemon {
            child: None,
            base: base.to_path_buf(),
            port,
        };
        daemon.restart();
        daemon
    }

    pub(crate) fn url(&self) -> String {
        format!("git://127.0.0.1:{}/platform.git", self.port)
    }

    fn restart(&mut self) {
        assert!(self.child.is_none(), "daemon already running");
        // git-daemon itself, not the `git` wrapper: killing the wrapper would leave the daemon
        // listening.
        let exec_path = git(Path::new("."), &["--exec-path"]);
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .arg("--export-all")
            .arg("--reuseaddr")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={}", self.port))
            .arg(format!("--base-path={}", self.base.display()))
            .arg(&self.base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting git daemon");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "git daemon did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "git daemon still listening");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running reconciler; killed on drop unless it already exited.
pub(crate) struct Reconciler {
    child: Child,
    log: PathBuf,
    _cache: tempfile::TempDir,
}

impl Reconciler {
    /// Follows `remote` on a one-second interval with the ApplySet `applyset`.
    pub(crate) fn fast(remote: &Remote, ns: &str, applyset: &str, extra: &[&str]) -> Self {
        let flags = [FAST, &["--applyset", applyset], extra].concat();
        Self::start(&remote.file_url(), ns, &flags)
    }

    fn start(repo: &str, ns: &str, extra: &[&str]) -> Self {
        Self::start_with_env(repo, ns, extra, &[])
    }

    pub(crate) fn start_with_env(
        repo: &str,
        ns: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let cache = tempfile::tempdir().expect("tempdir");
        let log = cache.path().join("reconcile.log");
        let log_file = fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
            .args(["reconcile", "--repo", repo, "--path", "deploy"])
            .args(["-n", ns, "--applyset-namespace", ns])
            .arg("--cache-dir")
            .arg(cache.path())
            .arg("--kubeconfig")
            .arg(support::kubeconfig())
            .args(extra)
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("starting kubectl-gitops reconcile");
        Reconciler {
            child,
            log,
            _cache: cache,
        }
    }

    pub(crate) fn logs(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the reconciler") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit after SIGTERM\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Reconciler {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- reconciler log ---\n{}", self.logs());
        }
    }
}

/// Polls `check` until it returns Some or `limit` passes (then panics with `what`).
pub(crate) async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn values(client: &kube::Client, ns: &str) -> Vec<(String, String)> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let mut found: Vec<(String, String)> = api
        .list(&ListParams::default().labels("applyset.kubernetes.io/part-of"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| {
            let v = c.data.and_then(|d| d.get("v").cloned()).unwrap_or_default();
            (c.metadata.name.unwrap_or_default(), v)
        })
        .collect();
    found.sort();
    found
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

async fn wait_for_values(client: &kube::Client, ns: &str, expected: &[(&str, &str)]) {
    let expected = pairs(expected);
    eventually(&format!("ConfigMaps {expected:?}"), WAIT, || async {
        (values(client, ns).await == expected).then_some(())
    })
    .await;
}

/// The status ConfigMap's data.
async fn status(
    client: &kube::Client,
    ns: &str,
    set: &str,
) -> Option<std::collections::BTreeMap<String, String>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    api.get_opt(&format!("{set}-status"))
        .await
        .unwrap()
        .and_then(|c| c.data)
}

/// The ApplySet parents (Secrets carrying the id label) in `ns`.
async fn parent_names(client: &kube::Client, ns: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    let mut names: Vec<String> = api
        .list(&ListParams::default().labels("applyset.kubernetes.io/id"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    names.sort();
    names
}

pub(crate) async fn wait_for_status(
    client: &kube::Client,
    ns: &str,
    set: &str,
    what: &str,
    check: impl Fn(&std::collections::BTreeMap<String, String>) -> bool,
) -> std::collections::BTreeMap<String, String> {
    eventually(what, WAIT, || async {
        status(client, ns, set).await.filter(|s| check(s))
    })
    .await
}

async fn event_reasons(client: &kube::Client, ns: &str) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect()
}

/// Waits until Events with every one of `reasons` exist in `ns` (they follow the status).
async fn wait_for_events(client: &kube::Client, ns: &str, reasons: &[&str]) {
    eventually(&format!("Events {reasons:?}"), WAIT, || async {
        let found = event_reasons(client, ns).await;
        reasons
            .iter()
            .all(|r| found.iter().any(|f| f == r))
            .then_some(())
    })
    .await;
}

pub(crate) const FAST: &[&str] = &[
    "--interval",
    "1s",
    "--backoff",
    "200ms",
    "--max-backoff",
    "1s",
];

#[tokio::test]
async fn commits_converge_and_removed_files_are_pruned_over_git_daemon() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-converge").await;
    let remote = Remote::of_configmaps(&[("a", "1"), ("b", "1")]);
    let daemon = Daemon::start(&remote.base);
    // No --applyset: the set must be the one diff resolves in a checkout that fetches from the
    // same URL (pushes still go to the bare repository).
    let _reconciler = Reconciler::start(&daemon.url(), &ns, FAST);
    git(
        &remote.checkout,
        &["remote", "set-url", "origin", &daemon.url()],
    );
    git(
        &remote.checkout,
        &[
            "remote",
            "set-url",
            "--push",
            "origin",
            remote.bare().to_str().unwrap(),
        ],
    );

    wait_for_values(&client, &ns, &[("a", "1"), ("b", "1")]).await;
    let parents = parent_names(&client, &ns).await;
    assert_eq!(parents.len(), 1, "{parents:?}");
    let set = parents[0].as_str();
    assert!(set.starts_with("gitops-platform-deploy-"), "{set}");

    let head = remote.commit(
        &[("deploy/a.yaml", &cm("a", "2"))],
        &["deploy/b.yaml"],
        "a=2, drop b",
    );
    wait_for_values(&client, &ns, &[("a", "2")]).await;
    let data = wait_for_status(&client, &ns, set, "status of the new commit", |s| {
        s.get("lastAppliedRevision") == Some(&head)
    })
    .await;
    assert_eq!(data["lastResult"], "Succeeded");
    assert_eq!(data["repository"], daemon.url());
    assert_eq!(data["lastError"], "");
    wait_for_events(&client, &ns, &["Applied", "Pruned"]).await;

    // `diff` in a checkout named like the repository sees the reconciler's ApplySet: a file
    // removed locally shows as a prune.
    fs::remove_file(remote.checkout.join("deploy/a.yaml")).unwrap();
    let diff = gitops(&["diff", "deploy", "-n", &ns], &remote.checkout);
    let (stdout, stderr) = text(&diff);
    assert_eq!(diff.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("- prune ConfigMap/{ns}/a")),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_laptop_the_reconciler_and_install_resolve_one_set() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-one-set").await;
    let remote = Remote::of_configmaps(&[("a", "1")]);
    // The reconciler follows the file:// URL; the checkout's origin is the bare path.
    let _reconciler = Reconciler::start(&remote.file_url(), &ns, FAST);
    wait_for_values(&client, &ns, &[("a", "1")]).await;
    let parents = parent_names(&client, &ns).await;
    assert_eq!(parents.len(), 1, "{parents:?}");
    let set = &parents[0];

    let install = gitops(
        &[
            "install",
            "--repo",
            &remote.file_url(),
            "--path",
            "deploy/",
            "--target-namespace",
            &ns,
        ],
        Path::new("."),
    );
    let (yaml, _) = text(&install);
    assert!(
        yaml.contains(&format!("ApplySet {set} in namespace {ns}")),
        "install names the reconciler's set\n{yaml}"
    );

    // In the checkout, diff sees that set: in sync (another set would relabel `a`).
    let diff = gitops(&["diff", "deploy", "-n", &ns], &remote.checkout);
    let (stdout, stderr) = text(&diff);
    assert_eq!(diff.status.code(), Some(0), "{stdout}\n{stderr}");
    let status = gitops(&["status", "-n", &ns], &remote.checkout);
    let (stdout, _) = text(&status);
    let row = stdout
        .lines()
        .find(|l| l.contains(set.as_str()))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains("deploy") && row.contains(&ns), "{row}");
    wait_for_status(&client, &ns, set, "a status", |s| {
        s["lastResult"] == "Succeeded"
    })
    .await;
}

#[tokio::test]
async fn the_reconciler_refuses_to_take_an_object_from_another_set() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-move").await;
    // `shared` is a member of a set applied from a laptop.
    let laptop = support::Workdir::new(&[("shared.yaml", &cm("shared", "0"))]);
    laptop.git_commit_all();
    let out = gitops(
        &["apply", ".", "-n", &ns, "--applyset", "laptop", "--yes"],
        laptop.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let remote = Remote::of_configmaps(&[("shared", "1"), ("own", "1")]);
    let reconciler = Reconciler::fast(&remote, &ns, "rec", &[]);
    let data = wait_for_status(&client, &ns, "rec", "the refusal", |s| {
        s["lastResult"] == "Failed"
    })
    .await;
    assert!(
        data["lastError"].contains(&format!("ConfigMap/{ns}/shared"))
            && data["lastError"].contains("another ApplySet")
            && data["lastError"].contains("--adopt"),
        "{data:?}"
    );
    assert_eq!(
        values(&client, &ns).await,
        pairs(&[("shared", "0")]),
        "nothing applied"
    );

    // With consent the next reconciler takes it over.
    drop(reconciler);
    let _adopting = Reconciler::start(
        &remote.file_url(),
        &ns,
        // The first one was killed holding the Lease; this one need not wait for it to expire.
        &[
            FAST,
            &["--applyset", "rec", "--adopt", "--no-leader-election"],
        ]
        .concat(),
    );
    wait_for_values(&client, &ns, &[("own", "1"), ("shared", "1")]).await;
}

#[tokio::test]
async fn a_manual_edit_is_reverted_by_the_watch_within_seconds() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-drift").await;
    let remote = Remote::of_configmaps(&[("a", "1")]);
    // An hour between cycles: only the watch can put the edit back in time.
    let reconciler = Reconciler::start(
        &remote.file_url(),
        &ns,
        &["--interval", "1h", "--applyset", "drift"],
    );
    wait_for_values(&client, &ns, &[("a", "1")]).await;
    wait_for_status(&client, &ns, "drift", "a first successful cycle", |s| {
        s["lastResult"] == "Succeeded"
    })
    .await;
    // Let the watch start.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let mut latencies = Vec::new();
    for round in 0..5 {
        let edit = json!({"data": {"v": format!("edited-{round}")}});
        let started = Instant::now();
        // What `kubectl edit` sends: an update by another field manager.
        api.patch(
            "a",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(&edit),
        )
        .await
        .unwrap();
        let deadline = started + Duration::from_secs(10);
        loop {
            let v = api.get("a").await.unwrap().data.unwrap()["v"].clone();
            if v == "1" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "edit {round} not reverted\n{}",
                reconciler.logs()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    latencies.sort();
    eprintln!(
        "drift revert latency (edit -> reverted, debounce 200ms), 5 edits: min {:?}, median {:?}, max {:?}",
        latencies[0], latencies[2], latencies[4]
    );
    assert!(latencies[4] < Duration::from_secs(5), "{latencies:?}");
    // The status is written after the revert; wait for it to count all five.
    wait_for_status(&client, &ns, "drift", "five drift corrections", |s| {
        s.get("driftCorrections").map(String::as_str) == Some("5")
    })
    .await;
    wait_for_events(&client, &ns, &["DriftCorrected"]).await;
}

/// Sends a raw request as another client would, failing the test if the server refuses it.
async fn send(client: &kube::Client, request: http::Request<Vec<u8>>) -> serde_json::Value {
    let what = format!("{} {}", request.method(), request.uri());
    client
        .request(request)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn patch_request(
    path: &str,
    content_type: &str,
    body: serde_json::Value,
) -> http::Request<Vec<u8>> {
    http::Request::patch(path)
        .header("Content-Type", content_type)
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap()
}

#[tokio::test]
async fn every_edit_of_a_field_git_sets_is_reverted_by_the_watch_including_scale() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-fields").await;
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: {tier: web}\n\
                  data:\n  v: \"1\"\n  w: \"1\"\n";
    let service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  \
                   selector: {app: web}\n  ports:\n  - port: 80\n";
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  \
                      replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    \
                      metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      \
                      - name: web\n        image: nginx:1.27\n        args: [--a]\n";
    let remote = Remote::new(&[
        ("deploy/config.yaml", config),
        ("deploy/service.yaml", service),
        ("deploy/deployment.yaml", deployment),
    ]);
    // An hour between cycles: only the watch can put the edits back in time.
    let reconciler = Reconciler::start(
        &remote.file_url(),
        &ns,
        &["--interval", "1h", "--applyset", "fields"],
    );
    wait_for_status(&client, &ns, "fields", "a first successful cycle", |s| {
        s["lastResult"] == "Succeeded"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let cm = format!("/api/v1/namespaces/{ns}/configmaps/a");
    let svc = format!("/api/v1/namespaces/{ns}/services/web");
    let deploy = format!("/apis/apps/v1/namespaces/{ns}/deployments/web");
    let merge = "application/merge-patch+json";
    let json_patch = "application/json-patch+json";
    // (what, request path, content type, body, the field git sets, its value in git)
    let edits = [
        (
            "an edited value",
            format!("{cm}?fieldManager=kubectl-edit"),
            merge,
            json!({"data": {"v": "edited"}}),
            cm.clone(),
            "/data/v",
            json!("1"),
        ),
        (
            "a removed key",
            format!("{cm}?fieldManager=kubectl-edit"),
            json_patch,
            json!([{"op": "remove", "path": "/data/w"}]),
            cm.clone(),
            "/data/w",
            json!("1"),
        ),
        (
            "a removed label",
            format!("{cm}?fieldManager=kubectl-label"),
            merge,
            json!({"metadata": {"labels": {"tier": null}}}),
            cm.clone(),
            "/metadata/labels/tier",
            json!("web"),
        ),
        (
            "kubectl scale",
            format!("{deploy}/scale?fieldManager=kubectl"),
            merge,
            json!({"spec": {"replicas": 7}}),
            deploy.clone(),
            "/spec/replicas",
            json!(2),
        ),
        (
            "a key added to an atomic map",
            format!("{svc}?fieldManager=kubectl-patch"),
            merge,
            json!({"spec": {"selector": {"tier": "x"}}}),
            svc.clone(),
            "/spec/selector",
            json!({"app": "web"}),
        ),
        (
            "an item added to an atomic list",
            format!("{deploy}?fieldManager=kubectl-patch"),
            json_patch,
            json!([{"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "--b"}]),
            deploy.clone(),
            "/spec/template/spec/containers/0/args",
            json!(["--a"]),
        ),
    ];
    let mut latencies = Vec::new();
    for (what, path, content_type, body, object, field, expected) in edits {
        let started = Instant::now();
        send(&client, patch_request(&path, content_type, body)).await;
        let deadline = started + Duration::from_secs(10);
        loop {
            let live = send(
                &client,
                http::Request::get(&object).body(Vec::new()).unwrap(),
            )
            .await;
            if live.pointer(field) == Some(&expected) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what} not reverted: {field} is {:?}\n{}",
                live.pointer(field),
                reconciler.logs()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        latencies.push((what, started.elapsed()));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!("drift revert latency (edit -> reverted, debounce 200ms): {latencies:?}");
}

/// The live Deployment `web` in `ns` as JSON.
async fn live_deployment(client: &kube::Client, ns: &str) -> serde_json::Value {
    let path = format!("/apis/apps/v1/namespaces/{ns}/deployments/web");
    send(client, http::Request::get(&path).body(Vec::new()).unwrap()).await
}

#[tokio::test]
async fn an_ignored_replica_count_survives_scaling_while_other_drift_is_healed() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-ignore").await;
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  \
                      annotations:\n    kubectl-gitops.io/ignore-fields: /spec/replicas\nspec:\n  \
                      replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    \
                      metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      \
                      - name: web\n        image: nginx:1.27\n";
    let remote = Remote::new(&[("deploy/deployment.yaml", deployment)]);
    let reconciler = Reconciler::start(
        &remote.file_url(),
        &ns,
        &["--interval", "1h", "--applyset", "ignore"],
    );
    wait_for_status(&client, &ns, "ignore", "a first successful cycle", |s| {
        s["lastResult"] == "Succeeded"
    })
    .await;
    assert_eq!(
        live_deployment(&client, &ns).await["spec"]["replicas"],
        2,
        "seeded"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let deploy = format!("/apis/apps/v1/namespaces/{ns}/deployments/web");
    let merge = "application/merge-patch+json";
    let image = "/spec/template/spec/containers/0/image";
    // kubectl scale, then an autoscaler applying as its own manager; each time the image is
    // edited too, and only the image is put back.
    let scalers = [
        (format!("{deploy}/scale?fieldManager=kubectl"), merge, 5),
        (
            format!("{deploy}?fieldManager=autoscaler&force=true"),
            "application/apply-patch+yaml",
            7,
        ),
    ];
    for (path, content_type, replicas) in scalers {
        let body = if content_type == merge {
            json!({"spec": {"replicas": replicas}})
        } else {
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web"}, "spec": {"replicas": replicas}})
        };
        send(&client, patch_request(&path, content_type, body)).await;
        send(
            &client,
            patch_request(
                &format!("{deploy}?fieldManager=kubectl-edit"),
                "application/json-patch+json",
                json!([{"op": "replace", "path": image, "value": "nginx:edited"}]),
            ),
        )
        .await;
        let healed = eventually("the edited image to be put back", WAIT, || async {
            let live = live_deployment(&client, &ns).await;
            (live.pointer(image) == Some(&json!("nginx:1.27"))).then_some(live)
        })
        .await;
        assert_eq!(
            healed["spec"]["replicas"],
            replicas,
            "the scaled count stays\n{}",
            reconciler.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            live_deployment(&client, &ns).await["spec"]["replicas"],
            replicas
        );
    }
}

#[tokio::test]
async fn report_only_drift_is_recorded_and_left_while_new_commits_still_apply() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-report").await;
    let remote = Remote::of_configmaps(&[("a", "1"), ("b", "1")]);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let reconciler = Reconciler::start(
        &remote.file_url(),
        &ns,
        &[
            &[
                "--drift",
                "report",
                "--applyset",
                "report",
                "--listen",
                &listen,
            ][..],
            FAST,
        ]
        .concat(),
    );
    wait_for_values(&client, &ns, &[("a", "1"), ("b", "1")]).await;
    wait_for_status(&client, &ns, "report", "a first successful cycle", |s| {
        s["lastResult"] == "Succeeded" && s["driftMode"] == "report"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    api.patch(
        "a",
        &PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..PatchParams::default()
        },
        &Patch::Merge(&json!({"data": {"v": "edited"}})),
    )
    .await
    .unwrap();
    let status = wait_for_status(&client, &ns, "report", "the drift in the status", |s| {
        s.get("driftedObjects").map(String::as_str) == Some("1")
    })
    .await;
    assert_eq!(status["drifted"], format!("ConfigMap/{ns}/a: /data/v"));
    assert_eq!(status["driftCorrections"], "0");
    wait_for_events(&client, &ns, &["DriftDetected"]).await;
    let (_, metrics) = http_get(&listen, "/metrics").await;
    assert!(
        metrics.contains("gitops_reconcile_drifted_objects 1"),
        "{metrics}"
    );
    // Several interval cycles later the edit is still there.
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_for_values(&client, &ns, &[("a", "edited"), ("b", "1")]).await;

    // A commit changing b applies; a stays as edited and reported.
    remote.commit(&[("deploy/b.yaml", &cm("b", "2"))], &[], "b to 2");
    wait_for_values(&client, &ns, &[("a", "edited"), ("b", "2")]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    wait_for_values(&client, &ns, &[("a", "edited"), ("b", "2")]).await;
    let status = status_now(&client, &ns).await;
    assert_eq!(
        status["drifted"],
        format!("ConfigMap/{ns}/a: /data/v"),
        "{}",
        reconciler.logs()
    );

    // A commit changing a applies it whole: the edit goes with it, and so does the report.
    remote.commit(&[("deploy/a.yaml", &cm("a", "3"))], &[], "a to 3");
    wait_for_values(&client, &ns, &[("a", "3"), ("b", "2")]).await;
    wait_for_status(&client, &ns, "report", "the drift report cleared", |s| {
        s.get("driftedObjects").map(String::as_str) == Some("0")
    })
    .await;

    // An object deleted in the cluster is reported, not recreated.
    api.delete("b", &Default::default()).await.unwrap();
    let status = wait_for_status(&client, &ns, "report", "the deletion in the status", |s| {
        s.get("driftedObjects").map(String::as_str) == Some("1")
    })
    .await;
    assert_eq!(
        status["drifted"],
        format!("ConfigMap/{ns}/b: deleted from the cluster")
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    wait_for_values(&client, &ns, &[("a", "3")]).await;
}

async fn status_now(client: &kube::Client, ns: &str) -> std::collections::BTreeMap<String, String> {
    status(client, ns, "report").await.expect("a status")
}

#[tokio::test]
async fn an_unreachable_remote_keeps_everything_and_the_loop_recovers() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-offline").await;
    let remote = Remote::of_configmaps(&[("a", "1"), ("b", "1")]);
    let mut daemon = Daemon::start(&remote.base);
    let mut reconciler = Reconciler::start(
        &daemon.url(),
        &ns,
        &[FAST, &["--applyset", "offline"]].concat(),
    );
    wait_for_values(&client, &ns, &[("a", "1"), ("b", "1")]).await;

    daemon.stop();
    let head = remote.commit(&[], &["deploy/b.yaml"], "drop b while git is unreachable");
    let data = wait_for_status(
        &client,
        &ns,
        "offline",
        "a fetch failure in the status",
        |s| s["lastResult"] == "Failed" && s["lastError"].starts_with("fetch:"),
    )
    .await;
    assert!(
        data["consecutiveFailures"].parse::<u64>().unwrap() >= 1,
        "{data:?}"
    );
    // A few more retries: still running, nothing deleted.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(reconciler.is_running(), "{}", reconciler.logs());
    assert_eq!(values(&client, &ns).await, pairs(&[("a", "1"), ("b", "1")]));
    let shown = gitops(
        &[
            "status",
            "--applyset",
            "offline",
            "--applyset-namespace",
            &ns,
        ],
        Path::new("."),
    );
    let (stdout, _) = text(&shown);
    assert_eq!(shown.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("Last error:       fetch:"), "{stdout}");
    wait_for_events(&client, &ns, &["ReconcileFailed"]).await;

    daemon.restart();
    wait_for_values(&client, &ns, &[("a", "1")]).await;
    let data = wait_for_status(&client, &ns, "offline", "recovery", |s| {
        s.get("lastAppliedRevision") == Some(&head) && s["lastResult"] == "Succeeded"
    })
    .await;
    assert_eq!(data["consecutiveFailures"], "0");
    assert!(
        reconciler
            .logs()
            .contains("cycle failed; keeping the last good state")
    );
}

#[tokio::test]
async fn bad_commits_keep_the_last_good_state_until_fixed() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-bad").await;
    let remote = Remote::of_configmaps(&[("a", "1"), ("b", "1")]);
    let _reconciler = Reconciler::fast(&remote, &ns, "bad", &[]);
    wait_for_values(&client, &ns, &[("a", "1"), ("b", "1")]).await;

    // YAML that does not parse, in a commit that also drops b: nothing changes.
    let broken = remote.commit(
        &[("deploy/broken.yaml", "kind: [unclosed\n")],
        &["deploy/b.yaml"],
        "broken yaml",
    );
    let data = wait_for_status(&client, &ns, "bad", "a render failure", |s| {
        s["lastAttemptedRevision"] == broken && s["lastError"].starts_with("render:")
    })
    .await;
    assert!(data["lastError"].contains("deploy/broken.yaml"), "{data:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(values(&client, &ns).await, pairs(&[("a", "1"), ("b", "1")]));

    // Parses, but the server rejects one object: like `apply`, nothing of that commit is
    // applied and nothing is pruned.
    let rejected = remote.commit(
        &[
            (
                "deploy/broken.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n  replicas: 1\n",
            ),
            ("deploy/a.yaml", &cm("a", "2")),
        ],
        &[],
        "a rejected object",
    );
    let data = wait_for_status(&client, &ns, "bad", "a plan failure", |s| {
        s["lastAttemptedRevision"] == rejected && s["lastError"].starts_with("plan:")
    })
    .await;
    assert!(data["lastError"].contains("Deployment"), "{data:?}");
    assert!(
        data["lastError"].contains("nothing was applied"),
        "{data:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(values(&client, &ns).await, pairs(&[("a", "1"), ("b", "1")]));

    let fixed = remote.commit(&[], &["deploy/broken.yaml"], "fix");
    wait_for_values(&client, &ns, &[("a", "2")]).await;
    wait_for_status(&client, &ns, "bad", "recovery", |s| {
        s["lastAppliedRevision"] == fixed && s["lastError"].is_empty()
    })
    .await;
}

#[tokio::test]
async fn an_empty_commit_is_refused_unless_allowed() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-empty").await;
    let remote = Remote::of_configmaps(&[("a", "1")]);
    let _reconciler = Reconciler::fast(&remote, &ns, "empty", &[]);
    wait_for_values(&client, &ns, &[("a", "1")]).await;
    let empty = remote.commit(
        &[("deploy/README.md", "nothing here")],
        &["deploy/a.yaml"],
        "empty",
    );
    let data = wait_for_status(&client, &ns, "empty", "the refusal", |s| {
        s["lastAttemptedRevision"] == empty && s["lastResult"] == "Failed"
    })
    .await;
    assert!(data["lastError"].contains("--allow-empty"), "{data:?}");
    assert_eq!(values(&client, &ns).await, pairs(&[("a", "1")]));
}

#[tokio::test]
async fn max_prune_1_blocks_a_two_object_prune_in_the_reconciler() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-max-prune").await;
    let remote = Remote::of_configmaps(&[("a", "1"), ("b", "1"), ("c", "1")]);
    let _reconciler = Reconciler::fast(&remote, &ns, "capped", &["--max-prune", "1"]);
    wait_for_values(&client, &ns, &[("a", "1"), ("b", "1"), ("c", "1")]).await;

    let head = remote.commit(
        &[("deploy/a.yaml", &cm("a", "2"))],
        &["deploy/b.yaml", "deploy/c.yaml"],
        "a=2, drop b and c",
    );
    let data = wait_for_status(&client, &ns, "capped", "the withheld prunes", |s| {
        s["lastAttemptedRevision"] == head && s["lastResult"] == "Failed"
    })
    .await;
    assert!(
        data["lastError"].starts_with("prune: nothing was pruned: the plan prunes 2 of the set's 3 members, more than --max-prune 1 allows"),
        "{data:?}"
    );
    assert_eq!(data["lastPruned"], "0");
    wait_for_events(&client, &ns, &["PruneBlocked"]).await;
    // Everything else of the commit is applied; both prunes are withheld, cycle after cycle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        values(&client, &ns).await,
        pairs(&[("a", "2"), ("b", "1"), ("c", "1")])
    );
    let blocked = event_reasons(&client, &ns)
        .await
        .into_iter()
        .filter(|r| r == "PruneBlocked")
        .count();
    assert_eq!(blocked, 1, "one Event per distinct refusal, not per retry");

    // A commit within the limit prunes again.
    let within = remote.commit(&[("deploy/b.yaml", &cm("b", "1"))], &[], "keep b");
    wait_for_values(&client, &ns, &[("a", "2"), ("b", "1")]).await;
    wait_for_status(&client, &ns, "capped", "the commit within the limit", |s| {
        s["lastAppliedRevision"] == within && s["lastResult"] == "Succeeded"
    })
    .await;
}

#[tokio::test]
async fn no_prune_keeps_what_left_git_and_still_applies_the_rest() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-no-prune").await;
    let remote = Remote::of_configmaps(&[("a", "1"), ("b", "1")]);
    let _reconciler = Reconciler::fast(&remote, &ns, "keeper", &["--no-prune"]);
    wait_for_values(&client, &ns, &[("a", "1"), ("b", "1")]).await;

    let head = remote.commit(
        &[("deploy/a.yaml", &cm("a", "2"))],
        &["deploy/b.yaml"],
        "a=2, drop b",
    );
    let data = wait_for_status(&client, &ns, "keeper", "the commit without b", |s| {
        s["lastAppliedRevision"] == head && s["lastResult"] == "Succeeded"
    })
    .await;
    assert_eq!(data["lastPruned"], "0", "{data:?}");
    assert_eq!(values(&client, &ns).await, pairs(&[("a", "2"), ("b", "1")]));
}

#[tokio::test]
async fn two_replicas_elect_one_leader_and_sigterm_hands_over() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-lease").await;
    let remote = Remote::of_configmaps(&[("a", "1")]);
    let args = |identity: &'static str| -> Vec<&'static str> {
        vec![
            "--interval",
            "1s",
            "--applyset",
            "ha",
            "--lease-duration",
            "3s",
            "--identity",
            identity,
        ]
    };
    let url = remote.file_url();
    let mut first = Reconciler::start(&url, &ns, &args("replica-1"));
    let mut second = Reconciler::start(&url, &ns, &args("replica-2"));
    wait_for_values(&client, &ns, &[("a", "1")]).await;

    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let holder = leases
        .get("ha-leader")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
        .unwrap();
    // Several cycles later, still exactly one replica has applied anything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (leader, standby) = if holder == "replica-1" {
        (&mut first, &mut second)
    } else {
        (&mut second, &mut first)
    };
    assert!(
        leader.logs().contains("cycle succeeded"),
        "{}",
        leader.logs()
    );
    assert!(
        !standby.logs().contains("cycle succeeded"),
        "{}",
        standby.logs()
    );
    assert!(standby.logs().contains("waiting to become the leader"));
    assert_eq!(
        leases
            .get("ha-leader")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some(holder.as_str())
    );

    // SIGTERM: the leader exits 0 and releases the Lease; the standby takes over at once.
    let started = Instant::now();
    let exit = leader.terminate();
    assert_eq!(exit.code(), Some(0), "{}", leader.logs());
    assert!(
        leader.logs().contains("released the leader Lease"),
        "{}",
        leader.logs()
    );
    let head = remote.commit(
        &[("deploy/a.yaml", &cm("a", "2"))],
        &[],
        "after the handover",
    );
    wait_for_values(&client, &ns, &[("a", "2")]).await;
    eprintln!(
        "leader handover after SIGTERM, until the new commit applied: {:?}",
        started.elapsed()
    );
    // The status follows the apply; wait for it rather than race it.
    let data = wait_for_status(&client, &ns, "ha", "status of the new commit", |s| {
        s.get("lastAppliedRevision") == Some(&head)
    })
    .await;
    assert_ne!(data["leader"], holder);
    assert!(standby.logs().contains("acquired the leader Lease"));

    assert_eq!(standby.terminate().code(), Some(0), "{}", standby.logs());
    let spec = leases.get("ha-leader").await.unwrap().spec.unwrap();
    assert_eq!(spec.holder_identity, None, "released on exit");
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-ops").await;
    let remote = Remote::of_configmaps(&[("a", "1")]);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut reconciler = Reconciler::start(
        &remote.file_url(),
        &ns,
        &[
            "--interval",
            "1s",
            "--applyset",
            "ops",
            "--listen",
            &listen,
            "--log-format",
            "json",
        ],
    );
    let get = |path: &'static str| {
        let listen = listen.clone();
        async move { http_get(&listen, path).await }
    };
    eventually("/readyz to turn 200", WAIT, || async {
        (get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(get("/healthz").await.0, 200);
    let (code, metrics) = get("/metrics").await;
    assert_eq!(code, 200);
    for name in [
        "gitops_reconcile_cycle_duration_seconds_count",
        "gitops_reconcile_last_success_timestamp_seconds",
        "gitops_reconcile_managed_objects 1",
        "gitops_reconcile_drift_corrections_total 0",
        "gitops_reconcile_leader 1",
    ] {
        assert!(metrics.contains(name), "{name}\n{metrics}");
    }
    // JSON logs, one object per line.
    let logs = reconciler.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("cycle succeeded"))
        .expect("a cycle log line");
    let parsed: serde_json::Value = serde_json::from_str(line).expect(line);
    assert_eq!(parsed["message"], "cycle succeeded");
    assert_eq!(reconciler.terminate().code(), Some(0));
}

/// A minimal HTTP/1.0 GET (blocking; the endpoint is local): status code and body.
pub(crate) async fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

#[tokio::test]
async fn install_prints_manifests_the_server_accepts() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-install").await;
    let out = gitops(
        &[
            "install",
            "-n",
            &ns,
            "--repo",
            "git://git.example.com/platform.git",
            "--path",
            "deploy/",
        ],
        Path::new("."),
    );
    let (yaml, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let mut apply = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(["apply", "--dry-run=server", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    use std::io::Write;
    apply
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let result = apply.wait_with_output().unwrap();
    let (stdout, stderr) = text(&result);
    assert!(result.status.success(), "{stdout}\n{stderr}\n{yaml}");
    for object in [
        "serviceaccount/kubectl-gitops",
        "role.rbac.authorization.k8s.io/kubectl-gitops",
        "deployment.apps/kubectl-gitops",
    ] {
        assert!(stdout.contains(object), "{object}\n{stdout}");
    }
}

/// An HTTPS git server for one test: TLS with a throwaway CA (openssl), basic auth with one
/// token (401 and a challenge otherwise, like a forge), and `git http-backend` behind it.
pub(crate) struct HttpsGit {
    port: u16,
    tls: bool,
    pub(crate) ca: PathBuf,
    pub(crate) authorized: Arc<AtomicUsize>,
    challenged: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for HttpsGit {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) fn openssl(dir: &Path, args: &[&str]) {
    run_ok("openssl", dir, args);
}

impl HttpsGit {
    pub(crate) async fn start(base: &Path, token: &str) -> Self {
        Self::start_with(base, token, true).await
    }

    /// The same server over plain http://, asking for the same credentials.
    async fn start_plain(base: &Path, token: &str) -> Self {
        Self::start_with(base, token, false).await
    }

    async fn start_with(base: &Path, token: &str, tls: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            d,
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=test-ca",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign",
                ],
            ]
            .concat(),
        );
        openssl(
            d,
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );

        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(d.join("server.pem"))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_file(d.join("server.key")).unwrap();
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();

        let authorized = Arc::new(AtomicUsize::new(0));
        let challenged = Arc::new(AtomicUsize::new(0));
        // No token: a public server, answering everyone.
        let expected = if token.is_empty() {
            String::new()
        } else {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"))
            )
        };
        let exec_path = git(Path::new("."), &["--exec-path"]);
        let backend = Path::new(&exec_path).join("git-http-backend");
        let base = base.to_path_buf();
        let (a, c) = (authorized.clone(), challenged.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let (expected, backend, base, a, c) = (
                    expected.clone(),
                    backend.clone(),
                    base.clone(),
                    a.clone(),
                    c.clone(),
                );
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let (expected, backend, base, a, c) = (
                            expected.clone(),
                            backend.clone(),
                            base.clone(),
                            a.clone(),
                            c.clone(),
                        );
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                serve_git(request, &expected, &backend, &base, &a, &c).await,
                            )
                        }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    if !tls {
                        let _ = http
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                        return;
                    }
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = http
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        HttpsGit {
            port,
            tls,
            ca: d.join("ca.pem"),
            authorized,
            challenged,
            task,
            _dir: dir,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("{}/platform.git", self.root_url())
    }

    /// The server's URL, under which each repository of the base directory is served.
    pub(crate) fn root_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

/// One request: 401 without the token (when the server has one), else `git http-backend` as a
/// CGI program.
async fn serve_git(
    request: hyper::Request<hyper::body::Incoming>,
    expected: &str,
    backend: &Path,
    base: &Path,
    authorized: &AtomicUsize,
    challenged: &AtomicUsize,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    use http_body_util::BodyExt;
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    if !expected.is_empty() && header("authorization") != expected {
        challenged.fetch_add(1, Ordering::SeqCst);
        return hyper::Response::builder()
            .status(401)
            .header("www-authenticate", "Basic realm=\"git\"")
            .body(http_body_util::Full::new(
                "authentication required\n".into(),
            ))
            .unwrap();
    }
    authorized.fetch_add(1, Ordering::SeqCst);
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let (content_type, protocol, encoding) = (
        header("content-type"),
        header("git-protocol"),
        header("content-encoding"),
    );
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let mut child = tokio::process::Command::new(backend)
        .env("GIT_PROJECT_ROOT", base)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", content_type)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("GIT_PROTOCOL", protocol)
        .env("HTTP_CONTENT_ENCODING", encoding)
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("git http-backend");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&body).await.unwrap();
    }
    let output = child.wait_with_output().await.unwrap();
    let raw = output.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
        .unwrap_or((raw.len(), 0));
    let head = String::from_utf8_lossy(&raw[..split.0]).into_owned();
    let mut response = hyper::Response::builder().status(200);
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("status") {
            let code: u16 = value
                .trim()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap_or(500);
            response = response.status(code);
        } else {
            response = response.header(name.trim(), value.trim());
        }
    }
    let body = raw[(split.0 + split.1).min(raw.len())..].to_vec();
    response
        .body(http_body_util::Full::new(body.into()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_remote_with_a_token_converges_and_the_token_stays_secret() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-https").await;
    let remote = Remote::of_configmaps(&[("a", "1")]);
    let token = "tok-9f8e7d6c5b4a";
    let server = HttpsGit::start(&remote.base, token).await;
    let reconciler = Reconciler::start_with_env(
        &server.url(),
        &ns,
        &[FAST, &["--applyset", "https", "-v"]].concat(),
        &[
            ("SSL_CERT_FILE", server.ca.to_str().unwrap()),
            ("GITOPS_GIT_TOKEN", token),
        ],
    );
    wait_for_values(&client, &ns, &[("a", "1")]).await;
    let head = remote.commit(&[("deploy/a.yaml", &cm("a", "2"))], &[], "over https");
    wait_for_values(&client, &ns, &[("a", "2")]).await;
    let data = wait_for_status(&client, &ns, "https", "the https commit", |s| {
        s["lastAppliedRevision"] == head
    })
    .await;
    assert!(
        server.challenged.load(Ordering::SeqCst) >= 1,
        "the server asked"
    );
    assert!(
        server.authorized.load(Ordering::SeqCst) >= 2,
        "and got the token"
    );
    assert_eq!(data["repository"], server.url());
    let logs = reconciler.logs();
    assert!(!logs.contains(token), "{logs}");
    assert!(data.values().all(|v| !v.contains(token)), "{data:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_never_sent_over_plain_http() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-http").await;
    let remote = Remote::of_configmaps(&[("a", "1")]);
    let token = support::unique_name("http-canary");
    let server = HttpsGit::start_plain(&remote.base, &token).await;
    let reconciler = Reconciler::start_with_env(
        &server.url(),
        &ns,
        &[FAST, &["--applyset", "plain", "-v"]].concat(),
        &[("GITOPS_GIT_TOKEN", token.as_str())],
    );
    // The server asks, more than once (the loop retries); the token is never the answer.
    let data = wait_for_status(&client, &ns, "plain", "a fetch failure", |s| {
        s["lastError"].starts_with("fetch")
    })
    .await;
    eventually("a retry", WAIT, || async {
        (server.challenged.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await;
    assert_eq!(server.authorized.load(Ordering::SeqCst), 0, "{data:?}");
    assert!(values(&client, &ns).await.is_empty());
    let logs = reconciler.logs();
    assert!(!logs.contains(&token), "{logs}");
    assert!(data.values().all(|v| !v.contains(&token)), "{data:?}");
}

#[tokio::test]
async fn secret_canaries_never_reach_status_events_or_logs() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-canary").await;
    let canary = support::unique_name("rec-canary");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&canary);
    // A Secret the server refuses, quoting the env line that carries the value.
    let remote = Remote::new(&[
        (
            "deploy/kustomization.yaml",
            "secretGenerator:\n- name: db\n  envs: [db.env]\n",
        ),
        ("deploy/db.env", &format!("DB_PASSWORD {canary}\n")),
    ]);
    let listen = format!("127.0.0.1:{}", free_port());
    let reconciler = Reconciler::start(
        &remote.file_url(),
        &ns,
        &[
            FAST,
            &["--applyset", "canary", "-v", "--log-format", "json"],
            &["--listen", &listen],
        ]
        .concat(),
    );
    let data = wait_for_status(&client, &ns, "canary", "the refusal", |s| {
        s["lastError"].starts_with("plan:")
    })
    .await;
    wait_for_events(&client, &ns, &["ReconcileFailed"]).await;
    assert!(data["lastError"].contains("DB_PASSWORD ***"), "{data:?}");
    let events: Vec<String> = Api::<Event>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.message)
        .collect();
    let (code, metrics) = http_get(&listen, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains("gitops_reconcile_errors_total"),
        "{metrics}"
    );
    let logs = reconciler.logs();
    for spelling in [&canary, &b64] {
        assert!(
            data.values().all(|v| !v.contains(spelling.as_str())),
            "{data:?}"
        );
        assert!(
            events.iter().all(|m| !m.contains(spelling.as_str())),
            "{events:?}"
        );
        assert!(!logs.contains(spelling.as_str()), "{logs}");
        assert!(!metrics.contains(spelling.as_str()), "{metrics}");
    }
}

/// `kubectl auth can-i` as the reconciler's service account.
fn can_i(sa_ns: &str, args: &[&str]) -> bool {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(["auth", "can-i"])
        .args(args)
        .arg(format!("--as=system:serviceaccount:{sa_ns}:kubectl-gitops"))
        .output()
        .expect("kubectl auth can-i");
    out.status.success()
}

#[tokio::test]
async fn install_grants_what_the_reconciler_needs_and_no_more() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-rbac").await;
    let apps = support::namespace(&client, "rec-rbac-apps").await;
    let out = gitops(
        &[
            "install",
            "-n",
            &ns,
            "--repo",
            "git://git.example.com/platform.git",
            "--path",
            "deploy/",
            "--secret-namespaces",
            &apps,
        ],
        Path::new("."),
    );
    let (yaml, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Only the RBAC: the Deployment's image does not exist here.
    let rbac: String = yaml
        .split("\n---\n")
        .filter(|doc| {
            doc.contains("kind: Role")
                || doc.contains("kind: ClusterRole")
                || doc.contains("kind: ServiceAccount")
                || doc.contains("kind: Namespace")
        })
        .collect::<Vec<_>>()
        .join("\n---\n");
    let mut apply = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    use std::io::Write;
    apply
        .stdin
        .take()
        .unwrap()
        .write_all(rbac.as_bytes())
        .unwrap();
    let result = apply.wait_with_output().unwrap();
    assert!(result.status.success(), "{:?}\n{rbac}", text(&result));

    // The set the output names (the reconciler computes the same).
    let set = yaml
        .split("ApplySet ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the output names the set");
    // What it needs for itself, by name, in its namespace.
    for args in [
        vec!["get", &format!("secrets/{set}")[..], "-n", &ns],
        vec!["patch", &format!("secrets/{set}")[..], "-n", &ns],
        vec!["patch", &format!("configmaps/{set}-status")[..], "-n", &ns],
        vec![
            "update",
            &format!("leases.coordination.k8s.io/{set}-leader")[..],
            "-n",
            &ns,
        ],
        vec!["create", "events", "-n", &ns],
        // What it manages.
        vec!["list", "configmaps", "--all-namespaces"],
        vec!["watch", "deployments.apps", "-n", &apps],
        vec!["delete", "services", "-n", &apps],
        vec!["list", "secrets", "-n", &apps],
        vec!["watch", "secrets", "-n", &apps],
    ] {
        assert!(can_i(&ns, &args), "needed: {args:?}");
    }
    // Not one Secret beyond those.
    for args in [
        vec!["list", "secrets", "--all-namespaces"],
        vec!["get", "secrets/other", "-n", &ns],
        vec!["list", "secrets", "-n", &ns],
        vec!["get", "secrets", "-n", "kube-system"],
        // Server-side apply patches; nothing it manages is ever updated whole.
        vec!["update", "configmaps/other", "-n", &apps],
        vec!["update", "leases.coordination.k8s.io/other", "-n", &ns],
    ] {
        assert!(!can_i(&ns, &args), "not needed: {args:?}");
    }
}

/// A git:// server that accepts every connection, reads what the client says and never
/// answers. Counts connections accepted and those the client has not closed yet.
struct StallingGit {
    port: u16,
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
}

impl StallingGit {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (a, o) = (accepted.clone(), open.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                o.fetch_add(1, Ordering::SeqCst);
                let o = o.clone();
                std::thread::spawn(move || {
                    use std::io::Read;
                    let mut buf = [0u8; 1024];
                    // Until the client hangs up (0) or the socket fails.
                    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        StallingGit {
            port,
            accepted,
            open,
        }
    }
}

fn threads_of(pid: u32) -> usize {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_git_server_that_accepts_and_stalls_costs_one_connection_at_a_time() {
    stalled_fetches_end_in_time("git").await;
}

#[tokio::test]
async fn an_http_git_server_that_accepts_and_stalls_costs_one_connection_at_a_time() {
    stalled_fetches_end_in_time("http").await;
}

async fn stalled_fetches_end_in_time(scheme: &str) {
    let client = support::admin().await;
    let ns = support::namespace(&client, &format!("rec-stall-{scheme}")).await;
    let server = StallingGit::start();
    let url = format!("{scheme}://127.0.0.1:{}/platform.git", server.port);
    let reconciler = Reconciler::start(
        &url,
        &ns,
        &[FAST, &["--applyset", "stall", "--fetch-timeout", "1s"]].concat(),
    );
    let data = wait_for_status(&client, &ns, "stall", "a fetch that timed out", |s| {
        s["lastError"].contains("timed out after 1s")
    })
    .await;
    assert!(data["lastError"].starts_with("fetch"), "{data:?}");
    let baseline = threads_of(reconciler.pid());
    // Every fetch ends within its timeout and lets go of its connection and its thread.
    eventually("six stalled fetches", Duration::from_secs(60), || async {
        (server.accepted.load(Ordering::SeqCst) >= 6).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let open = server.open.load(Ordering::SeqCst);
    let accepted = server.accepted.load(Ordering::SeqCst);
    assert!(
        open <= 1,
        "{open} of {accepted} connections still held by the reconciler\n{}",
        reconciler.logs()
    );
    let threads = threads_of(reconciler.pid());
    assert!(
        threads <= baseline + 2,
        "threads grew from {baseline} to {threads} over {accepted} fetches"
    );
}

#[tokio::test]
async fn a_crd_installed_after_the_start_is_seen_without_a_restart() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-crd").await;
    let group = format!("{}.example.com", support::unique_name("late"));
    // A custom resource whose CRD does not exist yet: the cycle fails naming the kind.
    let remote = Remote::new(&[(
        "deploy/w.yaml",
        &format!("apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  n: 1\n"),
    )]);
    let _reconciler = Reconciler::fast(&remote, &ns, "late", &[]);
    wait_for_status(&client, &ns, "late", "the unknown kind", |s| {
        s["lastError"].contains("Widget")
    })
    .await;

    // Installed out of band: the discovery miss asks the server again, and the loop converges.
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  \
         name: widgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names:\n    \
         kind: Widget\n    plural: widgets\n  versions:\n  - name: v1\n    served: true\n    \
         storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        \
         x-kubernetes-preserve-unknown-fields: true\n"
    );
    let mut apply = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("kubectl");
    use std::io::Write;
    apply
        .stdin
        .take()
        .unwrap()
        .write_all(crd.as_bytes())
        .unwrap();
    assert!(apply.wait().unwrap().success());
    wait_for_status(&client, &ns, "late", "convergence", |s| {
        s["lastError"].is_empty() && !s["lastAppliedRevision"].is_empty()
    })
    .await;
    let _ = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(["delete", "crd", &format!("widgets.{group}"), "--wait=false"])
        .output();
}

#[tokio::test]
async fn a_helm_chart_converges_and_a_values_commit_rolls_out() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-chart").await;
    let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n\
                    data:\n  v: {{ .Values.v | quote }}\n  ns: {{ .Release.Namespace }}\n";
    // A hook run by every release and kept unless it fails.
    let hook = template.replace(
        "-cm\n",
        "-hooked\n  annotations:\n    \
         helm.sh/hook: post-install,post-upgrade\n    helm.sh/hook-delete-policy: hook-failed\n",
    );
    let remote = Remote::new(&[
        (
            "deploy/Chart.yaml",
            "apiVersion: v2\nname: settings\nversion: 0.1.0\n",
        ),
        ("deploy/values.yaml", "v: \"1\"\n"),
        ("deploy/templates/cm.yaml", template),
        ("deploy/templates/hook.yaml", &hook),
    ]);
    let daemon = Daemon::start(&remote.base);
    let helm = support::helm();
    let env = [("GITOPS_HELM", helm.to_str().expect("utf-8 path"))];
    let reconciler = Reconciler::start_with_env(&daemon.url(), &ns, FAST, &env);

    // The release is named after the chart's directory and installed into the namespace. Its
    // post-install hook ran with it, and is no member of the set.
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let hook_value = || async {
        let cm = api.get_opt("deploy-hooked").await.ok().flatten()?;
        cm.data?.get("v").cloned()
    };
    wait_for_values(&client, &ns, &[("deploy-cm", "1")]).await;
    let ran = eventually("the hook's ConfigMap", WAIT, hook_value).await;
    assert_eq!(ran, "1", "{}", reconciler.logs());
    // The Event of the apply says which hooks ran with it.
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let said = eventually("an Applied Event naming the hook", WAIT, || async {
        let items = events.list(&ListParams::default()).await.ok()?.items;
        items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("Applied"))
            .filter_map(|e| e.message)
            .find(|m| m.contains("ran the Helm hook"))
    })
    .await;
    assert!(
        said.ends_with(&format!("; ran the Helm hook ConfigMap/{ns}/deploy-hooked")),
        "{said}"
    );
    remote.commit(&[("deploy/values.yaml", "v: \"2\"\n")], &[], "v=2");
    wait_for_values(&client, &ns, &[("deploy-cm", "2")]).await;
    let ran = eventually("the hook run again", WAIT, || async {
        hook_value().await.filter(|v| v == "2")
    })
    .await;
    assert_eq!(ran, "2");
}

#[tokio::test]
async fn a_chart_with_a_locked_dependency_converges_from_the_cache_dir() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-chartdep").await;
    let charts = crate::chart_repo::HttpRepo::start(&[("db", "0.1.0", "fetched")], None);
    let chart = tempfile::tempdir().unwrap();
    fs::write(
        chart.path().join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n- name: db\n  \
             version: 0.1.0\n  repository: {}\n",
            charts.url()
        ),
    )
    .unwrap();
    crate::chart_repo::lock_chart(chart.path(), &[]);
    let lock = fs::read_to_string(chart.path().join("Chart.lock")).unwrap();
    let chart_yaml = fs::read_to_string(chart.path().join("Chart.yaml")).unwrap();
    let remote = Remote::new(&[
        ("deploy/Chart.yaml", &chart_yaml),
        ("deploy/Chart.lock", &lock),
    ]);
    let daemon = Daemon::start(&remote.base);
    let helm = support::helm();
    let env = [("GITOPS_HELM", helm.to_str().expect("utf-8 path"))];
    let reconciler = Reconciler::start_with_env(&daemon.url(), &ns, FAST, &env);

    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let value = eventually("the dependency's ConfigMap", WAIT, || async {
        let cm = api.get_opt("deploy-db").await.ok().flatten()?;
        cm.data?.get("value").cloned()
    })
    .await;
    assert_eq!(value, "fetched", "{}", reconciler.logs());
    let entries = fs::read_dir(reconciler._cache.path().join("helm/dependencies"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(entries, 1, "the dependency is cached under --cache-dir");
}

#[tokio::test]
async fn the_reconciler_executes_the_plan_diff_shows_with_its_force_setting() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-plan").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    // Another manager owns a's value: only a forced plan takes it.
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                        "data": {"v": "theirs"}});
    api.patch("a", &PatchParams::apply("other"), &Patch::Apply(&theirs))
        .await
        .unwrap();
    let files = [
        ("deploy/a.yaml", cm("a", "1")),
        ("deploy/b.yaml", cm("b", "1")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    let remote = Remote::new(&files);
    let set = "plan";
    let diff = |extra: &[&str]| {
        let mut args = vec!["diff", "deploy", "-n", &ns, "--applyset-namespace", &ns];
        args.extend_from_slice(&["--applyset", set, "-o", "json"]);
        args.extend_from_slice(extra);
        let out = gitops(&args, &remote.checkout);
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("diff's JSON report");
        (out.status.code(), report)
    };
    let (code, unforced) = diff(&[]);
    assert_eq!(code, Some(2));
    assert_eq!(unforced["summary"]["conflicts"], 1);
    let (code, forced) = diff(&["--force-conflicts"]);
    assert_eq!(code, Some(1));
    let actions: Vec<(String, String)> = forced["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_string(),
                c["object"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [("update".into(), "a".into()), ("create".into(), "b".into())]
    );

    // The reconciler plans forced: it does exactly what `diff --force-conflicts` showed.
    let _reconciler = Reconciler::start(
        &remote.file_url(),
        &ns,
        &["--interval", "1h", "--applyset", set, "--no-watch"],
    );
    let status = wait_for_status(&client, &ns, set, "a first successful cycle", |s| {
        s.get("lastResult").map(String::as_str) == Some("Succeeded")
    })
    .await;
    assert_eq!(status["lastCreated"], "1", "{status:?}");
    assert_eq!(status["lastUpdated"], "1", "{status:?}");
    for change in forced["changes"].as_array().unwrap() {
        let name = change["object"]["name"].as_str().unwrap();
        let live = api.get(name).await.unwrap();
        assert_eq!(
            serde_json::to_value(live.data).unwrap(),
            change["after"]["data"],
            "{name} is what the plan said"
        );
    }
    // And after it, the unforced plan agrees there is nothing left to do.
    let (code, after) = diff(&[]);
    assert_eq!(code, Some(0), "{after}");
}

#[tokio::test]
async fn sigterm_past_the_grace_stops_the_cycle_between_writes_and_prunes_nothing() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rec-stop").await;
    let names: Vec<String> = (0..150).map(|i| format!("cm-{i:03}")).collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let remote = Remote::of_configmaps(&pairs);
    // Slow enough to be caught mid-apply; no grace, so the stop comes at once.
    let mut reconciler = Reconciler::fast(
        &remote,
        &ns,
        "stop",
        &[
            "--qps",
            "10",
            "--shutdown-grace",
            "0s",
            "--no-leader-election",
        ],
    );
    eventually("the first writes", WAIT, || async {
        (!values(&client, &ns).await.is_empty()).then_some(())
    })
    .await;
    let status = reconciler.terminate();
    assert!(status.success(), "{status:?}\n{}", reconciler.logs());
    let logs = reconciler.logs();
    assert!(
        logs.contains("shutdown grace over: the writes in flight finish"),
        "{logs}"
    );
    let written = values(&client, &ns).await.len();
    assert!(
        written < names.len(),
        "the stop came too late to test: {logs}"
    );
    // The cycle ended (it was not dropped mid-request) and was recorded as failed, naming
    // what was not sent.
    assert!(logs.contains("interrupted before it was sent"), "{logs}");
    assert!(!logs.contains("cycle abandoned"), "{logs}");
}
