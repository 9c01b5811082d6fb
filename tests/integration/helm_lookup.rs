//! Charts that render differently each time: a chart keeping its generated password through
//! Helm's `lookup` (as Grafana's does) stays in sync across applies and reconciler cycles, an
//! offline render says what its lookups could not see, and a random field without `lookup`
//! is reported unstable and left alone live until the user asks for the rewrite.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use serde_json::Value;

use crate::reconcile::{FAST, Reconciler, Remote, eventually, free_port, http_get};
use crate::support::{self, Workdir, gitops, text};

/// A chart generating an admin password unless `lookup` finds the Secret holding one, written
/// as Grafana's chart writes it.
const KEEPS_ITS_PASSWORD: &[(&str, &str)] = &[
    (
        "deploy/Chart.yaml",
        "apiVersion: v2\nname: grafana\nversion: 0.1.0\n",
    ),
    (
        "deploy/templates/secret.yaml",
        r#"{{- $name := printf "%s-admin" .Release.Name }}
{{- $live := (lookup "v1" "Secret" .Release.Namespace $name) | default dict }}
{{- $data := (get $live "data") | default dict }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
type: Opaque
data:
  admin-user: {{ "admin" | b64enc | quote }}
  admin-password: {{ (get $data "admin-password") | default (randAlphaNum 40 | b64enc) | quote }}
"#,
    ),
];

/// A chart drawing a token at random on every render, with no `lookup` to keep it.
const DRAWS_A_TOKEN: &[(&str, &str)] = &[
    (
        "deploy/Chart.yaml",
        "apiVersion: v2\nname: session\nversion: 0.1.0\n",
    ),
    (
        "deploy/templates/cm.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-session
data:
  mode: fixed
  token: {{ randAlphaNum 24 | quote }}
"#,
    ),
];

fn committed(files: &[(&str, &str)]) -> Workdir {
    let repo = Workdir::new(files);
    repo.git_commit_all();
    repo
}

async fn password(client: &kube::Client, ns: &str) -> Vec<u8> {
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get("deploy-admin")
        .await
        .expect("the chart's Secret");
    let data = secret.data.unwrap_or_default();
    data.get("admin-password")
        .expect("an admin password")
        .0
        .clone()
}

async fn config(client: &kube::Client, ns: &str, name: &str) -> ConfigMap {
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .expect("the chart's ConfigMap")
}

async fn token(client: &kube::Client, ns: &str) -> String {
    let cm = config(client, ns, "deploy-session").await;
    cm.data.unwrap_or_default()["token"].clone()
}

/// How many cycles the reconciler serving metrics on `listen` has run (summed over the
/// histogram's labels).
async fn cycles(listen: &str) -> Option<u64> {
    let (_, metrics) = http_get(listen, "/metrics").await;
    let counts: Vec<u64> = metrics
        .lines()
        .filter(|l| l.starts_with("gitops_reconcile_cycle_duration_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.trim().parse().ok())
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum())
}

#[tokio::test]
async fn a_password_kept_through_lookup_stays_the_same_across_applies_and_ten_reconciler_cycles() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "lookup").await;
    // The checkout the reconciler's repository is pushed from: one deployment, one set.
    let remote = Remote::new(KEEPS_ITS_PASSWORD);
    let checkout = remote.checkout.as_path();
    let apply = [
        "apply",
        "deploy",
        "-n",
        &ns,
        "--applyset",
        "grafana",
        "--yes",
    ];

    let out = gitops(&apply, checkout);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "apply\n{stdout}\n{stderr}");
    let first = password(&client, &ns).await;

    // The chart found its Secret: nothing to change, nothing unstable, no password shown.
    let out = gitops(
        &["diff", "deploy", "-n", &ns, "--applyset", "grafana"],
        checkout,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "in sync after apply\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("unstable"), "{stdout}");
    let shown = String::from_utf8_lossy(&first).into_owned();
    assert!(!format!("{stdout}{stderr}").contains(&shown));

    let out = gitops(&apply, checkout);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "apply again\n{stdout}\n{stderr}"
    );
    assert_eq!(password(&client, &ns).await, first, "{stdout}");

    // The reconciler renders the same chart from git, cycle after cycle.
    let listen = format!("127.0.0.1:{}", free_port());
    let helm = support::helm();
    let env = [("GITOPS_HELM", helm.to_str().expect("utf-8 path"))];
    let flags = [FAST, &["--applyset", "grafana", "--listen", &listen]].concat();
    let reconciler = Reconciler::start_with_env(&remote.file_url(), &ns, &flags, &env);
    eventually(
        "ten reconciler cycles",
        Duration::from_secs(120),
        || async { cycles(&listen).await.filter(|n| *n >= 10) },
    )
    .await;
    assert_eq!(password(&client, &ns).await, first, "{}", reconciler.logs());
    let (_, metrics) = http_get(&listen, "/metrics").await;
    assert!(
        metrics.contains("gitops_reconcile_last_success_timestamp_seconds"),
        "{metrics}"
    );
    assert!(!reconciler.logs().contains(&shown));
}

#[test]
fn an_offline_diff_says_once_which_charts_lookups_saw_nothing() {
    let repo = committed(KEEPS_ITS_PASSWORD);
    repo.write(
        "deploy/templates/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  user: admin\n",
    );
    let status = std::process::Command::new("git")
        .args(["add", "-A"])
        .current_dir(repo.path())
        .status()
        .expect("git");
    assert!(status.success());
    let status = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["commit", "-qam", "user"])
        .current_dir(repo.path())
        .status()
        .expect("git");
    assert!(status.success());

    let out = gitops(
        &["diff", "deploy", "--offline", "--base", "HEAD~1"],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    let said = "Helm's `lookup` saw no cluster objects in deploy (no cluster was asked)";
    assert_eq!(
        stdout.matches(said).count(),
        1,
        "one note in the report\n{stdout}\n{stderr}"
    );
    assert!(!stderr.contains(said), "{stderr}");

    let out = gitops(
        &[
            "diff",
            "deploy",
            "--offline",
            "--base",
            "HEAD~1",
            "-o",
            "json",
        ],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    serde_json::from_str::<Value>(&stdout).expect("the JSON report stays one document");
    assert_eq!(stderr.matches(said).count(), 1, "{stderr}");
}

#[tokio::test]
async fn a_random_field_without_lookup_is_reported_unstable_and_kept_until_a_rewrite_is_asked() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "unstable").await;
    let repo = committed(DRAWS_A_TOKEN);
    let apply = [
        "apply",
        "deploy",
        "-n",
        &ns,
        "--applyset",
        "session",
        "--yes",
    ];

    let out = gitops(&apply, repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "apply\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "/data/token unstable: the chart renders it differently each time; set on create only"
        ),
        "{stdout}"
    );
    let first = token(&client, &ns).await;

    let diff = |format: &'static str| {
        gitops(
            &[
                "diff",
                "deploy",
                "-n",
                &ns,
                "--applyset",
                "session",
                "-o",
                format,
            ],
            repo.path(),
        )
    };
    let out = diff("text");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "/data/token unstable: the chart renders it differently each time; the cluster's \
             value is kept (--rewrite-unstable replaces it)"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("/data/mode"), "{stdout}");
    let (markdown, _) = text(&diff("markdown"));
    assert!(markdown.contains("/data/token unstable"), "{markdown}");
    let (json, _) = text(&diff("json"));
    let report: Value = serde_json::from_str(&json).expect("JSON");
    let notes: Vec<&Value> = report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["ignored"].as_array())
        .flatten()
        .collect();
    assert_eq!(notes.len(), 1, "{json}");
    assert_eq!(notes[0]["pointer"], "/data/token");
    assert_eq!(notes[0]["source"], "unstable");
    assert_eq!(notes[0]["state"], "liveDiffers");

    let out = gitops(&apply, repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(token(&client, &ns).await, first, "left alone\n{stdout}");

    let rewrite = [&apply[..], &["--rewrite-unstable"]].concat();
    let out = gitops(&rewrite, repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "/data/token unstable: the chart renders it differently each time; rewritten"
        ),
        "{stdout}"
    );
    assert_ne!(token(&client, &ns).await, first, "rewritten when asked");
}
