//! A tenant's repository is hostile input, tried as an attacker would on a cluster that runs
//! the controller as a Pod: a chart whose templates read `.Files.Get "sa/token"`, where `sa`
//! is a symbolic link to the controller Pod's ServiceAccount directory, is refused and never
//! renders the controller's token into the tenant's namespace. The same chart with the link
//! pointing inside its repository renders, which shows the repository is reachable from the
//! Pod and charts render there: the refusal is the link's, not the setup's.
//!
//! The repositories are served by `git daemon` on the node's address, where the controller Pod
//! reaches them (a git remote at a private address is allowed; only loopback and link-local
//! ones are refused).

use std::path::Path;

use crate::cluster::{eventually, kubectl_json};
use crate::git_server::{GitDaemon, git, node_ip};
use crate::in_cluster::{controller_pod, git_sync, install_controller, ready_condition, tenant};

/// Where the kubelet mounts a Pod's ServiceAccount token.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The start of every JWT (`{"` in base64url): a ServiceAccount token anywhere begins so.
const JWT_START: &str = "eyJ";

/// A chart whose only template puts the file `sa/token` of the chart into a ConfigMap.
const CHART: &str = "apiVersion: v2\nname: web\nversion: 0.1.0\n";
const TEMPLATE: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: stolen
data:
  token: {{ .Files.Get \"sa/token\" | quote }}
";

/// A repository `base/name` on branch main holding the chart at `web/`, whose `web/sa` is a
/// symbolic link to `link`, and `files` besides; everything committed.
fn repository(base: &Path, name: &str, link: &str, files: &[(&str, &str)]) {
    let repo = base.join(name);
    std::fs::create_dir_all(repo.join("web/templates")).expect("mkdir");
    std::fs::write(repo.join("web/Chart.yaml"), CHART).expect("write");
    std::fs::write(repo.join("web/templates/configmap.yaml"), TEMPLATE).expect("write");
    std::os::unix::fs::symlink(link, repo.join("web/sa")).expect("symlink");
    for (path, content) in files {
        let full = repo.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "the web chart"]);
}

/// Everything `kubectl get TYPE -n NS -o json` shows, as text, for the JWT check.
fn everything(kind: &str, ns: &str) -> String {
    kubectl_json(&["get", kind, "-n", ns])
        .expect("listing never answers NotFound")
        .to_string()
}

#[tokio::test]
async fn a_tenant_chart_linking_to_the_controller_pods_service_account_token_is_refused_and_never_renders_it()
 {
    let pod = install_controller();
    let pod_name = pod["metadata"]["name"].as_str().expect("named").to_string();
    let ip = node_ip();
    let base = tempfile::tempdir().expect("tempdir");
    // The token's directory by its absolute path, and by a relative path that climbs far past
    // the root of wherever the repository is written.
    let climbing = format!("{}{}", "../".repeat(32), &SERVICE_ACCOUNT_DIR[1..]);
    let attacks = [
        ("absolute", SERVICE_ACCOUNT_DIR.to_string()),
        ("climbing", climbing),
    ];
    for (name, link) in &attacks {
        repository(base.path(), name, link, &[]);
    }
    let daemon = GitDaemon::start(base.path(), ip);
    let ns = tenant("tenancy-token");
    for (name, _) in &attacks {
        git_sync(&ns, name, &daemon.url(name), "web");
    }

    for (name, link) in &attacks {
        let ready = eventually(&format!("gitsync {name} refusing the link web/sa"), || {
            let ready = ready_condition(&ns, name)?;
            match ready["message"].as_str() {
                Some(message) if ready["status"] == "False" && message.contains("web/sa") => {
                    Ok(ready)
                }
                _ => Err(ready.to_string()),
            }
        });
        let message = ready["message"].as_str().expect("a message");
        // The source refuses the link before helm is run; the chart check behind it refuses
        // it as well. Either stage is a refusal: what matters is that nothing rendered.
        assert!(
            ready["reason"] == "SourceFailed" || ready["reason"] == "RenderFailed",
            "gitsync {name} (link to {link}) failed for another reason: {ready}"
        );
        assert!(
            message.contains("outside the repository"),
            "gitsync {name}: the message says why the link is refused: {message}"
        );
        assert!(
            !message.contains(JWT_START),
            "gitsync {name}: the message holds a token: {message}"
        );
    }

    let config_maps = kubectl_json(&["get", "configmaps", "-n", &ns]).expect("listing");
    let names: Vec<&str> = config_maps["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|cm| cm["metadata"]["name"].as_str())
        .collect();
    assert!(
        !names.contains(&"stolen"),
        "the chart's ConfigMap was created: {config_maps}"
    );
    assert!(
        config_maps["items"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|cm| cm["metadata"]["labels"]["applyset.kubernetes.io/part-of"].is_null()),
        "a sync applied a ConfigMap: {config_maps}"
    );
    for kind in ["configmaps", "gitsyncs", "events"] {
        let seen = everything(kind, &ns);
        assert!(
            !seen.contains(JWT_START),
            "a token reached the tenant's {kind}: {seen}"
        );
    }

    let after = controller_pod();
    assert_eq!(
        after["metadata"]["name"], pod_name,
        "the controller Pod was replaced: {after}"
    );
    assert_eq!(
        after["status"]["containerStatuses"][0]["ready"], true,
        "the controller Pod is not Ready after the attack: {after}"
    );
}

#[tokio::test]
async fn a_tenant_chart_linking_inside_its_repository_renders_in_the_controller_pod() {
    install_controller();
    let ip = node_ip();
    let base = tempfile::tempdir().expect("tempdir");
    let known = "read inside the repository";
    repository(
        base.path(),
        "inside",
        "../shared/sa",
        &[("shared/sa/token", known)],
    );
    let daemon = GitDaemon::start(base.path(), ip);
    let ns = tenant("tenancy-inside");
    git_sync(&ns, "inside", &daemon.url("inside"), "web");

    eventually("the gitsync becoming Ready", || {
        let ready = ready_condition(&ns, "inside")?;
        match ready["status"].as_str() {
            Some("True") => Ok(()),
            _ => Err(ready.to_string()),
        }
    });
    let config_map =
        kubectl_json(&["get", "configmap", "stolen", "-n", &ns]).expect("the chart's ConfigMap");
    assert_eq!(
        config_map["data"]["token"], known,
        "the file behind the link: {config_map}"
    );
}
