//! `apply --wait` follows what real controllers report: a StatefulSet and a Job to Ready, and a
//! Job that fails to a failure, without waiting out the timeout.

use crate::cluster::{self, apply};
use crate::support::{self, Workdir};

fn job(name: &str, command: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: run
        image: {image}
        imagePullPolicy: Never
        command: [/bin/busybox, '{command}']
",
        image = cluster::WORKLOAD_IMAGE
    )
}

fn stateful_set(name: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {name}
spec:
  serviceName: {name}
  replicas: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {image}
        imagePullPolicy: Never
        readinessProbe:
          httpGet: {{path: /, port: 8080}}
          periodSeconds: 1
",
        image = cluster::WORKLOAD_IMAGE
    )
}

#[tokio::test]
async fn wait_follows_a_stateful_set_and_a_job_until_both_are_ready() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "wait-ready").await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[
        ("db.yaml", &stateful_set("db")),
        ("once.yaml", &job("once", "true")),
    ]);
    repo.git_commit_all();

    let (code, stdout, stderr) = apply(
        repo.path(),
        &ns,
        &set,
        &["--yes", "--wait", "--timeout", "150s"],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("ready StatefulSet/{ns}/db")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("ready Job/{ns}/once")), "{stdout}");
    assert_eq!(cluster::names_of("pods", &ns, "db").len(), 2);
}

#[tokio::test]
async fn wait_reports_a_job_that_fails_as_failed_and_the_apply_fails() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "wait-fail").await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[("broken.yaml", &job("broken", "false"))]);
    repo.git_commit_all();

    let (code, stdout, stderr) = apply(
        repo.path(),
        &ns,
        &set,
        &["--yes", "--wait", "--timeout", "150s"],
    );
    assert_ne!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("! failed Job/{ns}/broken: the Job failed")),
        "{stdout}\n{stderr}"
    );
}
