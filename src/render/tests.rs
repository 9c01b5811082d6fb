//! `render` end to end: plain files and kustomize directories written to a temporary directory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;
use crate::source::SourceOrigin;

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: web
";

/// Writes `files` under a new temporary directory and snapshots them as the source would.
fn snapshot(
    prefix: &str,
    files: &[(&str, &str)],
) -> std::io::Result<(tempfile::TempDir, Snapshot)> {
    let dir = tempfile::tempdir()?;
    let mut map = BTreeMap::new();
    for (path, text) in files {
        let on_disk = dir.path().join(path);
        if let Some(parent) = on_disk.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&on_disk, text)?;
        map.insert(PathBuf::from(path), text.as_bytes().to_vec());
    }
    let snapshot = Snapshot::new(
        dir.path().canonicalize()?,
        PathBuf::from(prefix),
        SourceOrigin::PlainDirectory,
        map,
    );
    Ok((dir, snapshot))
}

fn messages(result: Result<Vec<Manifest>, RenderFailure>) -> Vec<String> {
    match result {
        Ok(manifests) => vec![format!("unexpectedly rendered {} objects", manifests.len())],
        Err(failure) => failure.errors.iter().map(ToString::to_string).collect(),
    }
}

fn summary(manifests: &[Manifest]) -> Vec<(String, String)> {
    manifests
        .iter()
        .map(|m| (m.object_ref().to_string(), m.origin.to_string()))
        .collect()
}

#[test]
fn plain_files_render_in_path_order_with_the_display_prefix() -> std::io::Result<()> {
    let (_dir, snapshot) = snapshot(
        "clusters/prod",
        &[
            (
                "b.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n",
            ),
            (
                "a.json",
                r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}"#,
            ),
        ],
    )?;
    let manifests = render(&snapshot, &RenderOptions::default()).unwrap_or_default();
    assert_eq!(
        summary(&manifests),
        vec![
            ("Namespace/a".into(), "clusters/prod/a.json:1".into()),
            ("Namespace/b".into(), "clusters/prod/b.yaml:1".into()),
        ]
    );
    Ok(())
}

#[test]
fn duplicate_across_two_files_cites_both() -> std::io::Result<()> {
    let second =
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n---\n{DEPLOYMENT}");
    let (_dir, snapshot) = snapshot("", &[("a.yaml", DEPLOYMENT), ("b.yaml", &second)])?;
    assert_eq!(
        messages(render(&snapshot, &RenderOptions::default())),
        vec!["b.yaml:6: duplicate object Deployment/web/api: already defined at a.yaml:1"]
    );
    Ok(())
}

#[test]
fn every_problem_in_every_file_is_reported() -> std::io::Result<()> {
    let (_dir, snapshot) = snapshot(
        "",
        &[
            (
                "a.yaml",
                "kind: ConfigMap\nmetadata:\n  name: x\n---\nbad: [\n",
            ),
            ("b.json", "{\"kind\": \n"),
            ("c.yaml", DEPLOYMENT),
        ],
    )?;
    let errors = messages(render(&snapshot, &RenderOptions::default()));
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].starts_with("a.yaml:1: object is missing apiVersion"));
    assert!(errors[1].starts_with("a.yaml:"));
    assert!(errors[2].starts_with("b.json:"));
    Ok(())
}

#[test]
fn a_kustomize_directory_is_built_once_and_its_subdirectories_are_not_loaded() -> std::io::Result<()>
{
    let config_map =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  k: v\n";
    let (_dir, snapshot) = snapshot(
        "repo",
        &[
            (
                "a.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n",
            ),
            (
                "app/kustomization.yaml",
                "namespace: web\nnamePrefix: x-\nresources:\n- deploy.yaml\n- base\n",
            ),
            ("app/deploy.yaml", DEPLOYMENT),
            ("app/base/kustomization.yaml", "resources:\n- cm.yaml\n"),
            ("app/base/cm.yaml", config_map),
            (
                "z.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: z\n",
            ),
        ],
    )?;
    let options = RenderOptions {
        kustomize: Some(KustomizeCommand::kubectl()),
        ..RenderOptions::default()
    };
    let manifests = render(&snapshot, &options).map_err(std::io::Error::other)?;
    let names: Vec<String> = summary(&manifests)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names,
        vec![
            "Namespace/web",
            "ConfigMap/web/x-settings",
            "Deployment/web/x-api",
            "Namespace/z",
        ]
    );
    // Each built object cites the file that defined it, base or not, and no origin
    // annotation is left on it.
    let origins: Vec<String> = manifests[1..3]
        .iter()
        .map(|m| m.origin.to_string())
        .collect();
    assert_eq!(
        origins,
        ["repo/app/base/cm.yaml:1", "repo/app/deploy.yaml:1"]
    );
    assert!(
        manifests
            .iter()
            .all(|m| m.object["metadata"].get("annotations").is_none()),
        "{manifests:?}"
    );
    Ok(())
}

#[test]
fn the_default_options_find_a_kustomize_program() -> std::io::Result<()> {
    let (_dir, snapshot) = snapshot(
        "",
        &[
            ("kustomization.yaml", "resources:\n- ns.yaml\n"),
            (
                "ns.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n",
            ),
        ],
    )?;
    let manifests = render(&snapshot, &RenderOptions::default()).map_err(std::io::Error::other)?;
    assert_eq!(
        summary(&manifests),
        vec![("Namespace/web".into(), "ns.yaml:1".into())]
    );
    Ok(())
}

#[test]
fn kustomize_failures_name_the_kustomization_file_and_say_the_cause_once() -> std::io::Result<()> {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n";
    let patch = "resources:\n- cm.yaml\npatches:\n- patch: |-\n    apiVersion: v1\n    \
                 kind: ConfigMap\n    metadata:\n      name: nope\n    data:\n      x: \"1\"\n";
    let cases: [(&[(&str, &str)], &str, &str); 3] = [
        (
            &[("broken/kustomization.yaml", "resources:\n- missing.yaml\n")],
            "broken/kustomization.yaml: kustomize build failed: ",
            "resources lists missing.yaml, which does not exist",
        ),
        (
            &[("broken/kustomization.yaml", patch), ("broken/cm.yaml", cm)],
            "broken/kustomization.yaml: kustomize build failed: ",
            "a patch targets ConfigMap nope, which no resource of this kustomization is",
        ),
        (
            &[(
                "broken/kustomization.yaml",
                "resources:\n  - cm.yaml\n bad: [\n",
            )],
            "broken/kustomization.yaml: ",
            "did not find expected key at line 3",
        ),
    ];
    for (files, place, cause) in cases {
        let (_dir, snapshot) = snapshot("", files)?;
        let errors = messages(render(&snapshot, &RenderOptions::default()));
        assert_eq!(errors.len(), 1, "{errors:?}");
        let error = &errors[0];
        assert!(error.starts_with(place), "{error}");
        assert_eq!(error.matches(cause).count(), 1, "{error}");
        for noise in ["err=", "command failed", "evalsymlink", "no matches for Id"] {
            assert!(!error.contains(noise), "{error}");
        }
    }
    Ok(())
}

#[test]
fn a_missing_kustomize_program_is_reported_once_with_what_to_install() -> std::io::Result<()> {
    let (_dir, snapshot) = snapshot(
        "",
        &[
            ("one/kustomization.yaml", "resources: []\n"),
            ("two/kustomization.yaml", "resources: []\n"),
        ],
    )?;
    let options = RenderOptions {
        kustomize: Some(KustomizeCommand::Kubectl {
            program: PathBuf::from("/nonexistent/kubectl-gitops-test/kubectl"),
        }),
        ..RenderOptions::default()
    };
    let errors = messages(render(&snapshot, &options));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("one: cannot build"), "{errors:?}");
    assert!(errors[0].contains("install kubectl"), "{errors:?}");
    Ok(())
}

#[test]
fn an_empty_snapshot_renders_nothing() -> std::io::Result<()> {
    let (_dir, snapshot) = snapshot("", &[])?;
    assert_eq!(
        render(&snapshot, &RenderOptions::default())
            .map(|m| m.len())
            .ok(),
        Some(0)
    );
    Ok(())
}

/// Options building kustomizations with `script` as the kustomize program, within `limits`.
#[cfg(unix)]
fn with_program(
    dir: &std::path::Path,
    script: &str,
    limits: limits::Limits,
) -> std::io::Result<RenderOptions> {
    use std::os::unix::fs::PermissionsExt;
    let program = dir.join("kustomize");
    std::fs::write(&program, format!("#!/bin/sh\n{script}\n"))?;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))?;
    Ok(RenderOptions {
        kustomize: Some(KustomizeCommand::Kustomize { program }),
        limits: RenderLimits::from_flags(limits),
        ..RenderOptions::default()
    })
}

#[test]
fn a_render_past_its_object_cap_stops_where_it_passed_it_and_names_the_flag() -> std::io::Result<()>
{
    let config =
        |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    let (a, b, c) = (config("a"), config("b"), config("c"));
    let (_dir, snapshot) = snapshot("deploy", &[("a.yaml", &a), ("b.yaml", &b), ("c.yaml", &c)])?;
    let options = RenderOptions {
        limits: RenderLimits::from_flags(limits::Limits {
            max_objects: 2,
            ..limits::Limits::default()
        }),
        ..RenderOptions::default()
    };
    assert_eq!(
        messages(render(&snapshot, &options)),
        [
            "deploy/c.yaml: rendering stopped here: more than 2 objects, the most one render may \
          produce; raise it with --max-render-objects"
        ]
    );
    // At the cap exactly, the render is whole.
    let options = RenderOptions {
        limits: RenderLimits::from_flags(limits::Limits {
            max_objects: 3,
            ..limits::Limits::default()
        }),
        ..RenderOptions::default()
    };
    assert_eq!(render(&snapshot, &options).map(|m| m.len()).ok(), Some(3));
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_kustomize_printing_without_end_is_stopped_at_the_byte_cap() -> std::io::Result<()> {
    let bin = tempfile::tempdir()?;
    let options = with_program(
        bin.path(),
        "yes 'apiVersion: v1'",
        limits::Limits {
            max_bytes: 1024 * 1024,
            ..limits::Limits::default()
        },
    )?;
    let (_dir, snapshot) = snapshot("", &[("apps/kustomization.yaml", "resources: []\n")])?;
    assert_eq!(
        messages(render(&snapshot, &options)),
        [
            "apps: `kustomize build` was stopped: it printed more than 1Mi, the most a render may \
          read from helm and kustomize; raise it with --max-render-bytes"
        ]
    );
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_kustomize_that_never_finishes_is_stopped_at_the_deadline() -> std::io::Result<()> {
    let bin = tempfile::tempdir()?;
    let options = with_program(
        bin.path(),
        "exec sleep 300",
        limits::Limits {
            timeout: std::time::Duration::from_millis(300),
            ..limits::Limits::default()
        },
    )?;
    let (_dir, snapshot) = snapshot(
        "",
        &[
            ("one/kustomization.yaml", "resources: []\n"),
            ("two/kustomization.yaml", "resources: []\n"),
        ],
    )?;
    // Both builds reach the one deadline; it is said once.
    assert_eq!(
        messages(render(&snapshot, &options)),
        [
            "one: `kustomize build` was stopped: the render did not finish within its deadline of \
          300ms; raise it with --render-timeout"
        ]
    );
    Ok(())
}

#[test]
fn a_render_of_some_charts_loads_no_file_and_builds_no_kustomization() -> std::io::Result<()> {
    let (_dir, snapshot) = snapshot(
        "deploy",
        &[
            ("api.yaml", DEPLOYMENT),
            ("overlay/kustomization.yaml", "resources: []\n"),
        ],
    )?;
    let options = RenderOptions {
        // Were the kustomization built, this program would fail it.
        kustomize: Some(KustomizeCommand::Kustomize {
            program: "/nonexistent/kustomize".into(),
        }),
        ..RenderOptions::default()
    };
    let rendered = render_charts(&snapshot, &options, &[], &mut Vec::new());
    assert_eq!(rendered.map(|m| m.len()).ok(), Some(0));
    // The same tree rendered whole does both.
    assert!(render(&snapshot, &options).is_err());
    Ok(())
}
