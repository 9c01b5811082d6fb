//! An API server short of capacity: the client slows down and loses nothing, and a server that
//! stays overloaded fails each object by name, with the server's reason, in bounded time.
//!
//! The first test uses the server's own API Priority and Fairness: a priority level with one
//! nominal share, no borrowing and `Reject` (three seats on the test server) for a user of the
//! test's own, whom the admin impersonates. The second puts a proxy in front of the test
//! server that answers chosen objects' requests with 429 or 503, as an overloaded server does,
//! and forwards everything else.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use kube::config::Kubeconfig;
use serde_json::json;

use crate::support::{self, Workdir, text};

fn configmaps(names: &[String]) -> Workdir {
    let files: Vec<(String, String)> = names
        .iter()
        .map(|name| {
            (
                format!("{name}.yaml"),
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"
                ),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    Workdir::new(&borrowed)
}

async fn server_side_apply(admin: &kube::Client, path: &str, object: serde_json::Value) {
    let request = http::Request::patch(format!("{path}?fieldManager=test&force=true"))
        .header("Content-Type", "application/apply-patch+yaml")
        .body(serde_json::to_vec(&object).unwrap())
        .unwrap();
    admin
        .request::<serde_json::Value>(request)
        .await
        .unwrap_or_else(|e| panic!("applying {path}: {e}"));
}

/// The API server's count of requests it rejected at `level`, from its metrics.
async fn rejected(admin: &kube::Client, level: &str) -> u64 {
    metric(
        admin,
        "apiserver_flowcontrol_rejected_requests_total",
        level,
    )
    .await
    .unwrap_or(0)
}

async fn metric(admin: &kube::Client, name: &str, level: &str) -> Option<u64> {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = admin.request_text(request).await.expect("reading /metrics");
    let wanted = format!("priority_level=\"{level}\"");
    let mut found = None;
    for line in text.lines() {
        if line.starts_with(name) && line.contains(&wanted) {
            let value: f64 = line.rsplit(' ').next()?.parse().ok()?;
            *found.get_or_insert(0) += value as u64;
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_rejects_requests_for_load_slows_the_plan_down_and_loses_nothing() {
    let admin = support::admin().await;
    let ns = support::namespace(&admin, "overload").await;
    let user = support::unique_name("gitops-throttled");
    // What plan and apply need in the namespace (the test server aggregates no ClusterRoles,
    // so `admin` is empty here).
    server_side_apply(
        &admin,
        &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles/all"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "all", "namespace": ns},
            "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["*"]}]}),
    )
    .await;
    server_side_apply(
        &admin,
        &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings/all"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "all", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "all"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}),
    )
    .await;
    let flowcontrol = "/apis/flowcontrol.apiserver.k8s.io/v1";
    server_side_apply(
        &admin,
        &format!("{flowcontrol}/prioritylevelconfigurations/{user}"),
        json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "PriorityLevelConfiguration", "metadata": {"name": user},
            "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 1,
                "lendablePercent": 0, "borrowingLimitPercent": 0,
                "limitResponse": {"type": "Reject"}}}}),
    )
    .await;
    server_side_apply(
        &admin,
        &format!("{flowcontrol}/flowschemas/{user}"),
        json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
            "metadata": {"name": user},
            "spec": {"priorityLevelConfiguration": {"name": user}, "matchingPrecedence": 50,
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [{"subjects": [{"kind": "User", "user": {"name": user}}],
                    "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                        "namespaces": ["*"], "clusterScope": true}],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]}}),
    )
    .await;
    let waited = Instant::now();
    while metric(&admin, "apiserver_flowcontrol_nominal_limit_seats", &user)
        .await
        .is_none()
    {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the priority level never took effect"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The admin's credentials, impersonating the throttled user (kubeconfig `as:`).
    let mut kubeconfig = Kubeconfig::read_from(support::kubeconfig()).unwrap();
    for named in &mut kubeconfig.auth_infos {
        if let Some(auth) = named.auth_info.as_mut() {
            auth.impersonate = Some(user.clone());
        }
    }
    let scratch = tempfile::tempdir().unwrap();
    let throttled = scratch.path().join("kubeconfig");
    std::fs::write(&throttled, serde_json::to_vec(&kubeconfig).unwrap()).unwrap();

    let names: Vec<String> = (0..200).map(|i| format!("c-{i}")).collect();
    let repo = configmaps(&names);
    let before = rejected(&admin, &user).await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
            .args(args)
            .args(["-n", &ns, "--applyset", "over", "--concurrency", "64"])
            .arg("--kubeconfig")
            .arg(&throttled)
            .current_dir(repo.path())
            .env("NO_COLOR", "1")
            .env("KUBECTL_GITOPS_CACHE_DIR", scratch.path().join("cache"))
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        (out.status.code(), stdout, stderr)
    };
    let (code, stdout, stderr) = run(&["diff", "."]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Plan: 200 to create, 0 to update, 0 to prune, 0 unchanged."),
        "{stdout}\n{stderr}"
    );
    let (code, stdout, stderr) = run(&["apply", ".", "--yes"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let live = Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    let created = live
        .items
        .iter()
        .filter(|c| {
            c.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("c-"))
        })
        .count();
    assert_eq!(created, 200, "{stdout}\n{stderr}");
    let turned_away = rejected(&admin, &user).await - before;
    eprintln!("the server rejected {turned_away} requests for load");
    assert!(
        turned_away > 0,
        "the server never rejected a request, so nothing was tested"
    );

    for path in [
        format!("{flowcontrol}/flowschemas/{user}"),
        format!("{flowcontrol}/prioritylevelconfigurations/{user}"),
    ] {
        let request = http::Request::delete(path).body(Vec::new()).unwrap();
        let _ = admin.request_text(request).await;
    }
}

/// Forwards to the test server as the admin, except for requests naming the objects in
/// `answers`, which get that canned answer; counts the requests per object.
struct Overloaded {
    proxy: support::Proxy,
    seen: Arc<Mutex<HashMap<String, usize>>>,
}

#[derive(Clone, Copy)]
enum Canned {
    /// 429 with Retry-After: 1, as API Priority and Fairness answers.
    TooManyRequests,
    /// 503 without Retry-After, as for an aggregated API whose service is down.
    Unavailable,
}

impl Overloaded {
    async fn start(upstream: kube::Client, answers: HashMap<String, Canned>) -> Self {
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let (log, answers) = (seen.clone(), Arc::new(answers));
        let proxy = support::Proxy::start(move |request| {
            answer(request, upstream.clone(), log.clone(), answers.clone())
        })
        .await;
        Overloaded { proxy, seen }
    }

    fn requests_for(&self, name: &str) -> usize {
        self.seen.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    fn kubeconfig(&self, dir: &std::path::Path, namespace: &str) -> std::path::PathBuf {
        self.proxy.kubeconfig(dir, namespace)
    }
}

async fn answer(
    request: hyper::Request<hyper::body::Incoming>,
    upstream: kube::Client,
    log: Arc<Mutex<HashMap<String, usize>>>,
    answers: Arc<HashMap<String, Canned>>,
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
    let object = parts
        .uri
        .path()
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    *log.lock().unwrap().entry(object.clone()).or_default() += 1;
    let canned = |code: u16, reason: &str, message: &str, retry_after: bool| {
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code});
        let mut response = hyper::Response::builder()
            .status(code)
            .header("Content-Type", "application/json");
        if retry_after {
            response = response.header("Retry-After", "1");
        }
        Ok(response
            .body(Full::new(serde_json::to_vec(&status).unwrap().into()))
            .unwrap())
    };
    match answers.get(&object) {
        Some(Canned::TooManyRequests) => {
            return canned(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
                true,
            );
        }
        Some(Canned::Unavailable) => {
            return canned(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
                false,
            );
        }
        None => {}
    }
    Ok(support::pass_on(&upstream, &parts, &target, body).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_the_server_keeps_refusing_fail_by_name_with_its_reason_in_bounded_time() {
    let admin = support::admin().await;
    let ns = support::namespace(&admin, "overloaded").await;
    let answers = HashMap::from([
        ("hot".to_string(), Canned::TooManyRequests),
        ("down".to_string(), Canned::Unavailable),
    ]);
    let proxy = Overloaded::start(admin.clone(), answers).await;
    let scratch = tempfile::tempdir().unwrap();
    let kubeconfig = proxy.kubeconfig(scratch.path(), &ns);
    let names: Vec<String> = ["ok-1", "ok-2", "ok-3", "hot", "down"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let repo = configmaps(&names);

    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .args(["diff", "."])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .env("KUBECTL_GITOPS_CACHE_DIR", scratch.path().join("cache"))
        .output()
        .unwrap();
    let took = started.elapsed();
    let (stdout, stderr) = text(&out);
    let said = format!("{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        took < Duration::from_secs(40),
        "took {took:?}: retries must be bounded\n{said}"
    );
    let hot = said
        .lines()
        .find(|l| l.contains(&format!("ConfigMap/{ns}/hot")))
        .unwrap_or_else(|| panic!("the refused object is named\n{said}"));
    assert!(
        hot.contains("Too many requests, please try again later")
            && hot.contains("answered 429 Too Many Requests 9 times"),
        "{hot}\n{said}"
    );
    assert_eq!(proxy.requests_for("hot"), 9, "one try and eight retries");
    let down = said
        .lines()
        .find(|l| l.contains(&format!("ConfigMap/{ns}/down")))
        .unwrap_or_else(|| panic!("the unavailable object is named\n{said}"));
    assert!(
        down.contains("the server is currently unable to handle the request"),
        "{down}\n{said}"
    );
    assert_eq!(
        proxy.requests_for("down"),
        1,
        "a 503 without Retry-After is not retried"
    );
    // The other objects are planned as usual.
    for ok in ["ok-1", "ok-2", "ok-3"] {
        assert!(
            stdout.contains(&format!("+ create ConfigMap/{ns}/{ok}")),
            "{said}"
        );
    }
}
