//! `helmCharts:` entries naming a chart repository (HTTP on loopback, and an OCI registry):
//! rendered objects equal `kubectl kustomize --enable-helm` on a copy whose chart was pulled
//! into chartHome by hand (the oracle), a cached chart renders with the repository stopped,
//! unpinned entries are refused, failures name the kustomization, chart, version and
//! repository without showing a credential, and such a kustomization goes diff -> apply ->
//! diff in sync.

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kubectl_gitops::render::helm::{Capabilities, HelmOptions};
use kubectl_gitops::render::{self, Manifest, RenderOptions};
use kubectl_gitops::source::{self, Limits};
use serde_json::Value;

use crate::chart_repo::{HttpRepo, Registry, helm_with, run};
use crate::support::{self, Workdir, text};

/// A repository whose `base/` renders the chart `web` from `repo` (with `version`, if any)
/// beside a ConfigMap of its own, and whose `overlay/` builds on `base/`.
fn repository(repo: &str, version: Option<&str>, namespace: &str) -> Workdir {
    let version = version
        .map(|v| format!("  version: {v}\n"))
        .unwrap_or_default();
    let base = format!(
        "resources: [own.yaml]\nhelmCharts:\n- name: web\n  repo: {repo}\n{version}  \
         releaseName: demo\n  namespace: {namespace}\n  valuesInline:\n    value: from-git\n"
    );
    let overlay = format!("namespace: {namespace}\nresources: [../base]\nnamePrefix: prod-\n");
    let repo = Workdir::new(&[
        ("base/kustomization.yaml", &base),
        (
            "base/own.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: own\ndata:\n  from: base\n",
        ),
        ("overlay/kustomization.yaml", &overlay),
    ]);
    // A git repository, so the overlay's `../base` is inside it.
    repo.git_commit_all();
    repo
}

fn options(cache: &Path) -> RenderOptions {
    RenderOptions {
        helm: HelmOptions {
            program: Some(support::helm3()),
            namespace: Some("apps".into()),
            capabilities: Capabilities::HelmDefaults,
            cache_dir: Some(cache.to_path_buf()),
            lookup: None,
        },
        ..RenderOptions::default()
    }
}

fn render_dir(dir: &Path, options: &RenderOptions) -> Result<Vec<Manifest>, String> {
    let snapshot = source::read_working_tree(dir, &Limits::default()).expect("the tree");
    render::render(&snapshot, options).map_err(|failure| failure.to_string())
}

fn objects(manifests: &[Manifest]) -> Vec<Value> {
    sorted(manifests.iter().map(|m| Value::Object(m.object.clone())))
}

fn sorted(objects: impl Iterator<Item = Value>) -> Vec<Value> {
    let mut objects: Vec<Value> = objects.collect();
    objects.sort_by_key(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]));
    objects
}

/// The oracle: the chart pulled by hand into `base/charts/web-VERSION`, where kustomize
/// looks before pulling, then `kubectl kustomize --enable-helm` with the same Helm 3.
fn oracle(repo: &Workdir, pull: &[&str], version: &str) -> Vec<Value> {
    let scratch = tempfile::tempdir().unwrap();
    let copy = support::copy_into(repo.path(), scratch.path());
    let mut command = helm_with(&support::helm3(), &scratch.path().join("home"));
    command
        .arg("pull")
        .args(pull)
        .args(["--version", version, "--untar", "--untardir"])
        .arg(copy.join(format!("base/charts/web-{version}")));
    run(command);
    let output = Command::new("kubectl")
        .args(["kustomize", "--enable-helm", "--helm-command"])
        .arg(support::helm3())
        .arg(copy.join("overlay"))
        .output()
        .expect("running kubectl kustomize");
    assert!(
        output.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifests = render::load_file(Path::new("kustomize.yaml"), &output.stdout)
        .expect("kustomize's output parses");
    sorted(manifests.into_iter().map(|m| Value::Object(m.object)))
}

fn data<'a>(objects: &'a [Value], name: &str, key: &str) -> &'a str {
    objects
        .iter()
        .find(|o| o["metadata"]["name"] == name)
        .and_then(|o| o["data"][key].as_str())
        .unwrap_or_else(|| panic!("no {name}.{key} in {objects:?}"))
}

#[test]
fn a_chart_from_a_chart_repository_renders_as_kustomize_does_then_from_the_cache_offline() {
    let mut charts = HttpRepo::start(&[("web", "1.2.0", "from-repo")], None);
    let repo = repository(&charts.url(), Some("1.2.0"), "apps");
    let cache = tempfile::tempdir().unwrap();
    let options = options(cache.path());

    let first =
        render_dir(&repo.path().join("overlay"), &options).unwrap_or_else(|e| panic!("{e}"));
    let expected = oracle(&repo, &["--repo", &charts.url(), "web"], "1.2.0");
    assert_eq!(objects(&first), expected);
    assert_eq!(data(&expected, "prod-demo-web", "value"), "from-git");
    assert_eq!(data(&expected, "prod-demo-web", "chart"), "web-1.2.0");
    let own = first
        .iter()
        .find(|m| m.name() == "prod-own")
        .expect("the base's own ConfigMap");
    assert_eq!(
        own.origin.file,
        Path::new("base/own.yaml"),
        "origins name the repository's files, not the copy built"
    );
    assert!(
        !repo.path().join("base/charts").exists(),
        "the tree is never written"
    );

    let requests = charts.server.requests();
    charts.server.stop();
    let again =
        render_dir(&repo.path().join("overlay"), &options).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(objects(&again), expected, "the cached chart renders alike");
    assert_eq!(charts.server.requests(), requests, "nothing was fetched");
}

#[test]
fn a_chart_vendored_where_kustomize_looks_is_rendered_without_pulling() {
    let mut charts = HttpRepo::start(&[("web", "1.2.0", "from-repo")], None);
    let repo = repository(&charts.url(), Some("1.2.0"), "apps");
    let vendored = crate::chart_repo::write_chart(repo.path(), "web", "1.2.0", "vendored");
    std::fs::create_dir_all(repo.path().join("base/charts/web-1.2.0")).unwrap();
    std::fs::rename(&vendored, repo.path().join("base/charts/web-1.2.0/web")).unwrap();
    std::fs::remove_dir_all(repo.path().join("web-1.2.0-src")).unwrap();
    repo.write(
        "base/charts/web-1.2.0/web/templates/vendored.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: only-in-the-vendored-copy\n",
    );
    repo.git_commit_all();
    charts.server.stop();
    let cache = tempfile::tempdir().unwrap();
    let ours = render_dir(&repo.path().join("overlay"), &options(cache.path()))
        .unwrap_or_else(|e| panic!("{e}"));
    let rendered = objects(&ours);
    assert!(
        rendered
            .iter()
            .any(|o| o["metadata"]["name"] == "prod-only-in-the-vendored-copy"),
        "{rendered:?}"
    );
    let output = Command::new("kubectl")
        .args(["kustomize", "--enable-helm", "--helm-command"])
        .arg(support::helm3())
        .arg(repo.path().join("overlay"))
        .output()
        .expect("running kubectl kustomize");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifests = render::load_file(Path::new("kustomize.yaml"), &output.stdout).unwrap();
    assert_eq!(
        rendered,
        sorted(manifests.into_iter().map(|m| Value::Object(m.object)))
    );
    assert_eq!(
        std::fs::read_dir(cache.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "nothing was pulled or cached"
    );
}

#[test]
fn a_chart_from_an_oci_registry_renders_as_kustomize_does() {
    let registry = Registry::start(None);
    registry.publish("web", "0.3.0", "from-oci", None);
    let repo = repository(&registry.reference(), Some("0.3.0"), "apps");
    let cache = tempfile::tempdir().unwrap();
    let ours = render_dir(&repo.path().join("overlay"), &options(cache.path()))
        .unwrap_or_else(|e| panic!("{e}"));
    let reference = format!("{}/web", registry.reference());
    let expected = oracle(&repo, &[&reference, "--plain-http"], "0.3.0");
    assert_eq!(objects(&ours), expected);
    assert_eq!(data(&expected, "prod-demo-web", "chart"), "web-0.3.0");
}

#[test]
fn an_unpinned_chart_is_refused_naming_the_kustomization_and_the_entry() {
    let charts = HttpRepo::start(&[("web", "1.2.0", "x")], None);
    let cache = tempfile::tempdir().unwrap();
    for version in [None, Some("\"^1.2.0\"")] {
        let repo = repository(&charts.url(), version, "apps");
        let error = render_dir(&repo.path().join("overlay"), &options(cache.path()))
            .expect_err("an unpinned chart would change under a reviewed plan");
        assert!(
            error.contains("base/kustomization.yaml")
                && error.contains("helmCharts web")
                && error.contains("must pin an exact `version`"),
            "{error}"
        );
    }
    assert_eq!(charts.server.requests(), 0, "nothing is pulled");
}

#[test]
fn a_version_the_repository_lacks_fails_naming_chart_version_and_repository() {
    let charts = HttpRepo::start(&[("web", "1.2.0", "x")], None);
    let repo = repository(&charts.url(), Some("9.9.9"), "apps");
    let cache = tempfile::tempdir().unwrap();
    let error = render_dir(&repo.path().join("overlay"), &options(cache.path()))
        .expect_err("no such version");
    assert!(
        error.contains(&format!(
            "base/kustomization.yaml: helmCharts web 9.9.9 from {}",
            charts.url()
        )),
        "{error}"
    );
    assert!(error.contains("9.9.9"), "helm's reason is kept: {error}");
    eprintln!("{error}");
}

#[test]
fn a_private_repository_lends_its_credentials_from_the_environment_and_never_shows_them() {
    let charts = HttpRepo::start(&[("web", "1.2.0", "private")], None);
    charts.server.require("ci", "chart-pa55word");
    let repo = repository(&charts.url(), Some("1.2.0"), "apps");
    let secrets = tempfile::tempdir().unwrap();
    let file = |password: &str| {
        let path = secrets.path().join(format!("repositories-{password}.yaml"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: \"\"\nrepositories:\n- name: private\n  url: {}\n  username: ci\n  \
                 password: {password}\n",
                charts.url()
            ),
        )
        .unwrap();
        path.to_string_lossy().into_owned()
    };
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path().to_str().unwrap();
    let helm3 = support::helm3();
    let helm3 = helm3.to_str().unwrap();
    let diff = |config: &str| {
        let mut env = vec![("GITOPS_HELM", helm3), ("GITOPS_HELM_CACHE", cache)];
        if !config.is_empty() {
            env.push(("GITOPS_HELM_REPOSITORY_CONFIG", config));
        }
        let out = support::gitops_env(
            &["diff", "overlay", "--base", "HEAD", "--offline"],
            repo.path(),
            &env,
        );
        let (stdout, stderr) = text(&out);
        (out.status.code(), format!("{stdout}\n{stderr}"))
    };

    let (code, output) = diff("");
    assert_eq!(code, Some(2), "without credentials\n{output}");
    assert!(
        output.contains("helmCharts web 1.2.0 from ") && output.contains(&charts.url()),
        "{output}"
    );
    let wrong = file("wrong-pa55word");
    let (code, output) = diff(&wrong);
    assert_eq!(code, Some(2), "with a wrong password\n{output}");
    assert!(!output.contains("wrong-pa55word"), "{output}");
    let right = file("chart-pa55word");
    let (code, output) = diff(&right);
    assert_eq!(code, Some(0), "pulled with the credentials\n{output}");
    assert!(!output.contains("chart-pa55word"), "{output}");
}

#[tokio::test]
async fn a_kustomization_with_a_chart_from_a_repository_applies_in_sync() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "chartrepo").await;
    let charts = HttpRepo::start(&[("web", "1.2.0", "from-repo")], None);
    let repo = repository(&charts.url(), Some("1.2.0"), &ns);
    let cache = tempfile::tempdir().unwrap();
    let helm3 = support::helm3();
    let env = [
        ("GITOPS_HELM", helm3.to_str().expect("utf-8 path")),
        ("GITOPS_HELM_CACHE", cache.path().to_str().unwrap()),
    ];
    let gitops = |args: &[&str]| {
        let out = support::gitops_env(args, repo.path(), &env);
        let (stdout, stderr) = text(&out);
        (out.status.code(), format!("{stdout}\n{stderr}"))
    };
    let (code, output) = gitops(&["diff", "overlay", "-n", &ns]);
    assert_eq!(code, Some(1), "changes before apply\n{output}");
    let (code, output) = gitops(&["apply", "overlay", "-n", &ns, "--yes"]);
    assert_eq!(code, Some(0), "apply\n{output}");
    let (code, output) = gitops(&["diff", "overlay", "-n", &ns]);
    assert_eq!(code, Some(0), "in sync\n{output}");
    let config = Api::<ConfigMap>::namespaced(client, &ns)
        .get("prod-demo-web")
        .await
        .expect("the chart's ConfigMap");
    let data = config.data.unwrap_or_default();
    assert_eq!(data.get("value").map(String::as_str), Some("from-git"));
    assert_eq!(data.get("chart").map(String::as_str), Some("web-1.2.0"));
}
