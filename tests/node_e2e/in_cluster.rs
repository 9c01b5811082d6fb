//! The in-cluster half runs from the image users get (`tests/image.sh build gitops`, the
//! contents of examples/in-cluster/Dockerfile): `kubectl gitops install --controller` applied
//! as printed runs as a Pod, passes its readiness probe and holds its Lease.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::cluster::{eventually, kubectl_json};
use crate::support;

/// The reference `tests/image.sh` gives the image of this version.
fn image() -> String {
    format!(
        "kubectl-gitops.test/kubectl-gitops:{}",
        env!("CARGO_PKG_VERSION")
    )
}

fn kubectl_apply(manifests: &[u8]) {
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
    assert!(
        out.status.success(),
        "kubectl apply -f - of what install printed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_controller_installed_as_printed_runs_as_a_pod_passes_readiness_and_holds_its_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = image();
    let out = support::gitops(&["install", "--controller", "--image", &image], dir.path());
    let (stdout, stderr) = support::text(&out);
    assert!(out.status.success(), "{stderr}");
    kubectl_apply(stdout.as_bytes());

    let ns = "gitops-system";
    let name = "kubectl-gitops-controller";
    eventually("the controller Deployment becoming Available", || {
        let deployment = kubectl_json(&["get", "deployment", name, "-n", ns]);
        match deployment {
            Some(d) if d["status"]["availableReplicas"] == 1 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let pods = kubectl_json(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        &format!("app.kubernetes.io/name={name}"),
    ])
    .expect("listing");
    let pod = pods["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|p| p["metadata"]["deletionTimestamp"].is_null())
        })
        .unwrap_or_else(|| panic!("no controller Pod: {pods}"));
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
