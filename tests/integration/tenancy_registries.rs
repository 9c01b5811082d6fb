//! A tenant's OCI registry, and a lock mixing an https repository with a registry and a
//! directory, as a tenant would turn them on the controller: a token service or a download
//! redirect on the controller's loopback, which helm (Go) would reach around the fetch proxy.
//! Each attack names an allowed address (127.0.0.2) that sends the controller on to a canary
//! on 127.0.0.1; the canary must see nothing until the operator allows 127.0.0.1.
//!
//! The registry behind every test is the distribution project's (`chart_repo::Registry`);
//! the tenant's part is a relay before it (`Front`) that answers some requests itself, as a
//! registry the tenant runs may.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::chart_repo::{HttpRepo, Registry, helm_with, registry_login, run, write_chart};
use crate::controller::{config_maps, ready, spec, wait_for_ready};
use crate::reconcile::{Remote, WAIT, cm, eventually};
use crate::support;
use crate::tenancy_claims::{Tenants, redirect_over_tls, tls_acceptor};

/// What the tenant's registry does besides relaying.
#[derive(Clone)]
enum Mode {
    /// Every request goes to the registry behind.
    Relay,
    /// A request without `Bearer TOKEN` is answered `401`, naming `realm` as the token service.
    TokenAt { realm: String, token: String },
    /// A blob download is redirected to this URL.
    BlobsTo(String),
}

/// The tenant's registry: on 127.0.0.2, relaying to a real registry one request per
/// connection, unless its mode answers first.
struct Front {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
}

impl Front {
    fn start(upstream: SocketAddr) -> Front {
        let listener = TcpListener::bind(("127.0.0.2", 0)).expect("binding 127.0.0.2");
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(Mode::Relay));
        let shared = mode.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mode = shared.lock().unwrap().clone();
                std::thread::spawn(move || answer(stream, upstream, &mode));
            }
        });
        Front { addr, mode }
    }

    /// `oci://127.0.0.2:PORT/charts`.
    fn reference(&self) -> String {
        format!("oci://{}/charts", self.addr)
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

/// The request head on `stream`: its lines, without the blank one.
fn head(stream: &mut TcpStream) -> Vec<String> {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") && bytes.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => bytes.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&bytes)
        .split("\r\n")
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

fn answer(mut stream: TcpStream, upstream: SocketAddr, mode: &Mode) {
    let lines = head(&mut stream);
    let Some(request) = lines.first() else {
        return;
    };
    let path = request.split(' ').nth(1).unwrap_or("/").to_string();
    let header = |name: &str| {
        lines.iter().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    match mode {
        Mode::TokenAt { realm, token }
            if header("authorization").as_deref() != Some(&format!("Bearer {token}")) =>
        {
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",\
                 service=\"tenant-registry\",scope=\"repository:charts/web:pull\"\r\n\
                 Docker-Distribution-Api-Version: registry/2.0\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            );
            return;
        }
        Mode::BlobsTo(target) if path.contains("/blobs/") => {
            let _ = write!(
                stream,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            );
            return;
        }
        _ => {}
    }
    let Ok(mut behind) = TcpStream::connect(upstream) else {
        return;
    };
    let mut forwarded = String::new();
    forwarded.push_str(request);
    forwarded.push_str("\r\n");
    for line in lines.iter().skip(1) {
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        if name != "connection" {
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
    }
    // One request per connection, so that each is seen here.
    forwarded.push_str("Connection: close\r\n\r\n");
    if behind.write_all(forwarded.as_bytes()).is_ok() {
        let _ = std::io::copy(&mut behind, &mut stream);
    }
}

/// A server on 127.0.0.1 counting the connections it gets, answering each with `body`.
struct Canary {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    /// Requests that carried an `Authorization` header.
    authorized: Arc<AtomicUsize>,
}

impl Canary {
    fn start(body: &str) -> Canary {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let authorized = Arc::new(AtomicUsize::new(0));
        let (count, with_login, body) = (hits.clone(), authorized.clone(), body.to_string());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let lines = head(&mut stream);
                if lines
                    .iter()
                    .any(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                {
                    with_login.fetch_add(1, Ordering::SeqCst);
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Canary {
            addr,
            hits,
            authorized,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn authorized(&self) -> usize {
        self.authorized.load(Ordering::SeqCst)
    }
}

/// A tenant's repository with two GitSync paths using `web` 0.1.0: `dependency/`, a chart
/// whose Chart.lock pins it from `locked` (locked outside the controller, where nothing is
/// confined), and `pulled/`, a kustomization's `helmCharts:` entry pulling it from `pulled`.
fn two_uses(locked: &str, pulled: &str) -> Remote {
    let reference = locked;
    let scratch = tempfile::tempdir().unwrap();
    let chart = scratch.path().join("app");
    std::fs::create_dir_all(&chart).unwrap();
    let chart_yaml = format!(
        "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: web\n  \
         version: \"0.1.0\"\n  repository: {reference}\n"
    );
    std::fs::write(chart.join("Chart.yaml"), &chart_yaml).unwrap();
    crate::chart_repo::lock_chart(&chart, &["--plain-http"]);
    let lock = std::fs::read_to_string(chart.join("Chart.lock")).unwrap();
    let pulled = format!(
        "helmCharts:\n- name: web\n  repo: {pulled}\n  version: 0.1.0\n  releaseName: demo\n"
    );
    Remote::new(&[
        ("dependency/Chart.yaml", &chart_yaml),
        ("dependency/Chart.lock", &lock),
        ("dependency/templates/cm.yaml", &cm("app", "1")),
        ("pulled/kustomization.yaml", &pulled),
    ])
}

const PATHS: [&str; 2] = ["dependency", "pulled"];

async fn sync_both(t: &Tenants, remote: &Remote) {
    let url = format!("file://{}", remote.base.join("platform.git").display());
    for path in PATHS {
        t.sync(&t.a, path, spec(&url, path, &t.a, "deployer")).await;
    }
}

#[tokio::test]
async fn a_registry_naming_a_token_service_on_loopback_is_refused_before_anything_is_asked_there() {
    let t = Tenants::new("realm").await;
    let registry = Registry::start(None);
    registry.publish("web", "0.1.0", "from-registry", None);
    let literal = Front::start(registry.addr);
    let named = Front::start(registry.addr);
    let remote = two_uses(&literal.reference(), &named.reference());
    // From now on the registries the operator allows answer 401 naming a token service on
    // the controller's loopback: one as the address (which helm 3.22 and 4 refuse too), one as
    // `localhost` (which helm asks directly, around the fetch proxy).
    let canary = Canary::start("{\"token\":\"tok-from-loopback\"}");
    let realm = canary.url("/token");
    let token = "tok-from-loopback".to_string();
    literal.set(Mode::TokenAt {
        realm: realm.clone(),
        token: token.clone(),
    });
    named.set(Mode::TokenAt {
        realm: realm.replace("127.0.0.1", "localhost"),
        token,
    });
    sync_both(&t, &remote).await;
    let helm = support::helm3();
    let env: &[(&str, &Path)] = &[("GITOPS_HELM", &helm)];

    let allowed = ["--allow-file-sources", "--allow-fetch-to", "127.0.0.2"];
    let strict = t.controller(&allowed, env);
    for (path, host) in [("dependency", "127.0.0.1"), ("pulled", "localhost")] {
        let refused = wait_for_ready(&t.client, &t.a, path, "False", "RenderFailed").await;
        assert!(
            refused.contains("token service")
                && refused.contains(&format!("refusing to fetch from {host}"))
                && refused.contains("loopback")
                && refused.contains("--allow-fetch-to"),
            "{path}: {refused}"
        );
    }
    assert_eq!(canary.hits(), 0, "the token service on loopback was asked");
    assert!(config_maps(&t.client, &t.a).await.is_empty());
    assert!(!strict.logs().contains("tok-from-loopback"));
    drop(strict);

    // Allowing the address lets the token through, and the charts with it.
    let loopback = [
        "--allow-fetch-to",
        "127.0.0.1",
        "--allow-fetch-to",
        "localhost",
    ];
    let _allowed = t.controller(&[&allowed[..], &loopback].concat(), env);
    for path in PATHS {
        t.sync_now(&t.a, path);
        wait_for_ready(&t.client, &t.a, path, "True", "ReconciliationSucceeded").await;
    }
    assert_eq!(
        config_maps(&t.client, &t.a).await,
        ["app", "demo-web", "dependency-web"]
    );
    assert!(canary.hits() > 0, "the token came from the allowed service");
}

#[tokio::test]
async fn a_registry_redirecting_a_chart_download_to_loopback_is_refused_before_anything_is_asked_there()
 {
    let t = Tenants::new("blob-redirect").await;
    let registry = Registry::start(None);
    registry.publish("web", "0.1.0", "from-registry", None);
    let front = Front::start(registry.addr);
    let remote = two_uses(&front.reference(), &front.reference());
    // Registries send blob downloads to storage elsewhere; this one sends them to the
    // controller's loopback.
    let canary = Canary::start("{}");
    front.set(Mode::BlobsTo(canary.url("/blob")));
    sync_both(&t, &remote).await;
    let helm = support::helm3();
    let env: &[(&str, &Path)] = &[("GITOPS_HELM", &helm)];

    let _controller = t.controller(
        &["--allow-file-sources", "--allow-fetch-to", "127.0.0.2"],
        env,
    );
    for path in PATHS {
        let refused = wait_for_ready(&t.client, &t.a, path, "False", "RenderFailed").await;
        assert!(
            refused.contains("redirect")
                && refused.contains("127.0.0.1")
                && refused.contains("loopback"),
            "{path}: {refused}"
        );
    }
    assert_eq!(canary.hits(), 0, "the download on loopback was asked");
    assert!(config_maps(&t.client, &t.a).await.is_empty());
}

/// The message of `path`'s sync once it fails rendering with a message holding `needle`.
async fn failed_with(t: &Tenants, path: &str, needle: &str) -> String {
    eventually(
        &format!("GitSync {path} failing with {needle:?}"),
        WAIT,
        || async {
            ready(&t.client, &t.a, path)
                .await
                .filter(|(status, reason, message)| {
                    status == "False" && reason == "RenderFailed" && message.contains(needle)
                })
                .map(|(_, _, message)| message)
        },
    )
    .await
}

#[tokio::test]
async fn a_private_registrys_login_goes_to_the_registry_and_never_along_a_redirect() {
    let t = Tenants::new("registry-login").await;
    let registry = Registry::start(Some(crate::helm_dependencies::HTPASSWD));
    let logins = tempfile::tempdir().unwrap();
    let push = registry_login(logins.path(), registry.addr, "ci", "oci-pa55word");
    registry.publish("web", "0.1.0", "private-oci", Some(&push));
    let front = Front::start(registry.addr);
    let right = registry_login(logins.path(), front.addr, "ci", "oci-pa55word");
    let wrong = registry_login(logins.path(), front.addr, "ci", "wrong-oci-secret");
    let pulled = format!(
        "helmCharts:\n- name: web\n  repo: {}\n  version: 0.1.0\n  releaseName: demo\n",
        front.reference()
    );
    let remote = Remote::new(&[("pulled/kustomization.yaml", &pulled)]);
    let url = format!("file://{}", remote.base.join("platform.git").display());
    t.sync(&t.a, "pulled", spec(&url, "pulled", &t.a, "deployer"))
        .await;
    let helm = support::helm3();
    let allowed = [
        "--allow-file-sources",
        "--allow-fetch-to",
        "127.0.0.2",
        "--allow-fetch-to",
        "127.0.0.1",
    ];

    let env: &[(&str, &Path)] = &[
        ("GITOPS_HELM", &helm),
        ("GITOPS_HELM_REGISTRY_CONFIG", &wrong),
    ];
    let refused = t.controller(&allowed, env);
    let message = failed_with(&t, "pulled", "HTTP 401").await;
    assert!(!message.contains("wrong-oci-secret"), "{message}");
    assert!(!refused.logs().contains("wrong-oci-secret"));
    drop(refused);

    // The registry sends the download elsewhere: the login stays behind, and what comes back
    // is checked against the digest the manifest gives.
    let canary = Canary::start("{}");
    front.set(Mode::BlobsTo(canary.url("/blob")));
    let env: &[(&str, &Path)] = &[
        ("GITOPS_HELM", &helm),
        ("GITOPS_HELM_REGISTRY_CONFIG", &right),
    ];
    let _controller = t.controller(&allowed, env);
    t.sync_now(&t.a, "pulled");
    failed_with(&t, "pulled", "the chart layer of web 0.1.0").await;
    assert!(canary.hits() > 0, "the redirect was followed");
    assert_eq!(canary.authorized(), 0, "the login went along the redirect");

    front.set(Mode::Relay);
    t.sync_now(&t.a, "pulled");
    wait_for_ready(&t.client, &t.a, "pulled", "True", "ReconciliationSucceeded").await;
    assert_eq!(config_maps(&t.client, &t.a).await, ["demo-web"]);
}

/// An https chart repository on 127.0.0.2 serving `inside`'s charts: relaying to it at first,
/// then, once `redirect` is set, redirecting every request to `tunnel`, an https server on
/// 127.0.0.1 that relays to it too.
async fn https_repository(
    inside: &HttpRepo,
    acceptor: tokio_rustls::TlsAcceptor,
    redirect: Arc<AtomicBool>,
) -> (String, tokio::task::JoinHandle<()>) {
    let to = inside.url().trim_start_matches("http://").to_string();
    let relay = |stream: tokio::net::TcpStream, acceptor: tokio_rustls::TlsAcceptor, to: String| async move {
        let Ok(mut stream) = acceptor.accept(stream).await else {
            return;
        };
        let Ok(mut upstream) = tokio::net::TcpStream::connect(&to).await else {
            return;
        };
        let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
    };
    let tunnel = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let tunnel_port = tunnel.local_addr().unwrap().port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.2", 0))
        .await
        .expect("binding 127.0.0.2");
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (tunnel_acceptor, tunnel_to) = (acceptor.clone(), to.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = tunnel.accept().await {
                tokio::spawn(relay(stream, tunnel_acceptor.clone(), tunnel_to.clone()));
            }
        });
        while let Ok((stream, _)) = listener.accept().await {
            if !redirect.load(Ordering::SeqCst) {
                tokio::spawn(relay(stream, acceptor.clone(), to.clone()));
                continue;
            }
            tokio::spawn(redirect_over_tls(stream, acceptor.clone(), tunnel_port));
        }
    });
    (format!("https://127.0.0.2:{port}"), task)
}

/// The ConfigMaps of a render by name, with their data.
fn data_by_name(objects: impl Iterator<Item = Value>) -> BTreeMap<String, Value> {
    objects
        .filter(|o| o["kind"] == "ConfigMap")
        .map(|o| {
            (
                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
                o["data"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_lock_whose_https_repository_redirects_to_loopback_is_refused_and_renders_as_helm_does_once_allowed()
 {
    let t = Tenants::new("mixed-lock").await;
    // The https repository's charts live in a plain repository on 127.0.0.1, whose index gives
    // relative URLs, so every download goes through the repository the tenant names.
    let canary = support::unique_name("canary-mixed");
    let inside = HttpRepo::start(&[("db", "0.1.0", &canary)], None);
    let index = inside.dir.path().join("served/index.yaml");
    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, text.replace(&format!("{}/", inside.url()), "")).unwrap();
    let certs = tempfile::tempdir().unwrap();
    let acceptor = tls_acceptor(certs.path(), "IP:127.0.0.2,IP:127.0.0.1");
    let redirect = Arc::new(AtomicBool::new(false));
    let (repository, task) = https_repository(&inside, acceptor, redirect.clone()).await;
    let registry = Registry::start(None);
    registry.publish("cache", "2.0.0", "from-oci", None);
    let front = Front::start(registry.addr);

    // `mixed/` depends on the https repository, the registry and `lib/`, a directory of the
    // repository, locked outside the controller.
    let scratch = tempfile::tempdir().unwrap();
    let tree = scratch.path().join("tree");
    std::fs::create_dir_all(tree.join("mixed/templates")).unwrap();
    let chart_yaml = format!(
        "apiVersion: v2\nname: mixed\nversion: 1.0.0\ndependencies:\n\
         - name: db\n  version: \"0.1.0\"\n  repository: {repository}\n\
         - name: cache\n  version: \"2.0.0\"\n  repository: {}\n\
         - name: lib\n  version: \"0.1.0\"\n  repository: file://../lib\n",
        front.reference()
    );
    std::fs::write(tree.join("mixed/Chart.yaml"), &chart_yaml).unwrap();
    std::fs::write(tree.join("mixed/templates/cm.yaml"), cm("mixed", "1")).unwrap();
    let lib = write_chart(scratch.path(), "lib", "0.1.0", "from-directory");
    std::fs::rename(&lib, tree.join("lib")).unwrap();
    let helm = support::helm3();
    let ca = certs.path().join("ca.pem");
    let helm_home = |home: &Path, args: &[&str]| {
        let mut command = helm_with(&helm, home);
        command.args(args);
        command
    };
    let home = scratch.path().join("home");
    run(helm_home(
        &home,
        &[
            "repo",
            "add",
            "r",
            &repository,
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    ));
    let mut update = helm_home(&home, &["dependency", "update", "--plain-http"]);
    update.arg(tree.join("mixed"));
    run(update);
    let read = |path: &str| std::fs::read_to_string(tree.join(path)).unwrap();
    let remote = Remote::new(&[
        ("mixed/Chart.yaml", &chart_yaml),
        ("mixed/Chart.lock", &read("mixed/Chart.lock")),
        ("mixed/templates/cm.yaml", &cm("mixed", "1")),
        ("lib/Chart.yaml", &read("lib/Chart.yaml")),
        ("lib/values.yaml", &read("lib/values.yaml")),
        (
            "lib/templates/config.yaml",
            &read("lib/templates/config.yaml"),
        ),
    ]);
    let url = format!("file://{}", remote.base.join("platform.git").display());
    t.sync(&t.a, "mixed", spec(&url, "mixed", &t.a, "deployer"))
        .await;
    // The operator trusts the repository's CA for it, as for any private repository.
    let repositories = certs.path().join("repositories.yaml");
    std::fs::write(
        &repositories,
        format!(
            "repositories:\n- name: allowed\n  url: {repository}\n  caFile: {}\n",
            ca.display()
        ),
    )
    .unwrap();
    let env: &[(&str, &Path)] = &[
        ("GITOPS_HELM", &helm),
        ("GITOPS_HELM_REPOSITORY_CONFIG", &repositories),
    ];

    // From now on the https repository redirects, inside its TLS tunnel, to loopback.
    redirect.store(true, Ordering::SeqCst);
    let before = inside.server.requests();
    let allowed = ["--allow-file-sources", "--allow-fetch-to", "127.0.0.2"];
    let strict = t.controller(&allowed, env);
    let refused = wait_for_ready(&t.client, &t.a, "mixed", "False", "RenderFailed").await;
    assert!(
        refused.contains("redirect")
            && refused.contains("127.0.0.1")
            && refused.contains("loopback"),
        "{refused}"
    );
    assert_eq!(
        inside.server.requests(),
        before,
        "the loopback repository behind the TLS redirect was asked"
    );
    assert!(config_maps(&t.client, &t.a).await.is_empty());
    assert!(!strict.logs().contains(&canary));
    drop(strict);

    // Allowed, the same lock renders as helm renders it after `helm dependency build`.
    let _allowed = t.controller(
        &[&allowed[..], &["--allow-fetch-to", "127.0.0.1"]].concat(),
        env,
    );
    t.sync_now(&t.a, "mixed");
    wait_for_ready(&t.client, &t.a, "mixed", "True", "ReconciliationSucceeded").await;
    std::fs::create_dir_all(scratch.path().join("oracle")).unwrap();
    let oracle_tree = support::copy_into(&remote.checkout, &scratch.path().join("oracle"));
    let oracle_home = scratch.path().join("oracle-home");
    run(helm_home(
        &oracle_home,
        &[
            "repo",
            "add",
            "r",
            &repository,
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    ));
    let mut build = helm_home(&oracle_home, &["dependency", "build", "--plain-http"]);
    build.arg(oracle_tree.join("mixed"));
    run(build);
    let mut template = helm_home(
        &oracle_home,
        &["template", "mixed", "--namespace", &t.a, "--include-crds"],
    );
    template.arg(oracle_tree.join("mixed"));
    let output = run(template);
    let oracle =
        kubectl_gitops::render::load_file(Path::new("helm-template.yaml"), output.as_bytes())
            .expect("helm's output parses");
    let expected = data_by_name(oracle.into_iter().map(|m| Value::Object(m.object)));
    let api: Api<ConfigMap> = Api::namespaced(t.client.clone(), &t.a);
    let applied = data_by_name(
        api.list(&ListParams::default().labels("applyset.kubernetes.io/part-of"))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|c| serde_json::to_value(c).unwrap()),
    );
    task.abort();
    assert_eq!(applied, expected);
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        ["mixed", "mixed-cache", "mixed-db", "mixed-lib"]
    );
    assert_eq!(expected["mixed-db"]["value"], canary.as_str());
}
