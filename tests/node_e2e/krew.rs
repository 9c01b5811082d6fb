//! The krew archive users install: `krew/release.sh` packs the binary the tests run, the real
//! krew (tests/krew.sh, pinned) installs it with `kubectl krew install --manifest --archive`,
//! and kubectl then finds the plugin: `kubectl gitops version` answers with this version.
//! Needs no cluster; it runs with the node suite, which builds krew.

use std::path::Path;
use std::process::{Command, Output};

use crate::support;

/// `GITOPS_TEST_KREW`, set by tests/node.sh.
fn krew() -> std::path::PathBuf {
    std::env::var_os("GITOPS_TEST_KREW")
        .map(Into::into)
        .expect("no test krew: set GITOPS_TEST_KREW (tests/node.sh builds the pinned one)")
}

/// `kubectl ARGS` with `path` as PATH and krew's root in `krew_root`.
fn kubectl(args: &[&str], path: &std::ffi::OsStr, krew_root: &Path) -> Output {
    Command::new("kubectl")
        .args(args)
        .env("PATH", path)
        .env("KREW_ROOT", krew_root)
        .env("KREW_NO_UPGRADE_CHECK", "1")
        .env("HOME", krew_root)
        .output()
        .expect("running kubectl")
}

#[tokio::test]
async fn the_krew_archive_installs_with_krew_and_the_plugin_answers_through_kubectl() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let binary = env!("CARGO_BIN_EXE_kubectl-gitops");
    let version = env!("CARGO_PKG_VERSION");
    let work = tempfile::tempdir().expect("tempdir");
    let dist = work.path().join("dist");
    let out = Command::new(repo.join("krew/release.sh"))
        .args([
            "--homepage",
            "https://example.invalid/kubectl-gitops",
            "--no-build",
        ])
        .arg("--bin")
        .arg(format!("linux/amd64={binary}"))
        .arg("--out")
        .arg(&dist)
        .output()
        .expect("running krew/release.sh");
    let (stdout, stderr) = support::text(&out);
    assert!(out.status.success(), "krew/release.sh: {stdout}{stderr}");
    let archive = dist.join(format!("kubectl-gitops_{version}_linux_amd64.tar.gz"));
    assert!(
        archive.is_file(),
        "no {}: {stdout}{stderr}",
        archive.display()
    );

    // kubectl finds `kubectl-krew` on PATH; what krew installs lands in KREW_ROOT/bin.
    let tools = work.path().join("tools");
    std::fs::create_dir_all(&tools).expect("mkdir");
    std::os::unix::fs::symlink(krew(), tools.join("kubectl-krew")).expect("linking krew");
    let krew_root = work.path().join("krew");
    let system = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        [krew_root.join("bin"), tools]
            .into_iter()
            .chain(std::env::split_paths(&system)),
    )
    .expect("PATH");

    let manifest = dist.join("gitops.yaml");
    let install = kubectl(
        &[
            "krew",
            "install",
            &format!("--manifest={}", manifest.display()),
            &format!("--archive={}", archive.display()),
        ],
        &path,
        &krew_root,
    );
    let (stdout, stderr) = support::text(&install);
    assert!(
        install.status.success(),
        "kubectl krew install: {stdout}{stderr}"
    );
    assert!(
        krew_root.join("bin/kubectl-gitops").exists(),
        "krew linked the plugin into its bin: {stdout}{stderr}"
    );

    // krew's record of what it installed (what `kubectl krew list` reads, once an index exists).
    let receipt = std::fs::read_to_string(krew_root.join("receipts/gitops.yaml"))
        .unwrap_or_else(|e| panic!("no receipt for gitops: {e}; {stdout}{stderr}"));
    assert!(
        receipt.contains(&format!("version: v{version}")),
        "{receipt}"
    );

    let answer = kubectl(&["gitops", "version"], &path, &krew_root);
    let (said, stderr) = support::text(&answer);
    assert!(
        answer.status.success(),
        "kubectl gitops version: {said}{stderr}"
    );
    assert!(said.contains(version), "kubectl gitops version: {said}");
    // kubectl ran the copy krew installed, not the test build.
    let plugins = kubectl(&["plugin", "list", "--name-only"], &path, &krew_root);
    let (plugins, _) = support::text(&plugins);
    assert!(
        plugins.lines().any(|l| l.trim() == "kubectl-gitops"),
        "{plugins}"
    );
    let installed = std::fs::canonicalize(krew_root.join("bin/kubectl-gitops")).expect("link");
    assert!(installed.starts_with(&krew_root), "{}", installed.display());
}
