//! The in-cluster half runs from the image users get (`tests/image.sh build gitops`, the
//! contents of examples/in-cluster/Dockerfile): `kubectl gitops install --controller` applied
//! as printed runs as a Pod, passes its readiness probe and holds its Lease. Also what the
//! tests of GitSyncs share: a tenant namespace and its account, a GitSync, its Ready condition.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::cluster::{eventually, kubectl, kubectl_json};
use crate::support;

/// Where `install --controller` puts the controller, and its Deployment's name.
const NAMESPACE: &str = "gitops-system";
const CONTROLLER: &str = "kubectl-gitops-controller";

/// The reference `tests/image.sh` gives the image of this version.
pub(crate) fn image() -> String {
    format!(
        "kubectl-gitops.test/kubectl-gitops:{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// `kubectl apply -f -` of `manifests`. Tests installing the controller at the same time may
/// race to create one object (`AlreadyExists` for the slower one); applying again then finds it.
pub(crate) fn kubectl_apply(manifests: &[u8]) {
    eventually("kubectl apply -f - succeeding", || {
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(support::kubeconfig())
            .args(["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running kubectl apply");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(manifests)
            .expect("writing the manifests to kubectl");
        let out = child.wait_with_output().expect("kubectl apply");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.success() {
            true => Ok(()),
            false if stderr.contains("AlreadyExists") => Err(stderr),
            false => panic!("kubectl apply -f -: {stderr}"),
        }
    })
}

/// The controller, installed with `kubectl gitops install --controller --image IMAGE` applied
/// as printed: waits for its Deployment to be Available and returns its running Pod. Tests
/// that install it at the same time apply the same objects, which changes nothing.
pub(crate) fn install_controller() -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = support::gitops(
        &["install", "--controller", "--image", &image()],
        dir.path(),
    );
    let (stdout, stderr) = support::text(&out);
    assert!(out.status.success(), "{stderr}");
    kubectl_apply(stdout.as_bytes());

    eventually("the controller Deployment becoming Available", || {
        let deployment = kubectl_json(&["get", "deployment", CONTROLLER, "-n", NAMESPACE]);
        match deployment {
            Some(d) if d["status"]["availableReplicas"] == 1 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    controller_pod()
}

/// The controller's Pod that is not being deleted.
pub(crate) fn controller_pod() -> serde_json::Value {
    let pods = kubectl_json(&[
        "get",
        "pods",
        "-n",
        NAMESPACE,
        "-l",
        &format!("app.kubernetes.io/name={CONTROLLER}"),
    ])
    .expect("listing");
    pods["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|p| p["metadata"]["deletionTimestamp"].is_null())
        })
        .cloned()
        .unwrap_or_else(|| panic!("no controller Pod: {pods}"))
}

/// The controller Pod's memory as the kubelet reports it in its stats summary (read through the
/// API server's node proxy): working set and resident bytes, in MiB.
pub(crate) fn controller_memory() -> (f64, f64) {
    let pod = controller_pod();
    let pod_name = pod["metadata"]["name"].as_str().expect("named").to_string();
    let node = pod["spec"]["nodeName"]
        .as_str()
        .expect("scheduled")
        .to_string();
    eventually("the kubelet reporting the controller Pod's memory", || {
        let path = format!("/api/v1/nodes/{node}/proxy/stats/summary");
        let summary = kubectl(&["get", "--raw", &path], "test")?;
        let summary: Value = serde_json::from_str(&summary).map_err(|e| e.to_string())?;
        let memory = summary["pods"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["podRef"]["name"] == pod_name.as_str())
            .map(|p| p["memory"].clone())
            .ok_or_else(|| format!("no stats for {pod_name}"))?;
        let mib = |field: &str| memory[field].as_f64().map(|bytes| bytes / 1048576.0);
        match (mib("workingSetBytes"), mib("rssBytes")) {
            (Some(working_set), Some(rss)) => Ok((working_set, rss)),
            _ => Err(memory.to_string()),
        }
    })
}

/// A tenant namespace with a ServiceAccount `deployer` bound to `admin` in it, as a platform
/// team gives a team its namespace.
pub(crate) fn tenant(prefix: &str) -> String {
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

/// A GitSync `name` in `ns` following `path` of `url` (branch main), as `deployer`.
pub(crate) fn git_sync(ns: &str, name: &str, url: &str, path: &str) {
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
  path: {path}
  targetNamespace: {ns}
  serviceAccountName: deployer
"
        )
        .as_bytes(),
    );
}

/// The GitSync's `Ready` condition, once it has one.
pub(crate) fn ready_condition(ns: &str, name: &str) -> Result<Value, String> {
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

#[tokio::test]
async fn the_controller_installed_as_printed_runs_as_a_pod_passes_readiness_and_holds_its_lease() {
    let image = image();
    let pod = install_controller();
    let ns = NAMESPACE;
    let pod_name = pod["metadata"]["name"].as_str().expect("named").to_string();
    assert_eq!(
        pod["spec"]["containers"][0]["image"], image,
        "the Pod runs the built image"
    );
    assert_eq!(
        pod["status"]["containerStatuses"][0]["ready"], true,
        "readiness passed: {pod}"
    );

    eventually("the controller Pod holding a Lease", || {
        let leases = kubectl_json(&["get", "leases", "-n", ns]).expect("listing");
        let held = leases["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|lease| lease["spec"]["holderIdentity"] == pod_name.as_str());
        if held {
            Ok(())
        } else {
            Err(leases["items"].to_string())
        }
    });
}
