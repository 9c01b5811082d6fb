//! A GitSync with `wait: true` is Ready only once the rollout it applied is complete, as kstatus
//! reads it: while the Pods of a Deployment are not yet ready the sync says Ready=False, reason
//! Progressing; a Deployment whose image does not exist leaves it not Ready, the reason naming
//! the Deployment. Pods, kubelet and Deployment controller are real.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::{PATIENCE, WORKLOAD_IMAGE, kubectl_json};
use crate::git_server::{GitDaemon, git, node_ip};
use crate::in_cluster::{install_controller, kubectl_apply, ready_condition, tenant};
use crate::support;

const NAME: &str = "slow";

/// A Deployment of `image` whose Pods turn ready `delay` seconds after they start.
fn deployment(image: &str, delay: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {NAME}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {NAME}}}
  template:
    metadata:
      labels: {{app: {NAME}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {image}
        imagePullPolicy: Never
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {{path: /, port: 8080}}
          initialDelaySeconds: {delay}
          periodSeconds: 1
"
    )
}

/// The git server and repository of a test, kept as long as it runs.
struct Served {
    repo: std::path::PathBuf,
    _daemon: GitDaemon,
    _base: tempfile::TempDir,
}

/// A tenant namespace whose GitSync `NAME`, with `wait` and `timeout`, follows a repository
/// holding `manifest`.
fn sync_waiting(prefix: &str, manifest: &str, timeout: &str) -> (String, Served) {
    install_controller();
    let base = tempfile::tempdir().expect("tempdir");
    let repo = base.path().join("team");
    std::fs::create_dir_all(&repo).expect("mkdir");
    std::fs::write(repo.join("app.yaml"), manifest).expect("write");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "the app"]);
    let daemon = GitDaemon::start(base.path(), node_ip());
    let ns = tenant(prefix);
    kubectl_apply(
        format!(
            "apiVersion: gitops.kubectl-gitops.io/v1alpha1
kind: GitSync
metadata:
  name: {NAME}
  namespace: {ns}
spec:
  repository:
    url: {url}
    ref: main
  targetNamespace: {ns}
  serviceAccountName: deployer
  wait: true
  timeout: {timeout}
",
            url = daemon.url("team")
        )
        .as_bytes(),
    );
    (
        ns,
        Served {
            repo,
            _daemon: daemon,
            _base: base,
        },
    )
}

/// Complete as `kubectl rollout status` judges a Deployment: the spec observed, every replica
/// updated and available, no old one left.
fn rollout_complete(ns: &str) -> bool {
    let Some(deployment) = kubectl_json(&["get", "deployment", NAME, "-n", ns]) else {
        return false;
    };
    let status = &deployment["status"];
    let want = deployment["spec"]["replicas"].as_u64();
    status["observedGeneration"].as_u64() >= deployment["metadata"]["generation"].as_u64()
        && status["updatedReplicas"].as_u64() == want
        && status["replicas"].as_u64() == want
        && status["availableReplicas"].as_u64() == want
}

/// Samples the sync's Ready condition (and, right after, the Deployment) until `done` says so;
/// every sample where the sync was Ready must find the rollout complete, since the rollout
/// completes before the sync may say Ready and a complete rollout stays complete. Returns
/// the samples of Ready, in order.
fn follow(ns: &str, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        if let Ok(ready) = ready_condition(ns, NAME) {
            if ready["status"] == "True" {
                assert!(
                    rollout_complete(ns),
                    "the GitSync said Ready before the rollout was complete: {ready}; {}",
                    kubectl_json(&["get", "deployment", NAME, "-n", ns]).unwrap_or_default()["status"]
                );
            }
            let finished = done(&ready);
            seen.push(ready);
            if finished {
                return seen;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the GitSync did not settle within {PATIENCE:?}; Ready was: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test]
async fn a_git_sync_with_wait_is_progressing_until_its_rollout_completes_then_ready() {
    let (ns, served) = sync_waiting("wait-ok", &deployment(WORKLOAD_IMAGE, 10), "3m");
    let created = Instant::now();
    let seen = follow(&ns, |ready| ready["status"] == "True");
    println!(
        "wait: the GitSync Ready {:.1} s after it was created (Pods ready 10 s after they start)",
        created.elapsed().as_secs_f64()
    );
    let progressing = seen
        .iter()
        .find(|ready| ready["status"] == "False" && ready["reason"] == "Progressing")
        .unwrap_or_else(|| panic!("the sync was never Progressing: {seen:?}"));
    assert!(
        progressing["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("Deployment/{ns}/{NAME}"))),
        "Progressing names what it waits for: {progressing}"
    );
    let last = seen.last().expect("settled");
    assert_eq!(last["reason"], "ReconciliationSucceeded", "{last}");
    assert!(rollout_complete(&ns));
    // kstatus reads a sync Current when Ready is True and nothing is Reconciling.
    let sync = kubectl_json(&["get", "gitsync", NAME, "-n", &ns]).expect("the sync");
    let conditions = sync["status"]["conditions"].as_array().expect("conditions");
    assert!(
        !conditions.iter().any(|c| c["type"] == "Reconciling"),
        "{conditions:?}"
    );

    // A new commit, then `kubectl gitops sync --wait`: it returns once the rollout is
    // complete, Ready, not at the first look while the new Pods are starting.
    std::fs::write(served.repo.join("app.yaml"), deployment(WORKLOAD_IMAGE, 9)).expect("write");
    git(&served.repo, &["commit", "-qam", "a new Pod template"]);
    let out = support::gitops(
        &["sync", NAME, "-n", &ns, "--wait", "--timeout", "150s"],
        Path::new("."),
    );
    let (stdout, stderr) = support::text(&out);
    assert!(
        out.status.success(),
        "kubectl gitops sync --wait: {stdout}{stderr}"
    );
    assert!(stdout.contains("Ready: "), "{stdout}");
    assert!(
        rollout_complete(&ns),
        "sync --wait returned before the rollout completed"
    );
    let deployment = kubectl_json(&["get", "deployment", NAME, "-n", &ns]).expect("there");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["initialDelaySeconds"],
        9,
        "the new commit is the one rolled out"
    );
}

#[tokio::test]
async fn a_git_sync_with_wait_on_an_image_that_does_not_exist_is_not_ready_naming_the_deployment() {
    let (ns, _served) = sync_waiting(
        "wait-bad",
        &deployment("kubectl-gitops.test/absent:none", 0),
        "15s",
    );
    let seen = follow(&ns, |ready| ready["reason"] == "HealthCheckFailed");
    assert!(
        seen.iter().all(|ready| ready["status"] == "False"),
        "never Ready: {seen:?}"
    );
    let failed = seen.last().expect("settled");
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("Deployment/{ns}/{NAME}")) && message.contains("15s"),
        "the reason names the Deployment and the timeout: {failed}"
    );
    let sync = kubectl_json(&["get", "gitsync", NAME, "-n", &ns]).expect("the sync");
    assert!(
        sync["status"]["lastAppliedRevision"].is_string(),
        "the revision itself was applied: {sync}"
    );
}
