//! What a server a tenant chooses says never reaches a GitSync's status, its Events or the
//! controller's log: a chart repository's status line and body, a git server's `ERR` line.
//! The sync fails naming the repository and what failed (an HTTP status code, a class of
//! failure) in the controller's words.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::json;

use crate::chart_repo::{HttpRepo, lock_chart};
use crate::controller::{
    Controller, config_maps, create_sync, install_crd, service_account, spec, syncs, wait_for_ready,
};
use crate::reconcile::{Daemon, Remote, WAIT, eventually};
use crate::support;

/// A server that answers every connection with `answer` once it has read a request.
struct Canned {
    port: u16,
    answered: Arc<AtomicUsize>,
}

impl Canned {
    fn on(listener: TcpListener, answer: Vec<u8>) -> Self {
        let port = listener.local_addr().unwrap().port();
        let answered = Arc::new(AtomicUsize::new(0));
        let count = answered.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let mut request = [0u8; 8192];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(&answer);
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        Canned { port, answered }
    }

    fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

/// An HTTP answer carrying `canary` in its status text and its body.
fn http_error(canary: &str) -> Vec<u8> {
    let body = format!("<html>{canary}: the server's own words</html>\n");
    format!(
        "HTTP/1.1 404 Not Found {canary}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The status, the Events' notes and the log of a sync, as one text to search.
async fn everything_said(client: &kube::Client, ns: &str, controller: &Controller) -> String {
    let mut said = String::new();
    for sync in syncs(client, ns)
        .list(&ListParams::default())
        .await
        .unwrap()
    {
        said.push_str(&serde_json::to_string(&sync.status).unwrap());
    }
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    for event in events.list(&ListParams::default()).await.unwrap() {
        said.push_str(&event.note.unwrap_or_default());
    }
    said.push_str(&controller.logs());
    said
}

#[tokio::test]
async fn a_chart_repositorys_error_text_reaches_no_status_event_or_log() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "quote-chart").await;
    let canary = support::unique_name("canary-chart");

    // A chart locked against a repository that then answers every request with an error
    // whose status text and body carry the canary; and a `helmCharts:` entry pulling from it.
    let repo = HttpRepo::start(&[("dep", "1.0.0", "x")], None);
    let url = repo.url();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let chart = scratch.path().join("app");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    let chart_yaml = format!(
        "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: dep\n  \
         version: \"1.0.0\"\n  repository: {url}\n"
    );
    std::fs::write(chart.join("Chart.yaml"), &chart_yaml).unwrap();
    lock_chart(&chart, &[]);
    let lock = std::fs::read_to_string(chart.join("Chart.lock")).unwrap();
    drop(repo);
    let server = Canned::on(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        http_error(&canary),
    );
    let pulled =
        format!("helmCharts:\n- name: web\n  repo: {url}\n  version: 0.1.0\n  releaseName: demo\n");
    let remote = Remote::new(&[
        ("dependency/Chart.yaml", chart_yaml.as_str()),
        ("dependency/Chart.lock", &lock),
        (
            "dependency/templates/cm.yaml",
            &crate::reconcile::cm("app", "1"),
        ),
        ("pulled/kustomization.yaml", &pulled),
    ]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&ns]).await;
    for path in ["dependency", "pulled"] {
        create_sync(
            &client,
            &ns,
            path,
            spec(&daemon.url(), path, &ns, "deployer"),
            json!({}),
        )
        .await;
    }
    // kustomize runs `helmCharts:` with Helm 3 only.
    let helm = support::helm3().to_string_lossy().into_owned();
    let controller = Controller::start(
        &ns,
        &[
            "--no-leader-election",
            "--helm-binary",
            &helm,
            "-v",
            "--log-format",
            "json",
        ],
    );

    for path in ["dependency", "pulled"] {
        let message = wait_for_ready(&client, &ns, path, "False", "RenderFailed").await;
        assert!(
            message.contains(&format!("127.0.0.1:{port}")) && message.contains("HTTP 404"),
            "{path}: {message}"
        );
        assert!(!message.contains(&canary), "{path}: {message}");
    }
    assert!(server.answered() >= 2, "helm never asked the repository");
    // Events are written after the status: wait for one per sync.
    eventually("a ReconcileFailed Event per sync", WAIT, || async {
        let events: Api<Event> = Api::namespaced(client.clone(), &ns);
        let failed = events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("ReconcileFailed"))
            .count();
        (failed >= 2).then_some(())
    })
    .await;
    let said = everything_said(&client, &ns, &controller).await;
    assert!(!said.contains(&canary), "{said}");
    assert!(config_maps(&client, &ns).await.is_empty());
}

#[tokio::test]
async fn a_git_servers_error_line_reaches_no_status_event_or_log() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "quote-git").await;
    let canary = support::unique_name("canary-git");
    // A git daemon that answers every request with `ERR <canary>`.
    let line = format!("ERR {canary}: the server's own words\n");
    let packet = format!("{:04x}{line}", line.len() + 4).into_bytes();
    let server = Canned::on(TcpListener::bind(("127.0.0.1", 0)).unwrap(), packet);
    let url = format!("git://127.0.0.1:{}/repo.git", server.port);
    service_account(&client, &ns, "deployer", &[&ns]).await;
    create_sync(
        &client,
        &ns,
        "app",
        spec(&url, "deploy", &ns, "deployer"),
        json!({}),
    )
    .await;
    let controller =
        Controller::start(&ns, &["--no-leader-election", "-v", "--log-format", "json"]);

    let message = wait_for_ready(&client, &ns, "app", "False", "FetchFailed").await;
    assert!(
        message.contains(&url) && message.contains("did not complete git's handshake"),
        "{message}"
    );
    assert!(!message.contains(&canary), "{message}");
    assert!(
        server.answered() >= 1,
        "the controller never asked the server"
    );
    eventually("the ReconcileFailed Event", WAIT, || async {
        let events: Api<Event> = Api::namespaced(client.clone(), &ns);
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .any(|e| e.reason.as_deref() == Some("ReconcileFailed"))
            .then_some(())
    })
    .await;
    let said = everything_said(&client, &ns, &controller).await;
    assert!(!said.contains(&canary), "{said}");
}
