//! Charts that render differently each time: a chart keeping its generated password through
//! Helm's `lookup` (as Grafana's does) stays in sync across applies and reconciler cycles, an
//! offline render says what its lookups could not see, and a random field without `lookup`
//! is reported unstable and left alone live until the user asks for the rewrite.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use serde_json::Value;

use crate::reconcile::{FAST, Reconciler, Remote, eventually, free_port, http_get};
use crate::support::{self, Workdir, gitops, gitops_env, text};

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

/// A chart keeping its password through `lookup` and annotating its Deployment with a checksum
/// of it, as Grafana's does: the checksum includes the template again, which draws a second
/// password while `lookup` sees no Secret, so a first install's checksum is not the one of
/// the password that was kept.
const CHECKSUMS_ITS_PASSWORD: &[(&str, &str)] = &[
    (
        "deploy/Chart.yaml",
        "apiVersion: v2\nname: grafana\nversion: 0.1.0\n",
    ),
    (
        "deploy/templates/_password.tpl",
        r#"{{- define "grafana.password" -}}
{{- $live := (lookup "v1" "Secret" .Release.Namespace (printf "%s-admin" .Release.Name)) | default dict }}
{{- $data := (get $live "data") | default dict }}
{{- (get $data "admin-password") | default (randAlphaNum 40 | b64enc) }}
{{- end }}
"#,
    ),
    (
        "deploy/templates/secret.yaml",
        r#"apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-admin
type: Opaque
data:
  admin-password: {{ include "grafana.password" . | quote }}
"#,
    ),
    (
        "deploy/templates/deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    matchLabels: {app: grafana}
  template:
    metadata:
      labels: {app: grafana}
      annotations:
        checksum/secret: {{ include "grafana.password" . | sha256sum }}
    spec:
      containers:
        - name: grafana
          image: grafana/grafana:12.1.0
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

#[tokio::test]
async fn helm_3_answers_the_lookup_too() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "lookup-h3").await;
    let repo = committed(KEEPS_ITS_PASSWORD);
    let helm3 = support::helm3();
    let env = [("GITOPS_HELM", helm3.to_str().expect("utf-8 path"))];
    let out = gitops_env(&["apply", "deploy", "-n", &ns, "--yes"], repo.path(), &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "apply\n{stdout}\n{stderr}");
    let first = password(&client, &ns).await;
    let out = gitops_env(&["diff", "deploy", "-n", &ns], repo.path(), &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        !format!("{stdout}{stderr}").contains("saw no cluster"),
        "{stderr}"
    );
    assert_eq!(password(&client, &ns).await, first);
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

/// A chart telling whether its lookup of the Secret `probe` in `namespace` found it.
fn peek(namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-seen\ndata:\n  \
         seen: {{{{ if (lookup \"v1\" \"Secret\" \"{namespace}\" \"probe\") }}}}\"yes\"{{{{ else }}}}\"no\"{{{{ end }}}}\n"
    )
}

/// What the ConfigMap of `peek` released as `release` in `ns` says.
async fn seen(client: &kube::Client, ns: &str, release: &str) -> Option<String> {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get_opt(&format!("{release}-seen"))
        .await
        .ok()??;
    cm.data?.get("seen").cloned()
}

/// The last-success time the controller reports for the sync `key` (`NAMESPACE/NAME`).
async fn last_success(listen: &str, key: &str) -> Option<String> {
    let (_, metrics) = http_get(listen, "/metrics").await;
    let wanted = format!("sync=\"{key}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with("gitops_controller_sync_last_success_timestamp_seconds"))
        .find(|l| l.contains(&wanted))
        .and_then(|l| l.rsplit(' ').next())
        .map(str::to_string)
}

#[tokio::test]
async fn under_the_controller_lookups_are_answered_as_the_syncs_service_account_and_no_one_else() {
    use crate::controller::{
        Controller, create_sync, install_crd, service_account, spec, wait_for_ready,
    };
    use crate::reconcile::Daemon;

    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "ctl-lookup").await;
    let target = support::namespace(&client, "ctl-lookup-apps").await;
    let hidden = support::namespace(&client, "ctl-lookup-hidden").await;
    let probe = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "probe"}, "stringData": {"k": "v"},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &hidden)
        .create(&Default::default(), &probe)
        .await
        .unwrap();
    // The account may manage ConfigMaps and Secrets in the target namespace, nothing in
    // `hidden`; the controller itself may read everything.
    service_account(&client, &ns, "deployer", &[&target]).await;

    let own = peek(&target).replace("-seen", "-own");
    let mut files: Vec<(String, String)> = KEEPS_ITS_PASSWORD
        .iter()
        .map(|(p, t)| (p.replace("deploy/", "grafana/"), t.to_string()))
        .collect();
    files.push((
        "grafana/templates/own.yaml".into(),
        own.replace("\"probe\"", "\"grafana-admin\""),
    ));
    files.push((
        "peek/Chart.yaml".into(),
        "apiVersion: v2\nname: peek\nversion: 0.1.0\n".into(),
    ));
    files.push(("peek/templates/seen.yaml".into(), peek(&hidden)));
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let remote = Remote::new(&borrowed);
    let daemon = Daemon::start(&remote.base);
    let mut grafana = spec(&daemon.url(), "grafana", &target, "deployer");
    grafana["interval"] = "1s".into();
    create_sync(&client, &ns, "grafana", grafana, serde_json::json!({})).await;
    let peeking = spec(&daemon.url(), "peek", &target, "deployer");
    create_sync(&client, &ns, "peek", peeking, serde_json::json!({})).await;

    let listen = format!("127.0.0.1:{}", free_port());
    let helm = support::helm();
    let controller = Controller::start_with_env(
        &ns,
        &["--no-leader-election", "--listen", &listen],
        &[("GITOPS_HELM", helm.to_str().expect("utf-8 path"))],
    );
    wait_for_ready(&client, &ns, "grafana", "True", "ReconciliationSucceeded").await;
    wait_for_ready(&client, &ns, "peek", "True", "ReconciliationSucceeded").await;
    let first = {
        let secret = Api::<Secret>::namespaced(client.clone(), &target)
            .get("grafana-admin")
            .await
            .expect("the chart's Secret");
        secret.data.unwrap_or_default()["admin-password"].0.clone()
    };

    // The account may not read `hidden`: its lookup saw nothing there, although the
    // controller's own rights would have found the Secret.
    assert_eq!(
        seen(&client, &target, "peek").await.as_deref(),
        Some("no"),
        "{}",
        controller.logs()
    );
    // Where the account may read, the chart's own lookup finds its Secret once it exists,
    // and the password stays as it was first generated, cycle after cycle.
    eventually(
        "the sync's lookup to find its Secret",
        Duration::from_secs(60),
        || async {
            let cm = Api::<ConfigMap>::namespaced(client.clone(), &target)
                .get_opt("grafana-own")
                .await
                .ok()??;
            (cm.data?.get("seen")? == "yes").then_some(())
        },
    )
    .await;
    // Five different last-success times: five more cycles rendered, planned and applied.
    let mut times = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while times.len() < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "five more cycles of the sync\n{}",
            controller.logs()
        );
        times.extend(last_success(&listen, &format!("{ns}/grafana")).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let now = Api::<Secret>::namespaced(client.clone(), &target)
        .get("grafana-admin")
        .await
        .unwrap()
        .data
        .unwrap_or_default()["admin-password"]
        .0
        .clone();
    assert_eq!(now, first, "{}", controller.logs());

    // The same chart applied from the command line by the administrator sees the Secret: the
    // "no" above is the account's view, not a lookup that never ran.
    let other = support::namespace(&client, "ctl-lookup-admin").await;
    let repo = committed(&[
        (
            "peek/Chart.yaml",
            "apiVersion: v2\nname: peek\nversion: 0.1.0\n",
        ),
        ("peek/templates/seen.yaml", &peek(&hidden)),
    ]);
    let out = gitops(&["apply", "peek", "-n", &other, "--yes"], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(seen(&client, &other, "peek").await.as_deref(), Some("yes"));
}

#[tokio::test]
async fn a_chart_checksumming_the_password_it_keeps_is_in_sync_after_one_apply() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "lookup-checksum").await;
    let repo = committed(CHECKSUMS_ITS_PASSWORD);
    let apply = ["apply", "deploy", "-n", &ns, "--yes"];
    let out = gitops(&apply, repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "apply\n{stdout}\n{stderr}");
    assert_eq!(
        stdout
            .matches("Re-rendered 1 chart whose lookups saw nothing before the apply (deploy)")
            .count(),
        1,
        "{stdout}"
    );
    let first = password(&client, &ns).await;

    let out = gitops(&["diff", "deploy", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "in sync after one apply\n{stdout}\n{stderr}"
    );
    assert_eq!(password(&client, &ns).await, first);

    // In sync, a second apply writes nothing and renders nothing again.
    let out = gitops(&apply, repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stdout.contains("Re-rendered"), "{stdout}");
    assert_eq!(password(&client, &ns).await, first);
}

#[tokio::test]
async fn the_reconcilers_first_cycle_leaves_a_checksummed_password_in_sync() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "lookup-cycle").await;
    let remote = Remote::new(CHECKSUMS_ITS_PASSWORD);
    let listen = format!("127.0.0.1:{}", free_port());
    let helm = support::helm();
    let env = [("GITOPS_HELM", helm.to_str().expect("utf-8 path"))];
    // One cycle: the next would come an hour later.
    let flags = [
        "--interval",
        "1h",
        "--applyset",
        "grafana",
        "--listen",
        &listen,
    ];
    let reconciler = Reconciler::start_with_env(&remote.file_url(), &ns, &flags, &env);
    eventually("one reconciler cycle", Duration::from_secs(60), || async {
        cycles(&listen).await.filter(|n| *n >= 1)
    })
    .await;
    let logs = reconciler.logs();
    assert!(
        logs.contains("re-rendered 1 chart whose lookups saw nothing before the apply (deploy)"),
        "{logs}"
    );
    let out = gitops(
        &["diff", "deploy", "-n", &ns, "--applyset", "grafana"],
        remote.checkout.as_path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "in sync after one cycle\n{stdout}\n{stderr}\n{}",
        reconciler.logs()
    );
}

/// A chart keeping its password through `lookup` that also installs a custom resource
/// definition and renders an object of it: until the definition is installed, helm's render
/// with the cluster fails and the chart renders without it.
fn installs_its_definition(group: &str) -> Vec<(String, String)> {
    let crd = format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: dashboards.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: dashboards, singular: dashboard, kind: Dashboard}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#
    );
    let dashboard = format!(
        "apiVersion: {group}/v1\nkind: Dashboard\nmetadata:\n  name: home\nspec:\n  title: Home\n"
    );
    KEEPS_ITS_PASSWORD
        .iter()
        .map(|(path, text)| (path.to_string(), text.to_string()))
        .chain([
            ("deploy/crds/dashboards.yaml".to_string(), crd),
            ("deploy/templates/dashboard.yaml".to_string(), dashboard),
        ])
        .collect()
}

#[tokio::test]
async fn a_render_that_fell_back_for_a_missing_definition_says_so_in_one_short_sentence() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "lookup-crd").await;
    let group = format!("{ns}.example.com");
    let files = installs_its_definition(&group);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let repo = committed(&files);

    let out = gitops(&["diff", "deploy", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    let note: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("saw no cluster objects"))
        .collect();
    assert_eq!(note.len(), 1, "{stdout}\n{stderr}");
    assert!(
        note[0].starts_with(
            "note: Helm's `lookup` saw no cluster objects in deploy (rendered without the \
             cluster: a custom resource it renders has no definition in the cluster yet): "
        ),
        "{}",
        note[0]
    );
    assert!(
        note[0].len() < 400,
        "{} characters: {}",
        note[0].len(),
        note[0]
    );
    assert!(!stderr.contains("ensure CRDs"), "{stderr}");

    // Once the apply installed the definition, the chart is rendered with the cluster.
    let out = gitops(&["apply", "deploy", "-n", &ns, "--yes"], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "apply\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("Re-rendered 1 chart whose lookups saw nothing before the apply (deploy)"),
        "{stdout}"
    );
    let first = password(&client, &ns).await;
    let out = gitops(&["diff", "deploy", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stderr.contains("saw no cluster objects"), "{stderr}");
    assert_eq!(password(&client, &ns).await, first);
}

/// A chart without random values whose ConfigMap says whether `lookup` found the chart's own
/// Secret: "no" on a first install, "yes" from then on.
const SEES_ITS_SECRET: &[(&str, &str)] = &[
    (
        "deploy/Chart.yaml",
        "apiVersion: v2\nname: seer\nversion: 0.1.0\n",
    ),
    (
        "deploy/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-admin\nstringData:\n  \
         user: admin\n",
    ),
    (
        "deploy/templates/seen.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-seen
data:
  seen: {{ if (lookup "v1" "Secret" .Release.Namespace (printf "%s-admin" .Release.Name)) }}"yes"{{ else }}"no"{{ end }}
"#,
    ),
];

async fn seen_by_chart(client: &kube::Client, ns: &str) -> String {
    let cm = config(client, ns, "deploy-seen").await;
    cm.data.unwrap_or_default()["seen"].clone()
}

#[tokio::test]
async fn a_chart_without_random_values_is_rendered_again_as_the_cluster_now_is() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "lookup-seer").await;
    let repo = committed(SEES_ITS_SECRET);
    let out = gitops(&["apply", "deploy", "-n", &ns, "--yes"], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("Re-rendered 1 chart"), "{stdout}");
    assert!(stdout.contains("2 created, 1 updated"), "{stdout}");
    assert_eq!(seen_by_chart(&client, &ns).await, "yes");
    let out = gitops(&["diff", "deploy", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
}

#[tokio::test]
async fn a_plan_file_is_applied_exactly_and_its_chart_is_not_rendered_again() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "lookup-planfile").await;
    let repo = committed(SEES_ITS_SECRET);
    let plan = repo.path().join("plan.json");
    let plan = plan.to_str().expect("utf-8 path");
    let out = gitops(&["diff", "deploy", "-n", &ns, "--out", plan], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "changes\n{stdout}\n{stderr}");
    let out = gitops(
        &["apply", "deploy", "-n", &ns, "--plan", plan, "--yes"],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stdout.contains("Re-rendered"), "{stdout}");
    assert!(stdout.contains("2 created, 0 updated"), "{stdout}");
    assert_eq!(seen_by_chart(&client, &ns).await, "no");
    // What a second render changes is left to the next plan, which shows it.
    let out = gitops(&["diff", "deploy", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("~ update ConfigMap"), "{stdout}");
}
