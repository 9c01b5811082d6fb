//! A tenant's repository is hostile input, tried as an attacker would on a cluster that runs
//! the controller as a Pod: a chart whose templates read `.Files.Get "sa/token"`, where `sa`
//! is a symbolic link to the controller Pod's ServiceAccount directory, is refused and never
//! renders the controller's token into the tenant's namespace. The same chart with the link
//! pointing inside its repository renders, which shows the repository is reachable from the
//! Pod and charts render there: the refusal is the link's, not the setup's.
//!
//! The repositories are served by `git daemon` on the node's address, where the controller Pod
//! reaches them (a git remote at a private address is allowed; only loopback and link-local
//! ones are refused).

use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::{eventually, kubectl_json};
use crate::in_cluster::{controller_pod, install_controller, kubectl_apply};
use crate::support;

/// Where the kubelet mounts a Pod's ServiceAccount token.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The start of every JWT (`{"` in base64url): a ServiceAccount token anywhere begins so.
const JWT_START: &str = "eyJ";

/// A chart whose only template puts the file `sa/token` of the chart into a ConfigMap.
const CHART: &str = "apiVersion: v2\nname: web\nversion: 0.1.0\n";
const TEMPLATE: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: stolen
data:
  token: {{ .Files.Get \"sa/token\" | quote }}
";

/// `git daemon` serving every repository under a directory on the node's address; stopped on
/// drop.
struct GitDaemon {
    child: Child,
    address: String,
}

impl GitDaemon {
    fn start(base: &Path, ip: IpAddr) -> Self {
        let port = TcpListener::bind((ip, 0))
            .and_then(|listener| listener.local_addr())
            .expect("a free port on the node's address")
            .port();
        // git-daemon itself, not the `git` wrapper: killing the wrapper would leave the daemon
        // listening.
        let exec_path = git(Path::new("."), &["--exec-path"]);
        let child = Command::new(Path::new(exec_path.trim()).join("git-daemon"))
            .arg("--export-all")
            .arg("--reuseaddr")
            .arg(format!("--listen={ip}"))
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting git daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((ip, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "git daemon did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        GitDaemon {
            child,
            address: format!("{ip}:{port}"),
        }
    }

    fn url(&self, repository: &str) -> String {
        format!("git://{}/{repository}", self.address)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs git in `dir`, failing the test unless it succeeds; its stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=tenant",
            "-c",
            "user.email=tenant@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A repository `base/name` on branch main holding the chart at `web/`, whose `web/sa` is a
/// symbolic link to `link`, and `files` besides; everything committed.
fn repository(base: &Path, name: &str, link: &str, files: &[(&str, &str)]) {
    let repo = base.join(name);
    std::fs::create_dir_all(repo.join("web/templates")).expect("mkdir");
    std::fs::write(repo.join("web/Chart.yaml"), CHART).expect("write");
    std::fs::write(repo.join("web/templates/configmap.yaml"), TEMPLATE).expect("write");
    std::os::unix::fs::symlink(link, repo.join("web/sa")).expect("symlink");
    for (path, content) in files {
        let full = repo.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "the web chart"]);
}

/// The node's InternalIP, as the Node reports it.
fn node_ip() -> IpAddr {
    let nodes = kubectl_json(&["get", "nodes"]).expect("listing");
    nodes["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|node| node["status"]["addresses"].as_array().into_iter().flatten())
        .find(|address| address["type"] == "InternalIP")
        .and_then(|address| address["address"].as_str()?.parse().ok())
        .unwrap_or_else(|| panic!("no Node with an InternalIP: {nodes}"))
}

/// A tenant namespace with a ServiceAccount `deployer` bound to `admin` in it, as a platform
/// team gives a team its namespace.
fn tenant(prefix: &str) -> String {
    let ns = support::unique_name(prefix);
    kubectl_apply(
        format!(
            "apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: deployer
  namespace: {ns}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: deployer-admin
  namespace: {ns}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: admin
subjects:
- kind: ServiceAccount
  name: deployer
  namespace: {ns}
"
        )
        .as_bytes(),
    );
    ns
}

/// A GitSync `name` in `ns` following the chart `web` of `url`, as `deployer`.
fn git_sync(ns: &str, name: &str, url: &str) {
    kubectl_apply(
        format!(
            "apiVersion: gitops.kubectl-gitops.io/v1alpha1
kind: GitSync
metadata:
  name: {name}
  namespace: {ns}
spec:
  repository:
    url: {url}
    ref: main
  path: web
  targetNamespace: {ns}
  serviceAccountName: deployer
"
        )
        .as_bytes(),
    );
}

/// The GitSync's `Ready` condition, once it has one.
fn ready_condition(ns: &str, name: &str) -> Result<Value, String> {
    let sync = kubectl_json(&["get", "gitsync", name, "-n", ns])
        .ok_or_else(|| format!("gitsync {ns}/{name} not found"))?;
    sync["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|condition| condition["type"] == "Ready")
        .cloned()
        .ok_or_else(|| sync.to_string())
}

/// Everything `kubectl get TYPE -n NS -o json` shows, as text, for the JWT check.
fn everything(kind: &str, ns: &str) -> String {
    kubectl_json(&["get", kind, "-n", ns])
        .expect("listing never answers NotFound")
        .to_string()
}

#[tokio::test]
async fn a_tenant_chart_linking_to_the_controller_pods_service_account_token_is_refused_and_never_renders_it()
 {
    let pod = install_controller();
    let pod_name = pod["metadata"]["name"].as_str().expect("named").to_string();
    let ip = node_ip();
    let base = tempfile::tempdir().expect("tempdir");
    // The token's directory by its absolute path, and by a relative path that climbs far past
    // the root of wherever the repository is written.
    let climbing = format!("{}{}", "../".repeat(32), &SERVICE_ACCOUNT_DIR[1..]);
    let attacks = [
        ("absolute", SERVICE_ACCOUNT_DIR.to_string()),
        ("climbing", climbing),
    ];
    for (name, link) in &attacks {
        repository(base.path(), name, link, &[]);
    }
    let daemon = GitDaemon::start(base.path(), ip);
    let ns = tenant("tenancy-token");
    for (name, _) in &attacks {
        git_sync(&ns, name, &daemon.url(name));
    }

    for (name, link) in &attacks {
        let ready = eventually(&format!("gitsync {name} refusing the link web/sa"), || {
            let ready = ready_condition(&ns, name)?;
            match ready["message"].as_str() {
                Some(message) if ready["status"] == "False" && message.contains("web/sa") => {
                    Ok(ready)
                }
                _ => Err(ready.to_string()),
            }
        });
        let message = ready["message"].as_str().expect("a message");
        // The source refuses the link before helm is run; the chart check behind it refuses
        // it as well. Either stage is a refusal: what matters is that nothing rendered.
        assert!(
            ready["reason"] == "SourceFailed" || ready["reason"] == "RenderFailed",
            "gitsync {name} (link to {link}) failed for another reason: {ready}"
        );
        assert!(
            message.contains("outside the repository"),
            "gitsync {name}: the message says why the link is refused: {message}"
        );
        assert!(
            !message.contains(JWT_START),
            "gitsync {name}: the message holds a token: {message}"
        );
    }

    let config_maps = kubectl_json(&["get", "configmaps", "-n", &ns]).expect("listing");
    let names: Vec<&str> = config_maps["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|cm| cm["metadata"]["name"].as_str())
        .collect();
    assert!(
        !names.contains(&"stolen"),
        "the chart's ConfigMap was created: {config_maps}"
    );
    assert!(
        config_maps["items"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|cm| cm["metadata"]["labels"]["applyset.kubernetes.io/part-of"].is_null()),
        "a sync applied a ConfigMap: {config_maps}"
    );
    for kind in ["configmaps", "gitsyncs", "events"] {
        let seen = everything(kind, &ns);
        assert!(
            !seen.contains(JWT_START),
            "a token reached the tenant's {kind}: {seen}"
        );
    }

    let after = controller_pod();
    assert_eq!(
        after["metadata"]["name"], pod_name,
        "the controller Pod was replaced: {after}"
    );
    assert_eq!(
        after["status"]["containerStatuses"][0]["ready"], true,
        "the controller Pod is not Ready after the attack: {after}"
    );
}

#[tokio::test]
async fn a_tenant_chart_linking_inside_its_repository_renders_in_the_controller_pod() {
    install_controller();
    let ip = node_ip();
    let base = tempfile::tempdir().expect("tempdir");
    let known = "read inside the repository";
    repository(
        base.path(),
        "inside",
        "../shared/sa",
        &[("shared/sa/token", known)],
    );
    let daemon = GitDaemon::start(base.path(), ip);
    let ns = tenant("tenancy-inside");
    git_sync(&ns, "inside", &daemon.url("inside"));

    eventually("the gitsync becoming Ready", || {
        let ready = ready_condition(&ns, "inside")?;
        match ready["status"].as_str() {
            Some("True") => Ok(()),
            _ => Err(ready.to_string()),
        }
    });
    let config_map =
        kubectl_json(&["get", "configmap", "stolen", "-n", &ns]).expect("the chart's ConfigMap");
    assert_eq!(
        config_map["data"]["token"], known,
        "the file behind the link: {config_map}"
    );
}
