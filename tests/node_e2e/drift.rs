//! Drift made with kubectl on a Deployment the controller Pod delivers from git is put back by
//! the controller, as its watch sees it (no request, no interval: the sync's interval is five
//! minutes, longer than a test waits): `kubectl scale`, `kubectl edit` and `kubectl delete
//! deployment`. The time each takes to be put back is printed, and the controller Pod's memory
//! as the kubelet reports it afterwards.

use std::process::Command;
use std::time::Instant;

use crate::cluster::{eventually, kubectl, kubectl_json};
use crate::deploying::{Delivered, NAME, REPLICAS, rolled_out};
use crate::in_cluster::controller_memory;
use crate::support;

/// The Deployment's `GREETING` in its spec, and its uid.
fn greeting_and_uid(ns: &str) -> Result<(String, String), String> {
    let deployment = kubectl_json(&["get", "deployment", NAME, "-n", ns])
        .ok_or_else(|| "the Deployment is gone".to_string())?;
    let greeting = deployment["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let uid = deployment["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((greeting, uid))
}

#[tokio::test]
async fn drift_made_with_kubectl_scale_edit_and_delete_is_put_back_by_the_controller_pod() {
    let delivered = Delivered::start("drift", "from-git");
    let ns = delivered.ns.as_str();

    // kubectl scale: the replica count git holds comes back.
    kubectl(
        &["scale", "deployment", NAME, "-n", ns, "--replicas=4"],
        "test",
    )
    .expect("kubectl scale");
    let scaled = Instant::now();
    eventually("the scale being put back", || {
        let deployment = kubectl_json(&["get", "deployment", NAME, "-n", ns]).expect("exists");
        match deployment["spec"]["replicas"].as_u64() {
            Some(REPLICAS) => Ok(()),
            other => Err(format!("spec.replicas {other:?}")),
        }
    });
    let scale = scaled.elapsed();
    eventually("the Deployment settling at the replicas of git", || {
        rolled_out(ns, "from-git")
    });

    // kubectl edit, with an editor that changes the container's environment.
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(["edit", "deployment", NAME, "-n", ns])
        .env(
            "KUBE_EDITOR",
            "sed -i s/value:\\ from-git/value:\\ edited-by-hand/",
        )
        .output()
        .expect("running kubectl edit");
    let edited = Instant::now();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("edited"),
        "kubectl edit: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("the edit being put back", || {
        let (greeting, _) = greeting_and_uid(ns)?;
        match greeting.as_str() {
            "from-git" => Ok(()),
            other => Err(format!("GREETING={other}")),
        }
    });
    let edit = edited.elapsed();
    eventually("the Deployment rolling back to the template of git", || {
        rolled_out(ns, "from-git")
    });

    // kubectl delete deployment: it is created again, and its Pods start again.
    let (_, uid) = greeting_and_uid(ns).expect("the Deployment");
    kubectl(&["delete", "deployment", NAME, "-n", ns], "test").expect("kubectl delete");
    let deleted = Instant::now();
    eventually("the deleted Deployment being created again", || {
        let (greeting, new_uid) = greeting_and_uid(ns)?;
        if new_uid != uid && greeting == "from-git" {
            Ok(())
        } else {
            Err(format!("uid {new_uid}, GREETING={greeting}"))
        }
    });
    let delete = deleted.elapsed();
    eventually("the recreated Deployment's Pods being Ready", || {
        rolled_out(ns, "from-git")
    });
    let delete_available = deleted.elapsed();

    println!(
        "drift put back by the controller Pod: kubectl scale {:.1} s, kubectl edit {:.1} s, \
         kubectl delete deployment {:.1} s (Available again after {:.1} s)",
        scale.as_secs_f64(),
        edit.as_secs_f64(),
        delete.as_secs_f64(),
        delete_available.as_secs_f64()
    );
    let (working_set, rss) = controller_memory();
    println!(
        "controller Pod memory as the kubelet reports it, after the drift: working set \
         {working_set:.1} MiB, resident {rss:.1} MiB"
    );
}
