//! One controller, two tenants: each test is an attack by tenant B (a namespace, a
//! ServiceAccount whose RBAC reaches its own namespace only, and GitSyncs it creates there) on
//! tenant A, and what holds. The API server runs RBAC, so impersonation and access reviews are
//! the real ones.
//!
//! Each test's controller owns a shard of its own (`--shard`), so it sees both tenants'
//! namespaces and nothing of the tests running beside it.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::chart_repo::HttpRepo;
use crate::controller::{
    Controller, config_maps, create_sync, install_crd, service_account, spec, syncs, wait_for_ready,
};
use crate::reconcile::{Daemon, HttpsGit, Remote, WAIT, cm, eventually};
use crate::support::{self, gitops};

/// Two tenant namespaces, each with a `deployer` that may manage ConfigMaps and Secrets in
/// its own namespace only, and the shard this test's controller owns.
pub(crate) struct Tenants {
    pub(crate) client: kube::Client,
    pub(crate) a: String,
    pub(crate) b: String,
    shard: String,
}

impl Tenants {
    pub(crate) async fn new(prefix: &str) -> Self {
        let client = support::admin().await;
        install_crd(&client).await;
        let a = support::namespace(&client, &format!("{prefix}-a")).await;
        let b = support::namespace(&client, &format!("{prefix}-b")).await;
        service_account(&client, &a, "deployer", &[&a]).await;
        service_account(&client, &b, "deployer", &[&b]).await;
        let shard = support::unique_name("tenancy");
        Tenants {
            client,
            a,
            b,
            shard,
        }
    }

    /// A GitSync of this test's shard.
    pub(crate) async fn sync(&self, ns: &str, name: &str, spec: Value) {
        let labels = json!({ kubectl_gitops::controller::crd::SHARD_LABEL: self.shard });
        create_sync(&self.client, ns, name, spec, labels).await;
    }

    /// A controller of every namespace, for this test's syncs, with `flags`.
    pub(crate) fn controller(&self, flags: &[&str], env: &[(&str, &Path)]) -> Controller {
        let mut args = vec!["--shard", &self.shard, "--no-leader-election"];
        args.extend(flags);
        Controller::start_with(&args, env)
    }

    /// `kubectl gitops sync NAME -n NS --wait`: a reconcile now, fetch included.
    pub(crate) fn sync_now(&self, ns: &str, name: &str) {
        let cwd = tempfile::tempdir().unwrap();
        let _ = gitops(
            &["sync", name, "-n", ns, "--wait", "--timeout", "30s"],
            cwd.path(),
        );
    }

    async fn config_map_value(&self, ns: &str, name: &str) -> Option<String> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        api.get_opt(name).await.ok()??.data?.get("v").cloned()
    }
}

const LOOPBACK: &[&str] = &["--allow-fetch-to", "127.0.0.1"];

#[tokio::test]
async fn a_tenant_naming_another_tenants_set_never_takes_it_not_even_after_a_restart() {
    let t = Tenants::new("squat").await;
    let remote = Remote::new(&[("deploy/app.yaml", &cm("app", "1"))]);
    let daemon = Daemon::start(&remote.base);
    t.sync(&t.a, "app", spec(&daemon.url(), "deploy", &t.a, "deployer"))
        .await;
    let first = t.controller(LOOPBACK, &[]);
    wait_for_ready(&t.client, &t.a, "app", "True", "ReconciliationSucceeded").await;

    // B names A's repository, path and namespace: the same ApplySet.
    t.sync(
        &t.b,
        "squat",
        spec(&daemon.url(), "deploy", &t.a, "deployer"),
    )
    .await;
    let refused = wait_for_ready(&t.client, &t.b, "squat", "False", "ApplySetInUse").await;
    assert!(refused.contains(&format!("{}/app", t.a)), "{refused}");

    // A restart forgets nothing worth keeping: B, due first (A is not due for an hour), is
    // refused again, and A, asked to apply a new commit, still holds its set.
    drop(first);
    let _second = t.controller(LOOPBACK, &[]);
    t.sync_now(&t.b, "squat");
    remote.commit(&[("deploy/app.yaml", &cm("app", "2"))], &[], "two");
    t.sync_now(&t.a, "app");
    eventually("A applying its new commit", WAIT, || async {
        (t.config_map_value(&t.a, "app").await? == "2").then_some(())
    })
    .await;
    wait_for_ready(&t.client, &t.a, "app", "True", "ReconciliationSucceeded").await;
    let refused = wait_for_ready(&t.client, &t.b, "squat", "False", "ApplySetInUse").await;
    assert!(refused.contains(&format!("{}/app", t.a)), "{refused}");
    // The refused sync does not name the set: `kubectl gitops status` shows its holder.
    let squat = syncs(&t.client, &t.b).get("squat").await.unwrap();
    assert_eq!(squat.status.unwrap().inventory, None);
}

#[tokio::test]
async fn an_object_another_tenant_labels_with_a_sets_id_never_wakes_that_sync() {
    let t = Tenants::new("lure").await;
    let remote_a = Remote::new(&[("deploy/app.yaml", &cm("app", "1"))]);
    let remote_b = Remote::new(&[("deploy/own.yaml", &cm("own", "1"))]);
    let (daemon_a, daemon_b) = (Daemon::start(&remote_a.base), Daemon::start(&remote_b.base));
    t.sync(
        &t.a,
        "app",
        spec(&daemon_a.url(), "deploy", &t.a, "deployer"),
    )
    .await;
    t.sync(
        &t.b,
        "own",
        spec(&daemon_b.url(), "deploy", &t.b, "deployer"),
    )
    .await;
    let _controller = t.controller(LOOPBACK, &[]);
    wait_for_ready(&t.client, &t.a, "app", "True", "ReconciliationSucceeded").await;
    wait_for_ready(&t.client, &t.b, "own", "True", "ReconciliationSucceeded").await;
    // Give the watches a moment to list what they watch.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let a_status = syncs(&t.client, &t.a)
        .get("app")
        .await
        .unwrap()
        .status
        .unwrap();
    let a_set = a_status.inventory.clone().unwrap().id;

    // B, as its own account, labels a ConfigMap of its namespace with A's set id and edits it
    // ten times; B's own sync's watch sees every edit.
    let b_account = format!("system:serviceaccount:{}:deployer", t.b);
    let as_b = impersonating(&b_account).await;
    let maps: Api<ConfigMap> = Api::namespaced(as_b, &t.b);
    let lure: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "lure",
        "labels": {"applyset.kubernetes.io/part-of": a_set}}, "data": {"n": "0"}}))
    .unwrap();
    maps.create(&PostParams::default(), &lure).await.unwrap();
    for n in 1..=10 {
        maps.patch(
            "lure",
            &PatchParams::default(),
            &Patch::Merge(&json!({"data": {"n": n.to_string()}})),
        )
        .await
        .unwrap();
    }
    // Then an edit of B's own object, which B's sync puts back: by then every lure event
    // has been routed.
    maps.patch(
        "own",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"v": "edited"}})),
    )
    .await
    .unwrap();
    eventually("B's own object put back", WAIT, || async {
        (t.config_map_value(&t.b, "own").await? == "1").then_some(())
    })
    .await;
    let after = syncs(&t.client, &t.a)
        .get("app")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(
        after.last_attempted_time, a_status.last_attempted_time,
        "A reconciled for an object of B's namespace"
    );
}

/// A client acting as `user`, as the test kubeconfig's admin impersonating it.
async fn impersonating(user: &str) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(support::kubeconfig()).unwrap();
    let options = kube::config::KubeConfigOptions {
        context: Some("test".into()),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .unwrap();
    config.auth_info.impersonate = Some(user.to_string());
    kube::Client::try_from(config).unwrap()
}

#[tokio::test]
async fn depends_on_into_a_namespace_the_account_may_not_read_answers_alike_whether_the_sync_exists()
 {
    let t = Tenants::new("deps").await;
    let remote = Remote::new(&[
        ("deploy/app.yaml", &cm("app", "1")),
        ("probe/one.yaml", &cm("one", "1")),
        ("other/two.yaml", &cm("two", "1")),
    ]);
    let daemon = Daemon::start(&remote.base);
    t.sync(&t.a, "app", spec(&daemon.url(), "deploy", &t.a, "deployer"))
        .await;
    let mut probe = spec(&daemon.url(), "probe", &t.b, "deployer");
    probe["dependsOn"] = json!([{"name": "app", "namespace": t.a}]);
    t.sync(&t.b, "probe", probe).await;
    let mut ghost = spec(&daemon.url(), "other", &t.b, "deployer");
    ghost["dependsOn"] = json!([{"name": "ghost", "namespace": t.a}]);
    t.sync(&t.b, "ghost", ghost).await;
    let _controller = t.controller(LOOPBACK, &[]);
    wait_for_ready(&t.client, &t.a, "app", "True", "ReconciliationSucceeded").await;

    let existing = wait_for_ready(&t.client, &t.b, "probe", "False", "DependencyForbidden").await;
    let missing = wait_for_ready(&t.client, &t.b, "ghost", "False", "DependencyForbidden").await;
    let a = &t.a;
    assert_eq!(
        existing.replace(&format!("{a}/app"), "X"),
        missing.replace(&format!("{a}/ghost"), "X"),
        "the answers differ: {existing} / {missing}"
    );
    assert!(config_maps(&t.client, &t.b).await.is_empty());

    // Once B's account may read GitSyncs in A's namespace, the dependency counts.
    let role = json!({"metadata": {"name": "read-syncs"}, "rules": [{
        "apiGroups": ["gitops.kubectl-gitops.io"], "resources": ["gitsyncs"], "verbs": ["get"]}]});
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::namespaced(t.client.clone(), a);
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(role).unwrap(),
        )
        .await
        .unwrap();
    let binding = json!({"metadata": {"name": "read-syncs"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-syncs"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": t.b}]});
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(t.client.clone(), a);
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(binding).unwrap(),
        )
        .await
        .unwrap();
    wait_for_ready(&t.client, &t.b, "probe", "True", "ReconciliationSucceeded").await;
    wait_for_ready(&t.client, &t.b, "ghost", "False", "DependencyNotReady").await;
}

/// The repositories the controller caches under `cache` (`--cache-dir`).
fn cached_repositories(cache: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for key in std::fs::read_dir(cache.join("controller"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let repositories = key.path().join("repositories");
        for repo in std::fs::read_dir(repositories)
            .into_iter()
            .flatten()
            .flatten()
        {
            found.push(repo.path());
        }
    }
    found
}

#[tokio::test]
async fn a_file_url_into_the_controllers_cache_of_another_tenants_repository_is_refused() {
    let t = Tenants::new("cache").await;
    let private = Remote::new(&[("deploy/private.yaml", &cm("private", "a-only"))]);
    let daemon = Daemon::start(&private.base);
    t.sync(&t.a, "app", spec(&daemon.url(), "deploy", &t.a, "deployer"))
        .await;
    // By default no file:// source at all.
    let bare = format!("file://{}", private.base.join("platform.git").display());
    t.sync(&t.b, "local", spec(&bare, "deploy", &t.b, "deployer"))
        .await;
    let strict = t.controller(LOOPBACK, &[]);
    wait_for_ready(&t.client, &t.a, "app", "True", "ReconciliationSucceeded").await;
    let refused = wait_for_ready(&t.client, &t.b, "local", "False", "SourceRefused").await;
    assert!(refused.contains("--allow-file-sources"), "{refused}");
    drop(strict);
    syncs(&t.client, &t.b)
        .delete("local", &Default::default())
        .await
        .unwrap();

    // With file:// sources allowed, the controller's caches stay out of reach.
    let relaxed = t.controller(&[LOOPBACK, &["--allow-file-sources"]].concat(), &[]);
    t.sync_now(&t.a, "app");
    let cached = eventually("A's repository in the cache", WAIT, || async {
        cached_repositories(relaxed.cache()).pop()
    })
    .await;
    let mut attack = spec(
        &format!("file://{}", cached.display()),
        "deploy",
        &t.b,
        "deployer",
    );
    attack["repository"]["ref"] = json!("refs/gitops/target");
    t.sync(&t.b, "steal", attack).await;
    let refused = wait_for_ready(&t.client, &t.b, "steal", "False", "SourceRefused").await;
    assert!(refused.contains("caches"), "{refused}");
    assert!(config_maps(&t.client, &t.b).await.is_empty());
}

#[tokio::test]
async fn a_chart_repository_on_loopback_is_refused_unless_the_operator_allows_it() {
    let t = Tenants::new("charts").await;
    let charts = HttpRepo::start(&[("web", "0.1.0", "from-repo")], None);
    let kustomization = format!(
        "helmCharts:\n- name: web\n  repo: {}\n  version: 0.1.0\n  releaseName: demo\n",
        charts.url()
    );
    let remote = Remote::new(&[("deploy/kustomization.yaml", &kustomization)]);
    let url = format!("file://{}", remote.base.join("platform.git").display());
    t.sync(&t.a, "chart", spec(&url, "deploy", &t.a, "deployer"))
        .await;
    let helm = support::helm3();
    let env: &[(&str, &Path)] = &[("GITOPS_HELM", &helm)];

    let strict = t.controller(&["--allow-file-sources"], env);
    let refused = wait_for_ready(&t.client, &t.a, "chart", "False", "RenderFailed").await;
    assert!(
        refused.contains("loopback") && refused.contains("--allow-fetch-to"),
        "{refused}"
    );
    assert_eq!(charts.server.requests(), 0, "the repository was asked");
    drop(strict);

    let _allowed = t.controller(
        &["--allow-file-sources", "--allow-fetch-to", "127.0.0.1"],
        env,
    );
    t.sync_now(&t.a, "chart");
    wait_for_ready(&t.client, &t.a, "chart", "True", "ReconciliationSucceeded").await;
    assert_eq!(config_maps(&t.client, &t.a).await, ["demo-web"]);
}

#[tokio::test]
async fn a_chart_url_in_an_allowed_repositorys_index_is_checked_again_before_the_download() {
    let t = Tenants::new("index").await;
    let charts = HttpRepo::start(&[("web", "0.1.0", "from-repo")], None);
    // The repository is reached as `localhost`, which the operator allows by name; its index
    // sends the download to `127.1`, a spelling of loopback helm does not recognise (helm
    // would ask the controller's proxy, which resolves it); the index helm cached is checked
    // before helm downloads from it.
    let port = charts.url().rsplit(':').next().unwrap().to_string();
    let index = charts.dir.path().join("served/index.yaml");
    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(
        &index,
        text.replace(&charts.url(), &format!("http://127.1:{port}")),
    )
    .unwrap();
    let kustomization = format!(
        "helmCharts:\n- name: web\n  repo: http://localhost:{port}\n  version: 0.1.0\n  \
         releaseName: demo\n"
    );
    let remote = Remote::new(&[("deploy/kustomization.yaml", &kustomization)]);
    let url = format!("file://{}", remote.base.join("platform.git").display());
    t.sync(&t.a, "chart", spec(&url, "deploy", &t.a, "deployer"))
        .await;
    let helm = support::helm3();
    let env: &[(&str, &Path)] = &[("GITOPS_HELM", &helm)];

    let by_name = ["--allow-file-sources", "--allow-fetch-to", "localhost"];
    let strict = t.controller(&by_name, env);
    let refused = wait_for_ready(&t.client, &t.a, "chart", "False", "RenderFailed").await;
    assert!(
        refused.contains("index sends the download")
            && refused.contains("127.0.0.1")
            && refused.contains("loopback"),
        "{refused}"
    );
    assert!(config_maps(&t.client, &t.a).await.is_empty());
    drop(strict);

    // Allowing the address lets the proxy relay the download.
    let _allowed = t.controller(
        &[&by_name[..], &["--allow-fetch-to", "127.0.0.1"]].concat(),
        env,
    );
    t.sync_now(&t.a, "chart");
    wait_for_ready(&t.client, &t.a, "chart", "True", "ReconciliationSucceeded").await;
    assert_eq!(config_maps(&t.client, &t.a).await, ["demo-web"]);
}

#[tokio::test]
async fn an_allowed_repository_redirecting_to_loopback_is_refused_by_the_fetch_proxy() {
    let t = Tenants::new("redirect").await;
    // The repository the tenant names, and the operator allows, is at 127.0.0.2, spelled
    // `127.2` (not a loopback literal to helm, so helm asks the proxy). It redirects every
    // request to a repository on 127.0.0.1, which helm would fetch directly, around the proxy:
    // that one holds a chart whose ConfigMap carries a canary.
    let canary = support::unique_name("canary-redirect");
    let inside = HttpRepo::start(&[("web", "0.1.0", &canary)], None);
    let redirector = std::net::TcpListener::bind(("127.0.0.2", 0)).expect("binding 127.0.0.2");
    let port = redirector.local_addr().unwrap().port();
    let target = inside.url();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in redirector.incoming().flatten() {
            let mut stream = stream;
            let mut head = [0u8; 8192];
            let n = stream.read(&mut head).unwrap_or(0);
            let path = String::from_utf8_lossy(&head[..n])
                .split(' ')
                .nth(1)
                .unwrap_or("/")
                .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: {target}{path}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            );
        }
    });
    let kustomization = format!(
        "helmCharts:\n- name: web\n  repo: http://127.2:{port}\n  version: 0.1.0\n  \
         releaseName: demo\n"
    );
    let remote = Remote::new(&[("deploy/kustomization.yaml", &kustomization)]);
    let url = format!("file://{}", remote.base.join("platform.git").display());
    t.sync(&t.a, "chart", spec(&url, "deploy", &t.a, "deployer"))
        .await;
    let helm = support::helm3();
    let env: &[(&str, &Path)] = &[("GITOPS_HELM", &helm)];

    let controller = t.controller(
        &["--allow-file-sources", "--allow-fetch-to", "127.0.0.2"],
        env,
    );
    let refused = wait_for_ready(&t.client, &t.a, "chart", "False", "RenderFailed").await;
    assert!(
        refused.contains("redirect")
            && refused.contains("127.0.0.1")
            && refused.contains("loopback"),
        "{refused}"
    );
    assert_eq!(
        inside.server.requests(),
        0,
        "the loopback repository was asked"
    );
    assert!(config_maps(&t.client, &t.a).await.is_empty());
    assert!(!controller.logs().contains(&canary));
}

#[tokio::test]
async fn an_allowed_https_repository_redirecting_to_loopback_is_refused_before_anything_is_asked_there()
 {
    let t = Tenants::new("redirect-tls").await;
    // The repository the tenant names, and the operator allows, is at 127.0.0.2 over https,
    // spelled `127.2` (not a loopback literal to helm, so helm asks the proxy). Every request
    // is redirected to https://127.0.0.1:PORT, inside the TLS tunnel where the proxy cannot
    // read it. That server relays to a repository holding a chart whose ConfigMap carries a
    // canary: it must not be asked at all.
    let canary = support::unique_name("canary-redirect-tls");
    let inside = HttpRepo::start(&[("web", "0.1.0", &canary)], None);
    let certs = tempfile::tempdir().unwrap();
    let acceptor = tls_acceptor(certs.path(), "DNS:127.2,IP:127.0.0.2,IP:127.0.0.1");
    let tunnel = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let tunnel_port = tunnel.local_addr().unwrap().port();
    let inside_address = inside.url().trim_start_matches("http://").to_string();
    let relay_acceptor = acceptor.clone();
    let relay = tokio::spawn(async move {
        while let Ok((stream, _)) = tunnel.accept().await {
            let (acceptor, to) = (relay_acceptor.clone(), inside_address.clone());
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&to).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
            });
        }
    });
    let redirector = tokio::net::TcpListener::bind(("127.0.0.2", 0))
        .await
        .expect("binding 127.0.0.2");
    let port = redirector.local_addr().unwrap().port();
    let redirect = tokio::spawn(async move {
        while let Ok((stream, _)) = redirector.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(redirect_over_tls(stream, acceptor, tunnel_port));
        }
    });
    let repository = format!("https://127.2:{port}");
    // The test's CA, trusted for this repository only, as an operator would configure it.
    let repositories = certs.path().join("repositories.yaml");
    std::fs::write(
        &repositories,
        format!(
            "repositories:\n- name: allowed\n  url: {repository}\n  caFile: {}\n",
            certs.path().join("ca.pem").display()
        ),
    )
    .unwrap();
    let kustomization = format!(
        "helmCharts:\n- name: web\n  repo: {repository}\n  version: 0.1.0\n  \
         releaseName: demo\n"
    );
    let remote = Remote::new(&[("deploy/kustomization.yaml", &kustomization)]);
    let url = format!("file://{}", remote.base.join("platform.git").display());
    t.sync(&t.a, "chart", spec(&url, "deploy", &t.a, "deployer"))
        .await;
    let helm = support::helm3();
    let env: &[(&str, &Path)] = &[
        ("GITOPS_HELM", &helm),
        ("GITOPS_HELM_REPOSITORY_CONFIG", &repositories),
    ];

    let controller = t.controller(
        &["--allow-file-sources", "--allow-fetch-to", "127.0.0.2"],
        env,
    );
    let refused = wait_for_ready(&t.client, &t.a, "chart", "False", "RenderFailed").await;
    relay.abort();
    redirect.abort();
    assert!(
        refused.contains("redirect")
            && refused.contains("127.0.0.1")
            && refused.contains("loopback"),
        "{refused}"
    );
    assert_eq!(
        inside.server.requests(),
        0,
        "the loopback repository behind the TLS redirect was asked"
    );
    assert!(config_maps(&t.client, &t.a).await.is_empty());
    assert!(!controller.logs().contains(&canary));
}

/// A TLS acceptor whose certificate (for `sans`, an openssl subjectAltName list) is signed by
/// a CA written to `dir/ca.pem`.
pub(crate) fn tls_acceptor(dir: &Path, sans: &str) -> tokio_rustls::TlsAcceptor {
    use crate::reconcile::openssl;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = [
        "req",
        "-x509",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ];
    openssl(dir, &[&ca[..2], &ec[..], &ca[2..]].concat());
    let csr = [
        "req",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=repository",
    ];
    openssl(dir, &[&csr[..1], &ec[..], &csr[1..]].concat());
    std::fs::write(
        dir.join("ext.cnf"),
        format!("subjectAltName={sans}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

#[tokio::test]
async fn an_allowed_repositorys_index_naming_a_loopback_download_is_refused_before_helm_fetches() {
    let t = Tenants::new("index-loopback").await;
    // The repository the operator allows is at 127.0.0.2; its index gives, as the download of
    // web 0.1.0, the archive of a repository on 127.0.0.1 whose chart carries a canary. helm
    // would fetch that URL directly, around the proxy.
    let canary = support::unique_name("canary-index");
    let inside = HttpRepo::start(&[("web", "0.1.0", &canary)], None);
    let index = std::fs::read_to_string(inside.dir.path().join("served/index.yaml")).unwrap();
    assert!(
        index.contains(&inside.url()),
        "the index gives absolute URLs"
    );
    let listener = std::net::TcpListener::bind(("127.0.0.2", 0)).expect("binding 127.0.0.2");
    let allowed = format!("http://127.0.0.2:{}", listener.local_addr().unwrap().port());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.read(&mut [0u8; 8192]);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{index}",
                index.len()
            );
        }
    });
    // A dependency locked against the allowed repository (the lock is made outside the
    // controller, where nothing is confined), and a `helmCharts:` entry pulling from it.
    let scratch = tempfile::tempdir().unwrap();
    let chart = scratch.path().join("app");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    let chart_yaml = format!(
        "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: web\n  \
         version: \"0.1.0\"\n  repository: {allowed}\n"
    );
    std::fs::write(chart.join("Chart.yaml"), &chart_yaml).unwrap();
    crate::chart_repo::lock_chart(&chart, &[]);
    let lock = std::fs::read_to_string(chart.join("Chart.lock")).unwrap();
    let pulled = format!(
        "helmCharts:\n- name: web\n  repo: {allowed}\n  version: 0.1.0\n  releaseName: demo\n"
    );
    let before = inside.server.requests();
    let remote = Remote::new(&[
        ("dependency/Chart.yaml", chart_yaml.as_str()),
        ("dependency/Chart.lock", &lock),
        ("dependency/templates/cm.yaml", &cm("app", "1")),
        ("pulled/kustomization.yaml", &pulled),
    ]);
    let url = format!("file://{}", remote.base.join("platform.git").display());
    for path in ["dependency", "pulled"] {
        t.sync(&t.a, path, spec(&url, path, &t.a, "deployer")).await;
    }
    let helm = support::helm3();
    let env: &[(&str, &Path)] = &[("GITOPS_HELM", &helm)];
    let controller = t.controller(
        &["--allow-file-sources", "--allow-fetch-to", "127.0.0.2"],
        env,
    );
    for path in ["dependency", "pulled"] {
        let refused = wait_for_ready(&t.client, &t.a, path, "False", "RenderFailed").await;
        assert!(
            refused.contains("index sends the download of web 0.1.0 elsewhere")
                && refused.contains("127.0.0.1")
                && refused.contains("loopback"),
            "{path}: {refused}"
        );
    }
    assert_eq!(
        inside.server.requests(),
        before,
        "the loopback repository was asked"
    );
    assert!(config_maps(&t.client, &t.a).await.is_empty());
    assert!(!controller.logs().contains(&canary));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_remote_converges_through_the_fetch_proxy_with_its_token() {
    let t = Tenants::new("https").await;
    let remote = Remote::new(&[("deploy/app.yaml", &cm("app", "1"))]);
    let token = "tok-proxy-5e4d3c2b";
    let server = HttpsGit::start(&remote.base, token).await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(t.client.clone(), &t.a);
    let secret = json!({"metadata": {"name": "git"}, "stringData": {"token": token}});
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(secret).unwrap(),
        )
        .await
        .unwrap();
    let mut https = spec(&server.url(), "deploy", &t.a, "deployer");
    https["repository"]["secretRef"] = json!({"name": "git"});
    t.sync(&t.a, "app", https).await;
    let ca = server.ca.clone();
    // The remote is on loopback: allowed, and reached through the controller's proxy (git's
    // http transport never skips it), the token going inside the tunnel to the server.
    let controller = t.controller(LOOPBACK, &[("SSL_CERT_FILE", &ca)]);
    wait_for_ready(&t.client, &t.a, "app", "True", "ReconciliationSucceeded").await;
    assert_eq!(config_maps(&t.client, &t.a).await, ["app"]);
    assert!(server.authorized.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert!(!controller.logs().contains(token));
}

/// Answers one TLS request with a redirect to the same path at `https://127.0.0.1:PORT`: an
/// allowed server sending its client on to loopback from inside the tunnel.
pub(crate) async fn redirect_over_tls(
    stream: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    port: u16,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = acceptor.accept(stream).await else {
        return;
    };
    let mut head = [0u8; 8192];
    let n = stream.read(&mut head).await.unwrap_or(0);
    let path = String::from_utf8_lossy(&head[..n])
        .split(' ')
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let answer = format!(
        "HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:{port}{path}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}
