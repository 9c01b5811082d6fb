//! Tenancy: a repository's tree is hostile input. Whoever can commit chooses the tree objects
//! (not only what a working tree can hold) and the symlinks in them; none of it may make
//! `diff`, `diff --ref`, `diff --base`, `apply` or the reconciler read a file outside the
//! repository into a report, a log or the cluster.
//!
//! Each test is an attack: a canary file beside the repository stands for the controller's
//! kubeconfig or ServiceAccount token, and a chart tries to put it into a ConfigMap with
//! `.Files.Get`. The canary's content must appear nowhere, the command must fail naming the
//! offending path, and nothing may be applied.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};

use crate::reconcile::eventually;
use crate::support::{self, gitops, gitops_env, text};

/// Runs `git` in `dir` with a fixed identity and none of the user's configuration, `input` on
/// its stdin; its stdout, trimmed.
fn git(dir: &Path, args: &[&str], input: &str) -> String {
    let mut child = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("writing to git");
    let output = child.wait_with_output().expect("git finishes");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// An entry of a tree written object by object, as no working tree could hold it.
enum Node {
    File(String),
    Link(String),
    Dir(Vec<(String, Node)>),
}

fn file(text: &str) -> Node {
    Node::File(text.to_string())
}

fn link(target: &str) -> Node {
    Node::Link(target.to_string())
}

fn dir(entries: Vec<(&str, Node)>) -> Node {
    Node::Dir(
        entries
            .into_iter()
            .map(|(name, node)| (name.to_string(), node))
            .collect(),
    )
}

/// Writes `node` into the object database of the repository at `repo`; its id and mode.
fn write_node(repo: &Path, node: &Node) -> (String, &'static str) {
    match node {
        Node::File(text) => (
            git(repo, &["hash-object", "-w", "--stdin"], text),
            "100644 blob",
        ),
        Node::Link(target) => (
            git(repo, &["hash-object", "-w", "--stdin"], target),
            "120000 blob",
        ),
        Node::Dir(entries) => {
            let mut listing = String::new();
            for (name, child) in entries {
                let (id, mode) = write_node(repo, child);
                listing.push_str(&format!("{mode} {id}\t{name}\n"));
            }
            // mktree sorts the entries but, unlike git's index, keeps repeated names.
            (git(repo, &["mktree"], &listing), "040000 tree")
        }
    }
}

/// Commits `tree` on top of `main` of the repository at `repo` (working or bare), leaving any
/// working tree as it was.
fn commit_crafted(repo: &Path, tree: &Node) -> String {
    let (tree, _) = write_node(repo, tree);
    let parent = git(
        repo,
        &["rev-parse", "-q", "--verify", "refs/heads/main"],
        "",
    );
    let mut args = vec!["commit-tree", tree.as_str()];
    if !parent.is_empty() {
        args.extend(["-p", parent.as_str()]);
    }
    let commit = git(repo, &args, "crafted\n");
    git(repo, &["update-ref", "refs/heads/main", &commit], "");
    commit
}

/// A secret outside the repository: its content must never reach any output.
struct Canary {
    path: PathBuf,
    content: String,
}

impl Canary {
    fn beside(dir: &Path) -> Self {
        let content = support::unique_name("CANARY-admin-kubeconfig");
        let path = dir.join("canary-secret");
        std::fs::write(&path, &content).expect("writing the canary");
        Canary {
            path: path.canonicalize().expect("canonical canary"),
            content,
        }
    }

    fn assert_absent(&self, what: &str, text: &str) {
        assert!(
            !text.contains(&self.content),
            "the canary (a secret no render may read) reached {what}:\n{text}"
        );
    }

    fn assert_not_in(&self, output: &Output) {
        let (stdout, stderr) = text(output);
        self.assert_absent("stdout", &stdout);
        self.assert_absent("stderr", &stderr);
    }

    /// The canary's path without its leading `/`, as components.
    fn components(&self) -> Vec<String> {
        self.path
            .iter()
            .skip(1)
            .map(|c| c.to_string_lossy().into_owned())
            .collect()
    }
}

/// A chart whose ConfigMap `leak` carries whatever `sa` (a file of the chart) holds.
fn leaking_chart(sa: Node) -> Node {
    dir(vec![
        (
            "Chart.yaml",
            file("apiVersion: v2\nname: leak\nversion: 0.1.0\n"),
        ),
        (
            "templates",
            dir(vec![(
                "cm.yaml",
                file(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  \
                     sa: {{ .Files.Get \"sa\" | quote }}\n",
                ),
            )]),
        ),
        ("sa", sa),
    ])
}

/// The attack tree: the root holds a symlink `p` to `.` and a directory `p` nesting
/// `p/` so deep that, from a copy in the temporary directory, climbing as many levels reaches
/// `/`. At the bottom a chart's `sa` climbs back to the root of the tree on paper, where a
/// decoy sits at the canary's path. A materializer that writes the directory `p` into the link
/// `p` puts the chart at the top of its copy, and `sa` then climbs onto the real canary.
fn twin_tree(canary: &Canary) -> Node {
    let depth = 12.max(std::env::temp_dir().components().count() + 2);
    let parts = canary.components();
    let climb = format!("{}{}", "../".repeat(depth + 1), parts.join("/"));
    let mut nested = dir(vec![("chart", leaking_chart(link(&climb)))]);
    for _ in 0..depth {
        nested = dir(vec![("p", nested)]);
    }
    let mut decoy = file("decoy, not the secret");
    for name in parts.iter().rev() {
        decoy = Node::Dir(vec![(name.clone(), decoy)]);
    }
    let (Node::Dir(mut root), Node::Dir(mut decoy)) = (nested, decoy) else {
        unreachable!("both are directories")
    };
    root.insert(0, ("p".to_string(), link(".")));
    root.append(&mut decoy);
    Node::Dir(root)
}

/// A repository whose working tree holds one harmless ConfigMap, and whose `main` is then the
/// crafted `tree` (which no checkout could write).
fn repository_with(tree_of: impl FnOnce(&Canary) -> Node) -> (tempfile::TempDir, PathBuf, Canary) {
    let outer = tempfile::tempdir().expect("tempdir");
    let canary = Canary::beside(outer.path());
    let repo = outer.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir repo");
    git(&repo, &["init", "-q", "-b", "main"], "");
    std::fs::write(
        repo.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: harmless\ndata:\n  a: \"1\"\n",
    )
    .expect("write");
    git(&repo, &["add", "-A"], "");
    git(&repo, &["commit", "-qm", "harmless"], "");
    commit_crafted(&repo, &tree_of(&canary));
    (outer, repo, canary)
}

/// The ConfigMaps in `ns` that a render put there (the reconciler's own status record aside),
/// after checking that none of them, status included, holds the canary.
async fn applied_configmaps(client: &kube::Client, ns: &str, canary: &Canary) -> Vec<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let mut applied = Vec::new();
    for cm in api
        .list(&ListParams::default())
        .await
        .expect("listing ConfigMaps")
        .items
    {
        let name = cm.metadata.name.clone().unwrap_or_default();
        let data = serde_json::to_string(&cm.data).expect("ConfigMap data");
        canary.assert_absent(&format!("ConfigMap {name}"), &data);
        if name != "kube-root-ca.crt" && !name.ends_with("-status") {
            applied.push(name);
        }
    }
    applied
}

fn assert_refused(output: &Output, canary: &Canary, wanted: &[&str]) {
    canary.assert_not_in(output);
    let (stdout, stderr) = text(output);
    assert!(
        !output.status.success(),
        "the hostile tree was accepted\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for want in wanted {
        assert!(stderr.contains(want), "no {want:?} in:\n{stderr}");
    }
}

const TWINS: &[&str] = &[
    "p: refusing the tree of revision main (commit ",
    "more than one entry named `p`",
];

#[tokio::test]
async fn a_tree_with_a_link_and_a_directory_of_one_name_is_refused_by_diff_ref() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "tenancy-twins-ref").await;
    let (_outer, repo, canary) = repository_with(twin_tree);

    let output = gitops(&["diff", ".", "--ref", "main", "-n", &ns], &repo);

    assert_refused(&output, &canary, TWINS);
}

#[test]
fn a_tree_with_a_link_and_a_directory_of_one_name_is_refused_as_the_base() {
    let (_outer, repo, canary) = repository_with(twin_tree);

    let output = gitops(&["diff", ".", "--base", "main", "--offline"], &repo);

    assert_refused(&output, &canary, TWINS);
}

#[tokio::test]
async fn a_tree_with_a_link_and_a_directory_of_one_name_is_never_applied() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "tenancy-twins-apply").await;
    let (_outer, repo, canary) = repository_with(twin_tree);

    let output = gitops(&["apply", ".", "--ref", "main", "--yes", "-n", &ns], &repo);

    assert_refused(&output, &canary, TWINS);
    assert_eq!(
        applied_configmaps(&client, &ns, &canary).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn the_reconciler_refuses_a_tree_with_a_link_and_a_directory_of_one_name() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "tenancy-twins-rec").await;
    let (outer, _repo, canary) = repository_with(twin_tree);
    let bare = outer.path().join("srv.git");
    git(
        outer.path(),
        &[
            "clone",
            "-q",
            "--bare",
            "repo",
            bare.to_str().expect("utf-8"),
        ],
        "",
    );
    let cache = tempfile::tempdir().expect("tempdir");
    let log = cache.path().join("reconcile.log");
    let mut reconciler = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .args(["reconcile", "--repo", &format!("file://{}", bare.display())])
        .args(["--path", ".", "-n", &ns, "--applyset-namespace", &ns])
        .args([
            "--interval",
            "1s",
            "--backoff",
            "200ms",
            "--max-backoff",
            "1s",
        ])
        .arg("--cache-dir")
        .arg(cache.path().join("cache"))
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("starting kubectl-gitops reconcile");

    // Until it refuses, or applies something (then the assertions below say what).
    let logs = eventually("the reconciler's refusal", Duration::from_secs(60), || {
        let logs = std::fs::read_to_string(&log).unwrap_or_default();
        let (client, ns, canary) = (client.clone(), ns.clone(), &canary);
        async move {
            let refused = logs.contains("more than one entry named `p`");
            let applied = !applied_configmaps(&client, &ns, canary).await.is_empty();
            (refused || applied).then_some(logs)
        }
    })
    .await;
    let _ = reconciler.kill();
    let _ = reconciler.wait();

    canary.assert_absent("the reconciler's log", &logs);
    assert_eq!(
        applied_configmaps(&client, &ns, &canary).await,
        Vec::<String>::new()
    );
    assert!(logs.contains("p: refusing the tree of revision "), "{logs}");
}

/// A chart whose `sa` climbs out of the repository onto the canary: at a revision the link is
/// refused before anything is written (it used to be left out of the copy silently).
fn climbing_chart(canary: &Canary) -> Node {
    let parts = canary.components();
    dir(vec![(
        "chart",
        leaking_chart(link(&format!("{}{}", "../".repeat(24), parts.join("/")))),
    )])
}

#[test]
fn a_chart_link_climbing_out_at_a_revision_is_refused_naming_it() {
    let (_outer, repo, canary) = repository_with(climbing_chart);

    let output = gitops(&["diff", ".", "--base", "main", "--offline"], &repo);

    assert_refused(
        &output,
        &canary,
        &[
            "chart/sa: refusing the tree of revision main",
            "points outside the repository",
        ],
    );
}

/// The working tree, as CI checks out a stranger's pull request: a chart with a link to the
/// canary, absolute or climbing. helm follows links in a chart, so the chart is refused.
fn working_tree_with_chart_link(
    target: impl FnOnce(&Canary, &Path) -> PathBuf,
) -> (tempfile::TempDir, PathBuf, Canary) {
    let outer = tempfile::tempdir().expect("tempdir");
    let canary = Canary::beside(outer.path());
    let repo = outer.path().join("repo");
    let chart = repo.join("deploy/leak");
    std::fs::create_dir_all(chart.join("templates")).expect("mkdir");
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: leak\nversion: 0.1.0\n",
    )
    .expect("write");
    std::fs::write(
        chart.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  \
         sa: {{ .Files.Get \"sa\" | quote }}\n",
    )
    .expect("write");
    std::os::unix::fs::symlink(target(&canary, &chart), chart.join("sa")).expect("symlink");
    git(&repo, &["init", "-q", "-b", "main"], "");
    git(&repo, &["add", "-A"], "");
    git(&repo, &["commit", "-qm", "chart"], "");
    (outer, repo, canary)
}

#[tokio::test]
async fn a_chart_link_out_of_the_working_tree_is_refused_by_diff_and_apply() {
    let client = support::admin().await;
    let absolute = |canary: &Canary, _: &Path| canary.path.clone();
    let climbing = |_: &Canary, _: &Path| PathBuf::from("../../../canary-secret");
    for (case, target) in [
        ("absolute", &absolute as &dyn Fn(&Canary, &Path) -> PathBuf),
        ("climbing", &climbing),
    ] {
        let ns = support::namespace(&client, "tenancy-chart-link").await;
        let (_outer, repo, canary) = working_tree_with_chart_link(target);
        let wanted = [
            "deploy/leak/sa: refusing to render the chart deploy/leak",
            "outside the repository",
        ];

        let diff = gitops(&["diff", "deploy", "-n", &ns], &repo);
        assert_refused(&diff, &canary, &wanted);
        let apply = gitops(&["apply", "deploy", "--yes", "-n", &ns], &repo);
        assert_refused(&apply, &canary, &wanted);

        assert_eq!(
            applied_configmaps(&client, &ns, &canary).await,
            Vec::<String>::new(),
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_chart_link_into_the_git_metadata_is_refused() {
    // CI checkouts keep a token in .git/config; the canary stands in for it.
    let client = support::admin().await;
    let ns = support::namespace(&client, "tenancy-chart-git").await;
    let (_outer, repo, canary) =
        working_tree_with_chart_link(|_, _| PathBuf::from("../../.git/description"));
    std::fs::write(repo.join(".git/description"), &canary.content).expect("write");

    let output = gitops(&["diff", "deploy", "-n", &ns], &repo);

    assert_refused(
        &output,
        &canary,
        &["deploy/leak/sa: refusing to render the chart deploy/leak"],
    );
}

#[tokio::test]
async fn a_link_out_of_the_repository_in_a_kustomize_helm_chart_is_refused() {
    // kustomize hands a local `helmCharts:` chart to helm, which follows its links too.
    let client = support::admin().await;
    let ns = support::namespace(&client, "tenancy-kustomize-chart").await;
    let (_outer, repo, canary) = working_tree_with_chart_link(|canary, _| canary.path.clone());
    std::fs::rename(repo.join("deploy/leak"), repo.join("deploy/charts-leak")).expect("mv");
    std::fs::create_dir_all(repo.join("deploy/charts")).expect("mkdir");
    std::fs::rename(
        repo.join("deploy/charts-leak"),
        repo.join("deploy/charts/leak"),
    )
    .expect("mv");
    // kustomize reads the chart's values.yaml whether or not it sets anything.
    std::fs::write(repo.join("deploy/charts/leak/values.yaml"), "{}\n").expect("write");
    std::fs::write(
        repo.join("deploy/kustomization.yaml"),
        "helmCharts:\n- name: leak\n  releaseName: leak\n",
    )
    .expect("write");
    let helm3 = support::helm3();
    let env = [("GITOPS_HELM", helm3.to_str().expect("utf-8 path"))];

    let output = gitops_env(&["diff", "deploy", "-n", &ns], &repo, &env);

    assert_refused(
        &output,
        &canary,
        &["deploy/charts/leak/sa: refusing to render the chart deploy/charts/leak"],
    );
}

#[tokio::test]
async fn a_chart_at_the_root_of_its_repository_is_rendered_without_its_git_metadata() {
    // No link at all: helm loads every file of a chart, its own `.git` included, and a CI
    // checkout keeps its token in `.git/config` (the canary stands in for it).
    let client = support::admin().await;
    let ns = support::namespace(&client, "tenancy-chart-root").await;
    let outer = tempfile::tempdir().expect("tempdir");
    let repo = outer.path().join("leak");
    std::fs::create_dir_all(repo.join("templates")).expect("mkdir");
    std::fs::write(
        repo.join("Chart.yaml"),
        "apiVersion: v2\nname: leak\nversion: 0.1.0\n",
    )
    .expect("write");
    std::fs::write(
        repo.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  \
         sa: {{ .Files.Get \".git/description\" | quote }}\n",
    )
    .expect("write");
    git(&repo, &["init", "-q", "-b", "main"], "");
    git(&repo, &["add", "-A"], "");
    git(&repo, &["commit", "-qm", "chart"], "");
    let canary = Canary::beside(outer.path());
    std::fs::write(repo.join(".git/description"), &canary.content).expect("write");

    let output = gitops(&["diff", ".", "-n", &ns], &repo);

    canary.assert_not_in(&output);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("+ create ConfigMap/"), "{stdout}");
}
