//! What a plan reads from the cluster: the ApplySet's members by its label and each other
//! target by name, never a whole namespace's objects of a kind (another team's Secrets).
//!
//! The plan runs through a recording proxy (plain HTTP on 127.0.0.1, forwarding to the test
//! server as a user whose Role may read and dry-run Secrets by name but not list them), so
//! the test sees every request the binary made.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::support::{self, Workdir, text};

/// Forwards every request to the test server with `upstream`'s credentials and records
/// `METHOD path?query` of each.
struct Recorder {
    proxy: support::Proxy,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    async fn start(upstream: kube::Client) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let proxy =
            support::Proxy::start(move |request| forward(request, upstream.clone(), log.clone()))
                .await;
        Recorder { proxy, seen }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// A kubeconfig whose only cluster is this proxy.
    fn kubeconfig(&self, dir: &std::path::Path, namespace: &str) -> std::path::PathBuf {
        self.proxy.kubeconfig(dir, namespace)
    }
}

async fn forward(
    request: hyper::Request<hyper::body::Incoming>,
    upstream: kube::Client,
    log: Arc<Mutex<Vec<String>>>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    log.lock()
        .unwrap()
        .push(format!("{} {target}", parts.method));
    Ok(support::pass_on(&upstream, &parts, &target, body).await)
}

/// Lets the restricted user plan and apply Secrets and ConfigMaps in `ns` by name (get,
/// patch, create) and list only ConfigMaps: no `list secrets`.
async fn grant_by_name(admin: &kube::Client, ns: &str) {
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "by-name", "namespace": ns},
        "rules": [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "patch", "create"]},
            {"apiGroups": [""], "resources": ["configmaps"],
                "verbs": ["get", "list", "patch", "create"]}
        ]
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "by-name", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "by-name"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "restricted"}]
    });
    for (plural, object) in [("roles", role), ("rolebindings", binding)] {
        let name = object["metadata"]["name"].as_str().unwrap();
        let request = http::Request::patch(format!(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/{plural}/{name}?fieldManager=test&force=true"
        ))
        .header("Content-Type", "application/apply-patch+yaml")
        .body(serde_json::to_vec(&object).unwrap())
        .unwrap();
        admin
            .request::<serde_json::Value>(request)
            .await
            .unwrap_or_else(|e| panic!("granting {plural}: {e}"));
    }
}

fn secret(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\nstringData:\n  token: {value}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_reads_its_own_objects_by_label_or_name_and_no_other_secret() {
    let admin = support::admin().await;
    let ns = support::namespace(&admin, "reads").await;
    // Another team's Secrets in the same namespace.
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    for i in 0..5 {
        let foreign: Secret = serde_json::from_value(json!({
            "metadata": {"name": format!("theirs-{i}")},
            "stringData": {"password": format!("foreign-secret-{i}")}
        }))
        .unwrap();
        secrets
            .create(&PostParams::default(), &foreign)
            .await
            .unwrap();
    }
    grant_by_name(&admin, &ns).await;

    // Two Secrets of ours (one already applied, one new) and a ConfigMap; the ApplySet's
    // parent lives in the same namespace.
    let repo = Workdir::new(&[
        ("a.yaml", &secret("ours-a", "alpha")),
        ("b.yaml", &secret("ours-b", "beta")),
        (
            "c.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n",
        ),
    ]);
    // ours-a exists already, labelled by an earlier apply of the set whose parent was lost, so
    // the plan has no members to start from.
    let id = kubectl_gitops::inventory::ApplySet::named("reads", &ns).id();
    let ours: Secret = serde_json::from_value(json!({
        "metadata": {"name": "ours-a", "labels": {"applyset.kubernetes.io/part-of": id}},
        "stringData": {"token": "alpha"}
    }))
    .unwrap();
    secrets.create(&PostParams::default(), &ours).await.unwrap();

    // As a user who may not list Secrets, and as the admin, who may.
    for (user, upstream) in [
        ("restricted", support::restricted().await),
        ("admin", admin.clone()),
    ] {
        let recorder = Recorder::start(upstream).await;
        let scratch = tempfile::tempdir().unwrap();
        let kubeconfig = recorder.kubeconfig(scratch.path(), &ns);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
            .args([
                "diff",
                ".",
                "--applyset",
                "reads",
                "--applyset-namespace",
                &ns,
            ])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .current_dir(repo.path())
            .env("NO_COLOR", "1")
            .env("KUBECTL_GITOPS_CACHE_DIR", scratch.path().join("cache"))
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{user}: {stdout}\n{stderr}");
        assert!(
            stdout.contains(&format!("+ create Secret/{ns}/ours-b")),
            "{user}: {stdout}\n{stderr}"
        );
        assert!(
            !format!("{stdout}{stderr}").contains("foreign-secret"),
            "{user}: {stdout}\n{stderr}"
        );
        let requests = recorder.requests();
        let secrets_path = format!("/api/v1/namespaces/{ns}/secrets");
        for request in &requests {
            assert!(
                !request.contains("theirs-"),
                "{user}: a foreign Secret was read: {request}\n{requests:#?}"
            );
            let Some(rest) = request.strip_prefix(&format!("GET {secrets_path}")) else {
                continue;
            };
            if rest.is_empty() || rest.starts_with('?') {
                assert!(
                    rest.contains("labelSelector=applyset.kubernetes.io%2Fpart-of%3D"),
                    "{user}: Secrets listed without our label: {request}\n{requests:#?}"
                );
            }
        }
        assert!(
            requests.iter().any(|r| {
                r.starts_with(&format!("PATCH {secrets_path}/ours-b?")) && r.contains("dryRun=All")
            }),
            "{user}: the new Secret is dry-run by name\n{requests:#?}"
        );
        // Its dry-run answered 201 Created: there is no live copy to read.
        assert!(
            !requests
                .iter()
                .any(|r| r.starts_with(&format!("GET {secrets_path}/ours-b"))),
            "{user}: the new Secret is read although its dry-run said it does not exist\n{requests:#?}"
        );
    }
}
