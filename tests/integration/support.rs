//! What every integration test needs: the test API server's kubeconfig, clients for it, a fresh
//! namespace per test, and the binary under test.
//!
//! The server is started by `tests/run.sh` (or `tests/cluster.sh up`). Without it these helpers
//! panic with instructions: a cluster test never silently skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The kubeconfig of the running test API server.
pub fn kubeconfig() -> PathBuf {
    let path = std::env::var_os("GITOPS_TEST_KUBECONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cluster/kubeconfig")
        });
    assert!(
        path.is_file(),
        "no test API server: {} does not exist. Run the suite with `tests/run.sh`, or start the \
         server with `tests/cluster.sh up` and set GITOPS_TEST_KUBECONFIG.",
        path.display()
    );
    path
}

/// The pinned `helm` the test suite built (`tests/helm.sh`).
pub fn helm() -> PathBuf {
    helm_if_built().unwrap_or_else(|| {
        panic!(
            "no test helm: set GITOPS_TEST_HELM to a helm binary (tests/run.sh builds the pinned \
             one with `tests/helm.sh path`), or run `tests/helm.sh build`."
        )
    })
}

/// The pinned Helm 3 (kustomize v5.5 renders `helmCharts` with nothing newer).
pub fn helm3() -> PathBuf {
    std::env::var_os("GITOPS_TEST_HELM3")
        .map(PathBuf::from)
        .or_else(|| {
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cluster/helm/v3/helm"))
        })
        .filter(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no test Helm 3: set GITOPS_TEST_HELM3 to a Helm 3 binary (tests/run.sh builds \
                 the pinned one with `tests/helm.sh path 3`), or run `tests/helm.sh build`."
            )
        })
}

fn helm_if_built() -> Option<PathBuf> {
    std::env::var_os("GITOPS_TEST_HELM")
        .map(PathBuf::from)
        .or_else(|| {
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cluster/helm/bin/helm"))
        })
        .filter(|path| path.is_file())
}

async fn client_for(context: &str) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig()).expect("reading the test kubeconfig");
    let options = KubeConfigOptions {
        context: Some(context.to_string()),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .expect("loading the test kubeconfig");
    kube::Client::try_from(config).expect("building a client for the test API server")
}

/// A cluster-admin client.
pub async fn admin() -> kube::Client {
    client_for("test").await
}

/// A client for a user with no RBAC bindings at all.
pub async fn restricted() -> kube::Client {
    client_for("test-restricted").await
}

/// A name no other test (or earlier run) uses: `prefix-<pid>-<counter>-<nanos>`, DNS-safe.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos % 0xfffff)
}

/// Creates a fresh namespace for one test and returns its name. The test server has no
/// namespace controller, so namespaces are never deleted; unique names keep tests apart.
pub async fn namespace(client: &kube::Client, prefix: &str) -> String {
    let name = unique_name(prefix);
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
    }))
    .expect("namespace object");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    name
}

/// Runs the built `kubectl-gitops` with the test kubeconfig and no color, rendering charts
/// with the test helm when it is built.
pub fn gitops(args: &[&str], cwd: &Path) -> Output {
    gitops_command(args, cwd)
        .output()
        .expect("running kubectl-gitops")
}

/// `gitops` with extra environment variables (set after the defaults, so they win).
pub fn gitops_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    gitops_command(args, cwd)
        .envs(env.iter().copied())
        .output()
        .expect("running kubectl-gitops")
}

/// `gitops` started in the background, its output piped, for tests that act while it runs.
pub fn gitops_spawn(args: &[&str], cwd: &Path) -> std::process::Child {
    gitops_command(args, cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting kubectl-gitops")
}

fn gitops_command(args: &[&str], cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"));
    if let Some(helm) = helm_if_built() {
        command.env("GITOPS_HELM", helm);
    }
    command.args(args);
    // The commands that contact no cluster do not take --kubeconfig.
    if !matches!(
        args.first().copied(),
        Some("version" | "completion" | "install" | "--help" | "help")
    ) {
        command.arg("--kubeconfig").arg(kubeconfig());
    }
    command
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("KUBECTL_GITOPS_CACHE_DIR", cache_dir());
    command
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cache")
}

/// A temporary directory holding `files` (path -> content), optionally a git repository.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = Workdir { dir };
        for (path, content) in files {
            w.write(path, content);
        }
        w
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, path: &str, content: &str) {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }

    /// Makes it a git repository with everything committed.
    pub fn git_commit_all(&self) {
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
                "init",
            ],
        ] {
            let status = Command::new("git")
                .args(args)
                .current_dir(self.path())
                .status()
                .expect("git");
            assert!(status.success(), "git {args:?}");
        }
    }
}

/// stdout and stderr of a run, for messages and leak checks.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Sends a request a test proxy received on to the API server through `upstream` (its
/// method, `target` path and query, content type and accept headers, `body`) and answers
/// with what the server answered, or 502 naming why it could not be reached.
pub async fn pass_on(
    upstream: &kube::Client,
    parts: &http::request::Parts,
    target: &str,
    body: hyper::body::Bytes,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    use http_body_util::{BodyExt, Full};
    let mut forwarded = http::Request::builder()
        .method(parts.method.clone())
        .uri(target);
    for name in ["content-type", "accept"] {
        if let Some(value) = parts.headers.get(name) {
            forwarded = forwarded.header(name, value);
        }
    }
    let answer = upstream
        .send(
            forwarded
                .body(kube::client::Body::from(body.to_vec()))
                .unwrap(),
        )
        .await;
    match answer {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            hyper::Response::from_parts(parts, Full::new(bytes))
        }
        Err(err) => hyper::Response::builder()
            .status(502)
            .body(Full::new(err.to_string().into()))
            .unwrap(),
    }
}

/// `cp -r from into`: the copy of `from` inside `into`, for an oracle that must not write the
/// tree under test.
pub fn copy_into(from: &Path, into: &Path) -> PathBuf {
    let status = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(into)
        .status()
        .expect("running cp");
    assert!(status.success(), "copying {}", from.display());
    into.join(from.file_name().expect("a named directory"))
}

/// A plain-HTTP proxy on loopback whose every request `handle` answers (a test's stand-in
/// between kubectl-gitops and the API server); stopped on drop.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start<F, Fut>(handle: F) -> Self
    where
        F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<
                Output = Result<
                    hyper::Response<http_body_util::Full<hyper::body::Bytes>>,
                    std::convert::Infallible,
                >,
            > + Send
            + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handle = handle.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(handle);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy { addr, task }
    }

    /// A kubeconfig whose only cluster is this proxy, written into `dir`.
    pub fn kubeconfig(&self, dir: &Path, namespace: &str) -> PathBuf {
        let path = dir.join("kubeconfig");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: proxy\n  cluster:\n    \
                 server: http://{}\nusers:\n- name: proxy\n  user: {{}}\ncontexts:\n\
                 - name: proxy\n  context: {{cluster: proxy, user: proxy, namespace: {namespace}}}\n\
                 current-context: proxy\n",
                self.addr
            ),
        )
        .unwrap();
        path
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// podinfo's chart in the public corpus (`$GITOPS_TEST_CORPUS`, else ../shared/corpus beside
/// the repository), when it is there.
pub fn podinfo_chart() -> Option<PathBuf> {
    let corpus = std::env::var_os("GITOPS_TEST_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let chart = corpus.join("podinfo/charts/podinfo");
    chart.join("Chart.yaml").is_file().then_some(chart)
}

/// A copy of the directory `from` at `to` (the corpus is data: tests work on copies).
pub fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .expect("running cp");
    assert!(status.success(), "copying {}", from.display());
}
