//! A repository is hostile input: the kustomize guard reads a kustomization as kustomize reads
//! it and refuses what would lead kustomize or helm out of the repository, and every render
//! runs in a sandbox of its own, sharing pulled charts only through a store it cannot change.
//!
//! Each test is an attack as a tenant (or a stranger's pull request) would write it, tried
//! through every way a tree reaches a render: `diff` of the working tree, `diff --ref`, `diff
//! --base` (a pull request's preview), and the controller, where two tenants share a cache.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kubectl_gitops::render::helm::{Capabilities, HelmOptions};
use kubectl_gitops::render::{self, Manifest, RenderOptions};
use kubectl_gitops::source::{self, Limits};
use serde_json::{Value, json};

use crate::chart_repo::HttpRepo;
use crate::controller::{Controller, config_maps, create_sync, install_crd, service_account};
use crate::reconcile::{Remote, WAIT, cm, eventually};
use crate::support::{self, Workdir, text};

/// What the runner holds outside the repository, which no report may ever show.
const OUTSIDE_VALUE: &str = "runner-file-outside-the-repository";

/// A kustomization directory outside any repository, building one ConfigMap that carries
/// `OUTSIDE_VALUE`; and the relative path that reaches it from anywhere (up to `/`, then
/// down), as an attacker who knows the runner's layout would write it.
fn outside_directory() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("outside");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(base.join("kustomization.yaml"), "resources: [cm.yaml]\n").unwrap();
    std::fs::write(
        base.join("cm.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside\ndata:\n  \
             secret: {OUTSIDE_VALUE}\n"
        ),
    )
    .unwrap();
    let climb = from_root(&base);
    (dir, climb)
}

/// `path` (absolute) written relative to any directory less than 40 levels deep.
fn from_root(path: &Path) -> String {
    let inside = path.strip_prefix("/").unwrap_or(path);
    format!("{}{}", "../".repeat(40), inside.display())
}

/// A git repository whose first commit holds a harmless `app/` and whose second commit (and
/// working tree) holds `files`: the pull request.
fn pull_request(files: &[(&str, &[u8])]) -> Workdir {
    let repo = Workdir::new(&[
        ("app/kustomization.yaml", "resources: [cm.yaml]\n"),
        ("app/cm.yaml", &cm("harmless", "1")),
    ]);
    repo.git_commit_all();
    for (path, bytes) in files {
        let full = repo.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        if path.ends_with("Kustomization") {
            std::fs::remove_file(repo.path().join("app/kustomization.yaml")).unwrap();
        }
        std::fs::write(full, bytes).unwrap();
    }
    for args in [
        &["add", "-A"][..],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "the pull request",
        ],
    ] {
        let status = Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
    repo
}

/// `diff app` of the working tree, of `--ref HEAD`, and of the pull request against its base
/// (`--base HEAD~1 --offline`, as a preview in CI runs it).
fn every_diff(repo: &Workdir, ns: &str, env: &[(&str, &str)]) -> Vec<(&'static str, Output)> {
    let set = support::unique_name("set");
    let forms: [(&str, Vec<&str>); 3] = [
        ("diff", vec!["diff", "app", "-n", ns, "--applyset", &set]),
        (
            "diff --ref",
            vec!["diff", "app", "--ref", "HEAD", "-n", ns, "--applyset", &set],
        ),
        (
            "diff --base",
            vec!["diff", "app", "--base", "HEAD~1", "--offline"],
        ),
    ];
    forms
        .into_iter()
        .map(|(form, args)| (form, support::gitops_env(&args, repo.path(), env)))
        .collect()
}

/// The promises for a refused tree: exit 2, the file and field named, nothing from outside.
fn assert_refused(outputs: &[(&str, Output)], spelling: &str, expect: &[&str]) {
    for (form, out) in outputs {
        let (stdout, stderr) = text(out);
        let all = format!("{stdout}{stderr}");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{spelling} through `{form}` was not refused:\n{all}"
        );
        for expected in expect {
            assert!(
                all.contains(expected),
                "{spelling} through `{form}`: no {expected:?} in\n{all}"
            );
        }
        assert!(
            !all.contains(OUTSIDE_VALUE),
            "{spelling} through `{form}` showed a file outside the repository:\n{all}"
        );
    }
}

fn utf16(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend(unit.to_le_bytes());
    }
    bytes
}

#[tokio::test]
async fn a_repeated_resources_key_cannot_bring_a_directory_outside_the_repository_into_a_diff() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "guard-repeat").await;
    let (_outside, climb) = outside_directory();
    let repeated = format!("resources: [cm.yaml]\nresources: [{climb}]\n");
    let spellings: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "a repeated key",
            "app/kustomization.yaml",
            repeated.clone().into_bytes(),
        ),
        (
            "a repeated key in JSON",
            "app/kustomization.yaml",
            format!("{{\"resources\": [\"cm.yaml\"], \"resources\": [\"{climb}\"]}}\n")
                .into_bytes(),
        ),
        (
            "a merge key",
            "app/kustomization.yaml",
            format!("<<: {{resources: [{climb}]}}\n").into_bytes(),
        ),
        (
            "a merge key tagged `!!merge`",
            "app/kustomization.yaml",
            format!("!!merge <<: {{resources: [{climb}]}}\n").into_bytes(),
        ),
        (
            "an alias",
            "app/kustomization.yaml",
            format!("namePrefix: &p {climb}\nnamePrefix: x-\nresources: [*p]\n").into_bytes(),
        ),
        (
            "a UTF-16 kustomization",
            "app/kustomization.yaml",
            utf16(&repeated),
        ),
        (
            "a repeated key in a `Kustomization` file",
            "app/Kustomization",
            repeated.clone().into_bytes(),
        ),
    ];
    for (spelling, file, bytes) in spellings {
        let repo = pull_request(&[(file, &bytes)]);
        let outputs = every_diff(&repo, &ns, &[]);
        assert_refused(
            &outputs,
            spelling,
            &[
                &format!("{file}: refusing to build: resources[0]"),
                "points outside the repository",
            ],
        );
    }
}

/// A kustomization whose local chart `name` climbs from kustomize's temporary directory to
/// `victim/templates/pwn`: kustomize writes the chart's values there as
/// `pwn-kustomize-values.yaml`, and those values are an object of the attacker's choosing. The
/// chart itself is found in the attacker's own repository (the chart home is deep enough that
/// the same climb ends inside it).
fn chart_name_attack(victims: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    let home = vec!["h"; 40].join("/");
    let mut kustomization = format!("helmGlobals:\n  chartHome: {home}\nhelmCharts:\n");
    let mut files = Vec::new();
    for (i, victim) in victims.iter().enumerate() {
        let target = victim.join("pwn");
        kustomization.push_str(&format!(
            "- name: {}\n  releaseName: pwn{i}\n  valuesInline:\n    apiVersion: v1\n    \
             kind: ConfigMap\n    metadata: {{name: pwned}}\n    data: {{by: tenant-b}}\n",
            from_root(&target)
        ));
        let mirror = format!("app/{}", target.strip_prefix("/").unwrap().display());
        files.push((
            format!("{mirror}/Chart.yaml"),
            b"apiVersion: v2\nname: pwn\nversion: 0.1.0\n".to_vec(),
        ));
        files.push((format!("{mirror}/values.yaml"), b"{}\n".to_vec()));
        files.push((
            format!("{mirror}/templates/none.yaml"),
            b"# nothing\n".to_vec(),
        ));
    }
    files.push(("app/kustomization.yaml".into(), kustomization.into_bytes()));
    files
}

/// Every file kustomize wrote as a chart's values below `dir`.
fn values_written(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().ends_with("-kustomize-values.yaml") {
                found.push(path);
            }
        }
    }
    found
}

/// The `templates` directories of every chart below `dir` (another tenant's cached charts).
fn template_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                if entry.file_name() == "templates"
                    && path.parent().unwrap().join("Chart.yaml").is_file()
                {
                    found.push(path.clone());
                }
                pending.push(path);
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn a_local_chart_name_cannot_write_outside_the_render_through_any_diff() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "guard-chartname").await;
    let victim = tempfile::tempdir().unwrap();
    let templates = victim.path().join("web/templates");
    std::fs::create_dir_all(&templates).unwrap();
    let files = chart_name_attack(std::slice::from_ref(&templates));
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let repo = pull_request(&files);
    let helm = support::helm3();
    let outputs = every_diff(&repo, &ns, &[("GITOPS_HELM", helm.to_str().unwrap())]);
    assert_refused(
        &outputs,
        "a chart name climbing out",
        &[
            "app/kustomization.yaml: refusing to build: helmCharts[0].name",
            "is not a plain chart name",
        ],
    );
    assert_eq!(values_written(victim.path()), Vec::<PathBuf>::new());
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
    let mut objects: Vec<Value> = manifests
        .iter()
        .map(|m| Value::Object(m.object.clone()))
        .collect();
    objects.sort_by_key(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]));
    objects
}

/// Tenant A's kustomization: the chart `web` pulled from `charts`.
fn tenant_a(charts: &str) -> String {
    format!(
        "resources: [own.yaml]\nhelmCharts:\n- name: web\n  repo: {charts}\n  version: 1.0.0\n  \
         releaseName: a\n"
    )
}

#[test]
fn one_tenants_chart_name_cannot_change_the_chart_another_tenant_renders_from_the_shared_cache() {
    let charts = HttpRepo::start(&[("web", "1.0.0", "from-the-repository")], None);
    let cache = tempfile::tempdir().unwrap();
    let options = options(cache.path());
    let a = Workdir::new(&[
        ("app/kustomization.yaml", &tenant_a(&charts.url())),
        ("app/own.yaml", &cm("own", "a")),
    ]);
    a.git_commit_all();
    let before = render_dir(&a.path().join("app"), &options).unwrap_or_else(|e| panic!("{e}"));
    let targets = template_dirs(cache.path());
    assert!(!targets.is_empty(), "tenant A's chart is cached");

    let files = chart_name_attack(&targets);
    let b = Workdir::new(&[]);
    for (path, bytes) in &files {
        let full = b.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, bytes).unwrap();
    }
    b.git_commit_all();
    let attempted = render_dir(&b.path().join("app"), &options);

    let after = render_dir(&a.path().join("app"), &options).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !objects(&after)
            .iter()
            .any(|o| o["metadata"]["name"] == "pwned"),
        "tenant B's object is in tenant A's render"
    );
    assert_eq!(objects(&after), objects(&before));
    assert_eq!(values_written(cache.path()), Vec::<PathBuf>::new());
    let refused = attempted.err().unwrap_or_default();
    assert!(
        refused.contains("helmCharts[0].name") && refused.contains("is not a plain chart name"),
        "{refused}"
    );
}

#[test]
fn a_chart_changed_in_the_cache_behind_the_renders_back_is_never_rendered() {
    let charts = HttpRepo::start(&[("web", "1.0.0", "from-the-repository")], None);
    let cache = tempfile::tempdir().unwrap();
    let options = options(cache.path());
    let a = Workdir::new(&[
        ("app/kustomization.yaml", &tenant_a(&charts.url())),
        ("app/own.yaml", &cm("own", "a")),
    ]);
    a.git_commit_all();
    let before = render_dir(&a.path().join("app"), &options).unwrap_or_else(|e| panic!("{e}"));
    // Whatever writes into the store (a process running as root ignores its read-only files)
    // adds a template to the cached chart.
    for templates in template_dirs(cache.path()) {
        make_writable(&templates);
        std::fs::write(
            templates.join("pwn-kustomize-values.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pwned}\n",
        )
        .unwrap();
    }
    let after = render_dir(&a.path().join("app"), &options).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(objects(&after), objects(&before));
}

#[cfg(unix)]
fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn in_the_controller_tenant_b_cannot_write_into_tenant_a_s_cached_chart() {
    let client = support::admin().await;
    install_crd(&client).await;
    let ns = support::namespace(&client, "guard-tenants").await;
    let a_ns = support::namespace(&client, "guard-tenant-a").await;
    let b_ns = support::namespace(&client, "guard-tenant-b").await;
    let charts = HttpRepo::start(&[("web", "1.0.0", "from-the-repository")], None);
    let a = Remote::new(&[
        ("app/kustomization.yaml", &tenant_a(&charts.url())),
        ("app/own.yaml", &cm("own", "a")),
    ]);
    let a_daemon = crate::reconcile::Daemon::start(&a.base);
    service_account(&client, &ns, "tenant-a", &[&a_ns]).await;
    service_account(&client, &ns, "tenant-b", &[&b_ns]).await;
    create_sync(
        &client,
        &ns,
        "a",
        crate::controller::spec(&a_daemon.url(), "app", &a_ns, "tenant-a"),
        json!({}),
    )
    .await;
    // The Deployment's HOME: nothing may be cached there, whatever --cache-dir says.
    let home = tempfile::tempdir().unwrap();
    let controller = Controller::start_with_env(
        &ns,
        &[
            "--no-leader-election",
            "--helm-binary",
            support::helm3().to_str().unwrap(),
        ],
        &[("HOME", home.path().to_str().unwrap())],
    );
    crate::controller::wait_for_ready(&client, &ns, "a", "True", "ReconciliationSucceeded").await;
    let applied = config_maps(&client, &a_ns).await;
    assert_eq!(applied, ["a-web", "own"]);
    let cached = controller.cache().join("helm");
    let targets = template_dirs(&cached);
    assert!(
        !targets.is_empty(),
        "tenant A's chart is not cached under --cache-dir"
    );
    assert!(
        template_dirs(home.path()).is_empty(),
        "a chart was cached under $HOME"
    );

    // Tenant B aims at every cached chart it can guess.
    let files = chart_name_attack(&targets);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), std::str::from_utf8(b).unwrap()))
        .collect();
    let b = Remote::new(&files);
    let b_daemon = crate::reconcile::Daemon::start(&b.base);
    create_sync(
        &client,
        &ns,
        "b",
        crate::controller::spec(&b_daemon.url(), "app", &b_ns, "tenant-b"),
        json!({}),
    )
    .await;
    // B's cycle runs (before the fix it succeeded, writing into A's cached chart).
    let b_outcome = eventually("tenant B's sync ran", WAIT, || async {
        crate::controller::ready(&client, &ns, "b").await
    })
    .await;

    // Tenant A's next cycle renders its own chart, and only it.
    a.commit(&[("app/own.yaml", &cm("own", "a2"))], &[], "a2");
    let dir = tempfile::tempdir().unwrap();
    let out = support::gitops(
        &["sync", "a", "-n", &ns, "--wait", "--timeout", "60s"],
        dir.path(),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    eventually("tenant A's new commit applied", WAIT, || async {
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client.clone(), &a_ns);
        let own = api.get("own").await.ok()?;
        (own.data?.get("v")? == "a2").then_some(())
    })
    .await;
    assert_eq!(config_maps(&client, &a_ns).await, ["a-web", "own"]);
    assert_eq!(values_written(controller.cache()), Vec::<PathBuf>::new());

    let (status, reason, message) = b_outcome;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "RenderFailed"),
        "{message}"
    );
    assert!(message.contains("helmCharts[0].name"), "{message}");
}
