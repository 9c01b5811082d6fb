//! Distribution and first run: the krew manifest and release script, the completion scripts,
//! help texts, first-run error messages, and kubectl finding the plugin.
//!
//! None of these tests need the test API server; they need bash, tar, zip and kubectl (which
//! CONTRIBUTING.md lists for development anyway).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::CommandFactory;
use kubectl_gitops::cli::Cli;
use kubectl_gitops::cli::completion::{self, CompletionShell};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The five platforms the manifest lists, as krew's `os`/`arch` labels.
const PLATFORMS: [(&str, &str); 5] = [
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("windows", "amd64"),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// `KEY` for `{{KEY}}`: the sha256 placeholder of one platform, e.g. SHA256_LINUX_AMD64.
fn sha_key(os: &str, arch: &str) -> String {
    format!("SHA256_{}_{}", os.to_uppercase(), arch.to_uppercase())
}

/// A recognisable 64-hex dummy sha256 per placeholder.
fn dummy_sha(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `{{NAME}}` placeholders in `template`, in order of appearance.
fn placeholders(template: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").expect("unclosed {{ in krew/gitops.yaml");
        found.insert(after[..end].to_string());
        rest = &after[end + 2..];
    }
    found
}

/// krew/gitops.yaml with every placeholder replaced by a dummy value.
fn rendered_template() -> Value {
    let template = std::fs::read_to_string(repo().join("krew/gitops.yaml")).unwrap();
    let mut expected: BTreeSet<String> = ["VERSION", "HOMEPAGE", "RELEASE_URL"]
        .map(String::from)
        .into();
    expected.extend(PLATFORMS.iter().map(|(os, arch)| sha_key(os, arch)));
    assert_eq!(
        placeholders(&template),
        expected,
        "krew/gitops.yaml's placeholders differ from the ones krew/release.sh fills in"
    );
    let mut filled = template
        .replace("{{VERSION}}", "1.2.3")
        .replace("{{HOMEPAGE}}", "https://example.com/kubectl-gitops")
        .replace("{{RELEASE_URL}}", "https://example.com/download/v1.2.3");
    for (os, arch) in PLATFORMS {
        let key = sha_key(os, arch);
        filled = filled.replace(&format!("{{{{{key}}}}}"), &dummy_sha(&key));
    }
    kubectl_gitops::yaml::from_str(&filled).expect("krew/gitops.yaml is valid YAML once filled in")
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut v = value;
    for key in path {
        v = &v[*key];
    }
    v.as_str()
        .unwrap_or_else(|| panic!("{} is not a string: {v:?}", path.join(".")))
}

/// `(os, arch)` -> the platform entry of a manifest.
fn platforms_of(manifest: &Value) -> BTreeMap<(String, String), &Value> {
    let list = manifest["spec"]["platforms"]
        .as_array()
        .expect("spec.platforms is a list");
    let mut by_platform = BTreeMap::new();
    for platform in list {
        let labels = platform["selector"]["matchLabels"]
            .as_object()
            .expect("selector.matchLabels");
        assert_eq!(
            labels.len(),
            2,
            "matchLabels has exactly os and arch: {labels:?}"
        );
        let key = (
            str_at(platform, &["selector", "matchLabels", "os"]).to_string(),
            str_at(platform, &["selector", "matchLabels", "arch"]).to_string(),
        );
        assert!(
            by_platform.insert(key.clone(), platform).is_none(),
            "{key:?} listed twice"
        );
    }
    by_platform
}

fn exe_name(os: &str) -> &'static str {
    if os == "windows" {
        "kubectl-gitops.exe"
    } else {
        "kubectl-gitops"
    }
}

/// Checks one platform entry; returns the archive file name its uri ends with.
fn check_platform(os: &str, arch: &str, platform: &Value, release_url: &str) -> String {
    let uri = str_at(platform, &["uri"]);
    let archive = uri
        .strip_prefix(release_url)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or_else(|| panic!("{os}/{arch}: uri {uri} is not under {release_url}"));
    let sha = str_at(platform, &["sha256"]);
    assert!(
        sha.len() == 64
            && sha
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{os}/{arch}: sha256 {sha:?} is not 64 lowercase hex digits"
    );
    let exe = exe_name(os);
    assert_eq!(str_at(platform, &["bin"]), exe, "{os}/{arch}: bin");
    let files: BTreeSet<(String, String)> = platform["files"]
        .as_array()
        .unwrap_or_else(|| panic!("{os}/{arch}: files is a list"))
        .iter()
        .map(|f| (str_at(f, &["from"]).into(), str_at(f, &["to"]).into()))
        .collect();
    let expected: BTreeSet<(String, String)> =
        [(exe.into(), ".".into()), ("LICENSE".into(), ".".into())].into();
    assert_eq!(files, expected, "{os}/{arch}: files");
    archive.to_string()
}

#[test]
fn krew_manifest_is_complete() {
    let manifest = rendered_template();
    assert_eq!(
        str_at(&manifest, &["apiVersion"]),
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(str_at(&manifest, &["kind"]), "Plugin");
    assert_eq!(str_at(&manifest, &["metadata", "name"]), "gitops");
    assert_eq!(str_at(&manifest, &["spec", "version"]), "v1.2.3");
    assert_eq!(
        str_at(&manifest, &["spec", "homepage"]),
        "https://example.com/kubectl-gitops"
    );
    let short = str_at(&manifest, &["spec", "shortDescription"]);
    assert!(
        !short.is_empty() && short.len() <= 50,
        "shortDescription should be short: {short:?}"
    );
    assert!(str_at(&manifest, &["spec", "description"]).len() > short.len());
    let caveats = str_at(&manifest, &["spec", "caveats"]);
    for needle in ["kubectl_complete-gitops", "kubectl gitops completion"] {
        assert!(
            caveats.contains(needle),
            "caveats lack {needle:?}:\n{caveats}"
        );
    }

    let platforms = platforms_of(&manifest);
    let listed: BTreeSet<(String, String)> = platforms.keys().cloned().collect();
    let expected: BTreeSet<(String, String)> = PLATFORMS
        .iter()
        .map(|(os, arch)| (os.to_string(), arch.to_string()))
        .collect();
    assert_eq!(listed, expected, "platforms");
    for ((os, arch), platform) in &platforms {
        check_platform(os, arch, platform, "https://example.com/download/v1.2.3");
        // Each platform carries its own checksum, not another platform's.
        assert_eq!(
            str_at(platform, &["sha256"]),
            dummy_sha(&sha_key(os, arch)),
            "{os}/{arch}: sha256 placeholder"
        );
    }
}

fn release_script() -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("krew/release.sh"));
    cmd
}

/// `OS/ARCH ARCHIVE` lines from `krew/release.sh --list-archives`.
fn listed_archives(version: &str) -> BTreeMap<(String, String), String> {
    let output = release_script()
        .args(["--list-archives", "--version", version])
        .output()
        .expect("running krew/release.sh");
    assert!(output.status.success(), "{}", describe(&output));
    text(&output.stdout)
        .lines()
        .map(|line| {
            let (platform, archive) = line.split_once(' ').expect("OS/ARCH ARCHIVE");
            let (os, arch) = platform.split_once('/').expect("OS/ARCH");
            ((os.to_string(), arch.to_string()), archive.to_string())
        })
        .collect()
}

#[test]
fn archive_names_match_the_release_script() {
    let listed = listed_archives("1.2.3");
    assert_eq!(listed.len(), PLATFORMS.len(), "{listed:?}");
    for (os, arch) in PLATFORMS {
        let ext = if os == "windows" { "zip" } else { "tar.gz" };
        assert_eq!(
            listed[&(os.to_string(), arch.to_string())],
            format!("kubectl-gitops_1.2.3_{os}_{arch}.{ext}"),
            "the documented pattern kubectl-gitops_<version>_<os>_<arch>.<tar.gz|zip>"
        );
    }
    let manifest = rendered_template();
    for ((os, arch), platform) in platforms_of(&manifest) {
        let archive = check_platform(&os, &arch, platform, "https://example.com/download/v1.2.3");
        assert_eq!(
            archive,
            listed[&(os.clone(), arch.clone())],
            "{os}/{arch}: krew/gitops.yaml's uri and krew/release.sh disagree on the archive name"
        );
    }
}

/// The members of a tar.gz or zip archive.
fn archive_members(path: &Path) -> BTreeSet<String> {
    let name = path.to_string_lossy();
    let output = if name.ends_with(".zip") {
        Command::new("unzip").arg("-Z1").arg(path).output()
    } else {
        Command::new("tar").arg("-tzf").arg(path).output()
    }
    .expect("listing an archive");
    assert!(output.status.success(), "{}", describe(&output));
    text(&output.stdout).lines().map(str::to_string).collect()
}

#[test]
fn release_script_packs_every_platform_and_renders_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let bins = dir.path().join("bins");
    std::fs::create_dir(&bins).unwrap();
    let out = dir.path().join("dist");
    let mut cmd = release_script();
    cmd.args([
        "--version",
        "v1.2.3",
        "--homepage",
        "https://example.com/kubectl-gitops",
        "--no-build",
        "--require-all",
        "--out",
    ])
    .arg(&out);
    // Stand-ins for cross-compiled binaries. The one for the host platform is run to check its
    // version, so each prints the line `kubectl gitops version` prints.
    for (os, arch) in PLATFORMS {
        let path = bins.join(format!("{os}_{arch}"));
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho 'kubectl-gitops 1.2.3 (commit test, {os}-{arch})'\n"),
        )
        .unwrap();
        make_executable(&path);
        cmd.arg("--bin")
            .arg(format!("{os}/{arch}={}", path.display()));
    }
    let output = cmd.output().expect("running krew/release.sh");
    assert!(output.status.success(), "{}", describe(&output));

    let rendered = std::fs::read_to_string(out.join("gitops.yaml")).unwrap();
    assert!(!rendered.contains("{{"), "placeholders left:\n{rendered}");
    let manifest: Value = kubectl_gitops::yaml::from_str(&rendered).unwrap();
    assert_eq!(str_at(&manifest, &["spec", "version"]), "v1.2.3");
    let platforms = platforms_of(&manifest);
    assert_eq!(platforms.len(), PLATFORMS.len());
    let sums = std::fs::read_to_string(out.join("sha256sums.txt")).unwrap();
    for ((os, arch), platform) in platforms {
        let release_url = "https://example.com/kubectl-gitops/releases/download/v1.2.3";
        let archive = check_platform(&os, &arch, platform, release_url);
        let bytes = std::fs::read(out.join(&archive))
            .unwrap_or_else(|e| panic!("{os}/{arch}: {archive} was not written: {e}"));
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(str_at(platform, &["sha256"]), sha, "{os}/{arch}: sha256");
        assert!(sums.contains(&format!("{sha}  {archive}")), "{sums}");
        let members = archive_members(&out.join(&archive));
        let expected: BTreeSet<String> = [exe_name(&os).to_string(), "LICENSE".into()].into();
        assert_eq!(members, expected, "{os}/{arch}: {archive} contents");
    }
}

#[test]
fn release_script_leaves_out_platforms_without_a_binary() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("kubectl-gitops");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'kubectl-gitops 1.2.3 (commit test, x)'\n",
    )
    .unwrap();
    make_executable(&fake);
    let out = dir.path().join("dist");
    let output = release_script()
        .args(["--version", "1.2.3", "--homepage", "https://example.com/g"])
        .args(["--release-url", "https://downloads.example.com/g/1.2.3/"])
        .args(["--no-build", "--out"])
        .arg(&out)
        .arg("--bin")
        .arg(format!("darwin/arm64={}", fake.display()))
        .output()
        .expect("running krew/release.sh");
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        text(&output.stderr).contains("warning: no binary for linux/amd64 linux/arm64"),
        "{}",
        describe(&output)
    );
    let manifest: Value =
        kubectl_gitops::yaml::from_str(&std::fs::read_to_string(out.join("gitops.yaml")).unwrap())
            .unwrap();
    let platforms = platforms_of(&manifest);
    let keys: Vec<_> = platforms.keys().cloned().collect();
    assert_eq!(keys, [("darwin".to_string(), "arm64".to_string())]);
    let archive = check_platform(
        "darwin",
        "arm64",
        platforms.values().next().unwrap(),
        "https://downloads.example.com/g/1.2.3",
    );
    assert_eq!(archive, "kubectl-gitops_1.2.3_darwin_arm64.tar.gz");

    // --require-all refuses the same partial release.
    let output = release_script()
        .args(["--version", "1.2.3", "--homepage", "https://example.com/g"])
        .args(["--no-build", "--require-all", "--out"])
        .arg(&out)
        .arg("--bin")
        .arg(format!("darwin/arm64={}", fake.display()))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[cfg(not(unix))]
fn make_executable(_: &Path) {}

#[test]
fn completion_scripts_are_up_to_date() {
    for shell in CompletionShell::ALL {
        let path = repo().join(shell.committed_file());
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == completion::script(shell),
            "{} is out of date with the command line definition. Regenerate the scripts with \
             `completions/generate.sh` (or `cargo run -- completion {} > {}`) and commit them.",
            shell.committed_file(),
            shell.name(),
            shell.committed_file(),
        );
    }
}

#[test]
fn completion_subcommand_prints_the_committed_scripts() {
    for shell in CompletionShell::ALL {
        let output = Command::new(binary())
            .args(["completion", shell.name()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        assert!(
            output.stdout == completion::script(shell),
            "kubectl gitops completion {} differs from the generated script",
            shell.name()
        );
    }
}

/// A directory holding only `kubectl-gitops` (a link to the binary under test) and the
/// committed `kubectl_complete-gitops`, and another holding only a link to kubectl: a PATH
/// built from the two shows kubectl nothing but our plugin. (The binary's own directory,
/// target/debug, also holds a non-executable `kubectl-gitops.d`, which `kubectl plugin list`
/// reports as a broken plugin.)
struct PluginPath {
    _dir: tempfile::TempDir,
    plugins: PathBuf,
    path: std::ffi::OsString,
}

fn plugin_path() -> PluginPath {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    let kubectl_dir = dir.path().join("kubectl");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::create_dir(&kubectl_dir).unwrap();
    link(binary(), &plugins.join("kubectl-gitops"));
    std::fs::copy(
        repo().join("completions/kubectl_complete-gitops"),
        plugins.join("kubectl_complete-gitops"),
    )
    .unwrap();
    make_executable(&plugins.join("kubectl_complete-gitops"));
    let kubectl = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .expect("kubectl is not on PATH; these tests check that kubectl finds the plugin");
    link(&kubectl, &kubectl_dir.join("kubectl"));
    let path = std::env::join_paths([&plugins, &kubectl_dir]).unwrap();
    PluginPath {
        _dir: dir,
        plugins,
        path,
    }
}

#[cfg(unix)]
fn link(target: &Path, at: &Path) {
    std::os::unix::fs::symlink(target, at).unwrap();
}

#[cfg(not(unix))]
fn link(target: &Path, at: &Path) {
    std::fs::copy(target, at).unwrap();
}

fn kubectl(path: &PluginPath, args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new("kubectl")
        .args(args)
        .env("PATH", &path.path)
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("no-kubeconfig"))
        .output()
        .expect("running kubectl")
}

#[test]
fn kubectl_plugin_list_finds_the_binary() {
    let path = plugin_path();
    let output = kubectl(&path, &["plugin", "list"]);
    assert!(output.status.success(), "{}", describe(&output));
    let listed = path.plugins.join("kubectl-gitops");
    assert!(
        text(&output.stdout)
            .lines()
            .any(|line| line.trim() == listed.to_string_lossy()),
        "{}",
        describe(&output)
    );

    let output = kubectl(&path, &["gitops", "version"]);
    assert!(output.status.success(), "{}", describe(&output));
    let line = text(&output.stdout);
    let prefix = format!("kubectl-gitops {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&prefix), "{}", describe(&output));
    assert!(
        line.trim_end().ends_with(')') && line.contains(", "),
        "{line}"
    );
}

#[test]
fn kubectl_completes_gitops_through_the_plugin_hook() {
    let path = plugin_path();
    // What kubectl's shell completion asks when the user presses TAB after `kubectl gitops di`.
    let output = kubectl(&path, &["__complete", "gitops", "di"]);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("diff\t"), "{}", describe(&output));
    assert!(stdout.ends_with(":4\n"), "{}", describe(&output));

    let output = kubectl(&path, &["__complete", "gitops", "diff", "--output", ""]);
    let stdout = text(&output.stdout);
    let values: Vec<&str> = stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(
        values,
        ["text", "markdown", "json", ":4"],
        "{}",
        describe(&output)
    );
}

#[test]
fn kubectl_complete_script_matches_the_krew_caveat() {
    let script =
        std::fs::read_to_string(repo().join("completions/kubectl_complete-gitops")).unwrap();
    let exec = "exec kubectl-gitops __complete \"$@\"";
    assert!(script.starts_with("#!/bin/sh\n"), "{script}");
    assert!(script.trim_end().ends_with(exec), "{script}");
    let caveats = str_at(&rendered_template(), &["spec", "caveats"]).to_string();
    assert!(
        caveats.contains(r#"printf '#!/bin/sh\nexec kubectl-gitops __complete "$@"\n'"#),
        "the caveat's kubectl_complete-gitops should be the committed script:\n{caveats}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(repo().join("completions/kubectl_complete-gitops"))
            .unwrap()
            .permissions()
            .mode();
        assert!(
            mode & 0o111 != 0,
            "completions/kubectl_complete-gitops is not executable"
        );
    }
}

fn gitops(args: &[&str], home: &Path) -> Output {
    Command::new(binary())
        .args(args)
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .output()
        .expect("running kubectl-gitops")
}

#[test]
fn every_subcommand_help_teaches() {
    let home = tempfile::tempdir().unwrap();
    let root = gitops(&["--help"], home.path());
    assert!(root.status.success(), "{}", describe(&root));
    assert!(
        text(&root.stdout).contains("Examples:\n  # "),
        "{}",
        describe(&root)
    );

    let cli = Cli::command();
    let mut seen = Vec::new();
    for sub in cli.get_subcommands() {
        let name = sub.get_name();
        seen.push(name.to_string());
        assert!(sub.get_about().is_some(), "{name}: no one-line summary");
        assert!(
            sub.get_long_about().is_some(),
            "{name}: no longer description"
        );
        let output = gitops(&[name, "--help"], home.path());
        assert!(output.status.success(), "{}", describe(&output));
        let help = text(&output.stdout);
        assert!(
            help.contains("Examples:"),
            "{name} --help has no examples:\n{help}"
        );
        // The examples run until the next heading (a line that is not indented).
        let examples: Vec<&str> = help[help.find("Examples:").unwrap()..]
            .lines()
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .collect();
        let commands: Vec<&str> = examples
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert!(!commands.is_empty(), "{name}: no example commands:\n{help}");
        for command in &commands {
            assert!(
                command.starts_with(&format!("kubectl gitops {name}")),
                "{name}: example {command:?} does not start with `kubectl gitops {name}`"
            );
        }
    }
    assert!(seen.contains(&"completion".to_string()), "{seen:?}");
}

/// A directory with one valid manifest, so a run gets as far as connecting.
fn manifests() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n",
    )
    .unwrap();
    dir
}

#[test]
fn missing_kubeconfig_says_how_to_point_at_a_cluster() {
    let home = tempfile::tempdir().unwrap();
    let dir = manifests();
    let path = dir.path().to_str().unwrap();

    // Neither KUBECONFIG nor ~/.kube/config.
    let output = gitops(&["diff", path], home.path());
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = text(&output.stderr);
    let default = home.path().join(".kube/config");
    for needle in [
        format!("hint: there is no kubeconfig at {}.", default.display()),
        "--kubeconfig FILE or KUBECONFIG=FILE".to_string(),
        "--context NAME".to_string(),
        "kubectl config get-contexts".to_string(),
    ] {
        assert!(stderr.contains(&needle), "missing {needle:?}:\n{stderr}");
    }
    // kube's error repeats its cause; the message says it once.
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );

    // KUBECONFIG and --kubeconfig pointing nowhere name the file they point to.
    let nowhere = home.path().join("nowhere.yaml");
    let output = Command::new(binary())
        .args(["apply", path, "--dry-run"])
        .env("HOME", home.path())
        .env("KUBECONFIG", &nowhere)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let expected = format!("hint: there is no kubeconfig at {}.", nowhere.display());
    assert!(
        text(&output.stderr).contains(&expected),
        "{}",
        describe(&output)
    );

    let output = gitops(
        &["diff", path, "--kubeconfig", nowhere.to_str().unwrap()],
        home.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        text(&output.stderr).contains(&expected),
        "{}",
        describe(&output)
    );
}

#[test]
fn unknown_context_points_at_the_context_list() {
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: real\nclusters:\n\
         - name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {}\n\
         contexts:\n- name: real\n  context: {cluster: c, user: u}\n",
    )
    .unwrap();
    let dir = manifests();
    let output = gitops(
        &[
            "diff",
            dir.path().to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--context",
            "typo",
        ],
        home.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("hint: the kubeconfig has no context named \"typo\""),
        "{stderr}"
    );
    assert!(stderr.contains("kubectl config get-contexts"), "{stderr}");
}

#[test]
fn path_errors_explain_what_path_means() {
    let home = tempfile::tempdir().unwrap();
    let dir = manifests();

    let missing = dir.path().join("deploy");
    let output = gitops(&["diff", missing.to_str().unwrap()], home.path());
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("hint: PATH is the directory holding your manifests"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{} does not exist", missing.display())),
        "{stderr}"
    );

    let file = dir.path().join("settings.yaml");
    let output = gitops(&["apply", file.to_str().unwrap()], home.path());
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("{} is not one", file.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("kubectl gitops diff {}", dir.path().display())),
        "{stderr}"
    );
}
