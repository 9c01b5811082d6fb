//! The controller through restarts and outages, against the real API server: drift watched
//! from the first second after a restart, the GitSync watch back at once after the API server
//! restarts, `/readyz` failing while it is away, Events that tell each failure, connections
//! shared across the accounts syncs act as, and a commit reaching every sync of a repository
//! within one interval.
//!
//! The API server restart runs against a private server (`faults::PrivateServer`, the same
//! program `tests/cluster.sh` runs, in the test's own directory and port), so killing it never
//! disturbs the tests sharing the suite's server.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kubectl_gitops::controller::crd::REQUESTED_AT;
use serde_json::json;

use crate::controller::{
    Controller, config_maps, create_sync, install_crd, service_account, spec, syncs, wait_for_ready,
};
use crate::faults::PrivateServer;
use crate::reconcile::{Daemon, Remote, WAIT, cm, eventually, free_port, http_get};
use crate::support;

/// The port of the API server `kubeconfig` names.
fn api_port(kubeconfig: &Path) -> u16 {
    let text = std::fs::read_to_string(kubeconfig).expect("kubeconfig");
    text.lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .and_then(|url| {
            url.trim()
                .rsplit(':')
                .next()?
                .trim_end_matches('/')
                .parse()
                .ok()
        })
        .expect("a server URL with a port in the kubeconfig")
}

/// Established TCP connections of process `pid` to `port` on this machine: the sockets among
/// its open descriptors, looked up in the kernel's TCP tables.
fn connections_to(pid: u32, port: u16) -> usize {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the controller's descriptors")
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let mut count = 0;
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let columns: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state), Some(inode)) =
                (columns.get(2), columns.get(3), columns.get(9))
            else {
                continue;
            };
            let remote_port = remote
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            // 01: ESTABLISHED.
            if remote_port == Some(port) && *state == "01" && inodes.contains(*inode) {
                count += 1;
            }
        }
    }
    count
}

/// Asks the controller to reconcile `name` now, as `kubectl gitops sync` does.
async fn request(client: &kube::Client, ns: &str, name: &str, token: &str) {
    syncs(client, ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {REQUESTED_AT: token}}})),
        )
        .await
        .expect("requesting a reconcile");
}

async fn handled(client: &kube::Client, ns: &str, name: &str, token: &str) -> bool {
    syncs(client, ns)
        .get(name)
        .await
        .ok()
        .and_then(|s| s.status?.last_handled_reconcile_at)
        .is_some_and(|t| t == token)
}

#[tokio::test]
async fn after_a_restart_an_edit_to_a_sync_due_in_an_hour_is_put_back_within_seconds() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-restart").await;
    let remote = Remote::new(&[("deploy/a.yaml", &cm("a", "1"))]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&ns]).await;
    // interval: 1h (the spec helper's).
    create_sync(
        &client,
        &ns,
        "apps",
        spec(&daemon.url(), "deploy", &ns, "deployer"),
        json!({}),
    )
    .await;
    let first = Controller::start(&ns, &["--no-leader-election"]);
    wait_for_ready(&client, &ns, "apps", "True", "ReconciliationSucceeded").await;
    drop(first);

    let controller = Controller::start(&ns, &["--no-leader-election"]);
    eventually("the restarted controller leading", WAIT, || async {
        controller
            .logs()
            .contains("leading: reconciling GitSyncs")
            .then_some(())
    })
    .await;
    // Its first pass over the syncs, and the watch's first list, take well under this.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    maps.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"v": "edited"}})),
    )
    .await
    .unwrap();
    // The sync is due in an hour: only a watch started at startup brings it back this soon.
    eventually(
        "the edited ConfigMap put back",
        Duration::from_secs(10),
        || async {
            let live = maps.get("a").await.ok()?;
            (live.data?.get("v")? == "1").then_some(())
        },
    )
    .await;
    let logs = eventually("the correction logged", WAIT, || async {
        let logs = controller.logs();
        logs.contains(&format!("DriftCorrected sync={ns}/apps"))
            .then_some(logs)
    })
    .await;
    assert!(
        logs.contains("drift watch resumed from the last applied inventory"),
        "{logs}"
    );
    // The restarted controller's git cache was empty: the correction still found the commit.
    assert!(!logs.contains("reconcile failed"), "{logs}");
}

/// A controller of one sync on a private API server, with `/readyz` on `listen`.
struct Outage {
    server: PrivateServer,
    ns: String,
    remote: Remote,
    listen: String,
    _daemon: Daemon,
    controller: Controller,
    _dir: tempfile::TempDir,
}

impl Outage {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = PrivateServer::start(dir.path());
        let client = server.admin().await;
        install_crd(&client).await;
        let ns = support::namespace(&client, "ctl-outage").await;
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
        let listen = format!("127.0.0.1:{}", free_port());
        let controller = Controller::start_against(
            &server.kubeconfig(),
            &[
                "--watch-namespace",
                &ns,
                "--allow-fetch-to",
                "127.0.0.1",
                "--no-leader-election",
                "--listen",
                &listen,
            ],
            &[],
        );
        wait_for_ready(&client, &ns, "apps", "True", "ReconciliationSucceeded").await;
        Outage {
            server,
            ns,
            remote,
            listen,
            _daemon: daemon,
            controller,
            _dir: dir,
        }
    }

    async fn readyz(&self) -> u16 {
        http_get(&self.listen, "/readyz").await.0
    }
}

#[tokio::test]
async fn readyz_fails_while_the_api_server_is_unreachable_and_recovers_after() {
    let mut outage = Outage::start().await;
    eventually("/readyz 200 while the server answers", WAIT, || async {
        (outage.readyz().await == 200).then_some(())
    })
    .await;

    outage.server.kill();
    eventually("/readyz failing while the server is down", WAIT, || async {
        (outage.readyz().await == 503).then_some(())
    })
    .await;
    // Liveness is unchanged: an outage never restarts the controller.
    assert_eq!(http_get(&outage.listen, "/healthz").await.0, 200);
    // Long enough for the probe of the server to fail too, not only the watch.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(outage.readyz().await, 503);
    assert_eq!(http_get(&outage.listen, "/healthz").await.0, 200);

    outage.server.restart();
    eventually("/readyz 200 again", WAIT, || async {
        (outage.readyz().await == 200).then_some(())
    })
    .await;
    let logs = outage.controller.logs();
    assert!(
        logs.contains("the API server does not answer: not ready")
            && logs.contains("the API server answers again"),
        "{logs}"
    );
}

#[tokio::test]
async fn a_sync_request_made_after_the_api_server_restarts_is_handled_within_seconds() {
    let mut outage = Outage::start().await;
    outage.server.kill();
    // Down long enough for the watch's retries to back off.
    tokio::time::sleep(Duration::from_secs(10)).await;
    outage.server.restart();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let client = outage.server.admin().await;
    let ns = outage.ns.clone();
    outage
        .remote
        .commit(&[("deploy/b.yaml", &cm("b", "1"))], &[], "add b");
    request(&client, &ns, "apps", "after-restart").await;
    let asked = Instant::now();
    // Today within a second or two; before, after the watch's second backoff (~20 s).
    eventually(
        "the request made after the restart handled",
        Duration::from_secs(6),
        || async {
            handled(&client, &ns, "apps", "after-restart")
                .await
                .then_some(())
        },
    )
    .await;
    eprintln!(
        "request handled {:.1} s after it was made",
        asked.elapsed().as_secs_f64()
    );
    assert_eq!(config_maps(&client, &ns).await, ["a", "b"]);
}

#[tokio::test]
async fn two_different_failures_in_a_row_make_two_events_each_with_its_own_message() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-events").await;
    let remote = Remote::new(&[("deploy/a.yaml", &cm("a", "1"))]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&ns]).await;
    let mut first = spec(&daemon.url(), "deploy", &ns, "deployer");
    first["repository"]["secretRef"] = json!({"name": "first-token"});
    create_sync(&client, &ns, "apps", first, json!({})).await;
    let _controller = Controller::start(&ns, &["--no-leader-election"]);
    wait_for_ready(&client, &ns, "apps", "False", "CredentialsFailed").await;

    syncs(&client, &ns)
        .patch(
            "apps",
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"spec": {"repository": {"secretRef": {"name": "second-token"}}}}),
            ),
        )
        .await
        .unwrap();
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let notes = eventually("an Event for each failure", WAIT, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        let mut failures: Vec<(String, String)> = list
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("apps"))
            .filter(|e| e.reason.as_deref() == Some("ReconcileFailed"))
            .map(|e| {
                let at = e.event_time.map(|t| t.0.to_string()).unwrap_or_default();
                (at, e.note.unwrap_or_default())
            })
            .collect();
        failures.sort();
        (failures.len() >= 2).then_some(failures)
    })
    .await;
    assert_eq!(notes.len(), 2, "{notes:#?}");
    // In order, each with its own text: the newest is the second failure.
    assert!(notes[0].1.contains("first-token"), "{notes:#?}");
    assert!(notes[1].1.contains("second-token"), "{notes:#?}");
    assert!(!notes[1].1.contains("first-token"), "{notes:#?}");
}

/// Syncs, each under a ServiceAccount of its own, in the connection test.
const ACCOUNTS: usize = 40;

#[tokio::test]
async fn syncs_under_many_service_accounts_share_connections_to_the_api_server() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-conns").await;
    let files: Vec<(String, String)> = (0..ACCOUNTS)
        .map(|i| (format!("deploy/{i}/a.yaml"), cm(&format!("a-{i}"), "1")))
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let remote = Remote::new(&files);
    let daemon = Daemon::start(&remote.base);
    for i in 0..ACCOUNTS {
        let account = format!("deployer-{i}");
        service_account(&client, &ns, &account, &[&ns]).await;
        create_sync(
            &client,
            &ns,
            &format!("apps-{i}"),
            spec(&daemon.url(), &format!("deploy/{i}"), &ns, &account),
            json!({}),
        )
        .await;
    }
    let controller = Controller::start(&ns, &["--no-leader-election"]);
    for i in 0..ACCOUNTS {
        wait_for_ready(
            &client,
            &ns,
            &format!("apps-{i}"),
            "True",
            "ReconciliationSucceeded",
        )
        .await;
    }
    // Every account holds one drift watch (ConfigMaps in the namespace: the accounts may not
    // watch them elsewhere), each an HTTP/1.1 connection of its own while it runs. Everything
    // else the syncs send goes through one shared pool.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let port = api_port(&support::kubeconfig());
    let open = connections_to(controller.pid(), port);
    eprintln!("{open} connections to the API server for {ACCOUNTS} accounts");
    // One per drift watch, the controller's two GitSync watches, at most 8 idle in the pool
    // every client shares, and two for requests in flight (the readiness probe's, a status).
    let bound = ACCOUNTS + 2 + 8 + 2;
    assert!(
        open <= bound,
        "{open} connections to the API server for {ACCOUNTS} accounts (bound {bound})"
    );
    assert!(
        open >= ACCOUNTS,
        "{open}: the drift watches are not all running"
    );
}

#[tokio::test]
async fn a_commit_reaches_every_sync_of_its_branch_within_one_interval() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-commit").await;
    let other = support::namespace(&client, "ctl-commit-2").await;
    let remote = Remote::new(&[("deploy/a.yaml", &cm("a", "1"))]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&ns, &other]).await;
    let interval = Duration::from_secs(20);
    let every = |target: &str| {
        let mut spec = spec(&daemon.url(), "deploy", target, "deployer");
        spec["interval"] = json!("20s");
        spec
    };
    let _controller = Controller::start(&ns, &["--no-leader-election"]);
    create_sync(&client, &ns, "first", every(&ns), json!({})).await;
    wait_for_ready(&client, &ns, "first", "True", "ReconciliationSucceeded").await;
    // The second sync reads the cache `first` filled, and is due half an interval later.
    tokio::time::sleep(Duration::from_secs(10)).await;
    create_sync(&client, &ns, "second", every(&other), json!({})).await;
    wait_for_ready(&client, &ns, "second", "True", "ReconciliationSucceeded").await;
    // `first` fetches now (a request): its next fetch is one interval away, and `second`
    // comes due in between, finding this fetch younger than its interval.
    tokio::time::sleep(Duration::from_secs(5)).await;
    request(&client, &ns, "first", "fetch-now").await;
    eventually("the request handled", WAIT, || async {
        handled(&client, &ns, "first", "fetch-now")
            .await
            .then_some(())
    })
    .await;

    remote.commit(&[("deploy/b.yaml", &cm("b", "1"))], &[], "add b");
    let pushed = Instant::now();
    // Within one interval of the push (and a margin for the apply), not two.
    eventually(
        "the commit applied by both syncs",
        interval + Duration::from_secs(8),
        || async {
            let both = config_maps(&client, &ns).await == ["a", "b"]
                && config_maps(&client, &other).await == ["a", "b"];
            both.then_some(())
        },
    )
    .await;
    eprintln!(
        "commit applied by both syncs {:.1} s after the push",
        pushed.elapsed().as_secs_f64()
    );
}
