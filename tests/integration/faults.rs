//! Faults from the cluster side, against the real API server: the server dying mid-apply and
//! coming back, a server that accepts connections and never answers, RBAC refusing part of a
//! plan, and a namespace stuck terminating. Each ends in a clear error, exit 2 and no panic, in
//! bounded time, and never in a prune of something that should stay.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

use crate::support::{self, Workdir, text};

/// Only a hang reaches this.
const HANG: Duration = Duration::from_secs(120);

/// A private test API server (the same program `tests/cluster.sh` runs) in its own directory,
/// so a test can kill and restart it without disturbing the shared one. Killed on drop, even
/// when the test fails.
pub(crate) struct PrivateServer {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
}

impl PrivateServer {
    fn binary() -> PathBuf {
        let bin = std::env::var_os("GITOPS_TEST_APISERVER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("target/test-cluster/bin/kube-apiserver-test")
            });
        assert!(
            bin.is_file(),
            "no test API server program at {}: build it with `tests/cluster.sh build` (or run the \
             suite with `tests/run.sh`), or set GITOPS_TEST_APISERVER_BIN",
            bin.display()
        );
        bin
    }

    /// Starts a fresh server in `dir` on a free port.
    pub(crate) fn start(dir: &Path) -> PrivateServer {
        Self::launch(dir, None)
    }

    /// Starts it again on the same directory and port, keeping its data and certificates, so
    /// the kubeconfig written by the first start still works.
    pub(crate) fn restart(&mut self) {
        self.stop();
        let again = Self::launch(&self.dir, Some(self.port));
        *self = again;
    }

    /// Starts the server, on `port` or on free ports it picks. Picked ports can be taken by
    /// another process before the server binds them (the suite starts many servers at once):
    /// then it is started again on others.
    fn launch(dir: &Path, port: Option<u16>) -> PrivateServer {
        let mut attempt = 1;
        loop {
            match Self::try_launch(dir, port) {
                Ok(server) => return server,
                Err(log)
                    if port.is_none() && attempt < 4 && log.contains("address already in use") =>
                {
                    attempt += 1;
                }
                Err(log) => {
                    let tail: Vec<&str> = log.lines().rev().take(20).collect();
                    panic!("the private API server did not get ready; its log ends:\n{tail:?}")
                }
            }
        }
    }

    /// The server once it said it is ready, or its log when it did not.
    fn try_launch(dir: &Path, port: Option<u16>) -> Result<PrivateServer, String> {
        let log = std::fs::File::create(dir.join("apiserver.log")).expect("server log");
        let mut command = Command::new(Self::binary());
        command.arg("--dir").arg(dir);
        if let Some(port) = port {
            command.args(["--port", &port.to_string(), "--keep-data"]);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting the test API server");
        let stdout = child.stdout.take().expect("stdout");
        let mut server = PrivateServer {
            child: Some(child),
            dir: dir.to_path_buf(),
            port: 0,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let Ok(line) = rx.recv_timeout(HANG) else {
            server.stop();
            return Err(std::fs::read_to_string(dir.join("apiserver.log")).unwrap_or_default());
        };
        let url = line.strip_prefix("ready ").expect("`ready <url>`");
        server.port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the ready line");
        if let Some(port) = port {
            assert_eq!(server.port, port, "restarted on the same port");
        }
        Ok(server)
    }

    pub(crate) fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    pub(crate) async fn admin(&self) -> kube::Client {
        let kubeconfig = Kubeconfig::read_from(self.kubeconfig()).expect("private kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("loading the private kubeconfig");
        kube::Client::try_from(config).expect("a client for the private server")
    }

    /// SIGSTOP: the server stops answering at once, with its connections open, so what the
    /// client has sent so far stays as it is until the kill.
    fn freeze(&self) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .expect("kill -STOP");
        assert!(status.success(), "freezing the server");
    }

    /// SIGKILL: the server vanishes mid-request, as in a crash or a node loss.
    pub(crate) fn kill(&mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A kubectl-gitops run in progress; its output is drained as it comes, so a long report never
/// blocks it on a full pipe.
struct Running {
    child: Child,
    stdout: std::thread::JoinHandle<Vec<u8>>,
    stderr: std::thread::JoinHandle<Vec<u8>>,
}

/// Starts kubectl-gitops with `kubeconfig`, no color and a private discovery cache.
fn spawn_gitops(args: &[&str], cwd: &Path, kubeconfig: &Path, cache: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("KUBECTL_GITOPS_CACHE_DIR", cache)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubectl-gitops");
    fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    }
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    Running {
        child,
        stdout,
        stderr,
    }
}

/// Waits for the run, killing it and failing the test if it goes on past `limit`.
fn finish(mut run: Running, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = run.child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = run.child.kill();
            let _ = run.child.wait();
            panic!("kubectl-gitops still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        status,
        stdout: run.stdout.join().expect("stdout reader"),
        stderr: run.stderr.join().expect("stderr reader"),
    };
    (output, started.elapsed())
}

fn run_gitops(args: &[&str], cwd: &Path, kubeconfig: &Path, cache: &Path) -> Output {
    finish(spawn_gitops(args, cwd, kubeconfig, cache), HANG).0
}

fn configmap(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"1\"\n")
}

/// `files` files of `per_file` ConfigMaps each, `cm-<file>-<n>`, committed.
fn configmap_repo(files: usize, per_file: usize) -> Workdir {
    let repo = Workdir::new(&[]);
    for f in 0..files {
        let docs: Vec<String> = (0..per_file)
            .map(|n| configmap(&format!("cm-{f:02}-{n:02}")))
            .collect();
        repo.write(&format!("batch-{f:02}.yaml"), &docs.join("---\n"));
    }
    repo.git_commit_all();
    repo
}

async fn create_namespace(client: &kube::Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
}

async fn configmaps(client: &kube::Client, ns: &str) -> Vec<ConfigMap> {
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("listing ConfigMaps")
        .items
        .into_iter()
        .filter(|c| c.metadata.name.as_deref() != Some("kube-root-ca.crt"))
        .collect()
}

/// The plan's single `! error` line: exactly one object was refused.
fn the_one_refusal<'a>(stdout: &'a str, all: &str) -> &'a str {
    let refused: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("! error"))
        .collect();
    assert_eq!(refused.len(), 1, "exactly one object is refused\n{all}");
    eprintln!("{}", refused[0]);
    refused[0]
}

async fn configmap_names(client: &kube::Client, ns: &str) -> Vec<String> {
    configmaps(client, ns)
        .await
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect()
}

fn assert_no_panic(all: &str) {
    assert!(
        !all.contains("panicked") && !all.contains("RUST_BACKTRACE"),
        "{all}"
    );
}

#[tokio::test]
async fn the_api_server_dying_mid_apply_fails_clearly_and_a_rerun_converges() {
    let state = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let mut server = PrivateServer::start(state.path());
    let admin = server.admin().await;
    let ns = "faults";
    create_namespace(&admin, ns).await;
    // An object the set does not own: no prune may ever touch it.
    let bystander: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "bystander", "namespace": ns}, "data": {"v": "1"}}),
    )
    .unwrap();
    Api::<ConfigMap>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &bystander)
        .await
        .expect("bystander");

    let total = 300;
    let repo = configmap_repo(10, 30);
    let args = ["apply", ".", "-n", ns, "--applyset", "crash", "--yes"];
    let mut slow = args.to_vec();
    // 20 requests a second: the plan takes ~15s and the writes ~15s more.
    slow.extend(["--qps", "20"]);
    let mut apply = spawn_gitops(&slow, repo.path(), &server.kubeconfig(), cache.path());

    // Kill the server once the writes are well under way. It is frozen first, so the kill
    // lands on requests in flight however the client's requests are timed: every way a
    // connection can end (a reset, an EOF mid-TLS, a refusal) must read the same.
    let started = Instant::now();
    loop {
        let written = configmaps(&admin, ns).await.len() - 1;
        if written >= 30 {
            assert!(written < total, "the apply finished before the fault");
            server.freeze();
            // Requests already sent now wait on a server that reads nothing.
            tokio::time::sleep(Duration::from_millis(300)).await;
            break;
        }
        if started.elapsed() > HANG || apply.child.try_wait().expect("wait").is_some() {
            let (out, _) = finish(apply, HANG);
            panic!("the apply never got to writing: {:?}", text(&out));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill();
    let (out, _) = finish(apply, HANG);
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}\n{stderr}");
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert_no_panic(&all);
    let failures: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("! failed ConfigMap/faults/cm-"))
        .collect();
    assert!(!failures.is_empty(), "each failed object is named\n{all}");
    eprintln!("after the crash: {:?} ...\n{stderr}", &failures[..1]);
    let unreachable = format!("no answer from https://127.0.0.1:{}/", server.port);
    assert!(
        failures.iter().all(|l| l.contains(&unreachable)),
        "each failure names the server that stopped answering\n{all}"
    );
    // Once the server stopped answering, the rest was not sent: one line says so, with the
    // count, instead of one failure per object.
    let skipped = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("! failed "))
        .find(|l| l.contains("objects not attempted (") && l.contains(&unreachable))
        .unwrap_or_else(|| panic!("a line counts what was not attempted\n{all}"));
    let not_attempted: usize = skipped.split(' ').next().unwrap().parse().unwrap();
    assert!(
        failures.len() < 100 && not_attempted > 100,
        "{} listed, {not_attempted} not attempted\n{all}",
        failures.len()
    );
    assert!(
        stdout.contains("prunes skipped") || !stdout.contains("pruned ConfigMap"),
        "{all}"
    );
    assert!(
        stdout.contains(&format!("{} failed.", failures.len() + not_attempted)),
        "the summary counts the failures\n{all}"
    );

    // Back on the same data: the objects written before the crash are still there.
    server.restart();
    let admin = server.admin().await;
    let survived = configmaps(&admin, ns).await.len() - 1;
    assert!(survived >= 30, "{survived} ConfigMaps survived the restart");

    let out = run_gitops(&args, repo.path(), &server.kubeconfig(), cache.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains(" 0 failed."), "{stdout}");

    // The inventory is whole: the parent lists the kind and namespace, every member is labelled.
    let parent = Api::<Secret>::namespaced(admin.clone(), ns)
        .get("crash")
        .await
        .expect("the ApplySet parent");
    let id = parent.metadata.labels.as_ref().unwrap()["applyset.kubernetes.io/id"].clone();
    let annotations = parent.metadata.annotations.as_ref().unwrap();
    assert_eq!(
        annotations["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap"
    );
    assert_eq!(
        annotations["applyset.kubernetes.io/additional-namespaces"],
        ""
    );
    let live = configmaps(&admin, ns).await;
    assert_eq!(live.len(), total + 1);
    for cm in &live {
        let name = cm.metadata.name.as_deref().unwrap();
        let part_of = cm
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("applyset.kubernetes.io/part-of"));
        if name == "bystander" {
            assert!(part_of.is_none());
        } else {
            assert_eq!(part_of, Some(&id), "{name} belongs to the set");
        }
    }

    // A later removal prunes exactly what left git.
    std::fs::remove_file(repo.path().join("batch-03.yaml")).unwrap();
    let out = run_gitops(&args, repo.path(), &server.kubeconfig(), cache.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("30 pruned, 0 failed."), "{stdout}");
    let mut left = configmap_names(&admin, ns).await;
    left.sort();
    assert_eq!(left.len(), total - 30 + 1);
    assert!(left.iter().all(|n| !n.starts_with("cm-03-")), "{left:?}");
    assert!(left.contains(&"bystander".to_string()));
}

/// A TCP listener on 127.0.0.1 that accepts every connection and never says a word.
struct SilentServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentServer {
    fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => held.push(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        SilentServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// A kubeconfig (the test one, credentials and all) whose server is this listener.
    fn kubeconfig(&self, dir: &Path, scheme: &str) -> PathBuf {
        let text = std::fs::read_to_string(support::kubeconfig()).expect("test kubeconfig");
        let mut config: serde_json::Value =
            kubectl_gitops::yaml::from_str(&text).expect("kubeconfig yaml");
        for cluster in config["clusters"].as_array_mut().expect("clusters") {
            cluster["cluster"]["server"] = json!(format!("{scheme}://127.0.0.1:{}", self.port));
        }
        let path = dir.join(format!("silent-{scheme}.kubeconfig"));
        std::fs::write(&path, kubectl_gitops::yaml::to_yaml(&config)).unwrap();
        path
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_server_that_never_answers_fails_diff_in_bounded_time() {
    let silent = SilentServer::start();
    let scratch = tempfile::tempdir().expect("tempdir");
    let repo = Workdir::new(&[("cm.yaml", &configmap("waiting"))]);
    repo.git_commit_all();
    let cases = [
        // TLS: the handshake never completes, so connecting times out.
        ("https", Some("2s"), Duration::from_secs(2)),
        // Plain HTTP: connected, the request is sent, no answer ever comes.
        ("http", Some("2s"), Duration::from_secs(2)),
        // Without the flag the default connect timeout still ends it.
        ("https", None, Duration::from_secs(10)),
    ];
    for (scheme, flag, expected) in cases {
        let kubeconfig = silent.kubeconfig(scratch.path(), scheme);
        let mut args = vec!["diff", "."];
        if let Some(limit) = flag {
            args.extend(["--request-timeout", limit]);
        }
        let child = spawn_gitops(&args, repo.path(), &kubeconfig, scratch.path());
        let (out, took) = finish(child, Duration::from_secs(60));
        let (stdout, stderr) = text(&out);
        let all = format!("{stdout}\n{stderr}");
        assert_eq!(out.status.code(), Some(2), "{scheme} {flag:?}: {all}");
        eprintln!("{scheme} {flag:?} after {took:?}: {stderr}");
        assert_no_panic(&all);
        assert!(
            took >= expected && took < expected + Duration::from_secs(8),
            "{scheme} {flag:?}: gave up after {took:?}, expected {expected:?}\n{all}"
        );
        assert!(
            stderr.contains(&format!("127.0.0.1:{}", silent.port)) && stderr.contains("timed out"),
            "{scheme} {flag:?}: the error names the server and the timeout\n{all}"
        );
    }
}

#[tokio::test]
async fn objects_rbac_forbids_are_named_and_nothing_is_applied_or_pruned() {
    let admin = support::admin().await;
    let ns = support::namespace(&admin, "rbac-plan").await;
    let cache = tempfile::tempdir().expect("tempdir");
    // The restricted user may manage ConfigMaps and the ApplySet parent here, not Services.
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "gitops-configmaps"},
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps", "secrets"],
             "verbs": ["get", "list", "patch", "create"]}
        ]
    }))
    .unwrap();
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "gitops-configmaps"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gitops-configmaps"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "restricted"}]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("role binding");

    // Applied once with the admin: "old" is a member, so a prune would show.
    let repo = Workdir::new(&[("old.yaml", &configmap("old"))]);
    repo.git_commit_all();
    let base = [
        "apply",
        ".",
        "-n",
        &ns,
        "--applyset",
        "rbac",
        "--applyset-namespace",
        &ns,
        "--yes",
    ];
    let kubeconfig = support::kubeconfig();
    let out = run_gitops(&base, repo.path(), &kubeconfig, cache.path());
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    std::fs::remove_file(repo.path().join("old.yaml")).unwrap();
    repo.write("a.yaml", &configmap("a"));
    repo.write("b.yaml", &configmap("b"));
    repo.write(
        "web.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n",
    );
    let mut restricted = base.to_vec();
    restricted.extend(["--context", "test-restricted"]);
    let out = run_gitops(&restricted, repo.path(), &kubeconfig, cache.path());
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}\n{stderr}");
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert_no_panic(&all);
    let refused = the_one_refusal(&stdout, &all);
    assert!(
        refused.contains(&format!("Service/{ns}/web"))
            && refused.contains("web.yaml:1")
            && refused.contains("forbidden")
            && refused.contains("User \"restricted\" cannot"),
        "the Service, its file and the server's reason\n{all}"
    );
    assert!(stderr.contains("error: Nothing was applied"), "{all}");

    assert_eq!(
        configmap_names(&admin, &ns).await,
        ["old"],
        "nothing applied, nothing pruned"
    );
    let services = Api::<Service>::namespaced(admin.clone(), &ns);
    assert!(services.get_opt("web").await.unwrap().is_none());
}

#[tokio::test]
async fn a_namespace_stuck_terminating_refuses_new_objects_with_the_servers_reason() {
    let admin = support::admin().await;
    let ns = support::namespace(&admin, "terminating").await;
    let cache = tempfile::tempdir().expect("tempdir");
    let existing: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "existing"}, "data": {"v": "1"}}))
            .unwrap();
    Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &existing)
        .await
        .expect("existing");
    // No namespace controller runs, so the namespace stays Terminating for good.
    Api::<Namespace>::all(admin.clone())
        .delete(&ns, &DeleteParams::default())
        .await
        .expect("deleting the namespace");
    let phase = Api::<Namespace>::all(admin.clone())
        .get(&ns)
        .await
        .expect("still there")
        .status
        .and_then(|s| s.phase);
    assert_eq!(phase.as_deref(), Some("Terminating"));

    let repo = Workdir::new(&[
        ("existing.yaml", &configmap("existing")),
        ("fresh.yaml", &configmap("fresh")),
    ]);
    repo.git_commit_all();
    let set = support::unique_name("set");
    let child = spawn_gitops(
        &["apply", ".", "-n", &ns, "--applyset", &set, "--yes"],
        repo.path(),
        &support::kubeconfig(),
        cache.path(),
    );
    let (out, took) = finish(child, HANG);
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}\n{stderr}");
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert_no_panic(&all);
    assert!(took < Duration::from_secs(60), "took {took:?}\n{all}");
    let refused = the_one_refusal(&stdout, &all);
    assert!(
        refused.contains(&format!("ConfigMap/{ns}/fresh"))
            && refused.contains("fresh.yaml:1")
            && refused.contains("because it is being terminated"),
        "the object and the server's reason\n{all}"
    );
    assert!(stderr.contains("error: Nothing was applied"), "{all}");
    assert_eq!(configmap_names(&admin, &ns).await, ["existing"]);
}

/// A TCP proxy on 127.0.0.1 in front of the shared test server. `stall()` makes it stop
/// passing bytes either way (connections stay open, as with a throttled or wedged server);
/// new connections are accepted and stall too.
struct StallingProxy {
    port: u16,
    stalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl StallingProxy {
    fn start(upstream: std::net::SocketAddr) -> StallingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stalled = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (stalled.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let Ok(server) = std::net::TcpStream::connect(upstream) else {
                    continue;
                };
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let (s, st) = (s.clone(), st.clone());
                    std::thread::spawn(move || pipe(from, to, &s, &st));
                }
            }
        });
        StallingProxy {
            port,
            stalled,
            stop,
        }
    }

    fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// The test kubeconfig, pointed at the proxy.
    fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let text = std::fs::read_to_string(support::kubeconfig()).expect("test kubeconfig");
        let mut config: serde_json::Value =
            kubectl_gitops::yaml::from_str(&text).expect("kubeconfig yaml");
        for cluster in config["clusters"].as_array_mut().expect("clusters") {
            cluster["cluster"]["server"] = json!(format!("https://127.0.0.1:{}", self.port));
        }
        let path = dir.join("proxied.kubeconfig");
        // JSON is YAML: kubeconfig readers take it as it is.
        std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
        path
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Copies bytes until either side closes; while stalled, holds them.
fn pipe(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    stalled: &AtomicBool,
    stop: &AtomicBool,
) {
    use std::io::{Read, Write};
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        if stalled.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// The upstream address of the shared test server.
fn shared_server() -> std::net::SocketAddr {
    let text = std::fs::read_to_string(support::kubeconfig()).expect("test kubeconfig");
    let config: serde_json::Value = kubectl_gitops::yaml::from_str(&text).expect("kubeconfig yaml");
    let server = config["clusters"][0]["cluster"]["server"]
        .as_str()
        .expect("a server")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    server.parse().expect("host:port")
}

/// `/metrics` of a reconciler, or nothing while it does not answer.
fn metrics(listen: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(listen) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {listen}\r\n\r\n").as_bytes());
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body
}

#[tokio::test]
async fn a_leader_whose_server_stalls_stops_leading_before_its_lease_can_expire() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "lease-stall").await;
    let proxy = StallingProxy::start(shared_server());
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = proxy.kubeconfig(dir.path());
    let repo = Workdir::new(&[("deploy/a.yaml", &configmap("a"))]);
    repo.git_commit_all();
    let listen = format!(
        "127.0.0.1:{}",
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let repo_path = repo.path().to_str().unwrap().to_string();
    let cache = tempfile::tempdir().expect("tempdir");
    let run = spawn_gitops(
        &[
            "reconcile",
            "--repo",
            &repo_path,
            "--path",
            "deploy",
            "-n",
            &ns,
            "--applyset-namespace",
            &ns,
            "--applyset",
            "stall",
            "--interval",
            "1s",
            // Renew deadline 2s; the read timeout stays the default 60s.
            "--lease-duration",
            "3s",
            "--listen",
            &listen,
        ],
        repo.path(),
        &kubeconfig,
        cache.path(),
    );
    let leading = |m: &str| m.contains("gitops_reconcile_leader 1");
    let started = Instant::now();
    while !leading(&metrics(&listen)) {
        assert!(started.elapsed() < HANG, "never became the leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    proxy.stall();
    let stalled_at = Instant::now();
    loop {
        let m = metrics(&listen);
        if m.contains("gitops_reconcile_leader 0") {
            break;
        }
        assert!(
            stalled_at.elapsed() < Duration::from_secs(3),
            "still leading {:?} after the server stalled: a standby may take over at 3s\n{m}",
            stalled_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stepped_down = stalled_at.elapsed();
    eprintln!("stepped down {stepped_down:?} after the stall");
    let mut run = run;
    let _ = run.child.kill();
    let (out, _) = finish(run, HANG);
    let (_, stderr) = text(&out);
    assert_no_panic(&stderr);
}
