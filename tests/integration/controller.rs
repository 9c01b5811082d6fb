//! `kubectl gitops controller` as a process against the real API server: GitSync objects
//! following repositories served by `git daemon`, each acting as its own ServiceAccount.
//!
//! Every controller watches only its test's namespace (`--watch-namespace`), so tests running
//! side by side never reconcile each other's syncs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::reconcile::{Daemon, Remote, WAIT, cm, eventually, free_port, http_get};
use crate::support::{self, gitops, text};

/// A running controller; killed on drop, its log printed when the test failed.
pub(crate) struct Controller {
    child: Child,
    log: PathBuf,
    cache: tempfile::TempDir,
}

impl Controller {
    /// A controller of the syncs in `ns`, allowed to fetch from this machine (the tests' git
    /// daemons and chart repositories listen on loopback).
    pub(crate) fn start(ns: &str, extra: &[&str]) -> Self {
        Self::start_with_env(ns, extra, &[])
    }

    /// `start`, with these environment variables set for the controller.
    pub(crate) fn start_with_env(ns: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut args = vec!["--watch-namespace", ns, "--lease-namespace", ns];
        args.extend(["--allow-fetch-to", "127.0.0.1"]);
        args.extend(extra);
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, Path::new(*v))).collect();
        Self::start_with(&args, &env)
    }

    /// A controller with exactly `args` (beside fast retries, its cache and the kubeconfig)
    /// and `env`.
    pub(crate) fn start_with(args: &[&str], env: &[(&str, &Path)]) -> Self {
        Self::start_against(&support::kubeconfig(), args, env)
    }

    /// `start_with`, against the API server `kubeconfig` names (a test's private one).
    pub(crate) fn start_against(kubeconfig: &Path, args: &[&str], env: &[(&str, &Path)]) -> Self {
        let cache = tempfile::tempdir().expect("tempdir");
        let log = cache.path().join("controller.log");
        let child = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
            .arg("controller")
            .args(["--backoff", "200ms", "--max-backoff", "1s"])
            .args(["--dependency-retry", "1s"])
            .arg("--cache-dir")
            .arg(cache.path())
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v.as_os_str())))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("starting kubectl-gitops controller");
        Controller { child, log, cache }
    }

    /// Where its git caches live (`--cache-dir`).
    pub(crate) fn cache(&self) -> &Path {
        self.cache.path()
    }

    pub(crate) fn logs(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The controller's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the controller") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no exit after SIGTERM\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- controller log ---\n{}", self.logs());
        }
    }
}

/// Installs the GitSync CRD (as `install --controller --crd-only` prints it) and waits until
/// it is served.
pub(crate) async fn install_crd(client: &kube::Client) {
    let dir = tempfile::tempdir().unwrap();
    let out = gitops(&["install", "--controller", "--crd-only"], dir.path());
    let (yaml, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let crd: Value = kubectl_gitops::yaml::from_str(&yaml).expect("the CRD is YAML");
    let api: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    api.patch(
        "gitsyncs.gitops.kubectl-gitops.io",
        &PatchParams::apply("controller-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("installing the CRD");
    eventually("the GitSync CRD to be served", WAIT, || async {
        syncs(client, "default")
            .list(&ListParams::default())
            .await
            .ok()
            .map(|_| ())
    })
    .await;
}

pub(crate) fn syncs(
    client: &kube::Client,
    ns: &str,
) -> Api<kubectl_gitops::controller::crd::GitSync> {
    Api::namespaced(client.clone(), ns)
}

pub(crate) async fn create_sync(
    client: &kube::Client,
    ns: &str,
    name: &str,
    spec: Value,
    labels: Value,
) {
    let sync = serde_json::from_value(json!({
        "apiVersion": "gitops.kubectl-gitops.io/v1alpha1",
        "kind": "GitSync",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": spec,
    }))
    .expect("a GitSync");
    syncs(client, ns)
        .create(&PostParams::default(), &sync)
        .await
        .unwrap_or_else(|e| panic!("creating GitSync {name}: {e}"));
}

/// A ServiceAccount `name` in `ns` (the server needs no object to impersonate it; it exists
/// for realism) and, when `targets` is not empty, the right to manage ConfigMaps and Secrets
/// in each target namespace.
pub(crate) async fn service_account(client: &kube::Client, ns: &str, name: &str, targets: &[&str]) {
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), ns);
    let account = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    for target in targets {
        grant(client, ns, name, target).await;
    }
}

pub(crate) async fn grant(client: &kube::Client, ns: &str, account: &str, target: &str) {
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::namespaced(client.clone(), target);
    let role_name = format!("deploy-{account}");
    let role = serde_json::from_value(json!({
        "metadata": {"name": role_name},
        "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets"],
                   "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]}],
    }))
    .unwrap();
    roles.create(&PostParams::default(), &role).await.unwrap();
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(client.clone(), target);
    let binding = serde_json::from_value(json!({
        "metadata": {"name": role_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}],
    }))
    .unwrap();
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
}

/// The Ready condition of a sync: (status, reason, message).
pub(crate) async fn ready(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Option<(String, String, String)> {
    let sync = syncs(client, ns).get_opt(name).await.ok()??;
    let condition = sync.condition("Ready")?.clone();
    (condition.observed_generation == sync.metadata.generation).then_some((
        condition.status,
        condition.reason,
        condition.message,
    ))
}

pub(crate) async fn wait_for_ready(
    client: &kube::Client,
    ns: &str,
    name: &str,
    status: &str,
    reason: &str,
) -> String {
    eventually(
        &format!("GitSync {ns}/{name} Ready={status} ({reason})"),
        WAIT,
        || async {
            ready(client, ns, name)
                .await
                .filter(|(s, r, _)| s == status && r == reason)
                .map(|(_, _, message)| message)
        },
    )
    .await
}

pub(crate) async fn config_maps(client: &kube::Client, ns: &str) -> Vec<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let mut names: Vec<String> = api
        .list(&ListParams::default().labels("applyset.kubernetes.io/part-of"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    names.sort();
    names
}

pub(crate) fn spec(url: &str, path: &str, target: &str, account: &str) -> Value {
    json!({
        "repository": {"url": url, "ref": "main"},
        "path": path,
        "targetNamespace": target,
        "interval": "1h",
        "serviceAccountName": account,
    })
}

#[tokio::test]
async fn three_syncs_from_two_repositories_converge_in_dependency_order_and_one_without_rights_fails_alone()
 {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-converge").await;
    let base_ns = support::namespace(&client, "ctl-base").await;
    let apps_ns = support::namespace(&client, "ctl-apps").await;
    let db_ns = support::namespace(&client, "ctl-db").await;
    let denied_ns = support::namespace(&client, "ctl-denied").await;
    let platform = Remote::new(&[
        ("base/a.yaml", &cm("base-a", "1")),
        ("apps/a.yaml", &cm("app-a", "1")),
        ("apps/b.yaml", &cm("app-b", "1")),
    ]);
    let data = Remote::new(&[("deploy/db.yaml", &cm("db", "1"))]);
    let platform_daemon = Daemon::start(&platform.base);
    let data_daemon = Daemon::start(&data.base);

    // `base` acts as an account that may do nothing yet: `apps` must wait for it.
    service_account(&client, &ns, "late", &[]).await;
    service_account(&client, &ns, "deployer", &[&apps_ns, &db_ns]).await;
    service_account(&client, &ns, "nobody", &[]).await;
    create_sync(
        &client,
        &ns,
        "base",
        spec(&platform_daemon.url(), "base", &base_ns, "late"),
        json!({}),
    )
    .await;
    let mut apps = spec(&platform_daemon.url(), "apps", &apps_ns, "deployer");
    apps["dependsOn"] = json!([{"name": "base"}]);
    create_sync(&client, &ns, "apps", apps, json!({})).await;
    create_sync(
        &client,
        &ns,
        "db",
        spec(&data_daemon.url(), "deploy", &db_ns, "deployer"),
        json!({}),
    )
    .await;
    create_sync(
        &client,
        &ns,
        "denied",
        spec(&data_daemon.url(), "deploy", &denied_ns, "nobody"),
        json!({}),
    )
    .await;

    let listen = format!("127.0.0.1:{}", free_port());
    let _controller = Controller::start(&ns, &["--no-leader-election", "--listen", &listen]);

    wait_for_ready(&client, &ns, "db", "True", "ReconciliationSucceeded").await;
    assert_eq!(config_maps(&client, &db_ns).await, ["db"]);
    let denied = wait_for_ready(&client, &ns, "denied", "False", "PlanFailed").await;
    assert!(denied.contains("forbidden"), "{denied}");
    assert!(
        denied.contains(&format!("system:serviceaccount:{ns}:nobody")),
        "{denied}"
    );
    let base = wait_for_ready(&client, &ns, "base", "False", "PlanFailed").await;
    assert!(base.contains("forbidden"), "{base}");
    let waiting = wait_for_ready(&client, &ns, "apps", "False", "DependencyNotReady").await;
    assert!(waiting.contains(&format!("{ns}/base")), "{waiting}");
    assert!(
        config_maps(&client, &apps_ns).await.is_empty(),
        "apps applied before base was Ready"
    );
    assert!(config_maps(&client, &denied_ns).await.is_empty());

    // Once its account may write, base converges, and apps follows.
    grant(&client, &ns, "late", &base_ns).await;
    wait_for_ready(&client, &ns, "base", "True", "ReconciliationSucceeded").await;
    wait_for_ready(&client, &ns, "apps", "True", "ReconciliationSucceeded").await;
    assert_eq!(config_maps(&client, &base_ns).await, ["base-a"]);
    assert_eq!(config_maps(&client, &apps_ns).await, ["app-a", "app-b"]);
    // The sync without rights still fails, alone, and wrote nothing.
    assert_eq!(ready(&client, &ns, "denied").await.unwrap().0, "False");
    assert!(config_maps(&client, &denied_ns).await.is_empty());

    // Each sync owns the ApplySet `diff -n TARGET` resolves for its repository and path.
    let sync = syncs(&client, &ns).get("apps").await.unwrap();
    let status = sync.status.unwrap();
    let inventory = status.inventory.unwrap();
    let expected = kubectl_gitops::inventory::identity::for_remote(
        &platform_daemon.url(),
        "apps",
        &apps_ns,
        None,
        None,
    );
    assert_eq!(
        (inventory.name, inventory.namespace),
        (expected.name.clone(), apps_ns.clone())
    );
    assert_eq!(status.counts.unwrap().managed, 2);
    // `kubectl gitops status` names the GitSync that owns each set, and its state.
    let cwd = tempfile::tempdir().expect("tempdir");
    let listed = support::gitops(&["status", "-o", "json"], cwd.path());
    let (stdout, stderr) = text(&listed);
    let sets: Vec<Value> = serde_json::from_str(&stdout).expect(&stderr);
    let set = sets
        .iter()
        .find(|s| s["applyset"] == expected.name.as_str() && s["namespace"] == apps_ns.as_str())
        .unwrap_or_else(|| panic!("the apps set is not listed: {stdout}"));
    assert_eq!(
        set["gitSync"],
        json!({"namespace": ns, "name": "apps", "suspended": false, "ready": true,
               "reason": "ReconciliationSucceeded"}),
        "{stdout}"
    );
    assert!(
        status
            .last_applied_revision
            .unwrap()
            .starts_with("main@sha1:"),
        "revision"
    );
    // Two repositories, two caches: one fetch each in the interval, though base retried.
    let (code, metrics) = http_get(&listen, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains("gitops_controller_git_fetches_total 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "gitops_controller_sync_ready{{sync=\"{ns}/apps\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "gitops_controller_sync_ready{{sync=\"{ns}/denied\"}} 0"
        )),
        "{metrics}"
    );
    let (code, _) = http_get(&listen, "/readyz").await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn deleting_a_sync_leaves_its_objects_unless_its_deletion_policy_is_delete() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-delete").await;
    let kept_ns = support::namespace(&client, "ctl-orphan").await;
    let pruned_ns = support::namespace(&client, "ctl-pruned").await;
    let remote = Remote::new(&[("deploy/a.yaml", &cm("a", "1"))]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&kept_ns, &pruned_ns]).await;
    create_sync(
        &client,
        &ns,
        "orphan",
        spec(&daemon.url(), "deploy", &kept_ns, "deployer"),
        json!({}),
    )
    .await;
    let mut delete = spec(&daemon.url(), "deploy", &pruned_ns, "deployer");
    delete["deletionPolicy"] = json!("Delete");
    create_sync(&client, &ns, "delete", delete, json!({})).await;
    let _controller = Controller::start(&ns, &["--no-leader-election"]);

    wait_for_ready(&client, &ns, "orphan", "True", "ReconciliationSucceeded").await;
    wait_for_ready(&client, &ns, "delete", "True", "ReconciliationSucceeded").await;
    let held = syncs(&client, &ns).get("delete").await.unwrap();
    assert!(
        held.metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f.contains("prune-on-delete"))
    );

    for name in ["orphan", "delete"] {
        syncs(&client, &ns)
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    eventually("both GitSyncs gone", WAIT, || async {
        let left = syncs(&client, &ns)
            .list(&ListParams::default())
            .await
            .unwrap();
        left.items.is_empty().then_some(())
    })
    .await;
    assert_eq!(config_maps(&client, &kept_ns).await, ["a"]);
    assert!(config_maps(&client, &pruned_ns).await.is_empty());
    let parents: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), &pruned_ns);
    let left = parents
        .list(&ListParams::default().labels("applyset.kubernetes.io/id"))
        .await
        .unwrap();
    assert!(
        left.items.is_empty(),
        "the parent of a deleted set stays behind"
    );
}

#[tokio::test]
async fn two_shards_split_the_syncs_and_none_is_applied_by_both() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-shards").await;
    let target = support::namespace(&client, "ctl-shard-target").await;
    let remote = Remote::new(&[
        ("one/a.yaml", &cm("one", "1")),
        ("two/a.yaml", &cm("two", "1")),
        ("three/a.yaml", &cm("three", "1")),
        ("four/a.yaml", &cm("four", "1")),
    ]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&target]).await;
    let shard = |name: &str| json!({"kubectl-gitops.io/shard": name});
    for (name, label) in [("one", "a"), ("two", "b"), ("three", "a"), ("four", "b")] {
        create_sync(
            &client,
            &ns,
            name,
            spec(&daemon.url(), name, &target, "deployer"),
            shard(label),
        )
        .await;
    }
    // Owned by no running shard: nobody applies it.
    create_sync(
        &client,
        &ns,
        "unowned",
        spec(&daemon.url(), "one", &ns, "deployer"),
        json!({}),
    )
    .await;
    let a = Controller::start(&ns, &["--shard", "a"]);
    let b = Controller::start(&ns, &["--shard", "b"]);
    for name in ["one", "two", "three", "four"] {
        wait_for_ready(&client, &ns, name, "True", "ReconciliationSucceeded").await;
    }
    assert_eq!(
        config_maps(&client, &target).await,
        ["four", "one", "three", "two"]
    );
    let (a_logs, b_logs) = (a.logs(), b.logs());
    let applied = |logs: &str, name: &str| logs.contains(&format!("Applied sync={ns}/{name} "));
    for name in ["one", "three"] {
        assert!(
            applied(&a_logs, name) && !applied(&b_logs, name),
            "{name}\n{a_logs}\n{b_logs}"
        );
    }
    for name in ["two", "four"] {
        assert!(
            applied(&b_logs, name) && !applied(&a_logs, name),
            "{name}\n{a_logs}\n{b_logs}"
        );
    }
    assert!(ready(&client, &ns, "unowned").await.is_none());
    // Each shard elected its own leader.
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), &ns);
    for lease in ["kubectl-gitops-controller-a", "kubectl-gitops-controller-b"] {
        let held = leases.get(lease).await.unwrap();
        assert!(held.spec.unwrap().holder_identity.is_some(), "{lease}");
    }
}

#[tokio::test]
async fn sync_now_applies_a_new_commit_before_the_interval_and_suspend_holds_it() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-request").await;
    let remote = Remote::new(&[("deploy/a.yaml", &cm("a", "1"))]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&ns]).await;
    create_sync(
        &client,
        &ns,
        "apps",
        spec(&daemon.url(), "deploy", &ns, "deployer"),
        json!({}),
    )
    .await;
    let _controller = Controller::start(&ns, &["--no-leader-election"]);
    wait_for_ready(&client, &ns, "apps", "True", "ReconciliationSucceeded").await;

    // The interval is an hour: only the request brings the new commit.
    remote.commit(&[("deploy/b.yaml", &cm("b", "1"))], &[], "add b");
    let dir = tempfile::tempdir().unwrap();
    let out = gitops(
        &["sync", "apps", "-n", &ns, "--wait", "--timeout", "30s"],
        dir.path(),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("Ready"), "{stdout}");
    assert_eq!(config_maps(&client, &ns).await, ["a", "b"]);

    let out = gitops(&["suspend", "apps", "-n", &ns], dir.path());
    assert!(out.status.success(), "{:?}", text(&out));
    remote.commit(&[("deploy/c.yaml", &cm("c", "1"))], &[], "add c");
    let out = gitops(&["sync", "apps", "-n", &ns], dir.path());
    assert!(text(&out).0.contains("suspended"), "{:?}", text(&out));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        config_maps(&client, &ns).await,
        ["a", "b"],
        "a suspended sync applied"
    );

    let out = gitops(&["resume", "apps", "-n", &ns], dir.path());
    assert!(out.status.success(), "{:?}", text(&out));
    eventually("the held commit applied after resume", WAIT, || async {
        (config_maps(&client, &ns).await == ["a", "b", "c"]).then_some(())
    })
    .await;

    let out = gitops(&["get", "-n", &ns], dir.path());
    let (stdout, _) = text(&out);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("apps") && l.contains("True")),
        "{stdout}"
    );
}

#[tokio::test]
async fn prune_false_keeps_what_left_git_and_a_missing_credentials_secret_is_named() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-keep").await;
    let other = support::namespace(&client, "ctl-keep-creds").await;
    let remote = Remote::new(&[
        ("deploy/a.yaml", &cm("a", "1")),
        ("deploy/b.yaml", &cm("b", "1")),
    ]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&ns, &other]).await;
    let mut keep = spec(&daemon.url(), "deploy", &ns, "deployer");
    keep["prune"] = json!(false);
    create_sync(&client, &ns, "keep", keep, json!({})).await;
    let mut creds = spec(&daemon.url(), "deploy", &other, "deployer");
    creds["repository"]["secretRef"] = json!({"name": "git-token"});
    create_sync(&client, &ns, "creds", creds, json!({})).await;
    let _controller = Controller::start(&ns, &["--no-leader-election"]);

    wait_for_ready(&client, &ns, "keep", "True", "ReconciliationSucceeded").await;
    remote.commit(&[], &["deploy/b.yaml"], "drop b");
    let dir = tempfile::tempdir().unwrap();
    let out = gitops(
        &["sync", "keep", "-n", &ns, "--wait", "--timeout", "30s"],
        dir.path(),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let status = syncs(&client, &ns)
        .get("keep")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(status.counts.unwrap().pruned, 0);
    assert_eq!(
        config_maps(&client, &ns).await,
        ["a", "b"],
        "prune: false pruned b"
    );

    // A second sync of the same repository, path and target namespace (another ref) would
    // take turns with the first: it is refused, naming the owner.
    let mut twin = spec(&daemon.url(), "deploy", &ns, "deployer");
    twin["repository"]["ref"] = json!("other");
    create_sync(&client, &ns, "twin", twin, json!({})).await;
    let refused = wait_for_ready(&client, &ns, "twin", "False", "ApplySetInUse").await;
    assert!(refused.contains(&format!("GitSync {ns}/keep")), "{refused}");
    assert_eq!(config_maps(&client, &ns).await, ["a", "b"]);

    let message = wait_for_ready(&client, &ns, "creds", "False", "CredentialsFailed").await;
    assert!(message.contains(&format!("{ns}/git-token")), "{message}");
    assert!(config_maps(&client, &other).await.is_empty());
}

#[tokio::test]
async fn a_change_made_outside_git_is_put_back_within_seconds_not_at_the_interval() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-drift").await;
    let second = support::namespace(&client, "ctl-drift-2").await;
    let remote = Remote::new(&[
        ("deploy/a.yaml", &cm("a", "1")),
        ("deploy/b.yaml", &cm("b", "1")),
    ]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&ns, &second]).await;
    // Two syncs of one account: their watches are shared, events routed by ApplySet.
    create_sync(
        &client,
        &ns,
        "one",
        spec(&daemon.url(), "deploy", &ns, "deployer"),
        json!({}),
    )
    .await;
    create_sync(
        &client,
        &ns,
        "two",
        spec(&daemon.url(), "deploy", &second, "deployer"),
        json!({}),
    )
    .await;
    let controller = Controller::start(&ns, &["--no-leader-election"]);
    wait_for_ready(&client, &ns, "one", "True", "ReconciliationSucceeded").await;
    wait_for_ready(&client, &ns, "two", "True", "ReconciliationSucceeded").await;
    // Give the watches a moment to list what they watch.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &second);
    maps.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"v": "edited"}})),
    )
    .await
    .unwrap();
    // The interval is an hour: only the watch can bring it back this soon.
    eventually("the edited ConfigMap put back", WAIT, || async {
        let live = maps.get("a").await.ok()?;
        (live.data?.get("v")? == "1").then_some(())
    })
    .await;
    // Only the edited object was re-planned: nothing counted unchanged, and the set is still
    // as large as it was.
    let counts = eventually("the correction in the status", WAIT, || async {
        let sync = syncs(&client, &ns).get("two").await.ok()?;
        let counts = sync.status?.counts?;
        (counts.updated == 1).then_some(counts)
    })
    .await;
    assert_eq!((counts.managed, counts.unchanged), (2, 0), "{counts:?}");
    let logs = controller.logs();
    assert!(
        logs.contains(&format!("DriftCorrected sync={ns}/two")),
        "{logs}"
    );
    assert!(
        !logs.contains(&format!("DriftCorrected sync={ns}/one")),
        "{logs}"
    );
}

#[tokio::test]
async fn secret_canaries_never_reach_the_gitsync_status_events_or_logs() {
    use base64::Engine;
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-canary").await;
    let canary = support::unique_name("ctl-canary");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&canary);
    // A Secret the server refuses, quoting the env line that carries the value.
    let remote = Remote::new(&[
        (
            "deploy/kustomization.yaml",
            "secretGenerator:\n- name: db\n  envs: [db.env]\n",
        ),
        ("deploy/db.env", &format!("DB_PASSWORD {canary}\n")),
    ]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&ns]).await;
    create_sync(
        &client,
        &ns,
        "canary",
        spec(&daemon.url(), "deploy", &ns, "deployer"),
        json!({}),
    )
    .await;
    let controller =
        Controller::start(&ns, &["--no-leader-election", "-v", "--log-format", "json"]);
    let message = wait_for_ready(&client, &ns, "canary", "False", "PlanFailed").await;
    assert!(message.contains("DB_PASSWORD ***"), "{message}");
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &ns);
    let notes = eventually("the ReconcileFailed Event", WAIT, || async {
        let notes: Vec<String> = events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("ReconcileFailed"))
            .filter_map(|e| e.note)
            .collect();
        (!notes.is_empty()).then_some(notes)
    })
    .await;
    let status =
        serde_json::to_string(&syncs(&client, &ns).get("canary").await.unwrap().status).unwrap();
    let logs = controller.logs();
    for spelling in [&canary, &b64] {
        assert!(!status.contains(spelling.as_str()), "{status}");
        assert!(
            notes.iter().all(|n| !n.contains(spelling.as_str())),
            "{notes:?}"
        );
        assert!(!logs.contains(spelling.as_str()), "{logs}");
    }
}

/// `kubectl auth can-i` as the controller's ServiceAccount of `ns`.
fn controller_can(ns: &str, args: &[&str]) -> bool {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(["auth", "can-i"])
        .args(args)
        .arg(format!(
            "--as=system:serviceaccount:{ns}:kubectl-gitops-controller"
        ))
        .output()
        .expect("kubectl auth can-i");
    out.status.success()
}

#[tokio::test]
async fn install_controller_grants_impersonation_and_its_own_objects_and_nothing_to_deploy() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "ctl-install").await;
    let dir = tempfile::tempdir().unwrap();
    let out = gitops(
        &["install", "--controller", "--shards", "2", "-n", &ns],
        dir.path(),
    );
    let (yaml, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let path = dir.path().join("install.yaml");
    fs::write(&path, &yaml).unwrap();
    let applied = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(["apply", "-f"])
        .arg(&path)
        .output()
        .expect("kubectl apply");
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );

    for allowed in [
        &["impersonate", "serviceaccounts", "-n", "team-a"][..],
        &["watch", "gitsyncs.gitops.kubectl-gitops.io", "-A"],
        &[
            "patch",
            "gitsyncs.gitops.kubectl-gitops.io",
            "--subresource=status",
            "-n",
            "team-a",
        ],
        &["create", "events.events.k8s.io", "-n", "team-a"],
        &["update", "leases.coordination.k8s.io", "-n", &ns],
    ] {
        assert!(controller_can(&ns, allowed), "cannot {allowed:?}");
    }
    for refused in [
        &["create", "configmaps", "-n", "team-a"][..],
        &["get", "secrets", "-n", &ns],
        &["patch", "deployments.apps", "-n", "team-a"],
        &["update", "leases.coordination.k8s.io", "-n", "team-a"],
        &["impersonate", "users"],
        &[
            "update",
            "gitsyncs.gitops.kubectl-gitops.io",
            "-n",
            "team-a",
        ],
        &["create", "subjectaccessreviews.authorization.k8s.io"],
    ] {
        assert!(!controller_can(&ns, refused), "may {refused:?}");
    }
}

#[tokio::test]
async fn with_drift_report_a_change_outside_git_is_counted_and_left_while_new_commits_apply() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-report").await;
    let remote = Remote::new(&[("deploy/a.yaml", &cm("a", "1"))]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&ns]).await;
    let mut report = spec(&daemon.url(), "deploy", &ns, "deployer");
    report["drift"] = json!("Report");
    create_sync(&client, &ns, "report", report, json!({})).await;
    let _controller = Controller::start(&ns, &["--no-leader-election"]);
    wait_for_ready(&client, &ns, "report", "True", "ReconciliationSucceeded").await;

    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    maps.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"v": "edited"}})),
    )
    .await
    .unwrap();
    remote.commit(&[("deploy/b.yaml", &cm("b", "1"))], &[], "add b");
    let dir = tempfile::tempdir().unwrap();
    let out = gitops(
        &["sync", "report", "-n", &ns, "--wait", "--timeout", "30s"],
        dir.path(),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        config_maps(&client, &ns).await,
        ["a", "b"],
        "the new commit applies"
    );
    let live = maps.get("a").await.unwrap();
    assert_eq!(
        live.data.unwrap()["v"],
        "edited",
        "report mode put drift back"
    );
    let status = syncs(&client, &ns)
        .get("report")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(status.counts.unwrap().drifted, 1);
}

#[tokio::test]
async fn sigterm_mid_apply_stops_the_controller_between_writes_and_the_next_one_converges() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-stop").await;
    let names: Vec<String> = (0..150).map(|i| format!("cm-{i:03}")).collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let remote = Remote::of_configmaps(&pairs);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&ns]).await;
    create_sync(
        &client,
        &ns,
        "many",
        spec(&daemon.url(), "deploy", &ns, "deployer"),
        json!({}),
    )
    .await;
    // Slow enough to be caught mid-apply; no grace, so the stop comes at once. It leads on a
    // Lease, which the next controller must be able to take.
    let mut first = Controller::start(&ns, &["--qps", "10", "--shutdown-grace", "0s"]);
    eventually("the first writes", WAIT, || async {
        (!config_maps(&client, &ns).await.is_empty()).then_some(())
    })
    .await;
    let status = first.terminate();
    let logs = first.logs();
    assert!(status.success(), "{status:?}\n{logs}");
    assert!(
        logs.contains("shutdown grace over: the writes in flight finish"),
        "{logs}"
    );
    assert!(logs.contains("released the leader Lease"), "{logs}");
    assert!(!logs.contains("were abandoned"), "{logs}");
    let written = config_maps(&client, &ns).await;
    assert!(
        written.len() < names.len(),
        "the stop came too late to test: {logs}"
    );
    // Every object written is whole: its data and the set's label, never one without the other.
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    for name in &written {
        let live = api.get(name).await.unwrap();
        assert_eq!(
            live.data.unwrap_or_default().get("v").map(String::as_str),
            Some("1")
        );
        assert!(
            live.metadata
                .labels
                .unwrap_or_default()
                .contains_key("applyset.kubernetes.io/part-of"),
            "{name}"
        );
    }

    let _next = Controller::start(&ns, &[]);
    wait_for_ready(&client, &ns, "many", "True", "ReconciliationSucceeded").await;
    assert_eq!(config_maps(&client, &ns).await, names);
}
