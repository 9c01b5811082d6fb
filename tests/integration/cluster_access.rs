//! The test control plane is a real API server: server-side apply, field managers and RBAC
//! behave as in production.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::support;

#[tokio::test]
async fn server_side_apply_records_our_field_manager() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "ssa").await;
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    let desired = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"mode": "fast"}
    });
    api.patch(
        "settings",
        &PatchParams::apply("kubectl-gitops"),
        &Patch::Apply(&desired),
    )
    .await
    .expect("server-side apply");

    let read = api.get("settings").await.expect("read back");
    assert_eq!(read.data.unwrap()["mode"], "fast");
    let managers: Vec<String> = read
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, vec!["kubectl-gitops".to_string()]);
}

#[tokio::test]
async fn a_user_without_rbac_bindings_is_refused_writes() {
    let admin = support::admin().await;
    let ns = support::namespace(&admin, "rbac").await;
    let api: Api<ConfigMap> = Api::namespaced(support::restricted().await, &ns);
    let desired = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let err = api
        .patch(
            "x",
            &PatchParams::apply("kubectl-gitops"),
            &Patch::Apply(&desired),
        )
        .await
        .expect_err("the restricted user has no bindings");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(status.message.contains("restricted"), "{}", status.message);
        }
        other => panic!("expected a 403 from the server, got {other}"),
    }
}

#[test]
fn kubectl_reaches_the_test_server() {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(["get", "namespaces", "-o", "name"])
        .output()
        .expect("kubectl on PATH");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));
}
