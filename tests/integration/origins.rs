//! Where each planned object says it came from: kustomize builds cite the base, overlay or
//! component file (or the generator) that defined the object, and a Helm chart in a plain tree
//! is one clear error.

use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::Api;
use serde_json::Value;

use crate::support::{self, Workdir, gitops, text};

const BASE_APP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  level: info
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-extra
data:
  mode: fast
";

const COMPONENT: &str = "\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources:
- service.yaml
configMapGenerator:
- name: dashboards
  literals:
  - home=1
";

const COMPONENT_SERVICE: &str = "\
# the component's Service
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
";

fn overlay(ns: &str) -> String {
    format!(
        "namespace: {ns}
namePrefix: prod-
resources:
- ../../base
components:
- ../../components/monitoring
configMapGenerator:
- name: flags
  literals:
  - search=on
secretGenerator:
- name: creds
  literals:
  - password=hunter2
"
    )
}

/// `origin` of the plan's change for the object named `name`, as `file:line`.
fn origin_of(plan: &Value, name: &str) -> String {
    let change = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["object"]["name"] == name)
        .unwrap_or_else(|| panic!("no change for {name} in {plan:#}"));
    format!(
        "{}:{}",
        change["origin"]["file"].as_str().unwrap(),
        change["origin"]["line"]
    )
}

#[tokio::test]
async fn kustomize_objects_cite_the_base_overlay_component_or_generator_that_defined_them() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "origins").await;
    let repo = Workdir::new(&[
        ("base/kustomization.yaml", "resources:\n- app.yaml\n"),
        ("base/app.yaml", BASE_APP),
        ("components/monitoring/kustomization.yaml", COMPONENT),
        ("components/monitoring/service.yaml", COMPONENT_SERVICE),
        ("overlays/prod/kustomization.yaml", &overlay(&ns)),
    ]);
    repo.git_commit_all();

    let out = gitops(&["diff", "overlays/prod", "-o", "json"], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(origin_of(&plan, "prod-settings"), "base/app.yaml:1");
    assert_eq!(origin_of(&plan, "prod-settings-extra"), "base/app.yaml:8");
    assert_eq!(
        origin_of(&plan, "prod-web"),
        "components/monitoring/service.yaml:2"
    );
    let generated = |prefix: &str| {
        let change = plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["object"]["name"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no object named {prefix}* in {plan:#}"));
        origin_of(&plan, change["object"]["name"].as_str().unwrap())
    };
    // Generated objects cite their generator's entry in the kustomization that configured it.
    assert_eq!(
        generated("prod-dashboards-"),
        "components/monitoring/kustomization.yaml:6"
    );
    assert_eq!(
        generated("prod-flags-"),
        "overlays/prod/kustomization.yaml:8"
    );
    assert_eq!(
        generated("prod-creds-"),
        "overlays/prod/kustomization.yaml:12"
    );
    assert!(
        !stdout.contains("config.kubernetes.io/origin"),
        "the origin annotation is in neither the dry-run answer nor the diff\n{stdout}"
    );

    let out = gitops(&["diff", "overlays/prod"], repo.path());
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains(&format!(
            "+ create Service/{ns}/prod-web (components/monitoring/service.yaml:2)"
        )),
        "{stdout}"
    );
    assert!(!stdout.contains("config.kubernetes.io"), "{stdout}");

    let out = gitops(&["apply", "overlays/prod", "--yes"], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let service = Api::<Service>::namespaced(client.clone(), &ns)
        .get("prod-web")
        .await
        .unwrap();
    let config_map = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("prod-settings")
        .await
        .unwrap();
    for annotations in [
        service.metadata.annotations.unwrap_or_default(),
        config_map.metadata.annotations.unwrap_or_default(),
    ] {
        assert!(
            !annotations.contains_key("config.kubernetes.io/origin"),
            "the origin annotation reached the cluster: {annotations:?}"
        );
    }
    let out = gitops(&["diff", "overlays/prod"], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "in sync after apply\n{stdout}\n{stderr}"
    );
}

#[tokio::test]
async fn a_helm_chart_without_helm_is_one_error_naming_the_chart() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "chart").await;
    let repo = Workdir::new(&[
        (
            "app.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n",
        ),
        (
            "charts/web/Chart.yaml",
            "apiVersion: v2\nname: web-chart\nversion: 1.0.0\n",
        ),
        ("charts/web/values.yaml", "replicas: 2\n"),
        (
            "charts/web/templates/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"web.fullname\" . }}\nspec:\n  replicas: {{ .Values.replicas }}\n",
        ),
        (
            "charts/web/templates/_helpers.tpl",
            "{{- define \"web.fullname\" -}}web{{- end }}\n",
        ),
    ]);
    repo.git_commit_all();

    let missing = repo.path().join("no-helm-here");
    let out = support::gitops_env(
        &["diff", ".", "-n", &ns],
        repo.path(),
        &[("GITOPS_HELM", missing.to_str().expect("utf-8 path"))],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let mentions: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("charts/web"))
        .collect();
    assert_eq!(mentions.len(), 1, "one error for the chart\n{stderr}");
    assert!(
        mentions[0].contains("charts/web: cannot render Helm chart: `")
            && mentions[0].contains("was not found; install Helm 3.8 or later"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("templates/deployment.yaml") && !stderr.contains("did not find"),
        "no template was parsed as YAML\n{stderr}"
    );
}

#[tokio::test]
async fn an_object_two_kustomizations_build_from_one_base_names_both_kustomizations() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "built-twice").await;
    let repo = Workdir::new(&[
        ("base/kustomization.yaml", "resources:\n- app.yaml\n"),
        ("base/app.yaml", BASE_APP),
        (
            "overlays/a/kustomization.yaml",
            "resources:\n- ../../base\n",
        ),
        (
            "overlays/b/kustomization.yaml",
            "resources:\n- ../../base\n",
        ),
    ]);
    repo.git_commit_all();
    let out = gitops(&["diff", "overlays", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    // One error per object of the base, at the base's line, naming both builders.
    for (name, line) in [("settings", 1), ("settings-extra", 8)] {
        let expected = format!(
            "base/app.yaml:{line}: duplicate object ConfigMap/{name}: built by both \
             overlays/a/kustomization.yaml and overlays/b/kustomization.yaml"
        );
        assert!(stderr.contains(&expected), "{expected}\n{stderr}");
    }
    assert!(!stderr.contains("already defined at"), "{stderr}");
}
