//! The unit tests of `kustomize_guard`.

use super::*;

fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    dir
}

fn run(repo: &tempfile::TempDir, dir: &str) -> Result<bool, RenderError> {
    charts(repo, dir).map(|c| c.any)
}

fn charts(repo: &tempfile::TempDir, dir: &str) -> Result<Charts, RenderError> {
    let root = repo.path().to_path_buf();
    let shown = root.canonicalize().unwrap();
    check(
        &root.join(dir),
        &root,
        &move |p: &Path| p.strip_prefix(&shown).unwrap_or(p).to_path_buf(),
        RemoteBases::Refused,
    )
}

#[test]
fn local_bases_inside_the_repository_are_fine() {
    let r = repo(&[
        ("base/kustomization.yaml", "resources: [cm.yaml]\n"),
        ("base/cm.yaml", "kind: ConfigMap\n"),
        (
            "prod/kustomization.yaml",
            "resources: [../base]\nconfigMapGenerator:\n- name: x\n  files: [k=../base/cm.yaml]\n",
        ),
    ]);
    assert!(run(&r, "prod").is_ok());
}

#[test]
fn remote_bases_are_refused_naming_file_and_reference() {
    let r = repo(&[(
        "app/kustomization.yaml",
        "resources:\n- https://github.com/example/repo//deploy?ref=v1\n",
    )]);
    let err = run(&r, "app").unwrap_err().to_string();
    assert!(
        err.starts_with(
            "app/kustomization.yaml: refusing to build: resources[0] \
             \"https://github.com/example/repo//deploy?ref=v1\" is a remote base"
        ),
        "{err}"
    );
    assert!(err.contains("--allow-remote-bases"), "{err}");
}

#[test]
fn remote_bases_allowed_are_collected_not_refused_and_remote_patches_still_are() {
    let r = repo(&[
        (
            "app/kustomization.yaml",
            "resources:\n- ../base\n- git@github.com:example/repo//deploy?ref=v1\n",
        ),
        (
            "base/kustomization.yaml",
            "resources: [https://example.com/org/r.git//x]\n",
        ),
    ]);
    let root = r.path().to_path_buf();
    let shown = root.canonicalize().unwrap();
    let display = move |p: &Path| p.strip_prefix(&shown).unwrap_or(p).to_path_buf();
    let found = check(&root.join("app"), &root, &display, RemoteBases::Fetched).unwrap();
    let mut named: Vec<(String, String, String)> = found
        .remote_bases
        .iter()
        .map(|u| {
            (
                u.file.display().to_string(),
                u.field.clone(),
                u.base.shown(),
            )
        })
        .collect();
    named.sort();
    assert_eq!(
        named,
        [
            (
                "app/kustomization.yaml".to_string(),
                "resources[1]".to_string(),
                "git@github.com:example/repo//deploy?ref=v1".to_string()
            ),
            (
                "base/kustomization.yaml".to_string(),
                "resources[0]".to_string(),
                "https://example.com/org/r.git//x".to_string()
            ),
        ]
    );
    let patch = repo(&[(
        "app/kustomization.yaml",
        "patches:\n- path: https://example.com/org/r.git//p.yaml\n",
    )]);
    let root = patch.path().to_path_buf();
    let err = check(
        &root.join("app"),
        &root,
        &|p: &Path| p.to_path_buf(),
        RemoteBases::Fetched,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("only bases"), "{err}");
}

#[test]
fn paths_leaving_the_repository_are_refused() {
    let r = repo(&[("app/kustomization.yaml", "resources: [../../../etc]\n")]);
    let err = run(&r, "app").unwrap_err().to_string();
    assert!(err.contains("points outside the repository"), "{err}");

    let r = repo(&[(
        "app/kustomization.yaml",
        "configMapGenerator:\n- name: x\n  files: [/etc/passwd]\n",
    )]);
    assert!(
        run(&r, "app")
            .unwrap_err()
            .to_string()
            .contains("absolute paths are refused")
    );
}

#[test]
fn a_symlinked_base_escaping_the_repository_is_refused() {
    let r = repo(&[("app/kustomization.yaml", "resources: [../linked]\n")]);
    std::os::unix::fs::symlink("/etc", r.path().join("linked")).unwrap();
    let err = run(&r, "app").unwrap_err().to_string();
    assert!(err.contains("points outside the repository"), "{err}");
}

#[test]
fn escapes_hidden_in_a_referenced_base_are_found() {
    let r = repo(&[
        (
            "base/kustomization.yaml",
            "resources: [git@github.com:org/repo.git]\n",
        ),
        ("app/kustomization.yaml", "resources: [../base]\n"),
    ]);
    let err = run(&r, "app").unwrap_err().to_string();
    assert!(err.contains("base/kustomization.yaml"), "{err}");
}

#[test]
fn helm_charts_from_a_repository_are_found_in_bases_and_must_be_pinned() {
    let r = repo(&[
        (
            "base/kustomization.yaml",
            "helmCharts:\n- name: x\n  repo: https://charts.example.com\n  version: 1.0.0\n",
        ),
        ("app/kustomization.yaml", "resources: [../base]\n"),
    ]);
    let found = charts(&r, "app").unwrap();
    assert!(found.any);
    assert_eq!(found.remote.len(), 1);
    assert_eq!(found.remote[0].file, Path::new("base/kustomization.yaml"));
    assert_eq!(found.remote[0].chart.version, "1.0.0");
    let unpinned = repo(&[(
        "app/kustomization.yaml",
        "helmCharts:\n- name: x\n  repo: https://charts.example.com\n",
    )]);
    let err = run(&unpinned, "app").unwrap_err().to_string();
    assert!(
        err.contains("app/kustomization.yaml")
            && err.contains("helmCharts x")
            && err.contains("has no `version`"),
        "{err}"
    );
}

#[test]
fn local_helm_charts_are_built_with_helm_and_their_values_stay_inside() {
    let r = repo(&[(
        "app/kustomization.yaml",
        "helmGlobals:\n  chartHome: ../charts\nhelmCharts:\n- name: x\n  valuesFile: values.yaml\n",
    )]);
    assert!(run(&r, "app").unwrap(), "helm is needed");
    let plain = repo(&[("app/kustomization.yaml", "resources: []\n")]);
    assert!(!run(&plain, "app").unwrap());
    let escaping = repo(&[(
        "app/kustomization.yaml",
        "helmCharts:\n- name: x\n  valuesFile: ../../../etc/values.yaml\n",
    )]);
    let err = run(&escaping, "app").unwrap_err().to_string();
    assert!(err.contains("outside the repository"), "{err}");
}

fn refused(r: &tempfile::TempDir, dir: &str) -> String {
    match run(r, dir) {
        Ok(_) => panic!("expected a refusal"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn a_repeated_key_is_read_as_kustomize_reads_it_its_last_value() {
    let r = repo(&[(
        "app/kustomization.yaml",
        "resources: []\nresources: [../../../etc]\n",
    )]);
    let err = refused(&r, "app");
    assert!(
        err.starts_with("app/kustomization.yaml: refusing to build: resources[0] \"../../../etc\""),
        "{err}"
    );
    assert!(err.contains("points outside the repository"), "{err}");
}

#[test]
fn anchors_and_merge_keys_cannot_hide_a_reference() {
    for text in [
        "<<: {resources: [../../../etc]}\n",
        "namePrefix: &p ../../../etc\nresources: [*p]\n",
        "<<: [{resources: [../../../etc]}, {resources: []}]\n",
        "!!merge <<: {resources: [../../../etc]}\n",
        "{\"resources\": [], \"resources\": [\"../../../etc\"]}\n",
    ] {
        let r = repo(&[("app/kustomization.yaml", text)]);
        let err = refused(&r, "app");
        assert!(
            err.contains("points outside the repository"),
            "{text}: {err}"
        );
    }
}

#[test]
fn a_kustomization_the_guard_cannot_read_is_refused_not_skipped() {
    let r = repo(&[("app/kustomization.yaml", "resources: [../../../etc\n")]);
    let err = refused(&r, "app");
    assert!(
        err.starts_with("app/kustomization.yaml: refusing to build: "),
        "{err}"
    );
    let r = repo(&[(
        "app/kustomization.yaml",
        "resources: []\n---\nresources: [../../../etc]\n",
    )]);
    assert!(refused(&r, "app").contains("second YAML document"));
    // A base's unreadable kustomization stops the build as surely as the top one's.
    let r = repo(&[
        ("app/kustomization.yaml", "resources: [../base]\n"),
        ("base/kustomization.yaml", "resources: !!binary x\n\t- [\n"),
    ]);
    assert!(refused(&r, "app").starts_with("base/kustomization.yaml: refusing to build"));
}

#[test]
fn a_utf16_kustomization_is_read_not_skipped() {
    let r = repo(&[]);
    std::fs::create_dir_all(r.path().join("app")).unwrap();
    let mut bytes = vec![0xFF, 0xFE];
    for unit in "resources: [../../../etc]\n".encode_utf16() {
        bytes.extend(unit.to_le_bytes());
    }
    std::fs::write(r.path().join("app/kustomization.yaml"), bytes).unwrap();
    assert!(refused(&r, "app").contains("points outside the repository"));
}

#[test]
fn components_spelled_kustomization_are_walked() {
    let r = repo(&[
        ("app/kustomization.yaml", "components: [../comp]\n"),
        (
            "comp/Kustomization",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [../../../etc]\n",
        ),
    ]);
    let err = refused(&r, "app");
    assert!(
        err.starts_with("comp/Kustomization: refusing to build"),
        "{err}"
    );
}

#[test]
fn a_base_missing_from_the_repository_is_refused_as_kustomize_would_fetch_it() {
    let r = repo(&[(
        "app/kustomization.yaml",
        "resources: [example.org/team/config/base]\n",
    )]);
    let err = refused(&r, "app");
    assert!(err.contains("would look for it on the network"), "{err}");
}

#[test]
fn a_local_chart_name_that_is_a_path_is_refused() {
    let r = repo(&[(
        "app/kustomization.yaml",
        "helmCharts:\n- name: ../../../cache/helm/charts/0123/web/templates/pwn\n",
    )]);
    let err = refused(&r, "app");
    assert!(err.contains("helmCharts[0].name"), "{err}");
    assert!(err.contains("is not a plain chart name"), "{err}");
}

#[test]
fn a_release_name_that_is_a_helm_flag_is_refused() {
    let r = repo(&[(
        "app/kustomization.yaml",
        "helmCharts:\n- name: web\n  releaseName: --post-renderer=/bin/sh\n",
    )]);
    let err = refused(&r, "app");
    assert!(err.contains("helmCharts[0].releaseName"), "{err}");
    let r = repo(&[(
        "app/kustomization.yaml",
        "helmCharts:\n- name: web\n  nameTemplate: '{{ env \"TOKEN\" }}'\n",
    )]);
    assert!(refused(&r, "app").contains("helmCharts[0].nameTemplate"));
}

#[test]
fn every_path_of_a_chart_is_checked() {
    for (text, field) in [
        (
            "helmGlobals:\n  chartHome: /var/cache\nhelmCharts:\n- name: web\n",
            "helmGlobals.chartHome",
        ),
        (
            "helmGlobals:\n  configHome: /tmp\nhelmCharts:\n- name: web\n",
            "helmGlobals.configHome",
        ),
        (
            "helmCharts:\n- name: web\n  additionalValuesFiles: [ok.yaml, ../../../x.yaml]\n",
            "helmCharts[0].additionalValuesFiles[1]",
        ),
        (
            "helmCharts:\n- name: web\n  additionalValuesFiles: [http://169.254.169.254/x]\n",
            "helmCharts[0].additionalValuesFiles[0]",
        ),
        (
            "helmChartInflationGenerator:\n- chartName: web\n  chartHome: /\n",
            "helmChartInflationGenerator",
        ),
    ] {
        let r = repo(&[("app/kustomization.yaml", text)]);
        let err = refused(&r, "app");
        assert!(err.contains(field), "{field}: {err}");
    }
}

#[test]
fn a_helm_chart_configured_as_a_generator_is_refused_inline_or_in_a_file() {
    let config = "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata: {name: x}\nname: ../../pwn\nchartHome: /\n";
    let inline = format!(
        "generators:\n- {}\n",
        serde_json::Value::String(config.to_string())
    );
    let r = repo(&[("app/kustomization.yaml", &inline)]);
    let err = refused(&r, "app");
    assert!(
        err.contains("generators[0] (HelmChartInflationGenerator)"),
        "{err}"
    );
    let r = repo(&[
        ("app/kustomization.yaml", "generators: [helm.yaml]\n"),
        ("app/helm.yaml", config),
    ]);
    let err = refused(&r, "app");
    assert!(
        err.contains("generators[0] (helm.yaml) (HelmChartInflationGenerator)"),
        "{err}"
    );
}

#[test]
fn paths_in_plugin_configuration_files_are_checked() {
    let r = repo(&[
        ("app/kustomization.yaml", "generators: [cm.yaml]\n"),
        (
            "app/cm.yaml",
            "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: x}\nfiles: [k=../../../etc/passwd]\n",
        ),
    ]);
    let err = refused(&r, "app");
    assert!(
        err.contains("generators[0] (cm.yaml) (ConfigMapGenerator).files[0]"),
        "{err}"
    );
    let fine = repo(&[
        (
            "app/kustomization.yaml",
            "transformers: [t.yaml]\npatchesStrategicMerge: ['{kind: ConfigMap, metadata: {name: x}}']\n",
        ),
        (
            "app/t.yaml",
            "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: x}\npath: patch.yaml\n",
        ),
        ("app/patch.yaml", "kind: ConfigMap\n"),
    ]);
    assert!(run(&fine, "app").is_ok());
}

#[test]
fn a_kustomization_building_plugin_configurations_is_refused_where_helm_runs() {
    let files = [
        ("gen/kustomization.yaml", "resources: [cm.yaml]\n"),
        (
            "gen/cm.yaml",
            "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: x}\n",
        ),
    ];
    let mut without = files.to_vec();
    without.push(("app/kustomization.yaml", "generators: [../gen]\n"));
    assert!(run(&repo(&without), "app").is_ok());
    let mut with = files.to_vec();
    with.push((
        "app/kustomization.yaml",
        "generators: [../gen]\nhelmCharts:\n- name: web\n",
    ));
    let err = refused(&repo(&with), "app");
    assert!(err.contains("generators[0]"), "{err}");
}

/// Kustomizations choosing their `resources` through repeated keys, anchors, aliases and
/// merge keys, generated from `seed`: each statement is one way of writing the field.
fn generated(seed: u64, bases: usize) -> String {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let list = |next: &mut dyn FnMut(u64) -> u64| {
        let chosen: Vec<String> = (0..bases)
            .filter(|_| next(2) == 0)
            .map(|i| format!("../b{i}"))
            .collect();
        format!("[{}]", chosen.join(", "))
    };
    let mut text = String::new();
    let mut anchors = 0;
    for _ in 0..1 + next(4) {
        match next(7) {
            0 => text.push_str(&format!("resources: {}\n", list(&mut next))),
            1 => text.push_str(&format!("<<: {{resources: {}}}\n", list(&mut next))),
            2 => text.push_str(&format!(
                "<<: [{{resources: {}}}, {{resources: {}}}]\n",
                list(&mut next),
                list(&mut next)
            )),
            3 => {
                text.push_str(&format!("resources: &l{anchors} {}\n", list(&mut next)));
                anchors += 1;
            }
            4 if anchors > 0 => {
                text.push_str(&format!("resources: *l{}\n", next(anchors)));
            }
            5 if anchors > 0 => {
                text.push_str(&format!("<<: {{resources: *l{}}}\n", next(anchors)));
            }
            6 => text.push_str(&format!("!!merge <<: {{resources: {}}}\n", list(&mut next))),
            _ => text.push_str(&format!(
                "commonAnnotations: {{note: x}}\nresources: {}\n",
                list(&mut next)
            )),
        }
    }
    text
}

#[test]
fn the_guard_sees_the_resources_kubectl_kustomize_loads() {
    const BASES: usize = 4;
    let mut files: Vec<(String, String)> = Vec::new();
    for i in 0..BASES {
        files.push((
            format!("b{i}/kustomization.yaml"),
            "resources: [cm.yaml]\n".into(),
        ));
        files.push((
            format!("b{i}/cm.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b{i}\n"),
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let r = repo(&refs);
    let app = r.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let refuse = |field: &str, reference: &str, reason: &str| RenderError::KustomizeReference {
        file: "app/kustomization.yaml".into(),
        field: field.to_string(),
        reference: reference.to_string(),
        reason: reason.to_string(),
    };
    let mut compared = 0;
    for seed in 0..40 {
        let text = generated(seed, BASES);
        std::fs::write(app.join("kustomization.yaml"), &text).unwrap();
        let doc = kustomization_file::read(&app).unwrap().unwrap().doc;
        let mut seen: Vec<String> = references(&doc, &refuse)
            .unwrap()
            .into_iter()
            .filter(|r| r.top() == "resources")
            .map(|r| r.path.trim_start_matches("../").to_string())
            .collect();
        seen.sort();
        let output = std::process::Command::new("kubectl")
            .arg("kustomize")
            .arg(&app)
            .output()
            .expect("kubectl, whose kustomize is the oracle");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "seed {seed}:\n{text}\n{stderr}");
        let mut loaded: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("  name: "))
            .map(str::to_string)
            .collect();
        loaded.sort();
        assert_eq!(seen, loaded, "seed {seed}:\n{text}");
        compared += 1;
    }
    assert_eq!(compared, 40);
}
