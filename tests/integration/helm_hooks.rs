//! Helm hooks deleted after they run (`hook-succeeded`, `hook-failed`) run with an apply, as
//! with `helm upgrade`: pre hooks before everything else, post hooks after, each waited for.
//!
//! The test server runs no controllers, so no Job ever finishes by itself: the tests write the
//! Job's status as the Job controller would, through the status subresource.

use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::support::{self, Workdir, gitops, text};

const CHART: &str = "apiVersion: v2\nname: app\nversion: 0.1.0\n";

fn config(version: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-config\n\
         data:\n  version: \"{version}\"\n"
    )
}

/// A pre-install/pre-upgrade Job, deleted as `policy` says.
fn migrate_job(policy: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{{{ .Release.Name }}}}-migrate\n  \
         annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    \
         helm.sh/hook-delete-policy: {policy}\nspec:\n  backoffLimit: 0\n  template:\n    \
         spec:\n      restartPolicy: Never\n      containers:\n      - name: migrate\n        \
         image: busybox\n        command: [\"true\"]\n"
    )
}

/// A post-install/post-upgrade ConfigMap: a kind with nothing to wait for.
const NOTIFY: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  \
     name: {{ .Release.Name }}-notified\n  annotations:\n    \
     helm.sh/hook: post-install,post-upgrade\n    helm.sh/hook-delete-policy: hook-succeeded\n\
     data:\n  done: \"yes\"\n";

/// The output of a finished run, once its exit code is `code`.
fn exited(out: std::process::Output, code: i32) -> String {
    exited_with(out, code, "")
}

fn exited_with(out: std::process::Output, code: i32, what: &str) -> String {
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(code), "{what}\n{stdout}\n{stderr}");
    stdout
}

/// What the apply said it created and which hooks it ran, in order.
fn writes(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("created") || l.starts_with("ran hook"))
        .collect()
}

/// The hook Job, once the apply created it.
async fn started(jobs: &Api<Job>, name: &str) -> Job {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(job) = jobs.get_opt(name).await.unwrap() {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "the hook Job {name} never appeared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Gives the Job the finishing status the Job controller would write.
async fn finish(jobs: &Api<Job>, name: &str, succeeded: bool) {
    let at = "2026-01-01T00:00:00Z";
    let condition = |kind: &str| json!({"type": kind, "status": "True", "lastTransitionTime": at});
    let status = if succeeded {
        json!({"status": {"startTime": at, "completionTime": at, "succeeded": 1,
            "conditions": [condition("SuccessCriteriaMet"), condition("Complete")]}})
    } else {
        json!({"status": {"startTime": at, "failed": 1, "conditions": [
            condition("FailureTarget"), condition("Failed")]}})
    };
    jobs.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

#[tokio::test]
async fn hooks_run_around_the_apply_and_are_deleted_as_their_policy_says() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "hooks").await;
    let repo = Workdir::new(&[
        ("app/Chart.yaml", CHART),
        ("app/templates/config.yaml", &config("1")),
        (
            "app/templates/migrate.yaml",
            &migrate_job("before-hook-creation,hook-succeeded"),
        ),
        ("app/templates/notify.yaml", NOTIFY),
    ]);
    repo.git_commit_all();

    let stdout = exited(gitops(&["diff", ".", "-n", &ns], repo.path()), 1);
    assert!(
        stdout.contains(&format!(
            "» hook Job/{ns}/app-migrate runs before the other objects; deleted once it succeeded"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("» hook ConfigMap/{ns}/app-notified runs after")),
        "{stdout}"
    );
    assert!(
        stdout.contains("Plan: 1 to create, 0 to update"),
        "hooks are not changes\n{stdout}"
    );

    let applying = support::gitops_spawn(&["apply", ".", "-n", &ns, "--yes"], repo.path());
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let job = started(&jobs, "app-migrate").await;
    // While the pre hook runs, nothing else is applied yet; the hook is no member of the set.
    let labels = job.metadata.labels.unwrap_or_default();
    assert!(
        !labels.contains_key("applyset.kubernetes.io/part-of"),
        "{labels:?}"
    );
    assert!(configmaps.get_opt("app-config").await.unwrap().is_none());
    finish(&jobs, "app-migrate", true).await;
    let stdout = exited(applying.wait_with_output().unwrap(), 0);
    let ran = writes(&stdout);
    assert_eq!(
        ran,
        [
            format!("ran hook Job/{ns}/app-migrate"),
            format!("created ConfigMap/{ns}/app-config"),
            format!("ran hook ConfigMap/{ns}/app-notified"),
        ],
        "{stdout}"
    );
    assert!(
        jobs.get_opt("app-migrate").await.unwrap().is_none(),
        "hook-succeeded"
    );
    assert!(configmaps.get_opt("app-notified").await.unwrap().is_none());
    assert!(configmaps.get_opt("app-config").await.unwrap().is_some());

    // In sync: hooks are no part of the comparison, and none run when nothing changes.
    let stdout = exited(gitops(&["diff", ".", "-n", &ns], repo.path()), 0);
    assert!(!stdout.contains("» hook"), "{stdout}");
    let stdout = exited(gitops(&["apply", ".", "-n", &ns, "--yes"], repo.path()), 0);
    assert!(!stdout.contains("ran hook"), "{stdout}");
}

#[tokio::test]
async fn a_failed_pre_hook_stops_the_apply_before_anything_is_written_or_pruned() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "hook-fails").await;
    let repo = Workdir::new(&[
        ("app/Chart.yaml", CHART),
        ("app/templates/config.yaml", &config("1")),
        (
            "app/templates/old.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\n",
        ),
    ]);
    repo.git_commit_all();
    exited(gitops(&["apply", ".", "-n", &ns, "--yes"], repo.path()), 0);

    // The next commit changes the ConfigMap, drops `old` and adds a migration that fails.
    std::fs::remove_file(repo.path().join("app/templates/old.yaml")).unwrap();
    repo.write("app/templates/config.yaml", &config("2"));
    repo.write(
        "app/templates/migrate.yaml",
        &migrate_job("hook-succeeded,hook-failed"),
    );
    // A lighter hook runs first and succeeds; Helm deletes it when a later one fails.
    repo.write(
        "app/templates/prepare.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-prepared\n  \
         annotations:\n    helm.sh/hook: pre-upgrade\n    helm.sh/hook-weight: \"-1\"\n    \
         helm.sh/hook-delete-policy: hook-succeeded\n",
    );
    repo.git_commit_all();
    let applying = support::gitops_spawn(&["apply", ".", "-n", &ns, "--yes"], repo.path());
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    started(&jobs, "app-migrate").await;
    finish(&jobs, "app-migrate", false).await;
    let out = applying.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("! failed Job/{ns}/app-migrate: the Job failed")),
        "{stdout}"
    );
    assert!(stdout.contains("prunes skipped"), "{stdout}");

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let config = configmaps.get("app-config").await.unwrap();
    assert_eq!(
        config
            .data
            .unwrap_or_default()
            .get("version")
            .map(String::as_str),
        Some("1"),
        "nothing is applied after a failed pre hook"
    );
    assert!(
        configmaps.get_opt("old").await.unwrap().is_some(),
        "nothing is pruned"
    );
    assert!(
        stdout.contains(&format!("ran hook ConfigMap/{ns}/app-prepared")),
        "{stdout}"
    );
    assert!(
        configmaps.get_opt("app-prepared").await.unwrap().is_none(),
        "the hook that succeeded before the failure is cleaned up"
    );
    assert!(
        jobs.get_opt("app-migrate").await.unwrap().is_none(),
        "hook-failed"
    );
}

/// A plan file covers the hooks it will run: a hook changed in git since the plan refuses the
/// apply like any other change to the render.
#[tokio::test]
async fn a_plan_file_refuses_a_hook_changed_since_and_runs_the_hooks_it_showed() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "hook-plan").await;
    let repo = Workdir::new(&[
        ("app/Chart.yaml", CHART),
        ("app/templates/config.yaml", &config("1")),
        ("app/templates/notify.yaml", NOTIFY),
    ]);
    repo.git_commit_all();
    let plans = tempfile::tempdir().unwrap();
    let plan = plans.path().join("plan.json");
    let plan = plan.to_str().unwrap();
    exited(
        gitops(&["diff", ".", "-n", &ns, "--out", plan], repo.path()),
        1,
    );

    repo.write(
        "app/templates/notify.yaml",
        &NOTIFY.replace("done: \"yes\"", "done: \"changed\""),
    );
    exited(
        gitops(
            &["apply", ".", "-n", &ns, "--plan", plan, "--yes"],
            repo.path(),
        ),
        2,
    );
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert!(configmaps.get_opt("app-config").await.unwrap().is_none());

    repo.write("app/templates/notify.yaml", NOTIFY);
    let stdout = exited(
        gitops(
            &["apply", ".", "-n", &ns, "--plan", plan, "--yes"],
            repo.path(),
        ),
        0,
    );
    assert!(
        stdout.contains(&format!("ran hook ConfigMap/{ns}/app-notified")),
        "{stdout}"
    );
    assert!(configmaps.get_opt("app-config").await.unwrap().is_some());
}

/// A hook Job without a delete policy runs again with every apply that changes something, as
/// with every `helm upgrade`: its earlier copy is deleted first (`before-hook-creation`, Helm's
/// default), so a changed template is never refused as an in-place update of a Job would be.
/// It stays after it ran, and it is no member of the set.
#[tokio::test]
async fn a_hook_job_without_a_policy_is_recreated_by_each_apply_and_stays_after_it_ran() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "hook-job").await;
    let job = |image: &str| {
        migrate_job("before-hook-creation")
            .replace("    helm.sh/hook-delete-policy: before-hook-creation\n", "")
            .replace("image: busybox", &format!("image: {image}"))
    };
    let repo = Workdir::new(&[
        ("app/Chart.yaml", CHART),
        ("app/templates/config.yaml", &config("1")),
        ("app/templates/migrate.yaml", &job("busybox:1")),
    ]);
    repo.git_commit_all();
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);

    let applying = support::gitops_spawn(&["apply", ".", "-n", &ns, "--yes"], repo.path());
    let first = started(&jobs, "app-migrate").await;
    finish(&jobs, "app-migrate", true).await;
    exited(applying.wait_with_output().unwrap(), 0);
    let kept = jobs
        .get("app-migrate")
        .await
        .expect("the Job stays after it ran");
    assert_eq!(kept.metadata.uid, first.metadata.uid);
    assert!(
        !kept
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("applyset.kubernetes.io/part-of")
    );

    // The next release changes the Job's template and the ConfigMap.
    repo.write("app/templates/config.yaml", &config("2"));
    repo.write("app/templates/migrate.yaml", &job("busybox:2"));
    repo.git_commit_all();
    let applying = support::gitops_spawn(&["apply", ".", "-n", &ns, "--yes"], repo.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    let second = loop {
        let now = jobs.get_opt("app-migrate").await.unwrap();
        if let Some(job) = now.filter(|j| j.metadata.uid != first.metadata.uid) {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "the hook Job was never recreated"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let image = second
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some("busybox:2"));
    finish(&jobs, "app-migrate", true).await;
    let stdout = exited(applying.wait_with_output().unwrap(), 0);
    assert!(
        stdout.contains(&format!("ran hook Job/{ns}/app-migrate")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("configured ConfigMap/{ns}/app-config")),
        "{stdout}"
    );
}

/// As Helm creates the release namespace and installs CRDs before any hook, an apply writes
/// the Namespaces and CRDs of its change first: a pre hook may live in a namespace the same
/// change creates.
#[tokio::test]
async fn a_pre_hook_runs_in_a_namespace_the_same_change_creates() {
    let client = support::admin().await;
    // The set's parent lives where it can be written before the new namespace exists.
    let parent = support::namespace(&client, "hook-parent").await;
    let ns = support::unique_name("hook-new-ns");
    let repo = Workdir::new(&[
        (
            "namespace.yaml",
            &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
        ),
        ("app/Chart.yaml", CHART),
        ("app/templates/config.yaml", &config("1")),
        (
            "app/templates/migrate.yaml",
            &migrate_job("before-hook-creation,hook-succeeded"),
        ),
    ]);
    repo.git_commit_all();
    let applying = support::gitops_spawn(
        &[
            "apply",
            ".",
            "-n",
            &ns,
            "--applyset-namespace",
            &parent,
            "--yes",
        ],
        repo.path(),
    );
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    started(&jobs, "app-migrate").await;
    finish(&jobs, "app-migrate", true).await;
    let stdout = exited(applying.wait_with_output().unwrap(), 0);
    let order = writes(&stdout);
    assert_eq!(
        order,
        [
            format!("created Namespace/{ns}"),
            format!("ran hook Job/{ns}/app-migrate"),
            format!("created ConfigMap/{ns}/app-config"),
        ],
        "{stdout}"
    );
}

/// podinfo's chart (../shared/corpus, written elsewhere) with its pre-install and post-install
/// hook Jobs switched on in its values: the plan lists exactly those two, and an apply runs
/// them around the release and deletes them as the chart asks (`hook-succeeded,hook-failed`).
#[tokio::test]
async fn podinfo_with_its_hook_jobs_on_runs_them_around_the_release() {
    let Some(chart) = support::podinfo_chart() else {
        eprintln!("note: skipping podinfo's hooks: no corpus (see GITOPS_TEST_CORPUS)");
        return;
    };
    let client = support::admin().await;
    let ns = support::namespace(&client, "podinfo-hooks").await;
    let repo = Workdir::new(&[]);
    let copy = repo.path().join("podinfo");
    support::copy_tree(&chart, &copy);
    let values = std::fs::read_to_string(copy.join("values.yaml")).unwrap();
    let mut enabled = values.clone();
    for hook in ["preInstall", "postInstall"] {
        let off = format!("  {hook}:\n    job:\n      enabled: false");
        assert!(
            enabled.contains(&off),
            "podinfo's values still switch {hook} this way"
        );
        enabled = enabled.replace(&off, &off.replace("false", "true"));
    }
    std::fs::write(copy.join("values.yaml"), enabled).unwrap();
    repo.git_commit_all();

    let stdout = exited(gitops(&["diff", ".", "-n", &ns], repo.path()), 1);
    let hooks: Vec<&str> = stdout.lines().filter(|l| l.starts_with("» hook")).collect();
    assert_eq!(
        hooks,
        [
            format!(
                "» hook Job/{ns}/podinfo-pre-install runs before the other objects; deleted once it ran"
            ),
            format!(
                "» hook Job/{ns}/podinfo-post-install runs after the other objects; deleted once it ran"
            ),
        ],
        "{stdout}"
    );

    let applying = support::gitops_spawn(&["apply", ".", "-n", &ns, "--yes"], repo.path());
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    started(&jobs, "podinfo-pre-install").await;
    finish(&jobs, "podinfo-pre-install", true).await;
    started(&jobs, "podinfo-post-install").await;
    finish(&jobs, "podinfo-post-install", true).await;
    exited(applying.wait_with_output().unwrap(), 0);
    assert!(
        jobs.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    exited_with(
        gitops(&["diff", ".", "-n", &ns], repo.path()),
        0,
        "in sync\n",
    );
}

/// A hook declared for both sides (charts do this for the RBAC their pre and post hook Jobs
/// share) runs on each: created for the pre hooks, deleted once they succeeded, created again
/// for the post hooks and deleted after them.
#[tokio::test]
async fn a_hook_of_both_sides_runs_before_and_again_after() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "hook-both").await;
    let shared = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ .Release.Name }}-hooks\n  \
         annotations:\n    helm.sh/hook: pre-install,pre-upgrade,post-install,post-upgrade\n    \
         helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded\n";
    let repo = Workdir::new(&[
        ("app/Chart.yaml", CHART),
        ("app/templates/config.yaml", &config("1")),
        ("app/templates/hooks-account.yaml", shared),
    ]);
    repo.git_commit_all();
    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains(&format!(
            "» hook ServiceAccount/{ns}/app-hooks runs before and after the other objects; \
             deleted once it succeeded"
        )),
        "{stdout}"
    );
    let stdout = exited(gitops(&["apply", ".", "-n", &ns, "--yes"], repo.path()), 0);
    let order = writes(&stdout);
    assert_eq!(
        order,
        [
            format!("ran hook ServiceAccount/{ns}/app-hooks"),
            format!("created ConfigMap/{ns}/app-config"),
            format!("ran hook ServiceAccount/{ns}/app-hooks"),
        ],
        "{stdout}"
    );
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), &ns);
    assert!(accounts.get_opt("app-hooks").await.unwrap().is_none());
}

/// A hook Job whose `ttlSecondsAfterFinished: 0` has the TTL controller delete it the moment
/// it finished: the apply still sees how it finished (the watch's deletion carries the final
/// state), rather than taking it for a hook deleted while it ran.
#[tokio::test]
async fn a_hook_job_deleted_the_moment_it_finished_counts_as_finished() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "hook-ttl").await;
    let repo = Workdir::new(&[
        ("app/Chart.yaml", CHART),
        ("app/templates/config.yaml", &config("1")),
        ("app/templates/migrate.yaml", &migrate_job("hook-failed")),
    ]);
    repo.git_commit_all();
    let applying = support::gitops_spawn(&["apply", ".", "-n", &ns, "--yes"], repo.path());
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    started(&jobs, "app-migrate").await;
    // What the TTL controller does to a Job with ttlSecondsAfterFinished: 0 (the test server
    // has no garbage collector, so the deletion is made one that needs none).
    finish(&jobs, "app-migrate", true).await;
    jobs.delete("app-migrate", &kube::api::DeleteParams::background())
        .await
        .unwrap();
    let stdout = exited(applying.wait_with_output().unwrap(), 0);
    assert_eq!(
        writes(&stdout),
        [
            format!("ran hook Job/{ns}/app-migrate"),
            format!("created ConfigMap/{ns}/app-config"),
        ]
    );
}

/// A hook Job left from an earlier run (its policy has no `before-hook-creation`, and that run
/// was interrupted) has finished: the next apply deletes it and runs a new one instead of
/// taking the old outcome for the new run's.
#[tokio::test]
async fn a_finished_hook_job_left_from_an_earlier_run_is_replaced_not_reused() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "hook-left").await;
    let repo = Workdir::new(&[
        ("app/Chart.yaml", CHART),
        ("app/templates/config.yaml", &config("1")),
        ("app/templates/migrate.yaml", &migrate_job("hook-succeeded")),
    ]);
    repo.git_commit_all();
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let left: Job = serde_json::from_value(json!({
        "metadata": {"name": "app-migrate"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "migrate", "image": "busybox"}]}}}
    }))
    .unwrap();
    let old = jobs.create(&Default::default(), &left).await.unwrap();
    finish(&jobs, "app-migrate", true).await;

    let applying = support::gitops_spawn(&["apply", ".", "-n", &ns, "--yes"], repo.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = jobs.get_opt("app-migrate").await.unwrap();
        if now.is_some_and(|j| j.metadata.uid != old.metadata.uid) {
            break;
        }
        assert!(Instant::now() < deadline, "the old Job was never replaced");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    finish(&jobs, "app-migrate", true).await;
    let stdout = exited(applying.wait_with_output().unwrap(), 0);
    assert!(
        stdout.contains(&format!("ran hook Job/{ns}/app-migrate")),
        "{stdout}"
    );
    assert!(jobs.get_opt("app-migrate").await.unwrap().is_none());
}

/// A hook Pod (charts use them for smoke checks before or after a release) is waited for until
/// it succeeded, then deleted as its policy says; the test writes its phase as the kubelet would.
#[tokio::test]
async fn a_hook_pod_is_waited_for_until_it_succeeded() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "hook-pod").await;
    let check = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-check\n  \
         annotations:\n    helm.sh/hook: post-install,post-upgrade\n    \
         helm.sh/hook-delete-policy: hook-succeeded\nspec:\n  restartPolicy: Never\n  \
         containers:\n  - name: check\n    image: busybox\n    command: [\"true\"]\n";
    let repo = Workdir::new(&[
        ("app/Chart.yaml", CHART),
        ("app/templates/config.yaml", &config("1")),
        ("app/templates/check.yaml", check),
    ]);
    repo.git_commit_all();
    let applying = support::gitops_spawn(&["apply", ".", "-n", &ns, "--yes"], repo.path());
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), &ns);
    let deadline = Instant::now() + Duration::from_secs(30);
    while pods.get_opt("app-check").await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "the hook Pod never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Running first: still waited for.
    let phase = |phase: &str| json!({"status": {"phase": phase}});
    pods.patch_status(
        "app-check",
        &PatchParams::default(),
        &Patch::Merge(&phase("Running")),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        pods.get_opt("app-check").await.unwrap().is_some(),
        "still running"
    );
    pods.patch_status(
        "app-check",
        &PatchParams::default(),
        &Patch::Merge(&phase("Succeeded")),
    )
    .await
    .unwrap();
    let stdout = exited(applying.wait_with_output().unwrap(), 0);
    assert_eq!(
        writes(&stdout),
        [
            format!("created ConfigMap/{ns}/app-config"),
            format!("ran hook Pod/{ns}/app-check"),
        ]
    );
    assert!(
        pods.get_opt("app-check").await.unwrap().is_none(),
        "hook-succeeded"
    );
}

/// A hook the server would refuse is a plan error: `diff` shows it with the server's reason and
/// exits 2, and `apply` writes nothing, rather than failing half-way with some objects written.
#[tokio::test]
async fn a_hook_the_server_refuses_is_a_plan_error_and_nothing_is_applied() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "hook-invalid").await;
    // A Job's pods must not restart Always: the server refuses this Job.
    let invalid =
        migrate_job("hook-succeeded").replace("restartPolicy: Never", "restartPolicy: Always");
    let repo = Workdir::new(&[
        ("app/Chart.yaml", CHART),
        ("app/templates/config.yaml", &config("1")),
        ("app/templates/migrate.yaml", &invalid),
    ]);
    repo.git_commit_all();
    let stdout = exited(gitops(&["diff", ".", "-n", &ns], repo.path()), 2);
    assert!(
        stdout.contains(&format!(
            "! error Job/{ns}/app-migrate (app/templates/migrate.yaml:1): Helm hook:"
        )) && stdout.contains("restartPolicy"),
        "{stdout}"
    );
    exited(gitops(&["apply", ".", "-n", &ns, "--yes"], repo.path()), 2);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert!(configmaps.get_opt("app-config").await.unwrap().is_none());
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    assert!(jobs.get_opt("app-migrate").await.unwrap().is_none());
}
