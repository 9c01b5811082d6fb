//! A tenant's repository against the controller's runtime and memory: a render waits on
//! helm and kustomize apart from the async runtime, ends at its deadline with every process it
//! started, and reads no more output than its cap. The attacks are the ones a tenant with
//! commit rights can make: chart repositories that accept a connection and never answer, and
//! a small chart printing hundreds of megabytes.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::chart_repo::{HttpRepo, lock_chart};
use crate::controller::{
    Controller, config_maps, create_sync, install_crd, ready, service_account, spec, syncs,
    wait_for_ready,
};
use crate::reconcile::{Daemon, Remote, WAIT, cm, eventually, free_port};
use crate::support;

/// The peak memory the shipped Deployment allows the controller.
const MEMORY_LIMIT: u64 = 512 * 1024 * 1024;

/// How long a probe may take to answer, as a kubelet with a one-second timeout waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// A chart repository that accepts every connection and never answers.
struct SilentRepo {
    port: u16,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl SilentRepo {
    fn listen(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("binding the silent port");
        let connections = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (kept, stopped) = (connections.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = stream {
                    kept.lock().unwrap().push(stream);
                }
            }
        });
        SilentRepo {
            port,
            connections,
            stop,
        }
    }

    fn accepted(&self) -> usize {
        self.connections.lock().unwrap().len()
    }

    /// Connections whose other end is still open: its process still waits for an answer.
    fn still_waiting(&self) -> usize {
        let connections = self.connections.lock().unwrap();
        connections.iter().filter(|c| peer_open(c)).count()
    }
}

impl Drop for SilentRepo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Whether the peer of `stream` has not closed it (what it sent is read and dropped).
fn peer_open(mut stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// A chart's files (relative to its directory) depending on `dep` 1.0.0 from a repository
/// that, once the chart is locked, accepts connections and never answers.
fn chart_of_a_silent_repository(name: &str) -> (Vec<(String, String)>, SilentRepo) {
    let repo = HttpRepo::start(&[("dep", "1.0.0", "x")], None);
    let url = repo.url();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let chart = scratch.path().join(name);
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    let chart_yaml = format!(
        "apiVersion: v2\nname: {name}\nversion: 1.0.0\ndependencies:\n- name: dep\n  \
         version: \"1.0.0\"\n  repository: {url}\n"
    );
    std::fs::write(chart.join("Chart.yaml"), &chart_yaml).unwrap();
    lock_chart(&chart, &[]);
    let lock = std::fs::read_to_string(chart.join("Chart.lock")).unwrap();
    // The repository that served the lock goes silent at the same address.
    drop(repo);
    let silent = SilentRepo::listen(port);
    let files = vec![
        ("Chart.yaml".to_string(), chart_yaml),
        ("Chart.lock".to_string(), lock),
        (
            "templates/config.yaml".to_string(),
            cm(&format!("{name}-config"), "1"),
        ),
    ];
    (files, silent)
}

/// `files` placed under `dir/`.
fn under(dir: &str, files: &[(String, String)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(path, text)| (format!("{dir}/{path}"), text.clone()))
        .collect()
}

fn remote_of(files: &[(String, String)]) -> Remote {
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    Remote::new(&files)
}

/// The status code of `GET path`, or `None` when no answer came within `PROBE_TIMEOUT`.
async fn probe(addr: &str, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        String::from_utf8_lossy(&answer)
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    tokio::time::timeout(PROBE_TIMEOUT, exchange)
        .await
        .ok()
        .flatten()
}

/// The peak resident memory of process `pid` (`VmHWM`), in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in /proc status");
    kib * 1024
}

/// The helm, kubectl and kustomize processes descending from process `root`, by name.
fn render_processes_under(root: u32) -> Vec<String> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so read around its parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().unwrap_or("Z");
        let ppid: u32 = rest.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if state != "Z" {
            parents.push((pid, ppid, comm));
        }
    }
    let mut family = vec![root];
    let mut found = Vec::new();
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, ppid, comm) in &parents {
            if family.contains(ppid) && !family.contains(pid) {
                family.push(*pid);
                grew = true;
                if ["helm", "kubectl", "kustomize"].contains(&comm.as_str()) {
                    found.push(format!("{comm} ({pid})"));
                }
            }
        }
    }
    found
}

fn helm_flag() -> String {
    support::helm().to_string_lossy().into_owned()
}

#[tokio::test]
async fn two_charts_whose_repository_never_answers_delay_neither_the_probes_nor_another_sync() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "bounds-silent").await;
    let (chart, silent) = chart_of_a_silent_repository("stuck");
    let mut files = under("stuck-a", &chart);
    files.extend(under("stuck-b", &chart));
    files.push(("plain/a.yaml".into(), cm("unrelated", "1")));
    let remote = remote_of(&files);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&ns]).await;
    for name in ["stuck-a", "stuck-b"] {
        create_sync(
            &client,
            &ns,
            name,
            spec(&daemon.url(), name, &ns, "deployer"),
            json!({}),
        )
        .await;
    }

    // As many runtime workers as hanging renders: a render run on one would take them all.
    let listen = format!("127.0.0.1:{}", free_port());
    let helm = helm_flag();
    let _controller = Controller::start_with_env(
        &ns,
        &[
            "--no-leader-election",
            "--listen",
            &listen,
            "--helm-binary",
            &helm,
        ],
        &[("TOKIO_WORKER_THREADS", "2")],
    );
    eventually(
        "both renders waiting on the silent repository",
        WAIT,
        || async { (silent.accepted() >= 2).then_some(()) },
    )
    .await;

    create_sync(
        &client,
        &ns,
        "unrelated",
        spec(&daemon.url(), "plain", &ns, "deployer"),
        json!({}),
    )
    .await;
    let started = Instant::now();
    loop {
        assert_eq!(
            probe(&listen, "/healthz").await,
            Some(200),
            "/healthz did not answer within {PROBE_TIMEOUT:?} while two renders waited"
        );
        assert!(
            probe(&listen, "/readyz").await.is_some(),
            "/readyz did not answer within {PROBE_TIMEOUT:?} while two renders waited"
        );
        if ready(&client, &ns, "unrelated")
            .await
            .is_some_and(|(status, _, _)| status == "True")
        {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the unrelated sync did not converge while two renders waited"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(config_maps(&client, &ns).await, ["unrelated"]);
    // The two renders are still waiting: nothing of theirs was applied.
    assert!(silent.still_waiting() >= 2);
    for name in ["stuck-a", "stuck-b"] {
        let state = ready(&client, &ns, name).await;
        assert!(
            !state
                .as_ref()
                .is_some_and(|(status, _, _)| status == "True"),
            "{name}: {state:?}"
        );
    }
}

#[tokio::test]
async fn a_tenant_with_more_hanging_renders_than_slots_delays_neither_another_tenant_nor_the_probes()
 {
    let client = support::admin().await;
    install_crd(&client).await;
    let tenant_a = support::namespace(&client, "bounds-hog").await;
    let tenant_b = support::namespace(&client, "bounds-fair").await;
    // Only this test's syncs: both namespaces, one shard of their own.
    let shard = support::unique_name("fair");
    let labels = json!({ kubectl_gitops::controller::crd::SHARD_LABEL: shard });
    let (chart, silent) = chart_of_a_silent_repository("stuck");
    let hanging = ["stuck-a", "stuck-b", "stuck-c"];
    let mut files: Vec<(String, String)> = hanging.iter().flat_map(|d| under(d, &chart)).collect();
    files.push(("plain/a.yaml".into(), cm("unrelated", "1")));
    let remote = remote_of(&files);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &tenant_a, "deployer", &[&tenant_a]).await;
    service_account(&client, &tenant_b, "deployer", &[&tenant_b]).await;
    for name in hanging {
        create_sync(
            &client,
            &tenant_a,
            name,
            spec(&daemon.url(), name, &tenant_a, "deployer"),
            labels.clone(),
        )
        .await;
    }

    // Two slots, three renders of tenant A that hang until their deadline (3m, far past WAIT).
    let listen = format!("127.0.0.1:{}", free_port());
    let helm = helm_flag();
    let _controller = Controller::start_with(
        &[
            "--shard",
            &shard,
            "--no-leader-election",
            "--allow-fetch-to",
            "127.0.0.1",
            "--concurrent-syncs",
            "2",
            "--listen",
            &listen,
            "--helm-binary",
            &helm,
        ],
        &[],
    );
    eventually(
        "tenant A's renders waiting on the silent repository",
        WAIT,
        || async { (silent.accepted() >= 1).then_some(()) },
    )
    .await;
    // Time for A's other syncs to take every slot they could.
    tokio::time::sleep(Duration::from_secs(2)).await;

    create_sync(
        &client,
        &tenant_b,
        "unrelated",
        spec(&daemon.url(), "plain", &tenant_b, "deployer"),
        labels.clone(),
    )
    .await;
    let started = Instant::now();
    loop {
        assert_eq!(
            probe(&listen, "/healthz").await,
            Some(200),
            "/healthz did not answer within {PROBE_TIMEOUT:?} while tenant A's renders waited"
        );
        if ready(&client, &tenant_b, "unrelated")
            .await
            .is_some_and(|(status, _, _)| status == "True")
        {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "tenant B's sync did not converge while tenant A's renders held the slots"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(config_maps(&client, &tenant_b).await, ["unrelated"]);
    // A's renders still wait, and nothing of theirs was applied.
    assert!(silent.still_waiting() >= 1);
    assert!(config_maps(&client, &tenant_a).await.is_empty());
}

#[tokio::test]
async fn a_chart_printing_hundreds_of_megabytes_fails_its_sync_and_the_controller_stays_small() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "bounds-bomb").await;
    // Ten kilobytes of templates, 30,000 ConfigMaps of 10 KiB: 300 MB of YAML.
    let template = "{{- $blob := repeat 10240 \"x\" }}\n\
                    {{- range $i := until 30000 }}\n\
                    ---\n\
                    apiVersion: v1\n\
                    kind: ConfigMap\n\
                    metadata:\n  name: bomb-{{ $i }}\n\
                    data:\n  blob: {{ $blob }}\n\
                    {{- end }}\n";
    let remote = remote_of(&[
        (
            "bomb/Chart.yaml".into(),
            "apiVersion: v2\nname: bomb\nversion: 1.0.0\n".into(),
        ),
        ("bomb/templates/bomb.yaml".into(), template.into()),
    ]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&ns]).await;
    create_sync(
        &client,
        &ns,
        "bomb",
        spec(&daemon.url(), "bomb", &ns, "deployer"),
        json!({}),
    )
    .await;
    let helm = helm_flag();
    let controller = Controller::start(&ns, &["--no-leader-election", "--helm-binary", &helm]);

    // helm takes its time to render it all before printing the first byte.
    let message = eventually("the bomb's sync to fail", 6 * WAIT, || async {
        ready(&client, &ns, "bomb")
            .await
            .filter(|(status, reason, _)| status == "False" && reason == "RenderFailed")
            .map(|(_, _, message)| message)
    })
    .await;
    assert!(
        message.contains("bomb: `helm template` was stopped")
            && message.contains("more than 32Mi")
            && message.contains("--max-render-bytes"),
        "{message}"
    );
    let peak = peak_memory(controller.pid());
    eprintln!(
        "controller peak resident memory: {} MiB",
        peak / (1024 * 1024)
    );
    assert!(
        peak < MEMORY_LIMIT,
        "the controller peaked at {} MiB",
        peak / (1024 * 1024)
    );
    assert!(config_maps(&client, &ns).await.is_empty());
}

#[tokio::test]
async fn a_render_past_its_deadline_is_killed_with_its_processes_and_prunes_nothing() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "bounds-deadline").await;
    let remote = Remote::new(&[
        (
            "app/Chart.yaml",
            "apiVersion: v2\nname: app\nversion: 1.0.0\n",
        ),
        ("app/templates/kept.yaml", &cm("kept", "1")),
    ]);
    let daemon = Daemon::start(&remote.base);
    service_account(&client, &ns, "deployer", &[&ns]).await;
    let mut sync = spec(&daemon.url(), "app", &ns, "deployer");
    sync["renderLimits"] = json!({"timeout": "3s"});
    create_sync(&client, &ns, "app", sync, json!({})).await;
    let helm = helm_flag();
    let controller = Controller::start(&ns, &["--no-leader-election", "--helm-binary", &helm]);
    wait_for_ready(&client, &ns, "app", "True", "ReconciliationSucceeded").await;
    assert_eq!(config_maps(&client, &ns).await, ["kept"]);

    // The next commit drops `kept` and depends on a repository that never answers: applied,
    // it would prune `kept`.
    let (chart, silent) = chart_of_a_silent_repository("app");
    let files = under("app", &chart);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    remote.commit(
        &files,
        &["app/templates/kept.yaml"],
        "depend on a silent repository",
    );
    syncs(&client, &ns)
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                kubectl_gitops::controller::crd::REQUESTED_AT: "now"}}})),
        )
        .await
        .unwrap();

    let message = wait_for_ready(&client, &ns, "app", "False", "RenderFailed").await;
    assert!(
        // In the controller the indexes of HTTP(S) repositories are read by our own client,
        // within what is left of the render's deadline, which its message names.
        message.contains("index.yaml: the render did not finish within its deadline of 3s"),
        "{message}"
    );
    assert!(silent.accepted() >= 1, "helm never asked the repository");
    // No more retries; the render that may have started since ends at its own deadline.
    syncs(&client, &ns)
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await
        .unwrap();
    eventually(
        "every helm of the render killed and its connection closed",
        WAIT,
        || async {
            (render_processes_under(controller.pid()).is_empty() && silent.still_waiting() == 0)
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        config_maps(&client, &ns).await,
        ["kept"],
        "something was pruned"
    );
}
