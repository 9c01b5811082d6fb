//! Field conflicts: diff plans with the force setting apply uses, so both agree on every object
//! another field manager owns, before and after `--force-conflicts`.

use std::path::Path;
use std::process::{Command, Stdio};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::{self, Workdir, gitops, text};

fn cm(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{value}\"\n")
}

/// `kubectl gitops VERB PATH [target] [extra]` in `cwd`: the exit code and stdout, with stderr
/// printed for a failing test to show.
fn run(
    verb: &str,
    path: &str,
    target: &[&str],
    extra: &[&str],
    cwd: &Path,
) -> (Option<i32>, String) {
    let (code, stdout, _) = run_both(verb, path, target, extra, cwd);
    (code, stdout)
}

/// The exit code, stdout and stderr.
fn run_both(
    verb: &str,
    path: &str,
    target: &[&str],
    extra: &[&str],
    cwd: &Path,
) -> (Option<i32>, String, String) {
    let args: Vec<&str> = [verb, path]
        .into_iter()
        .chain(target.iter().copied())
        .chain(extra.iter().copied())
        .collect();
    let out = gitops(&args, cwd);
    let (stdout, stderr) = text(&out);
    eprintln!("{args:?}: {stderr}");
    (out.status.code(), stdout, stderr)
}

/// The report part of `apply --dry-run`, which is the plan it would execute.
fn planned_by_apply(out: &str) -> &str {
    out.split("Dry run: nothing was written.").next().unwrap()
}

async fn value(api: &Api<ConfigMap>, name: &str) -> String {
    api.get(name).await.unwrap().data.unwrap()["v"].clone()
}

#[tokio::test]
async fn a_field_another_manager_owns_is_the_same_conflict_in_diff_and_apply_until_both_force() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "conflicts").await;
    let set = support::unique_name("set");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                        "data": {"v": "theirs"}});
    api.patch("a", &PatchParams::apply("other"), &Patch::Apply(&theirs))
        .await
        .unwrap();
    let repo = Workdir::new(&[("a.yaml", &cm("a", "1")), ("b.yaml", &cm("b", "1"))]);
    repo.git_commit_all();
    let target = ["-n", ns.as_str(), "--applyset", set.as_str()];
    let cmd = |verb: &str, extra: &[&str]| run(verb, ".", &target, extra, repo.path());

    // Not forced: diff shows the conflict as apply reports it, and what forcing would do.
    let (code, shown) = cmd("diff", &[]);
    assert_eq!(
        code,
        Some(2),
        "a conflict exits like apply's refusal\n{shown}"
    );
    let header = format!("! conflict ConfigMap/{ns}/a");
    assert!(shown.contains(&header), "{shown}");
    assert!(
        shown.contains("conflict with \"other\": .data.v"),
        "names manager and field\n{shown}"
    );
    assert!(
        shown.contains("-  v: theirs\n+  v: '1'"),
        "the forced change\n{shown}"
    );
    assert!(
        shown.contains(&format!("+ create ConfigMap/{ns}/b")),
        "{shown}"
    );
    assert!(shown.contains("1 to create, 0 to update, 0 to prune, 0 unchanged, 1 conflict."));

    let (code, json_out) = cmd("diff", &["-o", "json"]);
    assert_eq!(code, Some(2));
    let report: Value = serde_json::from_str(&json_out).expect("json report");
    assert_eq!(report["summary"]["conflicts"], 1);
    let conflict = &report["changes"][0];
    assert_eq!(conflict["action"], "conflict");
    assert_eq!(
        conflict["conflicts"],
        json!([{"manager": "other", "fields": [".data.v"]}])
    );
    assert_eq!(conflict["after"]["data"]["v"], "1");

    // apply plans the same, refuses the whole plan with the same exit, and writes nothing.
    let (code, dry) = cmd("apply", &["--dry-run"]);
    assert_eq!(code, Some(2), "{dry}");
    assert_eq!(
        planned_by_apply(&dry),
        shown,
        "apply --dry-run shows diff's plan"
    );
    let (code, applied, refused) = run_both("apply", ".", &target, &["--yes"], repo.path());
    assert_eq!(code, Some(2), "{applied}");
    assert!(applied.contains(&header), "{applied}");
    assert!(refused.contains("error: Nothing was applied"), "{refused}");
    assert!(refused.contains("--force-conflicts"), "{refused}");
    assert_eq!(value(&api, "a").await, "theirs");
    assert!(api.get_opt("b").await.unwrap().is_none(), "nothing applied");

    // Forced: both show and do the same update.
    let (code, forced) = cmd("diff", &["--force-conflicts"]);
    assert_eq!(code, Some(1), "{forced}");
    assert!(
        forced.contains(&format!("~ update ConfigMap/{ns}/a")),
        "{forced}"
    );
    assert!(!forced.contains("! conflict"), "{forced}");
    let (code, dry) = cmd("apply", &["--dry-run", "--force-conflicts"]);
    assert_eq!(code, Some(0), "{dry}");
    assert_eq!(planned_by_apply(&dry), forced);
    let (code, applied) = cmd("apply", &["--yes", "--force-conflicts"]);
    assert_eq!(code, Some(0), "{applied}");
    assert_eq!(value(&api, "a").await, "1");
    assert_eq!(value(&api, "b").await, "1");

    // The fields are ours now: in sync without forcing.
    let (code, after) = cmd("diff", &[]);
    assert_eq!(code, Some(0), "{after}");
}

#[tokio::test]
async fn adopting_what_kubectl_apply_server_side_made_is_a_conflict_on_string_data() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "adopt").await;
    let set = support::unique_name("set");
    let manifests = format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: {ns}
stringData:
  password: hunter2
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: {ns}
data:
  LOG_LEVEL: info
"
    );
    kubectl_apply_server_side(&manifests);
    let repo = Workdir::new(&[("app.yaml", &manifests)]);
    repo.git_commit_all();
    let target = ["-n", ns.as_str(), "--applyset", set.as_str()];
    let cmd = |verb: &str, extra: &[&str]| run(verb, ".", &target, extra, repo.path());

    let (code, shown) = cmd("diff", &[]);
    assert_eq!(code, Some(2), "{shown}");
    assert!(
        shown.contains(&format!("! conflict Secret/{ns}/creds")),
        "{shown}"
    );
    assert!(
        shown.contains("conflict with \"kubectl\": .stringData.password"),
        "{shown}"
    );
    // The same values in a field both own are no conflict.
    assert!(
        shown.contains(&format!("~ update ConfigMap/{ns}/settings")),
        "{shown}"
    );
    assert!(
        !shown.contains("hunter2"),
        "the Secret stays masked\n{shown}"
    );

    let (code, applied) = cmd("apply", &["--yes"]);
    assert_eq!(code, Some(2), "{applied}");
    assert!(applied.contains("conflict with \"kubectl\": .stringData.password"));
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let labels = secrets.get("creds").await.unwrap().metadata.labels;
    assert!(labels.unwrap_or_default().is_empty(), "nothing applied");

    let (code, forced) = cmd("diff", &["--force-conflicts"]);
    assert_eq!(code, Some(1), "{forced}");
    let (code, applied) = cmd("apply", &["--yes", "--force-conflicts"]);
    assert_eq!(code, Some(0), "{applied}");
    let (code, after) = cmd("diff", &[]);
    assert_eq!(code, Some(0), "adopted: in sync without forcing\n{after}");
}

fn kubectl_apply_server_side(manifests: &str) {
    kubectl_apply(manifests, &[]);
}

fn kubectl_apply(manifests: &str, extra: &[&str]) {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(["apply", "--server-side", "-f", "-"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifests.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs kubectl with the test kubeconfig (and `file` as the last argument); its outcome does
/// not matter (a namespace that does not exist yet, say).
fn kubectl(args: &[&str], file: Option<&Path>) {
    let _ = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(args)
        .args(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The objects examples/quickstart.sh puts in the cluster before its first diff, read from the
/// script itself so the two cannot drift apart.
fn quickstart_live_objects(script: &str) -> String {
    let start = script
        .find("<<'YAML'\n")
        .expect("the script's live objects")
        + "<<'YAML'\n".len();
    let end = start + script[start..].find("\nYAML\n").expect("end of the YAML");
    script[start..end].to_string()
}

#[tokio::test]
async fn the_quickstart_flow_diff_then_apply_tells_the_truth() {
    let client = support::admin().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(root.join("examples/quickstart.sh")).unwrap();
    // The quickstart's namespace is fixed; start from what its script makes, whatever an
    // earlier run left.
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "quickstart");
    let _ = api.delete("web-settings", &DeleteParams::default()).await;
    for leftover in ["settings.yaml", "web.yaml"] {
        kubectl(
            &["delete", "--ignore-not-found", "-f"],
            Some(&root.join("examples/quickstart/plain").join(leftover)),
        );
    }
    kubectl(
        &[
            "label",
            "namespace",
            "quickstart",
            "--overwrite",
            "applyset.kubernetes.io/part-of-",
        ],
        None,
    );
    kubectl_apply(
        &quickstart_live_objects(&script),
        &["--field-manager=quickstart"],
    );
    let set = support::unique_name("quickstart");
    let path = "examples/quickstart/plain";
    let target = ["--applyset", set.as_str()];
    let cmd = |verb: &str, extra: &[&str]| run(verb, path, &target, extra, root);

    // What the script shows first: the ConfigMap's LOG_LEVEL belongs to the quickstart's own
    // manager, so a plain apply would refuse it, and diff says so.
    let (code, shown) = cmd("diff", &[]);
    assert_eq!(code, Some(2), "{shown}");
    assert!(
        shown.contains("! conflict ConfigMap/quickstart/web-settings"),
        "{shown}"
    );
    assert!(
        shown.contains("conflict with \"quickstart\": .data.LOG_LEVEL"),
        "{shown}"
    );
    let (code, applied) = cmd("apply", &["--yes"]);
    assert_eq!(code, Some(2), "apply refuses what diff showed\n{applied}");

    // Then what the script runs next: the forced diff, and the apply that does it.
    let (code, forced) = cmd("diff", &["--force-conflicts"]);
    assert_eq!(code, Some(1), "{forced}");
    assert!(
        forced.contains("~ update ConfigMap/quickstart/web-settings"),
        "{forced}"
    );
    let (code, applied) = cmd("apply", &["--yes", "--force-conflicts"]);
    assert_eq!(code, Some(0), "{applied}");
    assert_eq!(
        api.get("web-settings").await.unwrap().data.unwrap()["LOG_LEVEL"],
        "info"
    );
    let (code, after) = cmd("diff", &[]);
    assert_eq!(code, Some(0), "{after}");
}
