//! The single-path reconciler runs as a Pod: `kubectl gitops install --repo URL --image IMAGE`
//! applied as printed, with the image users get, follows a repository on a git server the Pod
//! reaches, applies it (a Deployment of the workload image whose Pod starts, a ConfigMap),
//! reports the commit in its status ConfigMap and puts a deleted object back.

use crate::cluster::{eventually, kubectl, kubectl_json, workload_deployment};
use crate::git_server::{GitDaemon, git, node_ip};
use crate::in_cluster::{image, kubectl_apply};
use crate::support;

#[tokio::test]
async fn the_reconciler_installed_as_printed_runs_as_a_pod_and_converges_a_repository() {
    let base = tempfile::tempdir().expect("tempdir");
    let repo = base.path().join("site");
    std::fs::create_dir_all(&repo).expect("mkdir");
    std::fs::write(repo.join("app.yaml"), workload_deployment("app", 1)).expect("write");
    std::fs::write(
        repo.join("settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  colour: blue\n",
    )
    .expect("write");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "the site"]);
    let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let daemon = GitDaemon::start(base.path(), node_ip());

    let ns = support::unique_name("reconciler");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = support::gitops(
        &[
            "install",
            "-n",
            &ns,
            "--repo",
            &daemon.url("site"),
            "--interval",
            "10m",
            "--image",
            &image(),
        ],
        dir.path(),
    );
    let (stdout, stderr) = support::text(&out);
    assert!(out.status.success(), "{stderr}");
    kubectl_apply(stdout.as_bytes());

    // Ready once its first cycle succeeded (the readiness probe is /readyz).
    let pod = eventually("the reconciler's Pod Ready", || {
        let pods = kubectl_json(&[
            "get",
            "pods",
            "-n",
            &ns,
            "-l",
            "app.kubernetes.io/name=kubectl-gitops",
        ])
        .expect("listing");
        pods["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["status"]["containerStatuses"][0]["ready"] == true)
            .cloned()
            .ok_or_else(|| pods["items"].to_string())
    });
    assert_eq!(pod["spec"]["containers"][0]["image"], image());

    let status = eventually("the status ConfigMap naming the commit", || {
        let list = kubectl_json(&[
            "get",
            "configmaps",
            "-n",
            &ns,
            "-l",
            "kubectl-gitops.io/status-for",
        ])
        .expect("listing");
        let status = list["items"][0]["data"].clone();
        match status["lastAppliedRevision"].as_str() {
            Some(applied) if applied.contains(&head) => Ok(status),
            _ => Err(list.to_string()),
        }
    });
    assert_eq!(status["lastError"].as_str().unwrap_or(""), "", "{status}");
    eventually(
        "the Deployment it applied Available",
        || match kubectl_json(&["get", "deployment", "app", "-n", &ns]) {
            Some(d) if d["status"]["availableReplicas"] == 1 => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let settings = kubectl_json(&["get", "configmap", "settings", "-n", &ns]).expect("applied");
    assert_eq!(settings["data"]["colour"], "blue");

    // Its watch puts back what is deleted: the interval (10 minutes) is longer than a test waits.
    kubectl(&["delete", "configmap", "settings", "-n", &ns], "test").expect("deleting");
    eventually("the deleted ConfigMap put back", || {
        kubectl_json(&["get", "configmap", "settings", "-n", &ns])
            .map(|_| ())
            .ok_or_else(|| "not yet".to_string())
    });
    drop(daemon);
}
