//! Chart repositories on loopback for the dependency tests, built with the real helm:
//! - an HTTP chart repository: charts packaged by `helm package`, indexed by `helm repo
//!   index`, served by a static file server (optionally behind basic auth);
//! - an OCI registry: the distribution project's `registry` (built by tests/registry.sh),
//!   charts pushed with `helm push`.
//!
//! Each stops when dropped; a stopped server refuses connections, which is how the tests
//! prove a cached render does not touch the network.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::support;

/// A static file server for one directory.
pub struct FileServer {
    addr: SocketAddr,
    auth: Arc<std::sync::Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Serves `dir` on 127.0.0.1; with `auth`, only to requests carrying that basic-auth pair.
    pub fn start(dir: &Path, auth: Option<(&str, &str)>) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let addr = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let expected = Arc::new(std::sync::Mutex::new(auth.map(basic)));
        let (dir, stop_flag, count) = (dir.to_path_buf(), stop.clone(), requests.clone());
        let auth = expected.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let (dir, expected) = (dir.clone(), expected.lock().unwrap().clone());
                std::thread::spawn(move || serve(stream, &dir, expected.as_deref()));
            }
        });
        FileServer {
            addr,
            auth,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, serves only requests carrying this basic-auth pair.
    pub fn require(&self, user: &str, password: &str) {
        *self.auth.lock().unwrap() = Some(basic((user, password)));
    }

    /// Connections accepted so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Stops accepting: later connections are refused.
    pub fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
            let _ = thread.join();
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn basic((user, password): (&str, &str)) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn serve(mut stream: TcpStream, dir: &Path, expected: Option<&str>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_string());
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = path
        .split('?')
        .next()
        .unwrap_or("/")
        .trim_start_matches('/');
    let respond = |stream: &mut TcpStream, status: &str, extra: &str, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    };
    if let Some(expected) = expected
        && authorization.as_deref() != Some(expected)
    {
        respond(
            &mut stream,
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"charts\"\r\n",
            b"unauthorized",
        );
        return;
    }
    let file = dir.join(path);
    if path.split('/').any(|c| c == "..") || !file.is_file() {
        respond(&mut stream, "404 Not Found", "", b"not found");
        return;
    }
    let mut body = Vec::new();
    let _ = std::fs::File::open(&file).and_then(|mut f| f.read_to_end(&mut body));
    respond(&mut stream, "200 OK", "", &body);
}

/// `helm` with a private home under `home`, so tests never touch the machine's helm state.
pub fn helm_in(home: &Path) -> Command {
    helm_with(&support::helm(), home)
}

/// `helm_in` for another helm program.
pub fn helm_with(program: &Path, home: &Path) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HELM_") {
            command.env_remove(&name);
        }
    }
    command
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"));
    command
}

pub fn run(mut command: Command) -> String {
    let output = command.output().expect("running helm");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A chart `name` at `version` with one ConfigMap showing a value, written under `dir`.
pub fn write_chart(dir: &Path, name: &str, version: &str, value: &str) -> PathBuf {
    let chart = dir.join(format!("{name}-{version}-src")).join(name);
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), format!("value: {value}\n")).unwrap();
    std::fs::write(
        chart.join("templates/config.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\n\
             data:\n  value: {{{{ .Values.value | quote }}}}\n  chart: {{{{ .Chart.Name }}}}-{{{{ .Chart.Version }}}}\n"
        ),
    )
    .unwrap();
    chart
}

/// An HTTP chart repository on loopback holding the given charts (name, version, value).
pub struct HttpRepo {
    pub dir: tempfile::TempDir,
    pub server: FileServer,
}

impl HttpRepo {
    pub fn start(charts: &[(&str, &str, &str)], auth: Option<(&str, &str)>) -> HttpRepo {
        let dir = tempfile::tempdir().unwrap();
        let served = dir.path().join("served");
        std::fs::create_dir_all(&served).unwrap();
        let server = FileServer::start(&served, auth);
        let repo = HttpRepo { dir, server };
        for (name, version, value) in charts {
            repo.publish(name, version, value);
        }
        repo
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    fn served(&self) -> PathBuf {
        self.dir.path().join("served")
    }

    /// Packages the chart into the repository and indexes it again.
    pub fn publish(&self, name: &str, version: &str, value: &str) {
        let source = write_chart(self.dir.path(), name, version, value);
        let mut package = helm_in(&self.dir.path().join("home"));
        package
            .arg("package")
            .arg(&source)
            .arg("-d")
            .arg(self.served());
        run(package);
        self.reindex();
    }

    /// Takes a chart version out of the repository.
    pub fn withdraw(&self, name: &str, version: &str) {
        std::fs::remove_file(self.served().join(format!("{name}-{version}.tgz"))).unwrap();
        self.reindex();
    }

    fn reindex(&self) {
        let _ = std::fs::remove_file(self.served().join("index.yaml"));
        let mut index = helm_in(&self.dir.path().join("home"));
        index
            .args(["repo", "index"])
            .arg(self.served())
            .args(["--url", &self.url()]);
        run(index);
    }
}

/// The pinned registry (tests/registry.sh), built when missing.
fn registry_program() -> PathBuf {
    if let Some(path) = std::env::var_os("GITOPS_TEST_REGISTRY") {
        return PathBuf::from(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/registry.sh");
    let output = Command::new(script)
        .arg("path")
        .stderr(Stdio::inherit())
        .output()
        .expect("running tests/registry.sh");
    assert!(output.status.success(), "tests/registry.sh path failed");
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// An OCI registry on loopback (plain HTTP), optionally requiring a login.
pub struct Registry {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    child: Option<Child>,
}

impl Registry {
    /// `htpasswd`: one `user:bcrypt-hash` line, to require that login.
    pub fn start(htpasswd: Option<&str>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let auth = match htpasswd {
            Some(line) => {
                std::fs::write(dir.path().join("htpasswd"), format!("{line}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: charts\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                )
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  \
             filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n{auth}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new(registry_program())
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .env("OTEL_TRACES_EXPORTER", "none")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the registry");
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the registry did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            dir,
            addr,
            child: Some(child),
        }
    }

    /// `oci://127.0.0.1:PORT/charts`.
    pub fn reference(&self) -> String {
        format!("oci://{}/charts", self.addr)
    }

    /// Packages the chart and pushes it; `registry_config` holds the login when one is needed.
    pub fn publish(&self, name: &str, version: &str, value: &str, registry_config: Option<&Path>) {
        let source = write_chart(self.dir.path(), name, version, value);
        let home = self.dir.path().join("home");
        let out = self.dir.path().join("packages");
        let mut package = helm_in(&home);
        package.arg("package").arg(&source).arg("-d").arg(&out);
        run(package);
        let mut push = helm_in(&home);
        push.arg("push")
            .arg(out.join(format!("{name}-{version}.tgz")))
            .arg(self.reference())
            .arg("--plain-http");
        if let Some(config) = registry_config {
            push.env("HELM_REGISTRY_CONFIG", config);
        }
        run(push);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A registry config (`config.json`) logging in to `addr` as `user`.
pub fn registry_login(dir: &Path, addr: SocketAddr, user: &str, password: &str) -> PathBuf {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let path = dir.join(format!("registry-{user}-{}.json", password.len()));
    std::fs::write(
        &path,
        format!("{{\"auths\":{{\"{addr}\":{{\"auth\":\"{auth}\"}}}}}}"),
    )
    .unwrap();
    path
}

/// Writes the chart's Chart.lock as `helm dependency update` resolves it, on a scratch copy:
/// the chart gains the lock, not the archives.
pub fn lock_chart(chart: &Path, extra: &[&str]) {
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("chart");
    let status = Command::new("cp")
        .arg("-r")
        .arg(chart)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let mut update = helm_in(&scratch.path().join("home"));
    update.args(["dependency", "update"]).arg(&copy).args(extra);
    run(update);
    std::fs::copy(copy.join("Chart.lock"), chart.join("Chart.lock")).unwrap();
}
