//! A prune is followed by what the cluster does after it: garbage collection of what the
//! pruned object owned (what the cascade preview announced), and a Namespace that finishes
//! deleting.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::cluster::{self, apply, eventually, kubectl_json};
use crate::support::{self, Workdir};

fn configmap(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n")
}

#[tokio::test]
async fn a_deployment_removed_from_git_is_pruned_and_its_replica_sets_and_pods_are_collected() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "gc").await;
    let set = support::unique_name("set");
    let repo = Workdir::new(&[
        ("web.yaml", &cluster::workload_deployment("web", 2)),
        ("anchor.yaml", &configmap("anchor")),
    ]);
    repo.git_commit_all();
    let (code, stdout, stderr) = apply(
        repo.path(),
        &ns,
        &set,
        &["--yes", "--wait", "--timeout", "150s"],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let replica_sets = cluster::names_of("replicasets", &ns, "web");
    let pods = eventually("the Deployment's two Pods", || {
        let pods = cluster::names_of("pods", &ns, "web");
        match pods.len() {
            2 => Ok(pods),
            _ => Err(format!("{pods:?}")),
        }
    });
    assert_eq!(replica_sets.len(), 1, "{replica_sets:?}");

    std::fs::remove_file(repo.path().join("web.yaml")).unwrap();
    repo.git_commit_all();
    // What the preview announces the cluster deletes with the Deployment is what exists.
    let out = support::gitops(
        &["diff", ".", "-n", &ns, "--applyset", &set, "-o", "json"],
        repo.path(),
    );
    let (report, stderr) = support::text(&out);
    let report: Value = serde_json::from_str(&report).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let prune = report["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["action"] == "prune" && c["object"]["kind"] == "Deployment")
        .unwrap_or_else(|| panic!("no prune of the Deployment: {report}"));
    let cascade = &prune["cascade"];
    assert_eq!(cascade["via"], "owner", "{cascade}");
    let announced: BTreeMap<String, u64> = cascade["deletes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            let kind = k["kind"].as_str().unwrap_or_default().to_string();
            (kind, k["count"].as_u64().unwrap_or(0))
        })
        .collect();
    assert_eq!(
        announced,
        BTreeMap::from([
            ("Pod".to_string(), pods.len() as u64),
            ("ReplicaSet".to_string(), replica_sets.len() as u64),
        ]),
        "the preview counts the ReplicaSet and Pods there: {cascade}"
    );
    assert!(cascade["notCounted"].is_null(), "{cascade}");

    let (code, stdout, stderr) = apply(repo.path(), &ns, &set, &["--yes"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("pruned Deployment/{ns}/web")),
        "{stdout}"
    );
    let said = format!("{stdout}{stderr}");
    assert!(
        said.contains("deletes with it its dependents: 2 Pod, 1 ReplicaSet.apps (3 objects)"),
        "apply says what diff said it would: {said}"
    );

    eventually(
        "the garbage collector removing the ReplicaSet and Pod",
        || {
            // Only these were ever there (the Deployment held still): the very objects the
            // preview counted are the ones collected.
            let left = [
                cluster::names_of("replicasets", &ns, "web"),
                cluster::names_of("pods", &ns, "web"),
            ]
            .concat();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        },
    );
    assert!(kubectl_json(&["get", "configmap", "anchor", "-n", &ns]).is_some());
}

#[tokio::test]
async fn a_namespace_pruned_with_prune_protected_finishes_deleting_with_its_contents() {
    let client = support::admin().await;
    let scratch = support::namespace(&client, "scratch").await;
    let doomed = support::unique_name("doomed");
    let set = support::unique_name("set");
    let repo = Workdir::new(&[
        (
            "ns.yaml",
            &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {doomed}\n"),
        ),
        ("anchor.yaml", &configmap("anchor")),
    ]);
    repo.git_commit_all();
    let (code, stdout, stderr) = apply(repo.path(), &scratch, &set, &["--yes"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    // Contents the namespace controller must delete before the Namespace can go.
    cluster::kubectl(
        &[
            "create",
            "configmap",
            "inside",
            "-n",
            &doomed,
            "--from-literal=k=v",
        ],
        "test",
    )
    .expect("creating a ConfigMap in the namespace");

    std::fs::remove_file(repo.path().join("ns.yaml")).unwrap();
    repo.git_commit_all();
    let (code, stdout, stderr) =
        apply(repo.path(), &scratch, &set, &["--yes", "--prune-protected"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("pruned Namespace/{doomed}")),
        "{stdout}"
    );

    // The namespace controller empties it and removes its finalizer: it is gone, not stuck
    // Terminating as on a server with no controllers.
    eventually(
        "the pruned Namespace being deleted",
        || match kubectl_json(&["get", "namespace", &doomed]) {
            None => Ok(()),
            Some(ns) => Err(ns["status"].to_string()),
        },
    );
}
