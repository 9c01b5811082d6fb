//! A chart's pre-upgrade hook Job really runs: the kubelet runs its container, the Job
//! controller reports it, and only then is the upgrade applied; a hook whose container fails
//! stops the apply with nothing else written. (The fast suite writes a hook Job's status by
//! hand; here nothing does but the cluster.)

use crate::cluster::{WORKLOAD_IMAGE, apply, kubectl, kubectl_json};
use crate::support::{self, Workdir};

const CHART: &str = "apiVersion: v2\nname: app\nversion: 0.1.0\n";

/// The chart's ConfigMap at `version`.
fn config(version: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-config\n\
         data:\n  version: \"{version}\"\n"
    )
}

/// The migration run before install and upgrade: prints what it migrates to, exits `code`.
/// No delete policy: Helm's default (`before-hook-creation`) keeps it until the next run, so
/// its status and logs can be read.
fn migrate_job(version: &str, code: u8) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {{{{ .Release.Name }}}}-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: migrate
        image: {WORKLOAD_IMAGE}
        imagePullPolicy: Never
        command: [/bin/sh, -c, 'echo migrated to {version}; exit {code}']
"
    )
}

/// The chart at `version` with its migration exiting `code`.
fn write_chart(repo: &Workdir, version: &str, code: u8) {
    repo.write("app/Chart.yaml", CHART);
    repo.write("app/templates/config.yaml", &config(version));
    repo.write("app/templates/migrate.yaml", &migrate_job(version, code));
}

fn commit(repo: &Workdir) {
    for args in [
        &["add", "-A"][..],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "next",
        ],
    ] {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}");
    }
}

fn job(ns: &str) -> serde_json::Value {
    kubectl_json(&["get", "job", "app-migrate", "-n", ns]).expect("the hook Job")
}

/// Whether the Job controller set condition `kind` on the Job.
fn has_condition(job: &serde_json::Value, kind: &str) -> bool {
    job["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

fn config_version(ns: &str) -> Option<String> {
    kubectl_json(&["get", "configmap", "app-config", "-n", ns])
        .and_then(|cm| cm["data"]["version"].as_str().map(str::to_string))
}

#[tokio::test]
async fn a_pre_upgrade_hook_job_really_runs_to_completion_before_the_upgrade_is_applied() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "hook-runs").await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[]);
    write_chart(&repo, "1", 0);
    repo.git_commit_all();
    let (code, stdout, stderr) = apply(repo.path(), &ns, &set, &["--yes", "--timeout", "150s"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let installed = job(&ns);

    write_chart(&repo, "2", 0);
    commit(&repo);
    let (code, stdout, stderr) = apply(repo.path(), &ns, &set, &["--yes", "--timeout", "150s"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("ran hook Job/{ns}/app-migrate")),
        "{stdout}"
    );

    let upgraded = job(&ns);
    assert_ne!(
        upgraded["metadata"]["uid"], installed["metadata"]["uid"],
        "the upgrade ran the hook anew"
    );
    assert!(
        has_condition(&upgraded, "Complete") && upgraded["status"]["succeeded"] == 1,
        "the Job controller reports the hook complete: {}",
        upgraded["status"]
    );
    let logs = kubectl(&["logs", "job/app-migrate", "-n", &ns], "test").expect("kubectl logs");
    assert!(
        logs.contains("migrated to 2"),
        "the hook's container ran the upgrade's migration: {logs:?}"
    );
    assert_eq!(config_version(&ns).as_deref(), Some("2"));
    // The upgrade's write came after the hook finished (both at second precision).
    let finished = upgraded["status"]["completionTime"]
        .as_str()
        .expect("a completion time")
        .to_string();
    let config = kubectl_json(&[
        "get",
        "configmap",
        "app-config",
        "-n",
        &ns,
        "--show-managed-fields",
    ])
    .expect("the ConfigMap");
    let written = config["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["time"].as_str())
        .max()
        .expect("a write time")
        .to_string();
    assert!(
        written >= finished,
        "the ConfigMap was written at {written}, before the hook finished at {finished}"
    );
}

#[tokio::test]
async fn a_pre_upgrade_hook_job_that_fails_stops_the_apply_with_nothing_else_written() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "hook-fails").await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[]);
    write_chart(&repo, "1", 0);
    repo.git_commit_all();
    let (code, stdout, stderr) = apply(repo.path(), &ns, &set, &["--yes", "--timeout", "150s"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");

    // The next commit changes the ConfigMap, adds another, and its migration fails.
    write_chart(&repo, "2", 1);
    repo.write(
        "app/templates/added.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: added\ndata:\n  k: v\n",
    );
    commit(&repo);
    let (code, stdout, stderr) = apply(repo.path(), &ns, &set, &["--yes", "--timeout", "150s"]);
    assert_ne!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("! failed Job/{ns}/app-migrate")),
        "{stdout}\n{stderr}"
    );

    let failed = job(&ns);
    assert!(
        has_condition(&failed, "Failed") && failed["status"]["failed"] == 1,
        "the Job controller reports the hook failed: {}",
        failed["status"]
    );
    let logs = kubectl(&["logs", "job/app-migrate", "-n", &ns], "test").expect("kubectl logs");
    assert!(
        logs.contains("migrated to 2"),
        "the hook really ran: {logs:?}"
    );
    assert_eq!(
        config_version(&ns).as_deref(),
        Some("1"),
        "nothing is applied after a failed pre hook"
    );
    assert!(
        kubectl_json(&["get", "configmap", "added", "-n", &ns]).is_none(),
        "nothing is created after a failed pre hook"
    );
}
