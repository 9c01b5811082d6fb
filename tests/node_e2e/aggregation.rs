//! The controller-manager aggregates the built-in ClusterRoles: `admin`, `edit` and `view`
//! grant what they grant on any cluster, so a binding to them works as users expect.

use crate::cluster::{eventually, kubectl, kubectl_json};
use crate::support;

#[tokio::test]
async fn the_aggregated_admin_cluster_role_is_filled_by_the_controller_manager() {
    let role = eventually("the admin ClusterRole gaining rules", || {
        let role = kubectl_json(&["get", "clusterrole", "admin"]).expect("admin exists");
        match role["rules"].as_array() {
            Some(rules) if !rules.is_empty() => Ok(role),
            _ => Err(role.to_string()),
        }
    });
    let grants_secrets = role["rules"].as_array().unwrap().iter().any(|rule| {
        rule["resources"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r == "secrets"))
    });
    assert!(grants_secrets, "admin grants nothing on secrets: {role}");
}

#[tokio::test]
async fn a_rolebinding_to_admin_lets_its_user_read_secrets_in_that_namespace() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "admin-binding").await;
    let denied = kubectl(&["get", "secrets", "-n", &ns], "test-restricted");
    assert!(denied.is_err(), "the restricted user reads secrets unbound");

    kubectl(
        &[
            "create",
            "rolebinding",
            "restricted-admin",
            "--clusterrole=admin",
            "--user=restricted",
            "-n",
            &ns,
        ],
        "test",
    )
    .expect("creating the binding");
    eventually("the binding to admin granting secrets", || {
        kubectl(&["get", "secrets", "-n", &ns], "test-restricted")
    });
}
