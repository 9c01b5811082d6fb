//! What the node tests share: the workload image, waiting for what controllers do, and reading
//! the cluster through kubectl as a user would.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The image `tests/image.sh` builds and `tests/cluster.sh up --node` imports: busybox's httpd
/// answering "kubectl-gitops workload" on port 8080.
pub const WORKLOAD_IMAGE: &str = "kubectl-gitops.test/workload:1";

/// How long a controller may take to do its part before a test gives up on it. Generous: the
/// machine is shared and the bound only keeps a broken controller from hanging the suite.
pub const PATIENCE: Duration = Duration::from_secs(150);

/// A Deployment of the workload image, `replicas` Pods serving HTTP, Ready once httpd answers.
pub fn workload_deployment(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {WORKLOAD_IMAGE}
        imagePullPolicy: Never
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {{path: /, port: 8080}}
          periodSeconds: 1
"
    )
}

/// `kubectl ARGS -o json` against the test cluster; `None` when the object is not found.
pub fn kubectl_json(args: &[&str]) -> Option<Value> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(super::support::kubeconfig())
        .args(args)
        .args(["-o", "json"])
        .output()
        .expect("running kubectl");
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("NotFound"), "kubectl {args:?}: {stderr}");
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).expect("kubectl prints JSON"))
}

/// `kubectl ARGS` against the test cluster, as the restricted or admin user; its stdout.
pub fn kubectl(args: &[&str], context: &str) -> Result<String, String> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(super::support::kubeconfig())
        .args(["--context", context])
        .args(args)
        .output()
        .expect("running kubectl");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Polls `check` until it returns `Ok`, or panics after [`PATIENCE`] saying what never
/// happened and what was last seen.
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match check() {
            Ok(found) => return found,
            Err(seen) if Instant::now() > deadline => {
                panic!("{what} did not happen within {PATIENCE:?}; last seen: {seen}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// The names of the objects of `kind` in `namespace` labelled `app=<app>`.
pub fn names_of(kind: &str, namespace: &str, app: &str) -> Vec<String> {
    let list = kubectl_json(&["get", kind, "-n", namespace, "-l", &format!("app={app}")])
        .expect("listing never answers NotFound");
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

/// `kubectl gitops apply . -n NS --applyset SET EXTRA...` in `repo`: exit code, stdout, stderr.
pub fn apply(repo: &Path, ns: &str, set: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec!["apply", ".", "-n", ns, "--applyset", set];
    args.extend_from_slice(extra);
    let out = super::support::gitops(&args, repo);
    let (stdout, stderr) = super::support::text(&out);
    (out.status.code(), stdout, stderr)
}
