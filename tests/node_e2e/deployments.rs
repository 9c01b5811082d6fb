//! Deployments roll out for real: `apply --wait` returns once the Deployment controller, the
//! scheduler and the kubelet have made its Pods Available.

use crate::cluster::{self, apply, kubectl, kubectl_json};
use crate::support::{self, Workdir};

#[tokio::test]
async fn a_deployment_applied_with_wait_becomes_available_with_pods_that_serve() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "rollout").await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[("web.yaml", &cluster::workload_deployment("web", 2))]);
    repo.git_commit_all();

    let (code, stdout, stderr) = apply(
        repo.path(),
        &ns,
        &set,
        &["--yes", "--wait", "--timeout", "150s"],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("ready Deployment/{ns}/web")),
        "{stdout}"
    );

    // What --wait reported is what the controllers wrote: two available replicas...
    let deployment = kubectl_json(&["get", "deployment", "web", "-n", &ns]).expect("applied");
    assert_eq!(deployment["status"]["availableReplicas"], 2, "{deployment}");
    // ...backed by two Pods a kubelet runs, each answering over HTTP through the API server's
    // proxy to its Pod IP.
    let pods = cluster::names_of("pods", &ns, "web");
    assert_eq!(pods.len(), 2, "{pods:?}");
    for pod in &pods {
        let object = kubectl_json(&["get", "pod", pod, "-n", &ns]).expect("listed");
        assert_eq!(object["status"]["phase"], "Running", "{object}");
        assert!(object["status"]["podIP"].is_string(), "{object}");
        let page = kubectl(
            &[
                "get",
                "--raw",
                &format!("/api/v1/namespaces/{ns}/pods/{pod}:8080/proxy/"),
            ],
            "test",
        )
        .unwrap_or_else(|e| panic!("the Pod {pod} does not serve: {e}"));
        assert_eq!(page.trim(), "kubectl-gitops workload");
    }
}
