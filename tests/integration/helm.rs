//! Helm charts in the tree: rendered objects equal `helm template` with the same inputs (the
//! oracle), and on the test server a chart goes diff -> apply -> diff in sync, with a values
//! change in git shown as exactly the fields it changes.

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::Api;
use kubectl_gitops::render::helm::{Capabilities, HelmOptions};
use kubectl_gitops::render::{self, RenderOptions};
use kubectl_gitops::source::{self, Limits};
use serde_json::Value;

use crate::support::{self, Workdir, gitops, text};

/// A chart exercising what charts do: a vendored subchart, a library chart, a CRD in `crds/`,
/// a template branching on `.Capabilities`, hooks, a test, and a Secret from values.
fn chart_files(password: &str, replicas: u32) -> Vec<(String, String)> {
    let files = [
        (
            "web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.2.3\nappVersion: \"2.0\"\ndependencies:\n\
             - name: db\n  version: 0.1.0\n- name: common\n  version: 0.1.0\n"
                .to_string(),
        ),
        (
            "web/values.yaml",
            format!("replicas: {replicas}\npassword: {password}\ndb:\n  size: small\n"),
        ),
        (
            "web/crds/widgets.yaml",
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  \
             name: widgets.example.com\nspec:\n  group: example.com\n  names:\n    kind: Widget\n    \
             plural: widgets\n    singular: widget\n    listKind: WidgetList\n  scope: Namespaced\n  \
             versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      \
             openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n"
                .to_string(),
        ),
        (
            "web/templates/_helpers.tpl",
            "{{- define \"web.name\" -}}{{ .Release.Name }}-web{{- end }}\n".to_string(),
        ),
        (
            "web/templates/config.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"web.name\" . }}\n  \
             labels:\n{{ include \"common.labels\" . | indent 4 }}\ndata:\n  replicas: \"{{ .Values.replicas }}\"\n  \
             namespace: {{ .Release.Namespace }}\n  kubeVersion: {{ .Capabilities.KubeVersion.Version }}\n\
             {{- if .Capabilities.APIVersions.Has \"example.com/v1/Widget\" }}\n  widgets: served\n\
             {{- else }}\n  widgets: absent\n{{- end }}\n\
             {{- if semverCompare \">=1.30-0\" .Capabilities.KubeVersion.Version }}\n  kube: recent\n\
             {{- else }}\n  kube: old\n{{- end }}\n"
                .to_string(),
        ),
        (
            "web/templates/secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ include \"web.name\" . }}\n\
             stringData:\n  password: {{ .Values.password | quote }}\n"
                .to_string(),
        ),
        (
            "web/templates/hooks.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-before\n  \
             annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-weight: \"-1\"\n\
             data:\n  at: before\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  \
             name: {{ .Release.Name }}-after\n  annotations:\n    helm.sh/hook: post-install\n\
             data:\n  at: after\n"
                .to_string(),
        ),
        (
            "web/templates/tests/ping.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-ping\n  \
             annotations:\n    helm.sh/hook: test\nspec:\n  containers:\n  - name: ping\n    \
             image: busybox\n"
                .to_string(),
        ),
        (
            "web/charts/db/Chart.yaml",
            "apiVersion: v2\nname: db\nversion: 0.1.0\n".to_string(),
        ),
        ("web/charts/db/values.yaml", "size: large\n".to_string()),
        (
            "web/charts/db/templates/db.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-db\n\
             data:\n  size: {{ .Values.size }}\n"
                .to_string(),
        ),
        (
            "web/charts/common/Chart.yaml",
            "apiVersion: v2\nname: common\nversion: 0.1.0\ntype: library\n".to_string(),
        ),
        (
            "web/charts/common/templates/_labels.tpl",
            "{{- define \"common.labels\" -}}\napp.kubernetes.io/name: {{ .Chart.Name }}\n\
             app.kubernetes.io/instance: {{ .Release.Name }}\n{{- end }}\n"
                .to_string(),
        ),
    ];
    files
        .into_iter()
        .map(|(path, text)| (path.to_string(), text))
        .collect()
}

fn workdir(files: &[(String, String)]) -> Workdir {
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    Workdir::new(&borrowed)
}

/// Our render of `dir`, objects sorted by kind and name.
fn ours(dir: &Path, options: &RenderOptions) -> Vec<Value> {
    let snapshot = source::read_working_tree(dir, &Limits::default()).expect("reading the tree");
    let manifests = render::render(&snapshot, options).unwrap_or_else(|e| panic!("render: {e}"));
    sorted(manifests.into_iter().map(|m| Value::Object(m.object)))
}

/// `helm template` itself, tests left out (they are never applied), parsed as we parse YAML.
fn oracle(chart: &Path, release: &str, namespace: &str, capabilities: &[&str]) -> Vec<Value> {
    oracle_with(&support::helm(), chart, release, namespace, capabilities)
}

fn oracle_with(
    helm: &Path,
    chart: &Path,
    release: &str,
    namespace: &str,
    capabilities: &[&str],
) -> Vec<Value> {
    let output = Command::new(helm)
        .args(["template", release])
        .arg(chart)
        .args(["--namespace", namespace, "--include-crds", "--skip-tests"])
        .args(capabilities)
        .output()
        .expect("running helm");
    assert!(
        output.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifests = render::load_file(Path::new("helm-template.yaml"), &output.stdout)
        .expect("helm's output parses");
    sorted(manifests.into_iter().map(|m| Value::Object(m.object)))
}

fn sorted(objects: impl Iterator<Item = Value>) -> Vec<Value> {
    let mut objects: Vec<Value> = objects.collect();
    objects.sort_by_key(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]));
    objects
}

fn options(namespace: &str, capabilities: Capabilities) -> RenderOptions {
    RenderOptions {
        helm: HelmOptions {
            program: Some(support::helm()),
            namespace: Some(namespace.to_string()),
            capabilities,
            ..HelmOptions::default()
        },
        ..RenderOptions::default()
    }
}

fn names(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn a_chart_renders_as_helm_template_does_for_a_given_cluster() {
    let repo = workdir(&chart_files("s3cret", 2));
    let chart = repo.path().join("web");
    let cluster = Capabilities::Cluster {
        kube_version: "v1.31.4".into(),
        api_versions: vec![
            "v1".into(),
            "example.com/v1".into(),
            "example.com/v1/Widget".into(),
        ],
    };
    let ours = ours(repo.path(), &options("apps", cluster));
    let oracle = oracle(
        &chart,
        "web",
        "apps",
        &[
            "--kube-version",
            "v1.31.4",
            "--api-versions",
            "v1",
            "--api-versions",
            "example.com/v1",
            "--api-versions",
            "example.com/v1/Widget",
        ],
    );
    assert_eq!(ours, oracle);
    assert_eq!(
        names(&ours),
        [
            "ConfigMap/web-after",
            "ConfigMap/web-before",
            "ConfigMap/web-db",
            "ConfigMap/web-web",
            "CustomResourceDefinition/widgets.example.com",
            "Secret/web-web",
        ],
        "subchart, CRD, hooks and the Secret are rendered; the test Pod is not"
    );
    let config = ours
        .iter()
        .find(|o| o["metadata"]["name"] == "web-web" && o["kind"] == "ConfigMap")
        .unwrap();
    assert_eq!(config["data"]["widgets"], "served");
    assert_eq!(config["data"]["kube"], "recent");
    assert_eq!(config["data"]["namespace"], "apps");
    assert_eq!(
        config["metadata"]["labels"]["app.kubernetes.io/instance"], "web",
        "library chart's template"
    );
    let db = ours
        .iter()
        .find(|o| o["metadata"]["name"] == "web-db")
        .unwrap();
    assert_eq!(
        db["data"]["size"], "small",
        "parent values override the subchart's"
    );
}

#[test]
fn helm_3_renders_the_chart_as_its_own_template_does() {
    let repo = workdir(&chart_files("s3cret", 2));
    let helm3 = support::helm3();
    let mut options = options("apps", Capabilities::HelmDefaults);
    options.helm.program = Some(helm3.clone());
    let ours = ours(repo.path(), &options);
    assert_eq!(
        ours,
        oracle_with(&helm3, &repo.path().join("web"), "web", "apps", &[])
    );
    assert_eq!(ours.len(), 6, "{:?}", names(&ours));
}

#[test]
fn a_revision_renders_the_chart_as_committed() {
    let repo = workdir(&chart_files("s3cret", 2));
    repo.git_commit_all();
    repo.write("web/values.yaml", "replicas: 9\npassword: other\n");
    let snapshot = source::read_revision(repo.path(), "HEAD", &Limits::default()).expect("HEAD");
    let manifests = render::render(&snapshot, &options("apps", Capabilities::HelmDefaults))
        .unwrap_or_else(|e| panic!("render at HEAD: {e}"));
    let config = manifests
        .iter()
        .find(|m| m.kind() == "ConfigMap" && m.name() == "web-web")
        .expect("the chart's ConfigMap at HEAD");
    assert_eq!(
        config.object["data"]["replicas"], "2",
        "the committed values, not the edit"
    );
    assert_eq!(
        config.origin.file,
        Path::new("web/templates/config.yaml"),
        "origins name the template"
    );
}

#[test]
fn an_offline_diff_of_a_chart_says_it_used_helms_defaults() {
    let repo = workdir(&chart_files("s3cret", 2));
    repo.git_commit_all();
    repo.write(
        "web/values.yaml",
        "replicas: 4\npassword: s3cret\ndb:\n  size: small\n",
    );
    repo.git_commit_all();
    let out = gitops(&["diff", ".", "--base", "HEAD~1", "--offline"], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("Helm's default capabilities"), "{stderr}");
    assert!(stdout.contains("web-web"), "{stdout}");
    assert!(
        !stdout.contains("web-db"),
        "only the changed object\n{stdout}"
    );
}

#[test]
fn without_a_cluster_a_chart_sees_helms_default_capabilities() {
    let repo = workdir(&chart_files("s3cret", 2));
    let ours = ours(repo.path(), &options("default", Capabilities::HelmDefaults));
    let oracle = oracle(&repo.path().join("web"), "web", "default", &[]);
    assert_eq!(ours, oracle);
    let config = ours
        .iter()
        .find(|o| o["metadata"]["name"] == "web-web" && o["kind"] == "ConfigMap")
        .unwrap();
    assert_eq!(config["data"]["widgets"], "absent");
}

#[test]
fn hooks_deleted_after_they_run_render_as_helm_template_renders_them() {
    let mut files = chart_files("s3cret", 1);
    files.push((
        "web/templates/job.yaml".into(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: migrate\n  annotations:\n    \
         helm.sh/hook: post-install\n    helm.sh/hook-delete-policy: hook-succeeded\n"
            .into(),
    ));
    let repo = workdir(&files);
    let ours = ours(repo.path(), &options("default", Capabilities::HelmDefaults));
    let oracle = oracle(&repo.path().join("web"), "web", "default", &[]);
    assert_eq!(ours, oracle);
    assert!(
        names(&ours).iter().any(|n| n.contains("migrate")),
        "{:?}",
        names(&ours)
    );
}

#[test]
fn a_hook_annotation_helm_does_not_know_is_refused_naming_the_file_and_object() {
    let mut files = chart_files("s3cret", 1);
    files.push((
        "web/templates/job.yaml".into(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: migrate\n  annotations:\n    \
         helm.sh/hook: pre-install\n    helm.sh/hook-delete-policy: hook-suceeded\n"
            .into(),
    ));
    let repo = workdir(&files);
    let snapshot = source::read_working_tree(repo.path(), &Limits::default()).unwrap();
    let error = render::render(&snapshot, &options("default", Capabilities::HelmDefaults))
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("web/templates/job.yaml")
            && error.contains("ConfigMap/migrate")
            && error.contains("\"hook-suceeded\"")
            && error.contains("hook-succeeded"),
        "{error}"
    );
}

#[test]
fn a_broken_template_fails_naming_the_chart_with_helms_reason() {
    let mut files = chart_files("s3cret", 1);
    files.push((
        "web/templates/broken.yaml".into(),
        "kind: ConfigMap\nmetadata:\n  name: {{ .Values.missing.deeper }}\n".into(),
    ));
    let repo = workdir(&files);
    let snapshot = source::read_working_tree(repo.path(), &Limits::default()).unwrap();
    let error = render::render(&snapshot, &options("default", Capabilities::HelmDefaults))
        .expect_err("helm fails")
        .to_string();
    assert!(error.starts_with("web: helm template failed: "), "{error}");
    assert!(error.contains("broken.yaml"), "helm's own reason\n{error}");
}

/// The podinfo chart of the shared corpus, when this checkout sits beside it.

#[test]
fn podinfo_renders_as_helm_template_does() {
    let Some(chart) = support::podinfo_chart() else {
        eprintln!(
            "note: skipping the podinfo oracle: no corpus (set GITOPS_TEST_CORPUS to a directory \
             holding podinfo/charts/podinfo)"
        );
        return;
    };
    let parent = tempfile::tempdir().unwrap();
    let copy = parent.path().join("podinfo");
    support::copy_tree(&chart, &copy);
    let ours = ours(parent.path(), &options("apps", Capabilities::HelmDefaults));
    let oracle = oracle(&copy, "podinfo", "apps", &[]);
    assert!(!ours.is_empty());
    assert_eq!(ours, oracle);
}

#[tokio::test]
async fn a_chart_applies_in_sync_and_a_values_change_shows_exactly_its_fields() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "helm").await;
    let mut files = chart_files("s3cret", 2);
    // The cluster-scoped CRD would be shared between runs; this test is about the release.
    files.retain(|(p, _)| !p.contains("crds/"));
    let repo = workdir(&files);
    repo.git_commit_all();

    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "changes before apply\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("web-web"), "{stdout}");
    assert!(
        !stdout.contains("s3cret"),
        "the Secret's value is masked\n{stdout}"
    );

    let out = gitops(&["apply", ".", "-n", &ns, "--yes"], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "apply\n{stdout}\n{stderr}");
    assert!(!format!("{stdout}{stderr}").contains("s3cret"));

    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "in sync after apply\n{stdout}\n{stderr}"
    );

    // The chart saw the cluster it went to: its namespace and its version.
    let config = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("web-web")
        .await
        .expect("the chart's ConfigMap");
    let data = config.data.unwrap_or_default();
    let server = client.apiserver_version().await.expect("server version");
    assert_eq!(data.get("kubeVersion"), Some(&server.git_version));
    assert_eq!(data.get("namespace"), Some(&ns));
    let ping = Api::<Pod>::namespaced(client.clone(), &ns)
        .get_opt("web-ping")
        .await;
    assert!(
        matches!(ping, Ok(None)),
        "the chart's test Pod is never applied"
    );

    repo.write(
        "web/values.yaml",
        "replicas: 5\npassword: s3cret\ndb:\n  size: small\n",
    );
    repo.git_commit_all();
    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let changed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with('-') || l.starts_with('+'))
        .filter(|l| !l.starts_with("---") && !l.starts_with("+++"))
        .collect();
    assert_eq!(changed.len(), 2, "one field changed\n{stdout}");
    assert!(
        changed
            .iter()
            .any(|l| l.contains("replicas") && l.contains('2')),
        "{stdout}"
    );
    assert!(
        changed
            .iter()
            .any(|l| l.contains("replicas") && l.contains('5')),
        "{stdout}"
    );
}

/// The `helmCharts:` example of examples/helm/kustomize, released into `namespace`.
fn kustomize_example(namespace: &str, message: &str) -> Vec<(String, String)> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/helm/kustomize");
    let read = |p: &str| std::fs::read_to_string(example.join(p)).expect("example file");
    let kustomization = read("kustomization.yaml")
        .replace("namespace: demo", &format!("namespace: {namespace}"))
        .replace("hello from kustomize", message);
    let mut files = vec![("kustomization.yaml".to_string(), kustomization)];
    for chart_file in ["Chart.yaml", "values.yaml", "templates/configmap.yaml"] {
        let path = format!("charts/hello/{chart_file}");
        files.push((path.clone(), read(&path)));
    }
    files
}

#[tokio::test]
async fn a_helm_charts_kustomization_applies_in_sync_with_its_values_from_git() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "helmcharts").await;
    let repo = workdir(&kustomize_example(&ns, "first"));
    repo.git_commit_all();
    let helm3 = support::helm3();
    let env = [("GITOPS_HELM", helm3.to_str().expect("utf-8 path"))];

    let out = support::gitops_env(&["diff", ".", "-n", &ns], repo.path(), &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "changes before apply\n{stdout}\n{stderr}"
    );
    let out = support::gitops_env(&["apply", ".", "-n", &ns, "--yes"], repo.path(), &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "apply\n{stdout}\n{stderr}");
    let out = support::gitops_env(&["diff", ".", "-n", &ns], repo.path(), &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "in sync\n{stdout}\n{stderr}");

    let config = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("greeter-config")
        .await
        .expect("the release's ConfigMap, named by releaseName");
    let data = config.data.unwrap_or_default();
    assert_eq!(data.get("message").map(String::as_str), Some("first"));
    assert_eq!(
        data.get("replicas").map(String::as_str),
        Some("3"),
        "valuesInline wins"
    );
    let server = client.apiserver_version().await.expect("server version");
    assert_eq!(
        data.get("kubeVersion"),
        Some(&server.git_version),
        "kustomize's helm saw the cluster"
    );

    for (path, text) in kustomize_example(&ns, "second") {
        repo.write(&path, &text);
    }
    repo.git_commit_all();
    let out = support::gitops_env(&["diff", ".", "-n", &ns], repo.path(), &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("second") && stdout.contains("first"),
        "{stdout}"
    );
}

#[test]
fn helm_charts_in_a_kustomization_refuse_helm_4_clearly() {
    let repo = workdir(&kustomize_example("default", "x"));
    let snapshot = source::read_working_tree(repo.path(), &Limits::default()).unwrap();
    let error = render::render(&snapshot, &options("default", Capabilities::HelmDefaults))
        .expect_err("kustomize v5.5 needs Helm 3")
        .to_string();
    assert!(error.contains("only with Helm 3"), "{error}");
}

#[tokio::test]
async fn capabilities_follow_a_crd_installed_after_the_first_reading() {
    use kubectl_gitops::cluster::{Cluster, ClusterOptions};
    let cluster = Cluster::connect(&ClusterOptions {
        kubeconfig: Some(support::kubeconfig()),
        ..ClusterOptions::default()
    })
    .await
    .unwrap();
    let group = format!("{}.example.com", support::unique_name("caps"));
    let served = |capabilities: &Capabilities| match capabilities {
        Capabilities::Cluster { api_versions, .. } => {
            api_versions.contains(&format!("{group}/v1/Gadget"))
        }
        Capabilities::HelmDefaults => panic!("a cluster's capabilities"),
    };
    let before = render::target::capabilities_of(&cluster).await.unwrap();
    assert!(!served(&before));

    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  \
         name: gadgets.{group}\nspec:\n  group: {group}\n  names:\n    kind: Gadget\n    \
         plural: gadgets\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    \
         storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n"
    );
    let repo = Workdir::new(&[("crd.yaml", &crd)]);
    let out = gitops(&["apply", ".", "--yes"], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");

    // Within the discovery delay the reading is reused; once it has expired, a new one sees
    // the CRD (the reconciler reads them again every cycle that renders a chart).
    assert!(!served(
        &render::target::capabilities_of(&cluster).await.unwrap()
    ));
    let mut seen = false;
    for _ in 0..50 {
        cluster.forget_served_apis();
        if served(&render::target::capabilities_of(&cluster).await.unwrap()) {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(seen, "the CRD's kind is among the capabilities");
}

/// A chart `helm install` put in the cluster, as docs/helm.md's "Taking over a release" describes
/// it: same chart, same release name and namespace.
fn released_chart() -> Vec<(String, String)> {
    [
        (
            "web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        ),
        (
            "web/values.yaml",
            "greeting: hello\npassword: takeover-canary-93\n",
        ),
        (
            "web/templates/config.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n\
             data:\n  greeting: {{ .Values.greeting }}\n",
        ),
        (
            "web/templates/secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-secret\n\
             stringData:\n  password: {{ .Values.password | quote }}\n",
        ),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_string(), t.to_string()))
    .collect()
}

fn uid_of(ns: &str, kind: &str, name: &str) -> String {
    let out = Command::new("kubectl")
        .args([
            "get",
            kind,
            name,
            "-n",
            ns,
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .output()
        .expect("running kubectl");
    assert!(out.status.success(), "{kind}/{name} exists");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_release_helm_installed_is_taken_over_in_place_as_the_readme_says() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "helm-takeover").await;
    let repo = workdir(&released_chart());
    repo.git_commit_all();
    let install = Command::new(support::helm())
        .args(["install", "web"])
        .arg(repo.path().join("web"))
        .args(["--namespace", &ns, "--kubeconfig"])
        .arg(support::kubeconfig())
        .output()
        .expect("running helm install");
    assert!(
        install.status.success(),
        "helm install\n{}",
        String::from_utf8_lossy(&install.stderr)
    );
    let before = [
        uid_of(&ns, "configmap", "web-config"),
        uid_of(&ns, "secret", "web-secret"),
    ];

    // The objects are the release's: nothing to create, each one adopted from Helm.
    let out = gitops(&["diff", "web", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert!(!stdout.contains("+ create"), "{stdout}\n{stderr}");
    assert!(stdout.contains("ConfigMap/"), "{stdout}\n{stderr}");
    assert!(stdout.contains("adopted"), "{stdout}\n{stderr}");
    assert!(!stdout.contains("takeover-canary-93"), "{stdout}");

    // The ConfigMap's values are Helm's, so its fields are shared without a conflict. The
    // Secret's stringData is never stored, so sending it again is a change of a field Helm's
    // manager owns: a conflict, taken with --force-conflicts, as docs/helm.md says.
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stdout.contains("~ update ConfigMap/"), "{stdout}");
    assert!(stdout.contains("! conflict Secret/"), "{stdout}");
    assert!(
        stdout.contains("conflict with \"helm\": .stringData.password"),
        "{stdout}"
    );
    assert!(!stdout.contains("! conflict ConfigMap/"), "{stdout}");
    let out = gitops(
        &["apply", "web", "-n", &ns, "--force-conflicts", "--yes"],
        repo.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "apply\n{stdout}\n{stderr}");
    // Nothing was deleted or recreated: the same objects serve on.
    let after = [
        uid_of(&ns, "configmap", "web-config"),
        uid_of(&ns, "secret", "web-secret"),
    ];
    assert_eq!(before, after, "taken over in place");

    // Helm's release record goes; the objects stay and are in sync with git.
    let delete = Command::new("kubectl")
        .args(["delete", "secret", "-n", &ns, "-l", "owner=helm,name=web"])
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .output()
        .expect("running kubectl delete");
    assert!(delete.status.success());
    let list = Command::new(support::helm())
        .args(["list", "--short", "--namespace", &ns, "--kubeconfig"])
        .arg(support::kubeconfig())
        .output()
        .expect("running helm list");
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).trim(),
        "",
        "no release left"
    );
    let out = gitops(&["diff", "web", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "in sync\n{stdout}\n{stderr}");
    assert_eq!(
        [
            uid_of(&ns, "configmap", "web-config"),
            uid_of(&ns, "secret", "web-secret"),
        ],
        before
    );
}

/// A chart rendered through a `helmCharts:` kustomization brings its hooks as kustomize's
/// helm renders them: they are runs there too, listed by the plan, run by the apply and
/// deleted as their policy says, and the next diff is in sync.
#[tokio::test]
async fn hooks_of_a_helm_charts_kustomization_run_as_a_charts_do() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "helmcharts-hook").await;
    let mut files = kustomize_example(&ns, "hooked");
    files.push((
        "charts/hello/templates/notify.yaml".into(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-notified\n  \
         annotations:\n    helm.sh/hook: post-install,post-upgrade\n    \
         helm.sh/hook-delete-policy: hook-succeeded\ndata:\n  done: \"yes\"\n"
            .into(),
    ));
    // kustomize renders the chart's tests too; they are never applied.
    files.push((
        "charts/hello/templates/tests/ping.yaml".into(),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-ping\n  \
         annotations:\n    helm.sh/hook: test\nspec:\n  containers:\n  - name: ping\n    \
         image: busybox\n"
            .into(),
    ));
    let repo = workdir(&files);
    repo.git_commit_all();
    let helm3 = support::helm3();
    let env = [("GITOPS_HELM", helm3.to_str().expect("utf-8 path"))];

    let out = support::gitops_env(&["diff", ".", "-n", &ns], repo.path(), &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "» hook ConfigMap/{ns}/greeter-notified runs after the other objects"
        )),
        "{stdout}"
    );
    let out = support::gitops_env(&["apply", ".", "-n", &ns, "--yes"], repo.path(), &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("ran hook ConfigMap/{ns}/greeter-notified")),
        "{stdout}"
    );
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    assert!(
        configmaps
            .get_opt("greeter-notified")
            .await
            .unwrap()
            .is_none()
    );
    let pods = Api::<Pod>::namespaced(client.clone(), &ns);
    assert!(
        pods.get_opt("greeter-ping").await.unwrap().is_none(),
        "the chart's test is never applied\n{stdout}"
    );
    let out = support::gitops_env(&["diff", ".", "-n", &ns], repo.path(), &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "in sync\n{stdout}\n{stderr}");
}
