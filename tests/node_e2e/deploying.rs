//! A team's Deployment delivered by the controller Pod from git, as a user runs it: a GitSync
//! follows a repository on a git server the Pod reaches, the Deployment of the workload image
//! is applied and its Pods really start; a new commit is a real rollout, followed to the end.
//! The time from the commit to the rollout's end is printed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::cluster::{WORKLOAD_IMAGE, eventually, kubectl_json};
use crate::git_server::{GitDaemon, git, node_ip};
use crate::in_cluster::{git_sync, install_controller, ready_condition, tenant};
use crate::support;

/// The GitSync's name and the Deployment's.
pub(crate) const NAME: &str = "web";
pub(crate) const REPLICAS: u64 = 2;

/// The Deployment the repository holds: the workload image, `REPLICAS` Pods whose container
/// has `GREETING=greeting` (a change of it is a change of the Pod template: a rollout).
pub(crate) fn deployment(greeting: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {NAME}
spec:
  replicas: {REPLICAS}
  selector:
    matchLabels: {{app: {NAME}}}
  template:
    metadata:
      labels: {{app: {NAME}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {WORKLOAD_IMAGE}
        imagePullPolicy: Never
        env:
        - name: GREETING
          value: {greeting}
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {{path: /, port: 8080}}
          periodSeconds: 1
"
    )
}

/// A tenant namespace whose GitSync `web` follows a repository holding [`deployment`], served
/// from the node's address; the repository, its server and the namespace live as long as this.
pub(crate) struct Delivered {
    pub ns: String,
    pub repo: PathBuf,
    _daemon: GitDaemon,
    _base: tempfile::TempDir,
}

impl Delivered {
    /// The controller installed, the repository committed with `greeting`, the GitSync
    /// created; returns once it is Ready at that commit and the rollout is complete.
    pub(crate) fn start(prefix: &str, greeting: &str) -> Self {
        install_controller();
        let base = tempfile::tempdir().expect("tempdir");
        let repo = base.path().join("team");
        std::fs::create_dir_all(&repo).expect("mkdir");
        std::fs::write(repo.join("web.yaml"), deployment(greeting)).expect("write");
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-qm", "the web Deployment"]);
        let daemon = GitDaemon::start(base.path(), node_ip());
        let ns = tenant(prefix);
        git_sync(&ns, NAME, &daemon.url("team"), ".");
        let delivered = Delivered {
            ns,
            repo,
            _daemon: daemon,
            _base: base,
        };
        delivered.wait_ready_at_head();
        eventually("the Deployment's rollout completing", || {
            rolled_out(&delivered.ns, greeting)
        });
        delivered
    }

    /// Commits `greeting` to the repository (the push) and asks for a reconcile as a user does
    /// after pushing (`kubectl gitops sync --wait`).
    pub(crate) fn push(&self, greeting: &str) {
        std::fs::write(self.repo.join("web.yaml"), deployment(greeting)).expect("write");
        git(&self.repo, &["commit", "-qam", greeting]);
        let out = support::gitops(
            &["sync", NAME, "-n", &self.ns, "--wait", "--timeout", "150s"],
            Path::new("."),
        );
        let (stdout, stderr) = support::text(&out);
        assert!(
            out.status.success(),
            "kubectl gitops sync: {stdout}{stderr}"
        );
    }

    /// Waits until the GitSync is Ready with the repository's head as its applied revision.
    pub(crate) fn wait_ready_at_head(&self) {
        let head = git(&self.repo, &["rev-parse", "HEAD"]);
        let head = head.trim();
        eventually(&format!("the GitSync Ready at {head}"), || {
            let ready = ready_condition(&self.ns, NAME)?;
            let sync = kubectl_json(&["get", "gitsync", NAME, "-n", &self.ns]).expect("the sync");
            let applied = sync["status"]["lastAppliedRevision"].as_str().unwrap_or("");
            if ready["status"] == "True" && applied.ends_with(head) {
                Ok(())
            } else {
                Err(format!("{ready} at {applied}"))
            }
        });
    }
}

/// `Ok` once the Deployment's rollout is complete, as `kubectl rollout status` judges it, and
/// every Pod of it left is Ready and runs the template with `greeting`: no Pod of an older
/// template remains.
pub(crate) fn rolled_out(ns: &str, greeting: &str) -> Result<Value, String> {
    let deployment = kubectl_json(&["get", "deployment", NAME, "-n", ns])
        .ok_or_else(|| format!("deployment {ns}/{NAME} not found"))?;
    let status = &deployment["status"];
    let generation = deployment["metadata"]["generation"].as_u64();
    let complete = status["observedGeneration"].as_u64() >= generation
        && status["updatedReplicas"].as_u64() == Some(REPLICAS)
        && status["replicas"].as_u64() == Some(REPLICAS)
        && status["availableReplicas"].as_u64() == Some(REPLICAS);
    if !complete {
        return Err(format!("rollout in progress: {status}"));
    }
    let pods = kubectl_json(&["get", "pods", "-n", ns, "-l", &format!("app={NAME}")])
        .expect("listing never answers NotFound");
    let pods: Vec<&Value> = pods["items"].as_array().into_iter().flatten().collect();
    let serving = pods
        .iter()
        .filter(|pod| {
            pod["metadata"]["deletionTimestamp"].is_null()
                && pod["status"]["phase"] == "Running"
                && pod["status"]["containerStatuses"][0]["ready"] == true
                && pod["spec"]["containers"][0]["env"][0]["value"] == greeting
        })
        .count();
    if serving as u64 == REPLICAS && pods.len() as u64 == REPLICAS {
        Ok(deployment)
    } else {
        Err(format!(
            "{serving} of {} Pods ready with GREETING={greeting}: {}",
            pods.len(),
            pods.iter()
                .map(|pod| format!(
                    "{} {} {}",
                    pod["metadata"]["name"],
                    pod["status"]["phase"],
                    pod["spec"]["containers"][0]["env"]
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    }
}

#[tokio::test]
async fn a_git_sync_applies_a_deployment_whose_pods_start_and_a_new_commit_rolls_out_to_the_end() {
    let delivered = Delivered::start("deliver", "first");
    let before = rolled_out(&delivered.ns, "first").expect("rolled out");
    let pods_before: Vec<String> = pod_names(&delivered.ns);
    assert_eq!(pods_before.len() as u64, REPLICAS);
    let managed = &before["metadata"]["labels"]["applyset.kubernetes.io/part-of"];
    assert!(
        managed.is_string(),
        "the Deployment is a member of the GitSync's ApplySet: {before}"
    );

    let pushed = Instant::now();
    delivered.push("second");
    delivered.wait_ready_at_head();
    let ready = pushed.elapsed();
    let after = eventually("the new commit's rollout completing", || {
        rolled_out(&delivered.ns, "second")
    });
    let rolled = pushed.elapsed();
    println!(
        "push to Ready: GitSync Ready at the new commit after {:.1} s, rollout complete after {:.1} s",
        ready.as_secs_f64(),
        rolled.as_secs_f64()
    );

    assert!(
        after["metadata"]["generation"].as_u64() > before["metadata"]["generation"].as_u64(),
        "the commit changed the Deployment: {after}"
    );
    let pods_after = pod_names(&delivered.ns);
    assert!(
        pods_after.iter().all(|pod| !pods_before.contains(pod)),
        "every Pod was replaced by the rollout: before {pods_before:?}, after {pods_after:?}"
    );
    // The old ReplicaSet is scaled to nothing, as a finished rollout leaves it.
    let sets = kubectl_json(&["get", "replicasets", "-n", &delivered.ns, "-l", "app=web"])
        .expect("listing never answers NotFound");
    let sizes: Vec<u64> = sets["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|set| set["spec"]["replicas"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(
        (sizes.len(), sizes.iter().sum::<u64>()),
        (2, REPLICAS),
        "two ReplicaSets, the old one empty: {sizes:?}"
    );
}

fn pod_names(ns: &str) -> Vec<String> {
    crate::cluster::names_of("pods", ns, NAME)
}
