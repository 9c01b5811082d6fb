//! Charts with locked dependencies from a chart repository or an OCI registry on loopback:
//! rendered objects equal `helm template` after `helm dependency build` (the oracle), a cached
//! lock renders with the servers stopped, failures name the chart, the dependency and the
//! repository without showing a credential, and a chart goes diff -> apply -> diff in sync.

use std::path::Path;

use kubectl_gitops::render::helm::{Capabilities, HelmOptions};
use kubectl_gitops::render::{self, RenderOptions};
use kubectl_gitops::source::{self, Limits};
use serde_json::Value;

use crate::chart_repo::{HttpRepo, Registry, helm_in, helm_with, registry_login, run};
use crate::support::{self, Workdir, text};

/// bcrypt of `oci-pa55word`, the registry's one login.
pub(crate) const HTPASSWD: &str = "ci:$2a$05$YktcXMg8/bf/tzTWONP31.FGC.XWVSKf24OUaXQlqOTv.7xqO2.TW";

/// The repository under test: `web/` is a chart depending on `dependencies` (name, version
/// range, repository), with a template of its own, and no `charts/`.
fn umbrella(dependencies: &[(&str, &str, &str)]) -> Workdir {
    let mut chart = String::from("apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n");
    for (name, version, repository) in dependencies {
        chart.push_str(&format!(
            "- name: {name}\n  version: \"{version}\"\n  repository: {repository}\n"
        ));
    }
    Workdir::new(&[
        ("web/Chart.yaml", &chart),
        (
            "web/values.yaml",
            "greeting: hello\ndb:\n  value: from-parent\n",
        ),
        (
            "web/templates/config.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-web\n\
             data:\n  greeting: {{ .Values.greeting }}\n",
        ),
    ])
}

/// `helm dependency update` on a scratch copy, keeping only the Chart.lock it writes: the
/// tree under test holds the lock, not the archives.
fn lock(repo: &Workdir, extra: &[&str]) {
    crate::chart_repo::lock_chart(&repo.path().join("web"), extra);
}

/// The oracle: `helm repo add` for each HTTP repository, `helm dependency build`, then
/// `helm template`, all on a copy in a private Helm home.
fn oracle(helm: &Path, repo: &Workdir, http_repos: &[String], extra: &[&str]) -> Vec<Value> {
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    let copy = support::copy_into(&repo.path().join("web"), scratch.path());
    let helm_at = |args: &[&str]| {
        let mut command = helm_with(helm, &home);
        command.args(args);
        command
    };
    for (i, url) in http_repos.iter().enumerate() {
        run(helm_at(&["repo", "add", &format!("r{i}"), url]));
    }
    let mut build = helm_at(&["dependency", "build"]);
    build.arg(&copy).args(extra);
    run(build);
    let mut template = helm_at(&["template", "web"]);
    template
        .arg(&copy)
        .args(["--namespace", "apps", "--include-crds", "--skip-tests"]);
    let output = run(template);
    let manifests = render::load_file(Path::new("helm-template.yaml"), output.as_bytes())
        .expect("helm's output parses");
    sorted(manifests.into_iter().map(|m| Value::Object(m.object)))
}

fn options(helm: &Path, cache: &Path) -> RenderOptions {
    RenderOptions {
        helm: HelmOptions {
            program: Some(helm.to_path_buf()),
            namespace: Some("apps".into()),
            capabilities: Capabilities::HelmDefaults,
            cache_dir: Some(cache.to_path_buf()),
            lookup: None,
        },
        ..RenderOptions::default()
    }
}

fn ours(repo: &Workdir, options: &RenderOptions) -> Result<Vec<Value>, String> {
    let snapshot = source::read_working_tree(repo.path(), &Limits::default()).expect("the tree");
    render::render(&snapshot, options)
        .map(|manifests| sorted(manifests.into_iter().map(|m| Value::Object(m.object))))
        .map_err(|failure| failure.to_string())
}

fn sorted(objects: impl Iterator<Item = Value>) -> Vec<Value> {
    let mut objects: Vec<Value> = objects.collect();
    objects.sort_by_key(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]));
    objects
}

fn value_of(objects: &[Value], name: &str) -> String {
    objects
        .iter()
        .find(|o| o["metadata"]["name"] == name)
        .map(|o| o["data"]["value"].as_str().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no {name} in {objects:?}"))
}

#[test]
fn a_locked_dependency_from_a_chart_repository_renders_as_helm_template_does() {
    for helm in [support::helm(), support::helm3()] {
        let mut charts = HttpRepo::start(
            &[("db", "0.1.0", "packaged"), ("db", "0.1.1", "newer")],
            None,
        );
        let repo = umbrella(&[("db", "~0.1.0", &charts.url())]);
        lock(&repo, &[]);
        // A release published after the lock does not change the render.
        charts.publish("db", "0.1.2", "newest");
        let lock_text = std::fs::read_to_string(repo.path().join("web/Chart.lock")).unwrap();
        assert!(lock_text.contains("0.1.1"), "{lock_text}");

        let cache = tempfile::tempdir().unwrap();
        let first = ours(&repo, &options(&helm, cache.path())).expect("the first render");
        let oracle = oracle(&helm, &repo, &[charts.url()], &[]);
        assert_eq!(first, oracle, "{}", helm.display());
        assert_eq!(value_of(&first, "web-db"), "from-parent");
        assert!(
            first.iter().any(|o| o["data"]["chart"] == "db-0.1.1"),
            "the locked version: {first:?}"
        );
        assert!(
            !repo.path().join("web/charts").exists(),
            "the tree is never written"
        );

        charts.server.stop();
        let served = charts.server.requests();
        let second = ours(&repo, &options(&helm, cache.path()))
            .expect("a cached lock renders without the repository");
        assert_eq!(second, first);
        assert_eq!(charts.server.requests(), served);
    }
}

#[test]
fn a_locked_dependency_from_an_oci_registry_renders_as_helm_template_does() {
    let helm = support::helm();
    let mut registry = Registry::start(None);
    registry.publish("cache", "2.0.0", "from-oci", None);
    let repo = umbrella(&[("cache", "2.0.0", &registry.reference())]);
    lock(&repo, &["--plain-http"]);

    let cache = tempfile::tempdir().unwrap();
    let first = ours(&repo, &options(&helm, cache.path())).expect("the first render");
    assert_eq!(first, oracle(&helm, &repo, &[], &["--plain-http"]));
    assert_eq!(value_of(&first, "web-cache"), "from-oci");

    registry.stop();
    let second = ours(&repo, &options(&helm, cache.path()))
        .expect("a cached lock renders without the registry");
    assert_eq!(second, first);
}

#[test]
fn a_dependency_the_repository_no_longer_has_fails_naming_chart_dependency_and_repository() {
    let charts = HttpRepo::start(&[("db", "0.2.0", "x"), ("other", "1.0.0", "y")], None);
    let repo = umbrella(&[
        ("db", "0.2.0", &charts.url()),
        ("other", "1.0.0", &charts.url()),
    ]);
    lock(&repo, &[]);
    charts.withdraw("db", "0.2.0");
    let cache = tempfile::tempdir().unwrap();
    let error = ours(&repo, &options(&support::helm(), cache.path())).expect_err("db is gone");
    assert!(
        error.starts_with("web: dependency db 0.2.0 from "),
        "{error}"
    );
    assert!(error.contains(&charts.url()), "{error}");
    assert!(
        !error.contains("other 1.0.0"),
        "only the missing one is blamed\n{error}"
    );
    assert!(
        std::fs::read_dir(cache.path().join("dependencies"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "nothing is cached from a failed fetch"
    );
}

#[test]
fn a_repository_that_cannot_be_reached_is_named_with_helms_reason() {
    let here = HttpRepo::start(&[("db", "0.2.0", "x")], None);
    let gone = HttpRepo::start(&[("other", "1.0.0", "y")], None);
    let repo = umbrella(&[
        ("db", "0.2.0", &here.url()),
        ("other", "1.0.0", &gone.url()),
    ]);
    lock(&repo, &[]);
    let gone_url = gone.url();
    drop(gone);
    let cache = tempfile::tempdir().unwrap();
    let error = ours(&repo, &options(&support::helm(), cache.path())).expect_err("unreachable");
    assert!(
        error.starts_with(&format!(
            "web: dependency other 1.0.0 from {gone_url}: the repository cannot be read: "
        )),
        "{error}"
    );
    // helm's own reason (the refused connection), not the index file it then missed.
    assert!(error.contains("refused"), "{error}");
    assert!(!error.contains("index.yaml: no such file"), "{error}");
    assert!(
        !error.contains("db 0.2.0"),
        "only the unreachable one is blamed\n{error}"
    );
}

#[test]
fn dependencies_without_a_lock_are_refused_with_the_command_that_locks_them() {
    let charts = HttpRepo::start(&[("db", "0.1.0", "x")], None);
    let repo = umbrella(&[("db", "~0.1.0", &charts.url())]);
    let cache = tempfile::tempdir().unwrap();
    let error = ours(&repo, &options(&support::helm(), cache.path())).expect_err("no lock");
    assert!(error.contains("web: "), "{error}");
    assert!(
        error.contains(&format!("db from {}", charts.url())),
        "{error}"
    );
    assert!(
        error.contains("helm dependency update web") && error.contains("commit Chart.lock"),
        "{error}"
    );
    assert_eq!(charts.server.requests(), 0, "nothing is resolved at render");
}

#[test]
fn vendored_dependencies_render_in_place_without_a_lock() {
    let charts = HttpRepo::start(&[("db", "0.1.0", "vendored")], None);
    let repo = umbrella(&[("db", "~0.1.0", &charts.url())]);
    std::fs::create_dir_all(repo.path().join("web/charts")).unwrap();
    let mut pull = helm_in(&repo.path().join(".home"));
    pull.args(["pull", "db", "--repo", &charts.url(), "-d"])
        .arg(repo.path().join("web/charts"));
    run(pull);
    std::fs::remove_dir_all(repo.path().join(".home")).unwrap();
    let requests = charts.server.requests();
    let cache = tempfile::tempdir().unwrap();
    let objects = ours(&repo, &options(&support::helm(), cache.path())).expect("renders");
    assert_eq!(value_of(&objects, "web-db"), "from-parent");
    assert_eq!(charts.server.requests(), requests, "no fetch");
}

/// `diff --base HEAD --offline` of the repository: both sides render the chart, the base at
/// the committed revision.
fn offline_diff(repo: &Workdir, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = support::gitops_env(
        &["diff", ".", "--base", "HEAD", "--offline"],
        repo.path(),
        env,
    );
    let (stdout, stderr) = text(&out);
    (out.status.code(), format!("{stdout}\n{stderr}"))
}

#[test]
fn a_private_repository_takes_its_credentials_from_the_file_the_environment_names() {
    let charts = HttpRepo::start(&[("db", "0.1.0", "private")], None);
    let repo = umbrella(&[("db", "0.1.0", &charts.url())]);
    lock(&repo, &[]);
    repo.git_commit_all();
    charts.server.require("ci", "right-pa55word");
    let secrets = tempfile::tempdir().unwrap();
    let file = |password: &str| {
        let path = secrets.path().join(format!("repositories-{password}.yaml"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: \"\"\nrepositories:\n- name: private\n  url: {}/\n  username: ci\n  \
                 password: {password}\n",
                charts.url()
            ),
        )
        .unwrap();
        path.to_string_lossy().into_owned()
    };
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path().to_str().unwrap();

    let (code, output) = offline_diff(&repo, &[("GITOPS_HELM_CACHE", cache)]);
    assert_eq!(code, Some(2), "without credentials\n{output}");
    assert!(
        output.contains("web: dependency db 0.1.0 from ") && output.contains(&charts.url()),
        "{output}"
    );

    let wrong = file("wrong-pa55word");
    let (code, output) = offline_diff(
        &repo,
        &[
            ("GITOPS_HELM_CACHE", cache),
            ("GITOPS_HELM_REPOSITORY_CONFIG", &wrong),
        ],
    );
    assert_eq!(code, Some(2), "with a wrong password\n{output}");
    assert!(
        output.contains("web: dependency db 0.1.0 from "),
        "{output}"
    );
    assert!(
        !output.contains("wrong-pa55word"),
        "the password never shows\n{output}"
    );

    let right = file("right-pa55word");
    let (code, output) = offline_diff(
        &repo,
        &[
            ("GITOPS_HELM_CACHE", cache),
            ("GITOPS_HELM_REPOSITORY_CONFIG", &right),
        ],
    );
    assert_eq!(code, Some(0), "fetched with the credentials\n{output}");
    assert!(!output.contains("right-pa55word"), "{output}");
}

#[test]
fn a_private_registry_takes_its_login_from_the_registry_config_the_environment_names() {
    let registry = Registry::start(Some(HTPASSWD));
    let logins = tempfile::tempdir().unwrap();
    let right = registry_login(logins.path(), registry.addr, "ci", "oci-pa55word");
    registry.publish("cache", "2.0.0", "private-oci", Some(&right));
    let repo = umbrella(&[("cache", "2.0.0", &registry.reference())]);
    {
        let scratch = tempfile::tempdir().unwrap();
        let copy = support::copy_into(&repo.path().join("web"), scratch.path());
        let mut update = helm_in(&scratch.path().join("home"));
        update
            .args(["dependency", "update", "--plain-http"])
            .arg(&copy)
            .env("HELM_REGISTRY_CONFIG", &right);
        run(update);
        std::fs::copy(copy.join("Chart.lock"), repo.path().join("web/Chart.lock")).unwrap();
    }
    repo.git_commit_all();
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path().to_str().unwrap();

    let wrong = registry_login(logins.path(), registry.addr, "ci", "wrong-oci-secret");
    let (code, output) = offline_diff(
        &repo,
        &[
            ("GITOPS_HELM_CACHE", cache),
            ("GITOPS_HELM_REGISTRY_CONFIG", wrong.to_str().unwrap()),
        ],
    );
    assert_eq!(code, Some(2), "with a wrong password\n{output}");
    assert!(
        output.contains("web: dependency cache 2.0.0 from oci://"),
        "{output}"
    );
    assert!(!output.contains("wrong-oci-secret"), "{output}");

    let (code, output) = offline_diff(
        &repo,
        &[
            ("GITOPS_HELM_CACHE", cache),
            ("GITOPS_HELM_REGISTRY_CONFIG", right.to_str().unwrap()),
        ],
    );
    assert_eq!(code, Some(0), "fetched with the login\n{output}");
}

#[tokio::test]
async fn a_chart_with_a_fetched_dependency_applies_in_sync() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "helmdeps").await;
    let charts = HttpRepo::start(&[("db", "0.1.0", "applied")], None);
    let repo = umbrella(&[("db", "0.1.0", &charts.url())]);
    lock(&repo, &[]);
    repo.git_commit_all();
    let cache = tempfile::tempdir().unwrap();
    let env = [("GITOPS_HELM_CACHE", cache.path().to_str().unwrap())];

    let out = support::gitops_env(&["diff", ".", "-n", &ns], repo.path(), &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "before apply\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("web-db"), "{stdout}");
    let out = support::gitops_env(&["apply", ".", "-n", &ns, "--yes"], repo.path(), &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "apply\n{stdout}\n{stderr}");
    let out = support::gitops_env(&["diff", ".", "-n", &ns], repo.path(), &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "in sync\n{stdout}\n{stderr}");
    let config: k8s_openapi::api::core::v1::ConfigMap = kube::Api::namespaced(client, &ns)
        .get("web-db")
        .await
        .expect("the dependency's ConfigMap");
    assert_eq!(
        config
            .data
            .unwrap_or_default()
            .get("value")
            .map(String::as_str),
        Some("from-parent")
    );
}

#[test]
fn a_file_dependency_is_built_from_the_repository_and_an_edit_to_it_renders_at_once() {
    let helm = support::helm();
    let charts = HttpRepo::start(&[("db", "0.1.0", "remote")], None);
    let repo = umbrella(&[
        ("db", "0.1.0", &charts.url()),
        ("lib", "0.1.0", "file://../lib"),
    ]);
    let lib = crate::chart_repo::write_chart(repo.path(), "lib", "0.1.0", "local-first");
    std::fs::rename(&lib, repo.path().join("lib")).unwrap();
    std::fs::remove_dir_all(repo.path().join("lib-0.1.0-src")).unwrap();
    // The lock, written in a full copy of the repository so `../lib` resolves.
    let scratch = tempfile::tempdir().unwrap();
    let whole = support::copy_into(repo.path(), scratch.path());
    let mut update = helm_in(&scratch.path().join("home"));
    update.args(["dependency", "update"]).arg(whole.join("web"));
    run(update);
    std::fs::copy(
        whole.join("web/Chart.lock"),
        repo.path().join("web/Chart.lock"),
    )
    .unwrap();
    repo.git_commit_all();

    let cache = tempfile::tempdir().unwrap();
    let render = || {
        let snapshot = source::read_working_tree(&repo.path().join("web"), &Limits::default())
            .expect("the chart's directory");
        render::render(&snapshot, &options(&helm, cache.path()))
            .map(|m| sorted(m.into_iter().map(|m| Value::Object(m.object))))
            .unwrap_or_else(|failure| panic!("{failure}"))
    };
    let first = render();
    assert_eq!(value_of(&first, "web-db"), "from-parent");
    assert_eq!(value_of(&first, "web-lib"), "local-first");
    // The oracle: a copy of the whole repository, dependencies built by helm.
    let oracle_scratch = tempfile::tempdir().unwrap();
    let oracle_repo = support::copy_into(repo.path(), oracle_scratch.path());
    let home = oracle_scratch.path().join("home");
    let mut add = helm_with(&helm, &home);
    add.args(["repo", "add", "r", &charts.url()]);
    run(add);
    let mut build = helm_with(&helm, &home);
    build
        .args(["dependency", "build"])
        .arg(oracle_repo.join("web"));
    run(build);
    let mut template = helm_with(&helm, &home);
    template
        .args(["template", "web"])
        .arg(oracle_repo.join("web"))
        .args(["--namespace", "apps", "--include-crds", "--skip-tests"]);
    let output = run(template);
    let oracle = render::load_file(Path::new("helm-template.yaml"), output.as_bytes()).unwrap();
    assert_eq!(
        first,
        sorted(oracle.into_iter().map(|m| Value::Object(m.object)))
    );

    repo.write("lib/values.yaml", "value: local-edited\n");
    let edited = render();
    assert_eq!(value_of(&edited, "web-lib"), "local-edited");
    assert!(
        !repo.path().join("web/charts").exists(),
        "the tree is never written"
    );
}
